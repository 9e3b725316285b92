"""The motif classifier engine: a YOLO11-cls or fine-tuned EfficientNet-Lite0 network, run
directly (PyTorch) or, as workers serve it, through its ONNX export in ONNX Runtime.

Two architectures share this engine: an Ultralytics YOLO11-cls ``.pt`` (``arch`` "yolo11n-cls")
and a ``.safetensors`` file written by :mod:`.finetune` (``arch`` "efficientnet-lite0", which
normalises pixels inside the network, so both read the same 0..1 input).

One forward pass gives both the class probabilities and the embedding (the pooled 1280-d
features the ``Classify`` head feeds to its linear layer, L2-normalised), so "not a known
motif" checks and the generator's metrics cost nothing extra.

The resize rule (:meth:`ClassifierEngine.preprocess`) is the Ultralytics classification eval
transform, written out with PIL so the ``.pt`` and ``.onnx`` engines share it exactly:

1. convert to RGB;
2. resize so the shorter side is ``imgsz`` (bilinear, longer side ``int(imgsz * long / short)``);
3. centre crop ``imgsz`` x ``imgsz`` (offsets rounded like torchvision's ``CenterCrop``);
4. scale to [0, 1] (Ultralytics' mean is 0 and std 1), channels first: NCHW float32.

Steps 2 and 3 never resize to more than ``core.limits.MAX_ENGINE_SIDE`` px a side: past that (a
strip far longer than wide) only the region the crop keeps is resized
(``inference.generation.images.resize_and_crop``), so no aspect ratio can ask for a huge image.

Model files are trusted operator input: an Ultralytics ``.pt`` is a pickle that can run code.
"""
from __future__ import annotations

import json
import os
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..generation.images import resize_and_crop
from .errors import ClassifierLoadError
from .offline import ensure_offline

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = [
    "ClassifierEngine",
    "ClassifierLoadError",
    "ONNX_METADATA_KIND",
    "Prediction",
    "export_onnx",
    "preprocess_images",
    "quantize_onnx_int8",
]

TOP_K = 5
# Marks ONNX files exported by export_onnx (two outputs, class names and imgsz in metadata).
ONNX_METADATA_KIND = "cualify-classifier"
# What exports made before the EfficientNet classifier carried (YOLO only); still read.
ONNX_METADATA_KINDS = frozenset({ONNX_METADATA_KIND, "cualify-yolo-cls"})
ARCH_YOLO = "yolo11n-cls"
ARCH_LITE = "efficientnet-lite0"
TORCH_KINDS = frozenset({"pt", "safetensors"})
ONNX_INPUT = "images"
ONNX_OUTPUTS = ("probabilities", "embedding")
ONNX_OPSET = 17


@dataclass(frozen=True)
class Prediction:
    probabilities: np.ndarray  # (n_classes,) float32, sums to 1
    embedding: np.ndarray  # (D,) float32, L2-normalised pooled features
    top: tuple[tuple[int, float], ...]  # up to five (class index, probability), best first
    preprocess_s: float  # this image's share of the batch's preprocessing time
    inference_s: float  # this image's share of the batch's forward pass


# --- preprocessing (pure) -------------------------------------------------------------------


