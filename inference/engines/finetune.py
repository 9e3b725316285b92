"""Fine-tune the ImageNet-trained EfficientNet-Lite0 into a motif classifier (no Django).

The recipe is the usual partial fine-tuning, sized for a few hundred photos on two cores:

1. a new head (dropout + linear) on the pooled 1280-d features and a texture descriptor
   (second-order statistics of a stride-16 map, :func:`texture_descriptor`), standardised,
   fitted alone first as a regularised logistic regression, so that a random head does not
   push large gradients into the pretrained layers;
2. then the top of the backbone (blocks from ``unfreeze_from`` on, by default the last block,
   and the 1x1 head conv) learns too, at ``backbone_lr_scale`` times the head's rate, under a
   cosine schedule; every BatchNorm keeps its ImageNet statistics;
3. photo augmentations (:func:`photo_augmentation`), label smoothing, and early stopping on the
   validation split's accuracy (ties broken by its loss); the best epoch's weights are kept.

The frozen bottom is most of the arithmetic, so it runs once per augmented view: each training
photo is drawn ``views`` times, the bottom's outputs are kept (float16), and every epoch trains
the top on one stored view per photo. An epoch then costs a fraction of a full pass.

A trained classifier is one ``.safetensors`` file: the tensors of :class:`LiteClassifier` and,
in its metadata, the architecture, class names and image size. Loading it never runs code.
"""
from __future__ import annotations

import functools
import io
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbones import EMBEDDING_DIM, EfficientNetLite0, efficientnet_lite0
from .errors import ClassifierLoadError

__all__ = [
    "ARCH",
    "FineTuneOptions",
    "FineTuneResult",
    "LiteClassifier",
    "fine_tune",
    "load_lite_classifier",
    "photo_augmentation",
    "save_lite_classifier",
]

ARCH = "efficientnet-lite0"
FILE_KIND = "cualify-efficientnet-lite0-cls"

ProgressCallback = Callable[[int, int, dict], None]


TEXTURE_BLOCK = 10  # the last MBConv block at stride 16 (112 channels): mid-level ornament parts
TEXTURE_CHANNELS = 112
TEXTURE_DIM = TEXTURE_CHANNELS * (TEXTURE_CHANNELS + 1) // 2


@functools.lru_cache(maxsize=8)
def _upper_triangle(channels: int) -> torch.Tensor:
    """Flat positions of a square matrix's upper triangle (numpy-made: a constant in an ONNX trace)."""
    rows, cols = np.triu_indices(channels)
    return torch.from_numpy(rows * channels + cols)


def texture_descriptor(feature_map: torch.Tensor) -> torch.Tensor:
    """Second-order statistics of a feature map: the channels' Gram matrix over all positions
    (upper triangle), signed square root, L2-normalised.

    Which parts of ornament occur *together*, wherever they are: the classic texture descriptor
    on CNN features (bilinear pooling; Gatys' style statistics), and what tells batik families
    apart better than the average alone (the pooled vector mostly says "dark cloth, dense dots").
    """
    n, c, h, w = feature_map.shape
    flat = feature_map.flatten(2)
    gram = flat @ flat.transpose(1, 2) / (h * w)
    values = gram.flatten(1)[:, _upper_triangle(int(c)).to(feature_map.device)]
    values = torch.sign(values) * torch.sqrt(values.abs() + 1e-12)
    return F.normalize(values, dim=1)


