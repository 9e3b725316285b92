"""Where the classifier looked: Grad-CAM heat maps and a pure overlay over the photo.

Grad-CAM: the gradient of the class logit, averaged over each channel of a convolutional
feature map, weights that channel; the weighted sum goes through ReLU and is scaled to [0, 1].
The map explained is the last convolutional block before the attention block
(:data:`DEFAULT_LAYER_FROM_END`; 4x4 cells at 128 px, upsampled bicubically); ``layer=`` picks
another (``len(layers)`` is the head's own 1x1 conv, where Grad-CAM equals the classic CAM).

The map covers the centre crop the classifier saw; it is upsampled onto that square of the
original photo and the parts cut off by the crop are 0. Maps and overlays are at the photo's
size, or for a photo with a side over ``core.limits.MAX_ENGINE_SIDE`` at the photo's size
scaled down to fit it (:func:`map_size`), so no photo makes them unbounded.

ONNX engines carry no gradients: :func:`class_activation_map` then loads the ``.pt`` or
``.safetensors`` beside the ``.onnx`` (same stem; cached per process) and returns ``None`` when
there is none. Both architectures expose the same ``run(images, capture)`` and ``layers``.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PIL import Image

from core.limits import MAX_ENGINE_SIDE

from .classifier import TORCH_KINDS, ClassifierEngine
from .errors import ClassifierLoadError

__all__ = ["class_activation_map", "heat_colours", "map_size", "overlay"]

# Explain the output of the layer this many places before the head: in YOLO11n-cls that is the
# last C3k2 block (stride 32), just before the C2PSA attention block. Attention mixes every
# position with every other, so maps taken after it (C2PSA, the head's conv) paint nearly the
# whole photo; on the demo motifs this layer lands on the figure (crab body, peacock tail).
# In EfficientNet-Lite0 it is the third of the four stride-32 MBConv blocks.
DEFAULT_LAYER_FROM_END = 2

_siblings: dict[Path, ClassifierEngine] = {}
_siblings_lock = threading.Lock()


def _gradient_engine(engine: ClassifierEngine) -> ClassifierEngine | None:
    if engine.kind in TORCH_KINDS:
        return engine
    siblings = [engine.path.with_suffix(suffix) for suffix in (".pt", ".safetensors")]
    with _siblings_lock:
        for sibling in siblings:
            if sibling not in _siblings and sibling.is_file():
                try:
                    _siblings[sibling] = ClassifierEngine.load(sibling, device="cpu")
                except ClassifierLoadError:
                    continue
            if sibling in _siblings:
                return _siblings[sibling]
        return None


def map_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the heat map and overlay of a ``width`` x ``height`` photo: its own
    size, scaled down (aspect kept, at least 1 px) when a side is over MAX_ENGINE_SIDE."""
    scale = min(1.0, MAX_ENGINE_SIDE / max(width, height))
    if scale == 1.0:
        return width, height
    return max(1, min(MAX_ENGINE_SIDE, round(width * scale))), max(1, min(MAX_ENGINE_SIDE, round(height * scale)))


def _crop_box(width: int, height: int) -> tuple[int, int, int]:
    """(left, top, side) of the centred square the preprocessing keeps, in original pixels."""
    side = min(width, height)
    return int(round((width - side) / 2.0)), int(round((height - side) / 2.0)), side


def class_activation_map(
    engine: ClassifierEngine, image: Image.Image, class_index: int, *, layer: int | None = None
) -> np.ndarray | None:
    """(H, W) float32 heat map in [0, 1] at the image's size (:func:`map_size`), for ``class_index``.

    ``layer`` picks the backbone layer whose output is explained (default
    :data:`DEFAULT_LAYER_FROM_END` layers before the head). ``None`` for an ONNX engine without a
    ``.pt`` sibling. All zeros when nothing in the image pushes towards that class.
    """
    import torch

    source = _gradient_engine(engine)
    if source is None:
        return None
    if not 0 <= class_index < len(source.class_names):
        raise ValueError(f"class_index {class_index} out of range for {len(source.class_names)} classes")
    module = source.torch_module
    target = len(module.layers) - DEFAULT_LAYER_FROM_END if layer is None else layer
    if not 0 <= target <= len(module.layers):
        raise ValueError(f"layer {layer} out of range 0..{len(module.layers)}")
    batch = torch.from_numpy(source.preprocess([image])).to(source.device)
    # The weights stay frozen; an input that needs a gradient makes autograd track activations.
    batch.requires_grad_(True)
    with source.lock, torch.enable_grad():
        logits, _, _, activations = module.run(batch, capture=target)
        (gradient,) = torch.autograd.grad(logits[0, class_index], activations)
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activations.detach()).sum(dim=1))[0].cpu().numpy().astype(np.float32)
    peak = float(cam.max())
    cam = cam / peak if peak > 0 else np.zeros_like(cam)

    width, height = map_size(*image.size)
    left, top, side = _crop_box(width, height)
    square = Image.fromarray(cam).resize((side, side), Image.Resampling.BICUBIC)
    heat = np.zeros((height, width), dtype=np.float32)
    heat[top : top + side, left : left + side] = np.asarray(square, dtype=np.float32)
    return np.clip(heat, 0.0, 1.0)


def heat_colours(heatmap: np.ndarray) -> np.ndarray:
    """[0, 1] values -> (H, W, 3) uint8 on a blue-cyan-yellow-red ramp (a jet-like map). Pure."""
    t = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
    red = np.clip(1.5 - np.abs(4.0 * t - 3.0), 0.0, 1.0)
    green = np.clip(1.5 - np.abs(4.0 * t - 2.0), 0.0, 1.0)
    blue = np.clip(1.5 - np.abs(4.0 * t - 1.0), 0.0, 1.0)
    return (np.stack([red, green, blue], axis=-1) * 255.0 + 0.5).astype(np.uint8)


def overlay(image: Image.Image, heatmap: np.ndarray, alpha: float = 0.45) -> Image.Image:
    """The heat map, coloured, blended over the photo (RGB, the photo's size: :func:`map_size`). Pure."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be in [0, 1]")
    photo = image.convert("RGB")
    if map_size(*photo.size) != photo.size:
        photo = photo.resize(map_size(*photo.size), Image.Resampling.BILINEAR)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.shape != (photo.height, photo.width):
        heatmap = np.asarray(
            Image.fromarray(heatmap).resize(photo.size, Image.Resampling.BILINEAR), dtype=np.float32
        )
    colours = heat_colours(heatmap).astype(np.float32)
    blended = np.asarray(photo, dtype=np.float32) * (1.0 - alpha) + colours * alpha
    return Image.fromarray(np.clip(blended + 0.5, 0, 255).astype(np.uint8))