def _shorter_side_size(width: int, height: int, size: int) -> tuple[int, int]:
    """The size step 2 of the rule scales a ``width`` x ``height`` image to."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def _centre_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """The ``size`` x ``size`` square step 3 keeps of a ``width`` x ``height`` image."""
    left = int(round((width - size) / 2.0))
    top = int(round((height - size) / 2.0))
    return left, top, left + size, top + size


def preprocess_images(images: list[Image.Image], imgsz: int) -> np.ndarray:
    """PIL images -> (N, 3, imgsz, imgsz) float32 in [0, 1]; the module docstring gives the rule."""
    from PIL import Image

    if not images:
        return np.zeros((0, 3, imgsz, imgsz), dtype=np.float32)
    for image in images:
        if not isinstance(image, Image.Image):
            raise TypeError(f"expected PIL images, got {type(image).__name__}")
    batch = np.empty((len(images), 3, imgsz, imgsz), dtype=np.float32)
    for index, image in enumerate(images):
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        scaled = _shorter_side_size(*rgb.size, imgsz)
        square = resize_and_crop(rgb, scaled, _centre_box(*scaled, imgsz), Image.Resampling.BILINEAR)
        pixels = np.asarray(square, dtype=np.float32)
        batch[index] = pixels.transpose(2, 0, 1) / 255.0
    return batch


def _l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _top_k(probabilities: np.ndarray, k: int = TOP_K) -> tuple[tuple[int, float], ...]:
    order = np.argsort(-probabilities, kind="stable")[:k]
    return tuple((int(index), float(probabilities[index])) for index in order)


# --- the PyTorch network, with both outputs ---------------------------------------------------


def _split_network(model):
    """(backbone layers, Classify head) of an Ultralytics ClassificationModel."""
    from ultralytics.nn.modules.head import Classify

    layers = list(model.model)
    head = layers[-1]
    if not isinstance(head, Classify):
        raise ClassifierLoadError("bad_model", f"the last layer is {type(head).__name__}, not a Classify head")
    return layers[:-1], head


def _build_two_headed_module(model):
    """A torch module: images -> (probabilities, L2-normalised embedding, last conv feature map)."""
    import torch
    from torch import nn

    backbone_layers, head = _split_network(model)

    class TwoHeaded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(backbone_layers)
            # Which earlier output each layer reads (-1: the previous one), as Ultralytics routes them.
            self.sources = [getattr(layer, "f", -1) for layer in backbone_layers]
            referenced = {j for source in self.sources for j in ([source] if isinstance(source, int) else source)}
            self.kept = frozenset(j for j in referenced if j != -1)
            self.head = head

        def run(self, images, capture: int | None = None):
            """(logits, pooled features, last conv feature map, output of layer ``capture``).

            ``capture`` indexes the backbone layers; ``len(self.layers)`` means the head's conv.
            """
            outputs: dict[int, object] = {}
            captured = None
            x = images
            for index, (layer, source) in enumerate(zip(self.layers, self.sources)):
                if source != -1:
                    x = outputs[source] if isinstance(source, int) else [x if j == -1 else outputs[j] for j in source]
                x = layer(x)
                if index in self.kept:
                    outputs[index] = x
                if index == capture:
                    captured = x
            if isinstance(x, list):
                x = torch.cat(x, 1)
            feature_map = self.head.conv(x)
            if capture == len(self.layers):
                captured = feature_map
            pooled = self.head.pool(feature_map).flatten(1)
            logits = self.head.linear(pooled)  # dropout is identity in eval
            return logits, pooled, feature_map, captured

        def forward(self, images):
            logits, pooled, feature_map, _ = self.run(images)
            probabilities = logits.softmax(1)
            embedding = pooled / pooled.norm(dim=1, keepdim=True).clamp_min(1e-12)
            return probabilities, embedding, feature_map

    module = TwoHeaded().eval().float()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def _export_module(two_headed):
    """An nn.Module returning only (probabilities, embedding): the two ONNX outputs."""
    from torch import nn

    class ProbabilitiesAndEmbedding(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = two_headed

        def forward(self, images):
            probabilities, embedding, _ = self.inner(images)
            return probabilities, embedding

    return ProbabilitiesAndEmbedding().eval()


def _load_ultralytics_checkpoint(path: Path):
    """(ClassificationModel in eval fp32, class names, imgsz) from a YOLO .pt, or ClassifierLoadError."""
    ensure_offline()
    from ultralytics.nn.tasks import ClassificationModel, load_checkpoint

    try:
        # An absolute path that exists: Ultralytics' download fallback never triggers.
        model, checkpoint = load_checkpoint(str(path), device="cpu", fuse=False)
    except (TypeError, RuntimeError, EOFError, ValueError, KeyError, AttributeError, ModuleNotFoundError) as error:
        raise ClassifierLoadError(
            "bad_model", f"{path.name} is not a loadable Ultralytics checkpoint: {error}"
        ) from error
    except Exception as error:  # pickle errors and zip errors vary by torch version
        raise ClassifierLoadError("bad_model", f"{path.name} could not be read as a model: {error}") from error
    task = getattr(model, "task", None)
    if not isinstance(model, ClassificationModel) or task not in (None, "classify"):
        raise ClassifierLoadError(
            "bad_model",
            f"{path.name} is a {task or type(model).__name__} model, not an image classifier (YOLO -cls)"
        )
    names = getattr(model, "names", None) or {}
    class_names = tuple(str(names[index]) for index in sorted(names)) if isinstance(names, dict) else tuple(names)
    train_args = checkpoint.get("train_args") or {}
    imgsz = train_args.get("imgsz") or getattr(model, "args", {}).get("imgsz") or 224
    imgsz = int(imgsz[0] if isinstance(imgsz, (list, tuple)) else imgsz)
    # Conv+BatchNorm folded once: fewer ops per forward, same outputs to ~1e-6.
    model = model.float().eval()
    if hasattr(model, "fuse"):
        model = model.fuse(verbose=False)
    return model.eval(), class_names, imgsz


# --- the engine -----------------------------------------------------------------------------


class ClassifierEngine:
    """Classify PIL images with a YOLO11-cls ``.pt`` (PyTorch) or its ``.onnx`` export (ONNX Runtime).

    Thread-safe: one lock serialises forward passes (PyTorch modules and ORT sessions share
    buffers; the CPU is saturated by one pass anyway). Preprocessing runs outside the lock.
    """

    def __init__(
        self,
        *,
        path: Path,
        kind: str,
        class_names: tuple[str, ...],
        imgsz: int,
        torch_module=None,
        onnx_session=None,
        device: str = "cpu",
        arch: str = ARCH_YOLO,
    ) -> None:
        self.path = path
        self.kind = kind  # "pt" (YOLO), "safetensors" (EfficientNet-Lite0) or "onnx" (either)
        self.arch = arch
        self.class_names = class_names
        self.imgsz = imgsz
        self.device = device
        self._torch_module = torch_module
        self._onnx_session = onnx_session
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"ClassifierEngine({self.path.name!r}, kind={self.kind!r}, arch={self.arch!r}, "
            f"classes={len(self.class_names)}, imgsz={self.imgsz})"
        )

    @property
    def torch_module(self):
        """The PyTorch module (``.pt`` and ``.safetensors`` engines): images -> (probabilities,
        embedding, feature map); its ``run(images, capture)`` and ``layers`` serve Grad-CAM."""
        return self._torch_module

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu", threads: int | None = None) -> ClassifierEngine:
        """Load a YOLO11-cls ``.pt``, a fine-tuned EfficientNet-Lite0 ``.safetensors`` or an
        ``.onnx`` made by :func:`export_onnx`.

        ``threads`` caps ONNX Runtime's intra-op threads (default: ``$OMP_NUM_THREADS`` or all cores).
        """
        path = Path(path).expanduser().resolve()
        if not path.is_file():
            raise ClassifierLoadError("no_model", f"model file {path} does not exist")
        if path.stat().st_size == 0:
            raise ClassifierLoadError("bad_model", f"model file {path.name} is empty")
        suffix = path.suffix.lower()
        if suffix == ".pt":
            return cls._load_pt(path, device=device)
        if suffix == ".safetensors":
            return cls._load_lite(path, device=device)
        if suffix == ".onnx":
            return cls._load_onnx(path, threads=threads, device=device)
        raise ClassifierLoadError(
            "bad_model",
            f"{path.name}: expected a .pt, .safetensors or .onnx classifier, got {suffix or 'no suffix'}",
        )

    @classmethod
    def _load_lite(cls, path: Path, *, device: str) -> ClassifierEngine:
        if device != "cpu" and not device.startswith("cuda"):
            raise ClassifierLoadError("bad_device", f"unsupported device {device!r}")
        from .finetune import load_lite_classifier

        module, class_names, imgsz = load_lite_classifier(path)
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        return cls(path=path, kind="safetensors", class_names=class_names, imgsz=imgsz,
                   torch_module=module.to(device), device=device, arch=ARCH_LITE)

    @classmethod
    def _load_pt(cls, path: Path, *, device: str) -> ClassifierEngine:
        if device != "cpu" and not device.startswith("cuda"):
            raise ClassifierLoadError("bad_device", f"unsupported device {device!r}")
        model, class_names, imgsz = _load_ultralytics_checkpoint(path)
        if not class_names:
            raise ClassifierLoadError("bad_model", f"{path.name} carries no class names")
        module = _build_two_headed_module(model).to(device)
        return cls(
            path=path, kind="pt", class_names=class_names, imgsz=imgsz, torch_module=module, device=device
        )

    @classmethod
    def _load_onnx(cls, path: Path, *, threads: int | None, device: str = "cpu") -> ClassifierEngine:
        import onnxruntime

        from .devices import onnx_providers

        options = onnxruntime.SessionOptions()
        threads = threads if threads is not None else int(os.environ.get("OMP_NUM_THREADS") or 0)
        options.intra_op_num_threads = max(0, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # ORT's worker threads busy-wait between runs by default; on a small shared CPU that
        # steals cycles from the web process, the database and any torch threads nearby.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = onnxruntime.InferenceSession(str(path), options, providers=onnx_providers(device))
        except Exception as error:  # ORT raises its own exception types (InvalidProtobuf, Fail...)
            raise ClassifierLoadError("bad_model", f"{path.name} is not a readable ONNX model: {error}") from error
        metadata = session.get_modelmeta().custom_metadata_map
        output_names = tuple(output.name for output in session.get_outputs())
        if metadata.get("kind") not in ONNX_METADATA_KINDS or output_names != ONNX_OUTPUTS:
            raise ClassifierLoadError(
                "bad_model",
                f"{path.name} was not exported by inference.engines.export_onnx "
                f"(needs outputs {ONNX_OUTPUTS} and class names in its metadata)"
            )
        try:
            class_names = tuple(json.loads(metadata["names"]))
            imgsz = int(metadata["imgsz"])
        except (KeyError, ValueError) as error:
            raise ClassifierLoadError("bad_model", f"{path.name} has unreadable metadata: {error}") from error
        return cls(path=path, kind="onnx", class_names=class_names, imgsz=imgsz, onnx_session=session,
                   arch=metadata.get("arch", ARCH_YOLO), device=device)

    # -- inference ---------------------------------------------------------------------------

    def preprocess(self, images: list[Image.Image]) -> np.ndarray:
        """(N, 3, imgsz, imgsz) float32 in [0, 1]: the Ultralytics classify eval transform (see module doc)."""
        return preprocess_images(images, self.imgsz)

    def _forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (N, C), embeddings (N, D)) for a preprocessed batch."""
        if self.kind == "onnx":
            with self._lock:
                probabilities, embeddings = self._onnx_session.run(list(ONNX_OUTPUTS), {ONNX_INPUT: batch})
            return probabilities.astype(np.float32), embeddings.astype(np.float32)
        import torch

        with self._lock, torch.inference_mode():
            tensor = torch.from_numpy(batch).to(self.device)
            probabilities, embeddings, _ = self._torch_module(tensor)
            return probabilities.float().cpu().numpy(), embeddings.float().cpu().numpy()

    def predict(self, images: list[Image.Image]) -> list[Prediction]:
        """One forward pass for the batch; probabilities and embeddings per image."""
        if not images:
            return []
        started = time.perf_counter()
        batch = self.preprocess(images)
        preprocessed = time.perf_counter()
        probabilities, embeddings = self._forward(batch)
        finished = time.perf_counter()
        share = 1.0 / len(images)
        # Softmax in float32 can miss 1 by ~1e-7; renormalising keeps "sums to 1" exact enough for JSON.
        probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
        embeddings = _l2_normalise(embeddings)
        return [
            Prediction(
                probabilities=probabilities[index].astype(np.float32),
                embedding=embeddings[index],
                top=_top_k(probabilities[index]),
                preprocess_s=(preprocessed - started) * share,
                inference_s=(finished - preprocessed) * share,
            )
            for index in range(len(images))
        ]

    def predict_all(self, images, batch_size: int = 32) -> list[Prediction]:
        """:meth:`predict` over any number of images, ``batch_size`` at a time (bounded memory)."""
        images = list(images)
        return [p for start in range(0, len(images), batch_size) for p in self.predict(images[start:start + batch_size])]

    def embed_all(self, images, batch_size: int = 32) -> np.ndarray:
        """:meth:`embed` over any number of images, ``batch_size`` at a time."""
        images = list(images)
        if not images:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        return np.concatenate([self.embed(images[start:start + batch_size])
                               for start in range(0, len(images), batch_size)])

    def embed(self, images: list[Image.Image]) -> np.ndarray:
        """(N, D) float32 L2-normalised embeddings."""
        if not images:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        _, embeddings = self._forward(self.preprocess(images))
        return _l2_normalise(embeddings)

    @property
    def embedding_dim(self) -> int:
        if self.kind == "onnx":
            return int(self._onnx_session.get_outputs()[1].shape[-1])
        module = self._torch_module
        if hasattr(module, "embedding_dim"):  # EfficientNet-Lite0: the head reads more than the embedding
            return int(module.embedding_dim)
        head = module.head
        return int((head.linear if hasattr(head, "linear") else head).in_features)

    def warm_up(self) -> None:
        """One dummy forward: the first call pays allocator and kernel selection costs."""
        self._forward(np.zeros((1, 3, self.imgsz, self.imgsz), dtype=np.float32))