class LiteClassifier(nn.Module):
    """EfficientNet-Lite0 features, dropout and a linear head over ``len(class_names)`` classes.

    The head reads the pooled 1280-d vector and, when ``texture``, the :func:`texture_descriptor`
    of block ``TEXTURE_BLOCK``, standardised with the training views' mean and deviation
    (buffers stored with the model). ``run``/``layers`` follow the interface the Grad-CAM code
    reads (the same as the YOLO engine's module): ``layers`` are the MBConv blocks,
    ``len(layers)`` names the head conv.
    """

    def __init__(self, num_classes: int, *, dropout: float = 0.2, backbone: EfficientNetLite0 | None = None,
                 texture: bool = True):
        super().__init__()
        self.backbone = backbone if backbone is not None else EfficientNetLite0()
        self.backbone._fc = nn.Identity()  # the ImageNet classifier is not used (nor stored)
        self.texture = texture
        width = EMBEDDING_DIM + (TEXTURE_DIM if texture else 0)
        self.register_buffer("feature_mean", torch.zeros(width))
        self.register_buffer("feature_std", torch.ones(width))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, num_classes)

    @property
    def layers(self) -> nn.ModuleList:
        return self.backbone._blocks

    @property
    def embedding_dim(self) -> int:
        """The embedding is the pooled vector (the prototype space of "not a known motif")."""
        return EMBEDDING_DIM

    def head_input(self, pooled: torch.Tensor, texture: torch.Tensor | None) -> torch.Tensor:
        """What the linear head reads, standardised."""
        features = pooled if texture is None else torch.cat([pooled, texture], dim=1)
        return (features - self.feature_mean) / self.feature_std

    def run(self, images: torch.Tensor, capture: int | None = None):
        """(logits, pooled features, head feature map, output of block ``capture``) of 0..1 RGB images."""
        net = self.backbone
        x = F.relu6(net._bn0(net._conv_stem(net.normalise(images))))
        captured = texture = None
        for index, block in enumerate(net._blocks):
            x = block(x)
            if index == capture:
                captured = x
            if self.texture and index == TEXTURE_BLOCK:
                texture = texture_descriptor(x)
        feature_map = F.relu6(net._bn1(net._conv_head(x)))
        if capture == len(net._blocks):
            captured = feature_map
        pooled = feature_map.mean(dim=(2, 3))
        logits = self.head(self.dropout(self.head_input(pooled, texture)))
        return logits, pooled, feature_map, captured

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.run(images)[0]

    def forward(self, images: torch.Tensor):
        """(probabilities, L2-normalised embedding, head feature map): the engine's three outputs."""
        logits, pooled, feature_map, _ = self.run(images)
        embedding = pooled / pooled.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return logits.softmax(1), embedding, feature_map


# --- the file -------------------------------------------------------------------------------


