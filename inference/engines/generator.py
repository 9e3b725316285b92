"""The motif generation engine: fusion, variation and reference projection on a StyleGAN2-ADA generator.

Pure PyTorch and Pillow, no Django. The queue worker loads one :class:`GeneratorEngine` per
process and calls a mode; every mode returns a :class:`GenerationResult` and rejects bad input
with :class:`GenerationError` (a stable ``code`` from :data:`ERROR_CODES` that the web
translates, an English message, and the offending values in ``details``). The ``validate_*``
functions run the same checks without torch. The image, print and PNG helpers (upscaling,
seams, repeat previews, print files, PNG metadata, fitting a reference) live in
:mod:`inference.generation.images`, which needs only Pillow, so the web process uses them
without importing this module.

Rules every mode shares:

- **Seeds.** Image ``i`` of a request draws ``z = RandomState(seed + i).randn(1, z_dim)``
  (:func:`stylegan2_ada.generate.seed_to_z`, NVlabs-compatible), so image ``i`` of a run with
  seed ``s`` is image 0 of a run with seed ``s + i``: any single image can be re-made alone.
  Every image is synthesised on its own (a batch of one) for exactly that reason.
- **Truncation** ``truncation`` (psi, 0.1-1.0) pulls each w toward the mean w *of its own
  class* (estimated once per class from :data:`CLASS_MEAN_SAMPLES` fixed latents and cached on
  the engine), not toward the generator's global average, which sits between the motifs and
  would blur them together.
- **Noise** is always ``const``: the same inputs give the same pixels.
- **Tiles.** ``tile=True`` synthesises with every convolution wrapped around the borders, so the
  image repeats without a seam (``images.seam_error`` measures it); ``images.upscale`` and
  ``images.print_tile`` then wrap around the borders too.
- **Upscaling** by 1, 2, 4 or 8 is Pillow's Lanczos filter (``images.upscale`` returns the method
  name for the PNG metadata); it adds pixels, not detail.
- **Progress** callbacks are called as ``progress(stage, done, total)`` with stages
  ``"class_means"``, ``"synthesis"`` and ``"projection"``; an exception raised inside one stops
  the work (that is how a worker cancels a job).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
from PIL import Image

from core import limits

from ..generation.images import (
    UPSCALE_METHOD,
    check_upscale,
    finite_number,
    fit_reference,
    number_in_range,
    upscale,
    whole_number,
)
from .errors import GenerationError, GeneratorLoadError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "CLASS_MEAN_SAMPLES",
    "ERROR_CODES",
    "GenerationError",
    "GenerationResult",
    "GeneratorEngine",
    "GeneratorLoadError",
    "Projection",
    "coarse_layer_count",
    "validate_common",
    "validate_fusion",
    "validate_variation",
]

Progress = Callable[[str, int, int], None]

# The bounds and defaults are the requests' own (core.limits): the engine checks the same rule
# the doors do, so a request that passed them never fails here.
MIN_COUNT, MAX_COUNT = int(limits.COUNT.low), int(limits.COUNT.high)
MIN_FUSION_MOTIFS, MAX_FUSION_MOTIFS = int(limits.FUSION_MOTIFS.low), int(limits.FUSION_MOTIFS.high)
MIN_TRUNCATION, MAX_TRUNCATION = limits.TRUNCATION.low, limits.TRUNCATION.high
SEED_LIMIT = limits.MAX_SEED + 1  # numpy's RandomState takes seeds below 2**32
DEFAULT_TRUNCATION = limits.GENERATION_DEFAULTS.truncation
DEFAULT_DISTANCE = limits.GENERATION_DEFAULTS.distance
# Enough latents that the mean image is within 0.6 of an 8-bit level (mean absolute) of a
# 16k-sample estimate; one batched mapping pass, ~0.02 s per class on one CPU core (64 px demo).
CLASS_MEAN_SAMPLES = 1024
CLASS_MEAN_SEED = 123456789  # RandomState seed of the latents behind every class mean
DEFAULT_PROJECTION_STEPS = 100  # ~8 s on one CPU core at 64 px
MAX_PROJECTION_STEPS = 1000

# The codes a GenerationError carries, from the modes here and the image helpers of
# inference.generation.images; inference.engines.errors.CODES says what each means.
ERROR_CODES = (
    "bad_count", "bad_seed", "bad_range", "bad_upscale", "too_few_motifs", "too_many_motifs",
    "motif_not_generatable", "bad_weights", "duplicate_motif", "source_not_in_motifs", "one_motif",
    "no_classes", "bad_base", "bad_latent", "bad_image", "too_large", "bad_metadata", "bad_png",
)


@dataclass(frozen=True)
class GenerationResult:
    images: tuple[Image.Image, ...]     # RGB, resolution * upscale pixels square
    seeds: tuple[int, ...]              # the seed of each image: seed + i
    parameters: dict                    # JSON-ready: mode, inputs, seed, count, truncation, tile, upscale, ...
    timings: dict = field(default_factory=dict)  # seconds per stage


@dataclass(frozen=True)
class Projection:
    ws: torch.Tensor                # [1, num_ws, w_dim] on the CPU: pass as ``ws`` to variation()
    class_index: int | None         # the class it was projected with (chosen when not given)
    image: Image.Image              # the projected image
    target: Image.Image             # the reference as fitted to the model resolution
    initial_distance: float         # pixel MSE (in [-1, 1] units) of the start point to the target
    final_distance: float           # pixel MSE of the projected image to the target
    steps: int


# --- validation (pure, no torch) --------------------------------------------------------------


def _check_class(value, num_classes: int, name: str = "class index") -> int:
    index = whole_number(value, name, "motif_not_generatable")
    if not 0 <= index < num_classes:
        raise GenerationError("motif_not_generatable", f"unknown {name} {index}: the generator has classes "
                              f"0..{num_classes - 1}", value=index, num_classes=num_classes)
    return index


def _check_seed(seed, count: int = 1) -> int:
    seed = whole_number(seed, "seed", "bad_seed")
    if not 0 <= seed <= SEED_LIMIT - count:
        raise GenerationError("bad_seed", f"seed must be 0..{SEED_LIMIT - count} for {count} images, got {seed}",
                              value=seed, min=0, max=SEED_LIMIT - count)
    return seed


def validate_common(*, seed, count, truncation, upscale=1) -> tuple[int, int, float, int]:
    """Check the parameters every mode takes; returns (seed, count, truncation, upscale) normalised."""
    count = whole_number(count, "count", "bad_count")
    if not MIN_COUNT <= count <= MAX_COUNT:
        raise GenerationError("bad_count", f"count must be {MIN_COUNT}..{MAX_COUNT}, got {count}",
                              value=count, min=MIN_COUNT, max=MAX_COUNT)
    seed = _check_seed(seed, count)
    truncation = number_in_range(truncation, "truncation psi", MIN_TRUNCATION, MAX_TRUNCATION, field="truncation")
    return seed, count, truncation, check_upscale(upscale)


def validate_fusion(
    classes,                    # 2..4 class indices, or (class index, weight) pairs
    *,
    weights=None,               # one weight per class (with plain indices), None = equal
    structure_from=None,        # a class among ``classes`` or None
    detail_from=None,           # a class among ``classes`` or None
    num_classes: int,           # the generator's class count (0 = unconditional)
) -> tuple[tuple[int, ...], tuple[float, ...], int | None, int | None]:
    """Check a fusion request; returns (classes, weights normalised to sum 1, structure_from, detail_from)."""
    if num_classes == 0:
        raise GenerationError("no_classes", "this generator has no motif classes: fusion needs a conditional one")
    items = list(classes)
    if items and all(isinstance(item, (tuple, list)) for item in items):
        if weights is not None:
            raise GenerationError("bad_weights", "give weights either in (class, weight) pairs or as weights=, "
                                  "not both", reason="given_twice")
        if any(len(item) != 2 for item in items):
            raise GenerationError("bad_weights", "each pair must be (class index, weight)", reason="not_a_pair")
        weights = [weight for _, weight in items]
        items = [index for index, _ in items]
    if len(items) < MIN_FUSION_MOTIFS:
        raise GenerationError("too_few_motifs", f"a fusion takes at least {MIN_FUSION_MOTIFS} motifs, got {len(items)}",
                              value=len(items), min=MIN_FUSION_MOTIFS)
    if len(items) > MAX_FUSION_MOTIFS:
        raise GenerationError("too_many_motifs", f"a fusion takes at most {MAX_FUSION_MOTIFS} motifs, got {len(items)}",
                              value=len(items), max=MAX_FUSION_MOTIFS)
    indices = tuple(_check_class(item, num_classes, "motif class") for item in items)
    if len(set(indices)) != len(indices):
        raise GenerationError("duplicate_motif", "each motif may appear only once in a fusion", classes=list(indices))
    weights = (1.0,) * len(indices) if weights is None else tuple(weights)
    if len(weights) != len(indices):
        raise GenerationError("bad_weights", f"give one weight per motif: {len(indices)} motifs, "
                              f"{len(weights)} weights", reason="count_mismatch", motifs=len(indices),
                              weights=len(weights))
    weights = tuple(finite_number(weight, "weight", "bad_weights", reason="not_a_number") for weight in weights)
    if any(weight < 0 for weight in weights):
        raise GenerationError("bad_weights", "weights must not be negative", reason="negative", weights=list(weights))
    total = math.fsum(weights)
    if total <= 0:
        raise GenerationError("bad_weights", "at least one weight must be above zero", reason="all_zero",
                              weights=list(weights))
    sources = []
    for name, source in (("structure_from", structure_from), ("detail_from", detail_from)):
        if source is not None:
            source = _check_class(source, num_classes, name)
            if source not in indices:
                raise GenerationError("source_not_in_motifs", f"{name} must be one of the fused motifs "
                                      f"{list(indices)}, got {source}", field=name, value=source, classes=list(indices))
        sources.append(source)
    return indices, tuple(weight / total for weight in weights), sources[0], sources[1]


def validate_variation(*, distance) -> float:
    return number_in_range(distance, "distance", 0.0, 1.0, field="distance")


def coarse_layer_count(num_ws: int) -> int:
    """How many of the first ws are "structure" in a fusion; the rest are "detail".

    All but the last six (at least one of each): detail is the top two octaves, i.e. the second
    convolution at a quarter of the resolution, the half- and full-resolution blocks and the
    final toRGB. For the shipped 64 px generator (10 ws) that is ws 0-3 (the 4 and 8 px blocks
    and the first 16 px convolution: layout, silhouettes, where the motifs sit) against ws 4-9
    (ornament, line work, texture, colour), the same cut as NVlabs' "coarse" styles. Measured
    on it (10 motif pairs x 3 seeds, structure from A and detail from B): the result's 8 x 8
    px layout is nearer A's in 90 % of cases and its colour statistics nearer B's in 60 %;
    splitting at half the ws (5) keeps the layout (97 %) but leaves B's colour in only 47 %:
    "detail from" would barely show. Colour is never purely "detail": each coarse block's
    toRGB reads the next w too.
    """
    return max(1, min(num_ws - 1, num_ws - 6))


# --- the engine -------------------------------------------------------------------------------


class GeneratorEngine:
    """Generate motifs with one StyleGAN2-ADA generator.

    Thread-safe: one lock serialises the work on the network and the class-mean cache (a CPU
    is saturated by one synthesis anyway). Load once per worker process and keep it.
    """

    def __init__(
        self,
        G,                          # a stylegan2_ada Generator, eval mode
        *,
        class_names=(),             # label index -> motif slug
        path: Path | None = None,   # where it was loaded from
        source: str = "",           # 'checkpoint' or 'nvlabs-pickle'
        device: str = "cpu",
    ) -> None:
        self.G = G
        self.class_names = tuple(class_names)
        self.path = path
        self.source = source
        self.device = device
        self._class_means: dict[int | None, torch.Tensor] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        name = self.path.name if self.path else "in memory"
        return f"GeneratorEngine({name!r}, resolution={self.resolution}, classes={self.num_classes})"

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> GeneratorEngine:
        from stylegan2_ada.checkpoint import CheckpointError, load_generator
        from stylegan2_ada.legacy import NetworkPickleError

        path = Path(path).expanduser().resolve()
        try:
            loaded = load_generator(path, device=device)
        except FileNotFoundError as error:
            raise GeneratorLoadError("no_model", str(error), path=str(path)) from error
        except (CheckpointError, NetworkPickleError) as error:
            raise GeneratorLoadError("bad_model", str(error), path=str(path)) from error
        G = loaded.G.to(device).eval().requires_grad_(False)
        return cls(G, class_names=loaded.class_names, path=path, source=loaded.source, device=device)

    def warm_up(self) -> None:
        """Estimate every class mean and run one synthesis, so the first job is not the slow one."""
        import torch

        classes = list(range(self.num_classes)) or [None]
        with self._lock, torch.no_grad():
            means = self._class_means_for(classes)
            self.G.synthesis(means[0], noise_mode="const")

    # --- facts -------------------------------------------------------------------------------

    @property
    def resolution(self) -> int:
        return int(self.G.img_resolution)

    @property
    def num_classes(self) -> int:
        return int(self.G.c_dim)

    @property
    def num_ws(self) -> int:
        return int(self.G.num_ws)

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def class_index(self, name_or_index) -> int:
        """A class index from a motif slug (as in ``class_names``) or an index."""
        if isinstance(name_or_index, str):
            if name_or_index not in self.class_names:
                raise GenerationError("motif_not_generatable", f"the generator has no motif {name_or_index!r}",
                                      value=name_or_index)
            return self.class_names.index(name_or_index)
        return _check_class(name_or_index, self.num_classes)

    def _name(self, class_index: int | None) -> str | None:
        if class_index is None or class_index >= len(self.class_names):
            return None
        return self.class_names[class_index]

    def _class_or_none(self, class_index) -> int | None:
        if self.num_classes == 0:
            if class_index is not None:
                raise GenerationError("motif_not_generatable", "this generator has no motif classes: pass no class")
            return None
        if class_index is None:
            raise GenerationError("one_motif", "this generator is class-conditional: choose a motif")
        return _check_class(class_index, self.num_classes)

    # --- latents -----------------------------------------------------------------------------

    def _label(self, class_index: int | None, batch: int = 1):
        from stylegan2_ada.generate import class_label

        return class_label(self.G, class_index, batch=batch).to(self.device)

    def _z(self, seed: int):
        from stylegan2_ada.generate import seed_to_z

        return seed_to_z(seed, self.G.z_dim).to(self.device)

    def class_mean_w(self, class_index: int | None, progress: Progress | None = None):
        """The mean w of a class ([1, num_ws, w_dim]), the centre truncation pulls toward; cached."""
        return self._class_means_for([class_index], progress)[0]

    def _class_means_for(self, indices, progress: Progress | None = None) -> list:
        import torch

        with self._lock:
            missing = [index for index in dict.fromkeys(indices) if index not in self._class_means]
            if missing:
                z = torch.from_numpy(np.random.RandomState(CLASS_MEAN_SEED).randn(CLASS_MEAN_SAMPLES, self.G.z_dim))
                z = z.to(self.device, torch.float32)
                for done, index in enumerate(missing):
                    with torch.no_grad():
                        ws = self.G.mapping(z, self._label(index, CLASS_MEAN_SAMPLES))
                    self._class_means[index] = ws.mean(dim=0, keepdim=True)
                    if progress is not None:
                        progress("class_means", done + 1, len(missing))
            return [self._class_means[index] for index in indices]

    def _w(self, z, class_index: int | None, truncation: float):
        """The truncated ws of one latent for one class: lerp(class mean, ws, psi); psi 1 gives ws exactly."""
        import torch

        with torch.no_grad():
            ws = self.G.mapping(z, self._label(class_index))
        return torch.lerp(self._class_means[class_index], ws, truncation)

    def _prepare_latent(self, ws):
        import torch

        tensor = torch.as_tensor(ws, dtype=torch.float32).detach().to(self.device)
        shape = list(tensor.shape)
        if tensor.ndim == 1:
            tensor = tensor[None]
        if tensor.ndim == 2 and tensor.shape[0] == 1 and tensor.shape[1] == self.G.w_dim:
            tensor = tensor[:, None].repeat(1, self.num_ws, 1)
        elif tensor.ndim == 2 and tensor.shape[0] == self.num_ws:
            tensor = tensor[None]
        if tuple(tensor.shape) != (1, self.num_ws, self.G.w_dim) or not torch.isfinite(tensor).all():
            raise GenerationError("bad_latent", f"ws must have shape [1, {self.num_ws}, {self.G.w_dim}] "
                                  f"(or [{self.G.w_dim}]) and be finite, got {shape}", shape=shape)
        return tensor

    # --- rendering ---------------------------------------------------------------------------

    def _render(self, ws_for_seed, *, seeds, tile: bool, factor: int, progress: Progress | None):
        """Synthesise one image per seed (a batch of one: image i never depends on the others)."""
        import torch

        from stylegan2_ada.generate import to_uint8

        images = []
        for done, seed in enumerate(seeds):
            ws = ws_for_seed(seed)
            with torch.no_grad():
                pixels = to_uint8(self.G.synthesis(ws, noise_mode="const", tile=tile))[0]
            image = Image.fromarray(pixels if pixels.shape[-1] == 3 else pixels[..., 0])
            images.append(upscale(image, factor, tile=tile)[0])
            if progress is not None:
                progress("synthesis", done + 1, len(seeds))
        return tuple(images)

    def _run(self, ws_for_seed, *, classes, mode, inputs, seed, count, truncation, tile, factor, progress):
        timings = {}
        started = time.perf_counter()
        with self._lock:
            self._class_means_for(classes, progress)
            timings["class_means"] = time.perf_counter() - started
            seeds = tuple(range(seed, seed + count))
            synthesis_started = time.perf_counter()
            images = self._render(ws_for_seed, seeds=seeds, tile=bool(tile), factor=factor, progress=progress)
            timings["synthesis"] = time.perf_counter() - synthesis_started
        timings["total"] = time.perf_counter() - started
        parameters = {
            "mode": mode,
            "inputs": inputs,
            "seed": seed,
            "count": count,
            "truncation": truncation,
            "tile": bool(tile),
            "upscale": factor,
            "upscale_method": UPSCALE_METHOD if factor > 1 else "none",
            "noise_mode": "const",
            "resolution": self.resolution,
            "size": self.resolution * factor,
            "generator": self.path.name if self.path else "",
        }
        return GenerationResult(images=images, seeds=seeds, parameters=parameters, timings=timings)

    # --- modes -------------------------------------------------------------------------------

    def sample(
        self,
        class_index=None,           # motif class (required by a conditional generator)
        *,
        seed,                       # image i draws z from seed + i
        count=1,                    # images, 1..8
        truncation=DEFAULT_TRUNCATION,  # psi 0.1..1.0, toward the class's mean w
        tile=False,                 # seamless tiles
        upscale=1,                  # 1, 2, 4 or 8 (Lanczos)
        progress=None,              # progress(stage, done, total)
    ) -> GenerationResult:
        """Plain samples of one motif: what a fusion with weights (1, 0, ...) or a variation at
        distance 1 reduces to."""
        seed, count, truncation, factor = validate_common(seed=seed, count=count, truncation=truncation,
                                                          upscale=upscale)
        class_index = self._class_or_none(class_index)
        return self._run(
            lambda s: self._w(self._z(s), class_index, truncation),
            classes=[class_index], mode="sample",
            inputs={"class_index": class_index, "motif": self._name(class_index)},
            seed=seed, count=count, truncation=truncation, tile=tile, factor=factor, progress=progress,
        )

    def fusion(
        self,
        classes,                    # 2..4 class indices, or (class index, weight) pairs
        *,
        weights=None,               # with plain indices: one weight >= 0 each (normalised), None = equal
        structure_from=None,        # a class among ``classes`` for the coarse layers, None = the blend
        detail_from=None,           # a class among ``classes`` for the fine layers, None = the blend
        seed,                       # image i draws z from seed + i
        count=1,                    # images, 1..8
        truncation=DEFAULT_TRUNCATION,  # psi 0.1..1.0, toward each class's mean w
        tile=False,                 # seamless tiles
        upscale=1,                  # 1, 2, 4 or 8 (Lanczos)
        progress=None,              # progress(stage, done, total)
    ) -> GenerationResult:
        """Blend motifs in W and, optionally, take structure from one and detail from another.

        For each image the same z is mapped once with each motif's label; the ws are truncated
        toward their own class means and averaged with the normalised weights (the same as
        truncating the blend toward the equally blended means). ``structure_from`` replaces the
        first :func:`coarse_layer_count` ws with that motif's own (unblended) ws and
        ``detail_from`` the remaining ones: "structure from merak, detail from kepiting" keeps
        the peacock's layout and leans toward the crab's ornament and colours (how strongly
        depends on the model; see :func:`coarse_layer_count`). Weights (1, 0) reproduce the
        first motif's :meth:`sample` exactly.
        """
        seed, count, truncation, factor = validate_common(seed=seed, count=count, truncation=truncation,
                                                          upscale=upscale)
        indices, shares, structure_from, detail_from = validate_fusion(
            classes, weights=weights, structure_from=structure_from, detail_from=detail_from,
            num_classes=self.num_classes)
        split = coarse_layer_count(self.num_ws)

        def ws_for_seed(s):
            z = self._z(s)
            per_class = {index: self._w(z, index, truncation) for index in indices}
            blended = sum(share * per_class[index] for index, share in zip(indices, shares))
            if structure_from is not None:
                blended[:, :split] = per_class[structure_from][:, :split]
            if detail_from is not None:
                blended[:, split:] = per_class[detail_from][:, split:]
            return blended

        inputs = {
            "classes": list(indices),
            "motifs": [self._name(index) for index in indices],
            "weights": [round(share, 6) for share in shares],
            "structure_from": structure_from,
            "detail_from": detail_from,
            "coarse_layers": f"0-{split - 1}",
            "fine_layers": f"{split}-{self.num_ws - 1}",
        }
        return self._run(ws_for_seed, classes=list(indices), mode="fusion", inputs=inputs, seed=seed, count=count,
                         truncation=truncation, tile=tile, factor=factor, progress=progress)

    def variation(
        self,
        class_index=None,           # motif class: the base, and the class the steps go toward
        *,
        ws=None,                    # a base ws instead (e.g. from project_reference)
        base_seed=None,             # vary this sample of the class instead of the class's mean
        distance=DEFAULT_DISTANCE,  # 0..1: 0 = the base itself, 1 = an ordinary sample of the class
        seed,                       # image i steps toward the sample of seed + i
        count=1,                    # images, 1..8
        truncation=DEFAULT_TRUNCATION,  # psi 0.1..1.0, applied to the samples stepped toward
        tile=False,                 # seamless tiles
        upscale=1,                  # 1, 2, 4 or 8 (Lanczos)
        progress=None,              # progress(stage, done, total)
    ) -> GenerationResult:
        """Images near a base: ``w_i = lerp(w_base, w_seed_i, distance)``.

        ``w_seed_i`` is the ordinary truncated sample of seed + i (``lerp(class mean w, w,
        truncation)``); ``w_base`` is the given ``ws``, the class sample of ``base_seed``, or
        else the class's mean w (the motif's most typical form; then a variation is truncation
        toward the class mean by ``truncation * distance``).

        Why a straight step in W rather than, say, slerp in z: W is where the generator is
        close to linear (truncation itself is this lerp, and perceptual path length is
        measured there), a projected reference exists only as ws (it has no z), and the ends
        are exact: distance 0 returns the base bit for bit, distance 1 the sample of seed + i,
        and in between the pixel difference from the base grows steadily with the distance
        (on the shipped generator, 1.1 / 2.7 / 5.1 / 7.2 / 9.2 mean 8-bit levels at 0.1 /
        0.25 / 0.5 / 0.75 / 1).
        """
        import torch

        seed, count, truncation, factor = validate_common(seed=seed, count=count, truncation=truncation,
                                                          upscale=upscale)
        distance = validate_variation(distance=distance)
        class_index = self._class_or_none(class_index)
        if ws is not None and base_seed is not None:
            raise GenerationError("bad_base", "give either a base ws or a base seed, not both")
        base_seed = _check_seed(base_seed) if base_seed is not None else None
        base_ws = self._prepare_latent(ws) if ws is not None else None

        def ws_for_seed(s):
            if base_ws is not None:
                base = base_ws
            elif base_seed is not None:
                base = self._w(self._z(base_seed), class_index, truncation)  # one mapping pass: cheap
            else:
                base = self._class_means[class_index]
            return torch.lerp(base, self._w(self._z(s), class_index, truncation), distance)

        inputs = {
            "class_index": class_index,
            "motif": self._name(class_index),
            "base": "ws" if ws is not None else ("seed" if base_seed is not None else "class_mean"),
            "base_seed": base_seed,
            "distance": distance,
        }
        return self._run(ws_for_seed, classes=[class_index], mode="variation", inputs=inputs, seed=seed,
                         count=count, truncation=truncation, tile=tile, factor=factor, progress=progress)

    def project_reference(
        self,
        image: Image.Image,         # the reference (any size; fitted to the model resolution)
        *,
        class_index=None,           # the motif to project with; None = nearest class-mean image
        steps=DEFAULT_PROJECTION_STEPS,  # optimisation steps, 1..1000
        callback=None,              # callback(step, steps) after each step
        **options,                  # feature_fn, per_layer, seed, progress: see projection()
    ):
        """The ws ([1, num_ws, w_dim], CPU) whose image resembles the reference; pass them as
        ``ws`` to :meth:`variation` with the same ``class_index``. :meth:`projection` returns
        the chosen class, the image and the distances as well."""
        return self.projection(image, class_index=class_index, steps=steps, callback=callback, **options).ws

    def projection(
        self,
        image: Image.Image,         # the reference (any size; fitted to the model resolution)
        *,
        class_index=None,           # the motif to project with; None = nearest class-mean image
        steps=DEFAULT_PROJECTION_STEPS,  # optimisation steps, 1..1000
        feature_fn=None,            # optional differentiable images -> [N, D] features
        per_layer=False,            # one w per layer (W+): closer fit, less editable
        seed=0,                     # projection noise and statistics
        callback=None,              # callback(step, steps) after each step
        progress=None,              # progress("projection", step, steps)
    ) -> Projection:
        """Find ws whose image resembles the reference (pixel and multi-scale MSE, optionally a
        feature distance, see :func:`stylegan2_ada.project.project`)."""
        import torch

        from stylegan2_ada.generate import to_uint8
        from stylegan2_ada.project import image_to_tensor, project

        steps = number_in_range(steps, "projection steps", 1, MAX_PROJECTION_STEPS, field="steps", integer=True)
        target_image = fit_reference(image, self.resolution)
        target = image_to_tensor(target_image).to(self.device)
        with self._lock:
            if self.num_classes == 0 or class_index is not None:
                class_index = self._class_or_none(class_index)
            else:
                class_index = self._nearest_class(target, progress)

            def on_step(step, _loss):
                if callback is not None:
                    callback(step + 1, steps)
                if progress is not None:
                    progress("projection", step + 1, steps)

            result = project(self.G, target, class_index=class_index, steps=steps, feature_fn=feature_fn,
                             per_layer=per_layer, seed=seed, callback=on_step)
            with torch.no_grad():
                pixels = to_uint8(result.image)[0]
        return Projection(
            ws=result.ws.detach().cpu(),
            class_index=class_index,
            image=Image.fromarray(pixels if pixels.shape[-1] == 3 else pixels[..., 0]),
            target=target_image,
            initial_distance=result.initial_distance,
            final_distance=result.final_distance,
            steps=steps,
        )

    def _nearest_class(self, target, progress: Progress | None) -> int:
        """The class whose mean-w image is closest to the target in pixel MSE."""
        import torch

        means = self._class_means_for(list(range(self.num_classes)), progress)
        with torch.no_grad():
            images = self.G.synthesis(torch.cat(means), noise_mode="const")
            errors = (images - target).square().mean(dim=(1, 2, 3))
        return int(errors.argmin())