def export_onnx(pt_path: str | Path, out_path: str | Path) -> Path:
    """Export a classifier (YOLO11-cls ``.pt`` or EfficientNet-Lite0 ``.safetensors``) to ONNX with
    two outputs, ``probabilities`` and ``embedding``.

    Class names (JSON list), ``imgsz`` and ``arch`` go in the model's metadata. The batch axis is dynamic.
    Written beside the target then renamed, so a reader never sees half a file.
    """
    import onnx
    import torch

    out_path = Path(out_path).expanduser().resolve()
    engine = ClassifierEngine.load(pt_path)
    if engine.kind not in TORCH_KINDS:
        raise ClassifierLoadError("bad_model", f"{Path(pt_path).name}: export_onnx needs a .pt or .safetensors model")
    wrapper = _export_module(engine.torch_module)
    dummy = torch.zeros((1, 3, engine.imgsz, engine.imgsz), dtype=torch.float32)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(f".{out_path.name}.{os.getpid()}.partial")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript-based exporter: the dynamo one needs onnxscript, which we do not ship.
            warnings.simplefilter("ignore", DeprecationWarning)
            # "Same" padding is computed from the input's size: constant for the fixed imgsz exported.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                wrapper,
                (dummy,),
                str(partial),
                dynamo=False,
                input_names=[ONNX_INPUT],
                output_names=list(ONNX_OUTPUTS),
                dynamic_axes={ONNX_INPUT: {0: "batch"}, ONNX_OUTPUTS[0]: {0: "batch"}, ONNX_OUTPUTS[1]: {0: "batch"}},
                opset_version=ONNX_OPSET,
                do_constant_folding=True,
            )
        model = onnx.load(str(partial))
        onnx.checker.check_model(model)
        metadata = {
            "kind": ONNX_METADATA_KIND,
            "names": json.dumps(list(engine.class_names)),
            "imgsz": str(engine.imgsz),
            "arch": engine.arch,
            "source": Path(pt_path).name,
            "preprocess": "shorter side to imgsz (bilinear), centre crop, RGB, /255, NCHW float32",
        }
        _save_with_metadata(model, metadata, partial)
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    return out_path