def save_lite_classifier(model: LiteClassifier, path: str | Path, *, class_names: Sequence[str], imgsz: int,
                         extra: dict | None = None) -> Path:
    """Write the model's tensors and its metadata to one ``.safetensors`` file (atomically)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    metadata = {"kind": FILE_KIND, "arch": ARCH, "names": json.dumps(list(class_names)), "imgsz": str(int(imgsz)),
                "dropout": str(model.dropout.p),
                "texture": str(int(model.texture)), **{key: json.dumps(value) for key, value in (extra or {}).items()}}
    partial = path.with_name(path.name + ".partial")
    save_file(state, str(partial), metadata=metadata)
    partial.replace(path)
    return path


def read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as error:  # safetensors raises its own error types for a bad header
        raise ClassifierLoadError("bad_model", f"{path.name} is not a readable safetensors file: {error}") from error


def load_lite_classifier(path: str | Path) -> tuple[LiteClassifier, tuple[str, ...], int]:
    """(model in eval mode, class names, imgsz) from a file :func:`save_lite_classifier` wrote."""
    from safetensors.torch import load_file

    path = Path(path)
    metadata = read_metadata(path)
    if metadata.get("kind") != FILE_KIND:
        raise ClassifierLoadError(
            "bad_model", f"{path.name} is not a Cualify EfficientNet-Lite0 classifier (metadata kind "
            f"{metadata.get('kind')!r})")
    try:
        class_names = tuple(str(name) for name in json.loads(metadata["names"]))
        imgsz = int(metadata["imgsz"])
        dropout = float(metadata.get("dropout", 0.2))
    except (KeyError, ValueError, TypeError) as error:
        raise ClassifierLoadError("bad_model", f"{path.name} has unreadable metadata: {error}") from error
    if not class_names:
        raise ClassifierLoadError("bad_model", f"{path.name} carries no class names")
    state = load_file(str(path))
    texture = metadata.get("texture", "0") == "1"
    model = LiteClassifier(len(class_names), dropout=dropout, texture=texture)
    if "feature_mean" not in state:  # written before the head read standardised features
        state = {**state, "feature_mean": model.feature_mean, "feature_std": model.feature_std}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ClassifierLoadError("bad_model", f"{path.name} does not fit EfficientNet-Lite0: {error}") from error
    return model.eval(), class_names, imgsz


# --- data -----------------------------------------------------------------------------------


class _RandomJPEG:
    """Re-encode as JPEG at a random quality: the blocking and ringing of photos sent by phone."""

    def __init__(self, quality: tuple[int, int], p: float):
        self.quality, self.p = quality, p

    def __call__(self, image):
        from PIL import Image

        if random.random() >= self.p:
            return image
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=random.randint(*self.quality))
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            return decoded.convert("RGB")


class _RandomQuarterTurn:
    """Turn by 0, 90, 180 or 270 degrees: a cloth has no up, and unlike a free rotation this
    adds no empty corners and keeps a diagonal motif (parang, lereng) diagonal."""

    def __call__(self, image):
        from PIL import Image

        turns = random.randrange(4)
        return image if not turns else image.transpose(
            (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)[turns - 1])


def photo_augmentation(imgsz: int):
    """PIL image -> 0..1 float tensor (3, imgsz, imgsz): what a photo of cloth varies by.

    Framing and distance (random resized crop), the cloth turned or mirrored (flips and
    quarter turns: motifs have no up), the camera's angle (perspective), light and white balance
    (colour jitter), focus (blur) and compression (JPEG at quality 30-95).
    """
    from torchvision.transforms import v2

    return v2.Compose([
        v2.RandomResizedCrop(imgsz, scale=(0.25, 1.0), ratio=(3 / 4, 4 / 3), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomVerticalFlip(),
        _RandomQuarterTurn(),
        v2.RandomPerspective(distortion_scale=0.3, p=0.3),
        v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.03),
        v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.5))], p=0.25),
        _RandomJPEG((30, 95), p=0.5),
        v2.PILToTensor(),
        v2.ToDtype(torch.float32, scale=True),
    ])


def _fit_short_side(image, side: int):
    """The photo scaled so its shorter side is ``side`` (never up): augmentation crops from it."""
    from PIL import Image

    scale = side / min(image.size)
    if scale >= 1.0:
        return image.convert("RGB")
    size = (max(side, round(image.width * scale)), max(side, round(image.height * scale)))
    return image.convert("RGB").resize(size, Image.Resampling.BILINEAR)


# --- training -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FineTuneOptions:
    imgsz: int = 224
    epochs: int = 10  # top-block epochs at most; early stopping may end sooner
    head_iterations: int = 200  # L-BFGS steps of the head's logistic regression (stage 1)
    head_c: float = 0.1  # its inverse L2 strength, as a logistic regression's C
    texture: bool = True  # the head also reads the texture descriptor (see LiteClassifier)
    views: int = 8  # augmented views of each training photo, drawn once (see the module docstring)
    batch: int = 32
    lr: float = 1e-3  # the head's; the unfrozen blocks get lr * backbone_lr_scale
    backbone_lr_scale: float = 0.1
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    dropout: float = 0.2
    unfreeze_from: int = 15  # first MBConv block that learns in stage 2 (of 16): the last one
    patience: int = 3  # epochs without a better validation score before stopping
    seed: int = 0
    threads: int | None = None
    device: str = "cpu"  # where the network trains ("cuda" on a GPU host); the result is on the CPU

    def __post_init__(self) -> None:
        if self.imgsz < 32 or self.imgsz > 640 or self.imgsz % 32:
            raise ValueError("imgsz must be a multiple of 32 between 32 and 640")
        if not 0 <= self.epochs <= 1000 or not 1 <= self.head_iterations <= 1000:
            raise ValueError("epochs must be 0..1000 and head_iterations 1..1000")
        if not self.head_c > 0:
            raise ValueError("head_c must be positive")
        if not 1 <= self.batch <= 512:
            raise ValueError("batch must be 1..512")
        if not 1 <= self.views <= 64:
            raise ValueError("views must be 1..64")
        if not 0 <= self.unfreeze_from <= 16:
            raise ValueError("unfreeze_from must be 0..16")


@dataclass(frozen=True)
class FineTuneResult:
    model: LiteClassifier
    class_names: tuple[str, ...]
    imgsz: int
    epochs_run: int
    best_epoch: int
    best_val_accuracy: float
    seconds: float
    history: list[dict] = field(default_factory=list)  # one row per epoch: losses, accuracy, lr, seconds
    options: dict = field(default_factory=dict)
    views_seconds: float = 0.0  # drawing and encoding the augmented views


def _freeze(module: nn.Module, frozen: bool) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(not frozen)


def _top_parts(model: LiteClassifier, unfreeze_from: int) -> list[nn.Module]:
    net = model.backbone
    return [*net._blocks[unfreeze_from:], net._conv_head, net._bn1]


def _bottom(model: LiteClassifier, images: torch.Tensor, upto: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The frozen part: stem and blocks ``[0, upto)``, in eval mode, without a graph; and the
    texture descriptor when its block is among them (it is then fixed too)."""
    net = model.backbone
    texture = None
    with torch.no_grad():
        x = F.relu6(net._bn0(net._conv_stem(net.normalise(images))))
        for index, block in enumerate(net._blocks[:upto]):
            x = block(x)
            if model.texture and index == TEXTURE_BLOCK:
                texture = texture_descriptor(x)
    return x, texture


