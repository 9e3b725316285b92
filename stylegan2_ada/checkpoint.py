"""Cualify's own checkpoint format: one safetensors file, nothing to unpickle.

Tensors are stored under ``G_ema.``, ``G.`` and ``D.`` prefixes; the safetensors
metadata holds one JSON document (key ``cualify``) with the constructor arguments of
each network, the ordered class names, the images seen in kimg, metrics and the ADA
state. Files are written to a temporary name next to the target and renamed, so a
failed save never leaves a partial checkpoint behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from stylegan2_ada.networks import Discriminator, Generator
from stylegan2_ada.projected import ProjectedDiscriminator

FORMAT_NAME = "cualify-stylegan2-ada"
FORMAT_VERSION = 1
METADATA_KEY = "cualify"


class CheckpointError(ValueError):
    """The file is not a readable checkpoint of this format."""


@dataclass(frozen=True)
class Checkpoint:
    G_ema: Generator                                    # generator to sample from
    class_names: tuple[str, ...] = ()                   # label index -> class name
    kimg: float = 0.0                                   # training images seen, in thousands
    metrics: dict = field(default_factory=dict)         # e.g. losses or FID at save time
    G: Generator | None = None                          # training generator, if saved
    D: Discriminator | ProjectedDiscriminator | None = None     # discriminator, if saved
    augment: dict = field(default_factory=dict)         # ADA state (p, target, ...)
    training: dict = field(default_factory=dict)        # training options, for resuming


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(temp_name)
        os.chmod(temp_name, 0o644)  # mkstemp creates 0600; other processes (web workers) must read it
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def save_checkpoint(
    path,                   # target .safetensors file
    *,
    G_ema,                  # generator to sample from
    class_names=(),         # ordered class names (len == c_dim)
    kimg=0.0,               # training images seen, in thousands
    metrics=None,           # JSON-serialisable dict
    G=None,                 # training generator (for resuming)
    D=None,                 # discriminator (for resuming)
    augment=None,           # ADA state, JSON-serialisable
    training=None,          # training options, JSON-serialisable
) -> Path:
    path = Path(path)
    class_names = [str(name) for name in class_names]
    if G_ema.c_dim and len(class_names) != G_ema.c_dim:
        raise CheckpointError(f"the generator has {G_ema.c_dim} classes but {len(class_names)} class names were given")
    tensors = {}
    networks = {}
    for prefix, network in (("G_ema", G_ema), ("G", G), ("D", D)):
        if network is None:
            continue
        networks[prefix] = {"class": type(network).__name__, "kwargs": network.init_kwargs}
        for name, tensor in network.state_dict().items():
            tensors[f"{prefix}.{name}"] = tensor.detach().to("cpu", torch.float32).clone().contiguous()
    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "networks": networks,
        "class_names": class_names,
        "kimg": float(kimg),
        "metrics": metrics or {},
        "augment": augment or {},
        "training": training or {},
    }
    metadata = {METADATA_KEY: json.dumps(document)}
    _atomic_write(path, lambda temp_name: save_file(tensors, temp_name, metadata=metadata))
    return path


_CLASSES = {"Generator": Generator, "Discriminator": Discriminator, "ProjectedDiscriminator": ProjectedDiscriminator}


def read_metadata(path) -> dict:
    try:
        with safe_open(str(path), framework="pt") as reader:
            metadata = reader.metadata() or {}
    except Exception as error:  # safetensors raises its own error types
        raise CheckpointError(f"{path} is not a safetensors checkpoint: {error}") from error
    try:
        document = json.loads(metadata[METADATA_KEY])
    except (KeyError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} has no {FORMAT_NAME} metadata") from error
    if document.get("format") != FORMAT_NAME or document.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a version {FORMAT_VERSION} {FORMAT_NAME} checkpoint")
    return document


def load_checkpoint(path, *, networks=("G_ema", "G", "D"), device="cpu") -> Checkpoint:
    path = Path(path)
    document = read_metadata(path)
    built = {}
    with safe_open(str(path), framework="pt", device=str(device)) as reader:
        keys = list(reader.keys())
        for prefix, spec in document["networks"].items():
            if prefix not in networks:
                continue
            network = _CLASSES[spec["class"]](**spec["kwargs"])
            state = {key[len(prefix) + 1:]: reader.get_tensor(key) for key in keys if key.startswith(prefix + ".")}
            try:
                network.load_state_dict(state)
            except RuntimeError as error:
                raise CheckpointError(f"{prefix} in {path} does not match its saved arguments: {error}") from error
            built[prefix] = network.to(device).eval().requires_grad_(False)
    if "G_ema" not in built:
        raise CheckpointError(f"{path} holds no G_ema")
    return Checkpoint(
        G_ema=built["G_ema"],
        class_names=tuple(document["class_names"]),
        kimg=float(document["kimg"]),
        metrics=document["metrics"],
        G=built.get("G"),
        D=built.get("D"),
        augment=document["augment"],
        training=document["training"],
    )


def convert_network_pickle(pickle_path, output_path, class_names=None) -> Path:
    """Turn an NVlabs network pickle into a checkpoint once, so production never unpickles."""
    from stylegan2_ada.legacy import load_network_pickle

    loaded = load_network_pickle(pickle_path)
    c_dim = loaded.G_ema.c_dim
    if class_names is None:
        if c_dim:
            raise CheckpointError(f"the pickle is conditional with {c_dim} classes: give their names (--class-names)")
        class_names = ()
    if len(class_names) != c_dim:
        raise CheckpointError(f"the pickle has {c_dim} classes but {len(class_names)} class names were given")
    augment = dict(loaded.augment_kwargs or {})
    return save_checkpoint(
        output_path,
        G_ema=loaded.G_ema,
        G=loaded.G,
        D=loaded.D,
        class_names=class_names,
        augment=augment,
        training={"source": "nvlabs-pickle", "training_set_kwargs": loaded.training_set_kwargs},
    )


@dataclass(frozen=True)
class LoadedGenerator:
    G: Generator                        # ready for inference
    class_names: tuple[str, ...]        # label index -> name (empty when unknown)
    source: str                         # 'checkpoint' or 'nvlabs-pickle'


def load_generator(path, device="cpu") -> LoadedGenerator:
    """Load a generator from our checkpoint or (restricted) from an NVlabs pickle."""
    from stylegan2_ada.legacy import is_pickle_file, load_network_pickle

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no network file at {path}")
    if is_pickle_file(path):
        G = load_network_pickle(path).G_ema.to(device)
        return LoadedGenerator(G=G, class_names=(), source="nvlabs-pickle")
    checkpoint = load_checkpoint(path, networks=("G_ema",), device=device)
    return LoadedGenerator(G=checkpoint.G_ema, class_names=checkpoint.class_names, source="checkpoint")