def _save_with_metadata(model, metadata: dict[str, str], path: Path) -> None:
    """Write an ONNX model whose metadata is exactly ``metadata``."""
    import onnx

    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def quantize_onnx_int8(onnx_path: str | Path, out_path: str | Path, calibration_images: list[Image.Image]) -> Path:
    """A static int8 (QDQ, per-channel weights) copy of an :func:`export_onnx` file, its activation
    ranges taken from ``calibration_images`` (preprocessed by the serving rule). Same outputs and
    metadata; whether it is accurate enough is for the caller to measure."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    onnx_path, out_path = Path(onnx_path), Path(out_path)
    source = ClassifierEngine.load(onnx_path, threads=1)
    if source.kind != "onnx":
        raise ClassifierLoadError("bad_model", f"{onnx_path.name}: quantize an .onnx made by export_onnx")
    if not calibration_images:
        raise ValueError("int8 quantisation needs calibration images")
    batches = [source.preprocess([image]) for image in calibration_images]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(batches)

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {ONNX_INPUT: batch}

    partial = out_path.with_name(f".{out_path.name}.{os.getpid()}.partial")
    try:
        quantize_static(str(onnx_path), str(partial), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        model = onnx.load(str(partial))
        metadata = {entry.key: entry.value for entry in onnx.load(str(onnx_path)).metadata_props}
        metadata["precision"] = "int8"
        _save_with_metadata(model, metadata, partial)
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    return out_path