def _top_features(model: LiteClassifier, x: torch.Tensor, upto: int, texture: torch.Tensor | None) -> torch.Tensor:
    """The head's standardised input from the output of block ``upto - 1`` (and the stored texture)."""
    net = model.backbone
    for index, block in enumerate(net._blocks[upto:], start=upto):
        x = block(x)
        if model.texture and index == TEXTURE_BLOCK:
            texture = texture_descriptor(x)
    pooled = F.relu6(net._bn1(net._conv_head(x))).mean(dim=(2, 3))
    return model.head_input(pooled, texture)


def _top(model: LiteClassifier, x: torch.Tensor, upto: int, texture: torch.Tensor | None) -> torch.Tensor:
    """Logits from the output of block ``upto - 1``."""
    return model.head(model.dropout(_top_features(model, x, upto, texture)))


def _chunks(cache: torch.Tensor, textures: torch.Tensor | None, batch: int):
    for start in range(0, len(cache), batch):
        texture = None if textures is None else textures[start: start + batch].float()
        yield cache[start: start + batch].float(), texture


def _features_of_cache(model: LiteClassifier, cache: torch.Tensor, textures: torch.Tensor | None, upto: int,
                       batch: int) -> torch.Tensor:
    """The head's input for stored bottom outputs, with the top in eval mode."""
    model.eval()
    with torch.inference_mode():
        rows = [_top_features(model, x, upto, texture) for x, texture in _chunks(cache, textures, batch)]
    return torch.cat(rows).clone()


def _logits_of_cache(model: LiteClassifier, cache: torch.Tensor, textures: torch.Tensor | None, upto: int,
                     batch: int) -> torch.Tensor:
    model.eval()
    with torch.inference_mode():
        return torch.cat([_top(model, x, upto, texture) for x, texture in _chunks(cache, textures, batch)])


def _fit_head(head: nn.Linear, features: torch.Tensor, labels: torch.Tensor, *, inverse_l2: float,
              label_smoothing: float, iterations: int) -> float:
    """The head as a multinomial logistic regression on fixed features: full-batch L-BFGS on the
    smoothed cross-entropy plus ``||W||^2 / (2 * inverse_l2 * n)`` (``inverse_l2`` is the usual
    C of a logistic regression). Deterministic, and regularised as strongly as a few hundred
    photos need: thousands of features, a few hundred photos. Returns the final loss."""
    penalty = 1.0 / (2.0 * inverse_l2 * len(features))
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
    optimiser = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=iterations, history_size=20,
                                  tolerance_grad=1e-6, tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad(set_to_none=True)
        loss = F.cross_entropy(head(features), labels, label_smoothing=label_smoothing)
        loss = loss + penalty * head.weight.pow(2).sum()
        loss.backward()
        return loss

    return float(optimiser.step(closure).detach())


