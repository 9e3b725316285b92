"""Sampling helpers: seeds to latents, labels, 8-bit conversion, style mixing, grids.

A seed draws z exactly as the NVlabs tooling (and so the original study) did,
``numpy.random.RandomState(seed).randn(1, z_dim)``, and images become 8-bit as
``(x * 127.5 + 128).clamp(0, 255)``; the same network and seed therefore give the
same PNG in both implementations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def parse_seeds(text: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]."""
    seeds = []
    for part in str(text).split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)-(\d+)", part)
        if match:
            start, end = int(match[1]), int(match[2])
            if end < start:
                raise ValueError(f"seed range {part!r} runs backwards")
            seeds.extend(range(start, end + 1))
        elif part.isdigit():
            seeds.append(int(part))
        else:
            raise ValueError(f"not a seed or seed range: {part!r}")
    return seeds


def seed_to_z(seed: int, z_dim: int) -> torch.Tensor:
    return torch.from_numpy(np.random.RandomState(seed).randn(1, z_dim)).to(torch.float32)


def class_label(G, class_index: int | None, batch: int = 1) -> torch.Tensor:
    """One-hot labels for a conditional generator, an empty [batch, 0] tensor otherwise."""
    label = torch.zeros([batch, G.c_dim])
    if G.c_dim == 0:
        if class_index is not None:
            raise ValueError("this generator is unconditional: do not pass a class")
        return label
    if class_index is None:
        raise ValueError(f"this generator is conditional: pass a class index between 0 and {G.c_dim - 1}")
    if not 0 <= class_index < G.c_dim:
        raise ValueError(f"unknown class index {class_index}: the generator has classes 0..{G.c_dim - 1}")
    label[:, class_index] = 1
    return label


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] in [-1, 1] -> [N, H, W, C] uint8."""
    return (images.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu().numpy()


def save_png(image: np.ndarray, path: Path) -> None:
    mode = "RGB" if image.shape[-1] == 3 else "L"
    Image.fromarray(image if mode == "RGB" else image[..., 0], mode).save(path)


@dataclass(frozen=True)
class GeneratedImage:
    seed: int               # the seed that drew z
    path: Path              # where the PNG was written


@torch.no_grad()
def generate_images(
    G,                          # a Generator
    seeds,                      # iterable of ints
    outdir,                     # folder for seedNNNN.png
    class_index=None,           # class for a conditional generator
    truncation_psi=1.0,         # 1 = no truncation
    truncation_cutoff=None,     # truncate only the first N ws
    noise_mode="const",         # 'const', 'random' or 'none'
    tile=False,                 # seamless tiles
    device="cpu",
) -> list[GeneratedImage]:
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    label = class_label(G, class_index).to(device)
    results = []
    for seed in seeds:
        z = seed_to_z(seed, G.z_dim).to(device)
        image = G(z, label, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                  noise_mode=noise_mode, tile=tile)
        path = outdir / f"seed{seed:04d}.png"
        save_png(to_uint8(image)[0], path)
        results.append(GeneratedImage(seed=seed, path=path))
    return results


def mix_styles(ws_rows: torch.Tensor, ws_cols: torch.Tensor, layers) -> torch.Tensor:
    """Take the ws of ``layers`` from ``ws_cols`` and all others from ``ws_rows``."""
    layers = list(layers)
    num_ws = ws_rows.shape[1]
    if any(not 0 <= layer < num_ws for layer in layers):
        raise ValueError(f"style layers must lie in 0..{num_ws - 1}, got {layers}")
    mixed = ws_rows.clone()
    mixed[:, layers] = ws_cols[:, layers]
    return mixed


def parse_layers(text: str) -> list[int]:
    return parse_seeds(text)


@torch.no_grad()
def style_mix_grid(G, row_seeds, col_seeds, layers, class_index=None, truncation_psi=1.0, noise_mode="const",
                   tile=False) -> np.ndarray:
    """A grid with column sources on top, row sources on the left and mixes inside, as uint8 HWC."""
    label = class_label(G, class_index)
    seeds = list(dict.fromkeys(list(row_seeds) + list(col_seeds)))
    ws = {seed: G.mapping(seed_to_z(seed, G.z_dim), label, truncation_psi=truncation_psi) for seed in seeds}
    render = {seed: to_uint8(G.synthesis(ws[seed], noise_mode=noise_mode, tile=tile))[0] for seed in seeds}
    size = G.img_resolution
    canvas = np.zeros(((len(row_seeds) + 1) * size, (len(col_seeds) + 1) * size, G.img_channels), np.uint8)
    for j, col in enumerate(col_seeds):
        canvas[:size, (j + 1) * size:(j + 2) * size] = render[col]
    for i, row in enumerate(row_seeds):
        canvas[(i + 1) * size:(i + 2) * size, :size] = render[row]
        for j, col in enumerate(col_seeds):
            mixed = G.synthesis(mix_styles(ws[row], ws[col], layers), noise_mode=noise_mode, tile=tile)
            canvas[(i + 1) * size:(i + 2) * size, (j + 1) * size:(j + 2) * size] = to_uint8(mixed)[0]
    return canvas


def image_grid(images: np.ndarray, columns: int) -> np.ndarray:
    """[N, H, W, C] uint8 -> one [rows*H, columns*W, C] image, empty cells black."""
    n, h, w, c = images.shape
    rows = -(-n // columns)
    canvas = np.zeros((rows * h, columns * w, c), np.uint8)
    for index, image in enumerate(images):
        r, col = divmod(index, columns)
        canvas[r * h:(r + 1) * h, col * w:(col + 1) * w] = image
    return canvas