def fine_tune(
    *,
    train_images: Sequence,
    train_labels: Sequence[int],
    val_images: Sequence,
    val_labels: Sequence[int],
    class_names: Sequence[str],
    options: FineTuneOptions = FineTuneOptions(),
    progress: ProgressCallback | None = None,
    backbone_weights: Path | None = None,
    eval_preprocess: Callable | None = None,
) -> FineTuneResult:
    """Fine-tune on PIL images (any size) and their class indices; see the module docstring.

    The frozen bottom of the network (blocks before ``unfreeze_from``) sees each training photo
    in ``views`` augmented versions once; its outputs are kept (float16) and every epoch trains
    the top blocks and the head on one of each photo's views. That is the usual partial
    fine-tuning, minus recomputing the frozen layers each epoch (most of an epoch's time on a
    CPU), with a fixed pool of augmentations instead of fresh ones.

    ``eval_preprocess(images, imgsz)`` turns validation images into a 0..1 NCHW array (default:
    the engine's serving rule). ``progress(step, steps, metrics)`` is called after each pass of
    views (``metrics["phase"] == "views"``) and each epoch (``"train"``). With no validation
    images, the last epoch is kept.
    """
    if len(train_images) != len(train_labels) or len(val_images) != len(val_labels):
        raise ValueError("images and labels differ in length")
    class_names = tuple(class_names)
    check_training_set(class_names, train_labels)
    if eval_preprocess is None:
        from .classifier import preprocess_images as eval_preprocess
    threads_before = torch.get_num_threads()
    if options.threads:
        torch.set_num_threads(options.threads)
    random.seed(options.seed)
    np.random.seed(options.seed)
    torch.manual_seed(options.seed)
    started = time.perf_counter()
    upto = options.unfreeze_from
    steps = options.views + 1 + options.epochs
    device = torch.device(options.device)
    try:
        model = LiteClassifier(len(class_names), dropout=options.dropout, texture=options.texture,
                               backbone=efficientnet_lite0(pretrained=True, path=backbone_weights)).to(device)
        _freeze(model, True)
        model.eval()
        augment = photo_augmentation(options.imgsz)
        # Crops are taken from the photo at about 1.5x the training size: enough detail for the
        # smallest crop, without resampling a 4000 px photo for every view.
        sources = [_fit_short_side(image, round(options.imgsz * 1.5)) for image in train_images]
        labels = torch.as_tensor(list(train_labels), dtype=torch.long, device=device)
        val_tensor = torch.as_tensor(list(val_labels), dtype=torch.long, device=device)

        def encode(batches) -> tuple[torch.Tensor, torch.Tensor | None]:
            outputs, textures = [], []
            for batch in batches:
                x, texture = _bottom(model, batch.to(device), upto)
                outputs.append(x.half())
                if texture is not None:
                    textures.append(texture.half())
            return torch.cat(outputs), (torch.cat(textures) if textures else None)

        views, view_textures = [], []
        for view in range(options.views):
            view_started = time.perf_counter()
            encoded, textures = encode(torch.stack([augment(image) for image in sources[start: start + options.batch]])
                                       for start in range(0, len(sources), options.batch))
            views.append(encoded)
            view_textures.append(textures)
            if progress is not None:
                progress(view + 1, steps, {"phase": "views", "seconds": time.perf_counter() - view_started})
        views_seconds = time.perf_counter() - started
        cache = torch.stack(views, dim=1)  # (photos, views, C, H, W)
        texture_cache = None if view_textures[0] is None else torch.stack(view_textures, dim=1)  # (photos, views, D)
        del views, view_textures
        val_cache = val_textures = None
        if len(val_images):
            val_cache, val_textures = encode(
                torch.from_numpy(eval_preprocess(list(val_images[start: start + 64]), options.imgsz))
                for start in range(0, len(val_images), 64))

        def textures_of(rows, view) -> torch.Tensor | None:
            return None if texture_cache is None else texture_cache[rows, view].float()

        history: list[dict] = []
        best = {"score": (-1.0, -math.inf), "state": None, "epoch": 0, "accuracy": 0.0}
        generator = torch.Generator().manual_seed(options.seed)

        def validate() -> tuple[float, float]:
            if val_cache is None:
                return 0.0, 0.0
            logits = _logits_of_cache(model, val_cache, val_textures, upto, 64)
            return float((logits.argmax(1) == val_tensor).float().mean()), float(F.cross_entropy(logits, val_tensor))

        def keep_if_best(epoch: int, accuracy: float, loss: float) -> bool:
            nonlocal best
            if val_cache is None or (accuracy, -loss) > best["score"]:
                best = {"score": (accuracy, -loss), "epoch": epoch, "accuracy": accuracy,
                        "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
                return True
            return False

        # Stage 1: the head alone, a regularised logistic regression on the features of every
        # stored view (computed once), standardised with their own mean and deviation.
        stage1_started = time.perf_counter()
        features = torch.cat([
            _features_of_cache(model, cache[:, view], None if texture_cache is None else texture_cache[:, view], upto, 64)
            for view in range(options.views)])  # standardised with the initial 0/1 buffers: raw
        with torch.no_grad():
            model.feature_mean.copy_(features.mean(0))
            model.feature_std.copy_(features.std(0).clamp_min(1e-6))
            features = (features - model.feature_mean) / model.feature_std
        feature_labels = labels.repeat(options.views)
        _freeze(model.head, False)
        train_loss = _fit_head(model.head, features, feature_labels, inverse_l2=options.head_c,
                               label_smoothing=options.label_smoothing, iterations=options.head_iterations)
        del features
        val_accuracy, val_loss = validate()
        keep_if_best(0, val_accuracy, val_loss)
        row = {"epoch": 0, "stage": 1, "train_loss": train_loss, "val_loss": val_loss, "val_accuracy": val_accuracy,
               "lr": options.lr, "seconds": time.perf_counter() - stage1_started}
        history.append(row)
        if progress is not None:
            progress(options.views + 1, steps, {"phase": "train", **row})

        # Stage 2: the top blocks and the head, one stored view per photo per epoch.
        head_parameters = list(model.head.parameters())
        top_parameters = [p for part in _top_parts(model, upto) for p in part.parameters()]
        optimiser = torch.optim.AdamW(
            [{"params": head_parameters, "lr": options.lr * options.backbone_lr_scale},
             {"params": top_parameters, "lr": options.lr * options.backbone_lr_scale}],
            weight_decay=options.weight_decay)
        base_lrs = [group["lr"] for group in optimiser.param_groups]
        stale = 0
        for epoch in range(1, options.epochs + 1):
            model.eval()
            model.head.train()
            model.dropout.train()
            for part in _top_parts(model, upto):
                part.train()
                _freeze(part, False)
            # BatchNorm keeps its ImageNet statistics: batch statistics of 32 photos would shift
            # every feature the head was fitted on (measured: the training loss triples).
            for module in model.backbone.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
            _freeze(model.head, False)
            t = (epoch - 1) / options.epochs  # cosine decay
            for group, base in zip(optimiser.param_groups, base_lrs):
                group["lr"] = base * 0.5 * (1.0 + math.cos(math.pi * t))
            epoch_started = time.perf_counter()
            order = torch.randperm(len(cache), generator=generator)
            picked = torch.randint(options.views, (len(cache),), generator=generator)
            running, seen = 0.0, 0
            for start in range(0, len(order), options.batch):
                chunk = order[start: start + options.batch]
                if len(chunk) < 2 and len(order) > 1:
                    continue  # BatchNorm in training mode needs two samples
                logits = _top(model, cache[chunk, picked[chunk]].float(), upto, textures_of(chunk, picked[chunk]))
                loss = F.cross_entropy(logits, labels[chunk], label_smoothing=options.label_smoothing)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                running += float(loss.detach()) * len(chunk)
                seen += len(chunk)
            val_accuracy, val_loss = validate()
            row = {"epoch": epoch, "stage": 2, "train_loss": running / max(1, seen), "val_loss": val_loss,
                   "val_accuracy": val_accuracy, "lr": optimiser.param_groups[0]["lr"],
                   "seconds": time.perf_counter() - epoch_started}
            history.append(row)
            stale = 0 if keep_if_best(epoch, val_accuracy, val_loss) else stale + 1
            if progress is not None:
                progress(options.views + 1 + epoch, steps, {"phase": "train", **row})
            if stale >= options.patience:
                break
        model.load_state_dict(best["state"])
        _freeze(model, True)
        model.to("cpu").eval()
    finally:
        torch.set_num_threads(threads_before)
    return FineTuneResult(
        model=model, class_names=class_names, imgsz=options.imgsz, epochs_run=len(history) - 1,
        best_epoch=best["epoch"], best_val_accuracy=best["accuracy"], seconds=time.perf_counter() - started,
        history=history, options=asdict(options), views_seconds=views_seconds,
    )


# --- from a class-folder dataset ------------------------------------------------------------


def read_class_folders(folder: Path, class_names: Sequence[str] | None = None, *, max_side: int = 1024):
    """(class names, PIL images, labels) of ``folder/<class>/*``; photos are shrunk on load so
    that no side exceeds ``max_side`` (training never looks at more)."""
    from PIL import Image

    from .training import list_images

    folder = Path(folder)
    names = tuple(class_names) if class_names is not None else tuple(
        sorted(p.name for p in folder.iterdir() if p.is_dir() and list_images(p)))
    images, labels = [], []
    for index, name in enumerate(names):
        if not (folder / name).is_dir():
            continue
        for path in list_images(folder / name):
            with Image.open(path) as picture:
                picture.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale
                rgb = picture.convert("RGB")
            rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
            images.append(rgb)
            labels.append(index)
    return names, images, labels


def check_training_set(class_names: Sequence[str], labels: Sequence[int]) -> None:
    """Refuse what cannot train a classifier, with a reason a curator can act on."""
    counts = {name: 0 for name in class_names}
    for label in labels:
        counts[class_names[label]] += 1
    if len(class_names) < 2:
        raise ValueError(f"a classifier needs at least two classes; the training split has {len(class_names)}")
    thin = sorted(name for name, count in counts.items() if count < 2)
    if thin:
        raise ValueError("every class needs at least two training photos; too few in: " + ", ".join(thin))


def train_from_folders(
    data_dir: Path,
    out_path: Path,
    *,
    options: FineTuneOptions = FineTuneOptions(),
    progress: ProgressCallback | None = None,
    backbone_weights: Path | None = None,
) -> FineTuneResult:
    """Fine-tune on ``data_dir/train`` (early stopping on ``data_dir/val``) and save to ``out_path``."""
    data_dir = Path(data_dir)
    if not (data_dir / "train").is_dir():
        raise FileNotFoundError(f"{data_dir} has no train/ folder")
    class_names, train_images, train_labels = read_class_folders(data_dir / "train")
    check_training_set(class_names, train_labels)
    val_images, val_labels = [], []
    if (data_dir / "val").is_dir():
        _, val_images, val_labels = read_class_folders(data_dir / "val", class_names)
    result = fine_tune(train_images=train_images, train_labels=train_labels, val_images=val_images,
                       val_labels=val_labels, class_names=class_names, options=options, progress=progress,
                       backbone_weights=backbone_weights)
    save_lite_classifier(result.model, out_path, class_names=class_names, imgsz=result.imgsz,
                         extra={"best_epoch": result.best_epoch, "epochs_run": result.epochs_run})
    return result


# --- few photos per class -------------------------------------------------------------------


def split_train_val(labels: Sequence[int], classes, val_share: float, *, seed, per_class: int | None = None):
    """(train, validation) positions in ``labels``, drawn per class of ``classes`` by ``seed``: at
    most ``per_class`` photos of each, ``val_share`` of them (at least one) for validation."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for label in classes:
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        if per_class:
            members = members[:per_class]
        n_val = max(1, round(len(members) * val_share))
        val_idx += members[:n_val].tolist()
        train_idx += members[n_val:].tolist()
    return train_idx, val_idx


def few_shot_table(
    *,
    images: Sequence,
    labels: Sequence[int],
    test_images: Sequence,
    test_labels: Sequence[int],
    class_names: Sequence[str],
    shots: Sequence[int] = (5, 10, 15),
    subsets: int = 3,
    options: FineTuneOptions = FineTuneOptions(),
    val_share: float = 0.15,
    progress: Callable[[str], None] | None = None,
) -> dict[int, dict]:
    """Top-1 on the test photos when only ``k`` photos per class are there to learn from, for each
    ``k`` in ``shots``: ``subsets`` random draws each (``val_share`` of the k, at least one, for
    early stopping, as an archive of k photos would split them). ``{k: {"mean", "min", "runs"}}``."""
    from .classifier import preprocess_images

    labels = np.asarray(labels)
    test_batch = torch.from_numpy(preprocess_images(list(test_images), options.imgsz))
    test_target = np.asarray(test_labels)
    table: dict[int, dict] = {}
    for k in shots:
        runs = []
        for subset in range(subsets):
            train_idx, val_idx = split_train_val(labels, range(len(class_names)), val_share,
                                                 seed=[options.seed, k, subset], per_class=k)
            result = fine_tune(
                train_images=[images[i] for i in train_idx], train_labels=labels[train_idx].tolist(),
                val_images=[images[i] for i in val_idx], val_labels=labels[val_idx].tolist(),
                class_names=class_names, options=options)
            with torch.inference_mode():
                predicted = result.model.logits(test_batch).argmax(1).numpy()
            runs.append(float((predicted == test_target).mean()))
            if progress is not None:
                progress(f"{k} per class, subset {subset + 1}/{subsets}: top-1 {runs[-1]:.3f}")
        table[k] = {"mean": float(np.mean(runs)), "min": float(np.min(runs)), "runs": runs}
    return table


# --- "not a known motif", judged leave-one-class-out ------------------------------------------


def leave_one_class_out(
    *,
    images: Sequence,
    labels: Sequence[int],
    test_images: Sequence,
    test_labels: Sequence[int],
    class_names: Sequence[str],
    strangers: Sequence = (),
    options: FineTuneOptions = FineTuneOptions(),
    val_share: float = 0.15,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """For each class c: train without it (``images`` minus c, ``val_share`` per class for early
    stopping and the thresholds), calibrate "not a known motif" as ``train_classifier`` does
    (prototypes from the training photos, thresholds from the validation photos), then count
    the accepted share of correctly classified ``test_images`` of the known classes, of every
    photo of c (``images`` and ``test_images``), and of ``strangers``. One row per class."""
    import tempfile

    from .classifier import ClassifierEngine
    from .ood import decide, fit_calibration

    labels, test_labels = np.asarray(labels), np.asarray(test_labels)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="loco-"))

    rows = []
    for left_out, name in enumerate(class_names):
        known = [c for c in range(len(class_names)) if c != left_out]
        remap = {old: new for new, old in enumerate(known)}
        train_idx, val_idx = split_train_val(labels, known, val_share, seed=[options.seed, left_out])
        result = fine_tune(
            train_images=[images[i] for i in train_idx], train_labels=[remap[labels[i]] for i in train_idx],
            val_images=[images[i] for i in val_idx], val_labels=[remap[labels[i]] for i in val_idx],
            class_names=[class_names[c] for c in known], options=options)
        path = save_lite_classifier(result.model, workdir / f"without-{left_out}.safetensors",
                                    class_names=result.class_names, imgsz=result.imgsz)
        engine = ClassifierEngine.load(path)
        calibration = fit_calibration(
            train_embeddings=engine.embed_all([images[i] for i in train_idx]),
            train_labels=[remap[labels[i]] for i in train_idx],
            heldout_predictions=engine.predict_all([images[i] for i in val_idx]),
            heldout_labels=[remap[labels[i]] for i in val_idx], ood_predictions=[], seed=options.seed)
        known_test = [i for i in range(len(test_images)) if test_labels[i] != left_out]
        known_predictions = engine.predict_all([test_images[i] for i in known_test])
        correct = np.asarray([p.top[0][0] == remap[test_labels[i]] for p, i in zip(known_predictions, known_test)])
        accepted = np.asarray([decide(calibration, p).recognised for p in known_predictions])
        missing = [images[i] for i in np.flatnonzero(labels == left_out)] + \
                  [test_images[i] for i in np.flatnonzero(test_labels == left_out)]
        missing_accepted = [decide(calibration, p).recognised for p in engine.predict_all(missing)]
        strangers_accepted = [decide(calibration, p).recognised for p in engine.predict_all(strangers)]
        rows.append({
            "left_out": name,
            "known_top1": float(correct.mean()) if correct.size else 0.0,
            "correct_accepted": float(accepted[correct].mean()) if correct.any() else 0.0,
            "left_out_accepted": float(np.mean(missing_accepted)) if missing_accepted else 0.0,
            "strangers_accepted": float(np.mean(strangers_accepted)) if strangers_accepted else 0.0,
            "thresholds": {"min_confidence": calibration.min_confidence, "max_distance": calibration.max_distance},
        })
        path.unlink(missing_ok=True)
        if progress is not None:
            row = rows[-1]
            progress(f"without {name}: correct known photos accepted {row['correct_accepted']:.3f}, "
                     f"photos of {name} accepted {row['left_out_accepted']:.3f}, "
                     f"strangers accepted {row['strangers_accepted']:.3f}")
    return rows
