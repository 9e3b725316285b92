"""Training loop: non-saturating logistic loss, lazy R1, generator EMA, ADA, class labels; or,
with ``discriminator="projected"``, the projected discriminator (``projected``) with hinge loss and
DiffAugment instead of R1 and ADA.

The dataset is a folder of class folders of images (what the archive's
``export_dataset --flat`` writes); sorted folder names are the class order and are
saved in every checkpoint. A folder holding images directly (no sub-folders) trains an
unconditional model.

Image sizes: with ``resolution`` given, every image is centre-cropped to a square and
resized to it on load, so the archive's mixed photo sizes are fine. Without it, all
images must already share one square power-of-two size, and mixed sizes are an error.

Growing: ``grow_from`` starts a larger generator from a smaller one's checkpoint: every
tensor whose name and shape match is copied (mapping network, the blocks up to the old size),
and the new top block's toRGB starts at zero, so at step 0 the new generator draws the old
one's images up-sampled and only learns what the new resolution adds.

Not included (kept out on purpose for CPU budgets): path-length regularisation and
style-mixing regularisation; resuming restarts the Adam moments.
"""

from __future__ import annotations

import copy
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from stylegan2_ada.augment import AdaController, AugmentPipe
from stylegan2_ada.checkpoint import load_checkpoint, save_checkpoint
from stylegan2_ada.coverage import NearestLatents, ReconstructionLoss
from stylegan2_ada.generate import image_grid, save_png, to_uint8
from stylegan2_ada.networks import Discriminator, Generator, check_resolution
from stylegan2_ada.projected import DEFAULT_FEATURE_NETWORK, ProjectedDiscriminator

DISCRIMINATORS = ("stylegan2", "projected")
# "gan": a discriminator judges the images; "imle": every training image pulls its nearest
# generated sample towards it (``coverage``), no discriminator at all.
OBJECTIVES = ("gan", "imle")
# Adam learning rates when the options leave them out: NVlabs' for the classic discriminator,
# the Projected GAN paper's for the projected one.
DEFAULT_LR = {"stylegan2": 0.0025, "projected": 0.0002}

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


class DatasetError(ValueError):
    """The training folder cannot be used as it is."""


@dataclass(frozen=True)
class ImageDataset:
    images: torch.Tensor            # [N, 3, R, R] uint8
    labels: torch.Tensor            # [N] class indices (all 0 when unconditional)
    class_names: tuple[str, ...]    # sorted folder names; empty when unconditional

    @property
    def resolution(self) -> int:
        return self.images.shape[-1]

    @property
    def c_dim(self) -> int:
        return len(self.class_names)

    def one_hot(self, indices: torch.Tensor) -> torch.Tensor:
        if not self.c_dim:
            return torch.zeros([len(indices), 0])
        return F.one_hot(indices, self.c_dim).to(torch.float32)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _load_image(path: Path, resolution: int | None) -> np.ndarray:
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except (OSError, ValueError) as error:
        raise DatasetError(f"cannot read image {path}: {error}") from error
    if resolution is not None:
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        if image.size != (resolution, resolution):
            image = image.resize((resolution, resolution), Image.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def load_image_folder(root, resolution: int | None = None, min_images: int = 2) -> ImageDataset:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    if resolution is not None:
        try:
            check_resolution(resolution)
        except ValueError as error:
            raise DatasetError(str(error)) from error
    class_dirs = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                        key=lambda p: p.name)
    if class_dirs:
        files = []
        for index, folder in enumerate(class_dirs):
            found = _image_files(folder)
            if not found:
                raise DatasetError(f"class folder {folder.name!r} holds no images")
            files += [(path, index) for path in found]
        class_names = tuple(p.name for p in class_dirs)
    else:
        files = [(path, 0) for path in _image_files(root)]
        class_names = ()
    if len(files) < min_images:
        raise DatasetError(f"too few images in {root}: found {len(files)}, need at least {min_images}")

    arrays = [_load_image(path, resolution) for path, _ in files]
    if resolution is None:
        sizes = {array.shape[:2] for array in arrays}
        if len(sizes) > 1:
            examples = ", ".join(f"{path.name} is {a.shape[1]}x{a.shape[0]}" for (path, _), a in zip(files, arrays))
            raise DatasetError(f"mixed image sizes ({examples[:200]}...); pass a resolution to resize on load")
        height, width = sizes.pop()
        if height != width:
            raise DatasetError(f"images are {width}x{height}, not square; pass a resolution to crop and resize")
        try:
            check_resolution(height)
        except ValueError as error:
            raise DatasetError(f"image size {height}: {error}; pass a resolution to resize on load") from error
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor([label for _, label in files], dtype=torch.long)
    return ImageDataset(images=images, labels=labels, class_names=class_names)


@dataclass(frozen=True)
class TrainingOptions:
    data: str                       # folder of class folders
    outdir: str                     # snapshots, grids and the log go here
    resolution: int | None = None   # resize on load to this (power of two)
    kimg: float = 10.0              # stop after this many thousand real images shown to D
    batch_size: int = 16            # images per step
    z_dim: int = 256                # latent width
    w_dim: int = 256                # intermediate latent width
    mapping_layers: int = 2         # mapping network depth (NVlabs 'auto' uses 2)
    channel_base: int = 4096        # channels at resolution r = min(channel_base // r, channel_max)
    channel_max: int = 128          # channel ceiling
    g_lr: float | None = None       # generator Adam learning rate, None = DEFAULT_LR of the discriminator
    d_lr: float | None = None       # discriminator Adam learning rate, None = as g_lr's default
    r1_gamma: float | None = None   # R1 weight, None = 0.0002 * resolution^2 / batch (NVlabs 'auto')
    r1_interval: int = 16           # lazy regularisation: R1 every N steps
    ema_kimg: float | None = None   # G EMA half-life in kimg, None = batch * 10 / 32
    ema_rampup: float = 0.05        # EMA half-life ramps up with images seen
    ada_target: float = 0.6         # wanted E[sign(D(real))]
    ada_interval: int = 4           # steps between p updates
    ada_kimg: float = 100.0         # kimg for p to move by 1 (NVlabs uses 500 for long runs)
    mbstd_group: int = 4            # minibatch-std group size
    snapshot_kimg: float = 5.0      # checkpoint and grid every N kimg
    conditional: bool = True        # use class folders as labels
    resume: str | None = None       # continue from this checkpoint
    seed: int = 0                   # random seed
    device: str = "cpu"             # 'cpu' or 'cuda'
    progress: bool = True           # tqdm progress bar
    estimate_steps: int = 16        # after this many steps, say how long the whole run will take
    discriminator: str = "stylegan2"    # 'stylegan2' (R1, ADA) or 'projected' (hinge, DiffAugment)
    feature_network: str = DEFAULT_FEATURE_NETWORK  # the projected discriminator's frozen network
    grow_from: str | None = None    # start G from this smaller generator's checkpoint (see above)
    bf16: bool = False              # bfloat16 autocast for the forward passes (CPU with AMX/AVX-512-BF16)
    minutes: float | None = None    # stop (with a snapshot) after this much wall time
    diversity_weight: float = 0.0   # mode-seeking term (see _generator_step); 0 = off
    objective: str = "gan"          # 'gan' or 'imle' (nearest latents, no discriminator; see coverage.py)
    imle_candidates: int = 16       # fresh latents drawn per training image at each search
    imle_search_resolution: int = 16    # the candidates are drawn and compared at this size
    imle_search_kimg: float | None = None   # search again after this many kimg, None = once per pass over the data
    imle_lr: float = 0.005          # generator Adam learning rate of the IMLE objective
    imle_mapping_lr: float = 10.0   # IMLE: the mapping network's rate × this (it is 0.01× for a GAN; see below)
    perceptual_weight: float = 1.0  # IMLE: weight of the feature distance (0 = pixels only)

    def __post_init__(self):
        if self.discriminator not in DISCRIMINATORS:
            raise ValueError(f"discriminator must be one of {DISCRIMINATORS}, got {self.discriminator!r}")
        if not 0 <= self.diversity_weight < float("inf"):
            raise ValueError(f"diversity weight must be 0 or more, got {self.diversity_weight}")
        if self.diversity_weight and self.batch_size % 2:
            raise ValueError(f"the diversity term pairs images: batch size must be even, got {self.batch_size}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.objective == "imle" and self.imle_candidates < 1:
            raise ValueError(f"IMLE needs at least one candidate per image, got {self.imle_candidates}")

    def resolved_lr(self) -> tuple[float, float]:
        default = DEFAULT_LR[self.discriminator]
        return (self.g_lr if self.g_lr is not None else default,
                self.d_lr if self.d_lr is not None else default)

    def resolved_r1_gamma(self, resolution: int) -> float:
        return self.r1_gamma if self.r1_gamma is not None else 0.0002 * resolution ** 2 / self.batch_size

    def resolved_ema_kimg(self) -> float:
        return self.ema_kimg if self.ema_kimg is not None else self.batch_size * 10 / 32


@dataclass(frozen=True)
class TrainingResult:
    checkpoint: Path                # the last checkpoint written
    kimg: float                     # total images seen, in thousands (including resumed)
    seconds: float                  # wall time of this run
    seconds_per_kimg: float         # of this run
    augment_p: float                # ADA probability at the end
    losses: dict = field(default_factory=dict)  # last step's losses
    estimated_seconds: float | None = None  # the whole run, as estimated after estimate_steps steps


def build_networks(options: TrainingOptions, dataset: ImageDataset, device) -> tuple[Generator, Discriminator | None]:
    c_dim = dataset.c_dim if options.conditional else 0
    gpu = torch.device(device).type == "cuda"
    precision = dict(num_fp16_res=4, conv_clamp=256) if gpu else {}
    G = Generator(z_dim=options.z_dim, c_dim=c_dim, w_dim=options.w_dim, img_resolution=dataset.resolution,
                  img_channels=3, mapping_kwargs=dict(num_layers=options.mapping_layers),
                  synthesis_kwargs=dict(channel_base=options.channel_base, channel_max=options.channel_max,
                                        **precision))
    if options.objective == "imle":
        return G.to(device), None
    if options.discriminator == "projected":
        D = ProjectedDiscriminator(c_dim=c_dim, img_resolution=dataset.resolution, img_channels=3,
                                   feature_network=options.feature_network, seed=options.seed)
    else:
        D = Discriminator(c_dim=c_dim, img_resolution=dataset.resolution, img_channels=3,
                          channel_base=options.channel_base, channel_max=options.channel_max,
                          epilogue_kwargs=dict(mbstd_group_size=options.mbstd_group), **precision)
    return G.to(device), D.to(device)


def grow_generator(G: Generator, source: Generator) -> list[str]:
    """Copy every tensor of ``source`` whose name and shape match into ``G`` (a generator of the
    same widths at a higher resolution); the blocks ``source`` lacks keep their initialisation,
    except the top block's toRGB, zeroed so the grown generator starts as the old one up-sampled.
    Returns the names copied."""
    if G.img_resolution <= source.img_resolution:
        raise ValueError(f"can only grow to a higher resolution: {source.img_resolution} px → {G.img_resolution} px")
    if (G.z_dim, G.c_dim, G.w_dim) != (source.z_dim, source.c_dim, source.w_dim):
        raise ValueError(f"the generators differ in z/c/w widths: {(source.z_dim, source.c_dim, source.w_dim)} "
                         f"against {(G.z_dim, G.c_dim, G.w_dim)}")
    target = G.state_dict()
    copied = []
    for name, tensor in source.state_dict().items():
        if name in target and target[name].shape == tensor.shape:
            target[name] = tensor.detach().clone()
            copied.append(name)
    top = f"synthesis.b{G.img_resolution}.torgb."
    for name in ("weight", "bias"):
        target[top + name] = torch.zeros_like(target[top + name])
    G.load_state_dict(target)
    return copied


def _adam(module, lr, reg_interval=None):
    # Lazy regularisation runs the regulariser less often; NVlabs rescale lr and betas to match.
    ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
    return torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=(0.0, 0.99 ** ratio), eps=1e-8)


@torch.no_grad()
def _sanitize_gradients(module):
    # A float16 overflow on the GPU must not poison the weights (NVlabs do the same).
    for parameter in module.parameters():
        if parameter.grad is not None:
            torch.nan_to_num_(parameter.grad, nan=0.0, posinf=1e5, neginf=-1e5)


@torch.no_grad()
def _update_ema(G_ema, G, beta):
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def native_bf16(device: str | torch.device = "cpu") -> bool:
    """Whether bfloat16 autocast runs in hardware on ``device``. CUDA does; a CPU needs
    AVX-512-BF16 or AMX, without which torch emulates it (measured on an AVX2-only EPYC:
    a 2048² matmul at 0.26 GFLOP/s against 93 in float32)."""
    kind = torch.device(device).type
    if kind == "cuda":
        return True
    if kind != "cpu":
        return False
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


BF16_EMULATED = ("this CPU has no native bfloat16 (AVX-512-BF16 or AMX): autocast emulates it and runs "
                 "hundreds of times slower than float32; train without --bf16")


class Trainer:
    def __init__(
        self,
        options: TrainingOptions,               # what to train and how
        dataset: ImageDataset | None = None,    # already loaded images, None = read options.data
    ):
        self.options = options
        self.device = torch.device(options.device)
        if options.bf16 and not native_bf16(self.device) and options.progress:
            print(f"warning: {BF16_EMULATED}", file=sys.stderr)
        torch.manual_seed(options.seed)
        random.seed(options.seed)
        self.dataset = dataset or load_image_folder(options.data, options.resolution,
                                                    min_images=options.batch_size)
        if options.batch_size % min(options.mbstd_group, options.batch_size):
            raise ValueError(f"batch size {options.batch_size} must be a multiple of mbstd_group "
                             f"{options.mbstd_group}")
        self.class_names = self.dataset.class_names if options.conditional else ()
        self.outdir = Path(options.outdir)
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.augment = AugmentPipe().to(self.device)
        self.kimg_start = 0.0
        if options.resume:
            self._resume(Path(options.resume))
        else:
            self.G, self.D = build_networks(options, self.dataset, self.device)
            if options.grow_from:
                self._grow(Path(options.grow_from))
            self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.projected = isinstance(self.D, ProjectedDiscriminator)
        self.imle = options.objective == "imle"
        self.G.train().requires_grad_(True)
        g_lr, d_lr = options.resolved_lr()
        if self.imle:
            # A reconstruction loss is a plain regression: Adam with momentum, as usual for one. The
            # mapping network learns 100× slower in a GAN (its lr multiplier); here it must spread
            # the latents of one motif over the motif's images, and at that pace it would not.
            mapping = list(self.G.mapping.parameters())
            taken = {id(p) for p in mapping}
            self.g_opt = torch.optim.Adam(
                [{"params": [p for p in self.G.parameters() if id(p) not in taken]},
                 {"params": mapping, "lr": options.imle_lr * options.imle_mapping_lr}],
                lr=options.imle_lr, betas=(0.9, 0.99))
            self.d_opt = None
            self.nearest = NearestLatents(len(self.dataset.images), self.G.z_dim, seed=options.seed)
            self.all_labels = self._all_labels()
            self.reconstruction = ReconstructionLoss(options.feature_network,
                                                     perceptual_weight=options.perceptual_weight).to(self.device)
            self.next_search = 0
        else:
            self.D.train().requires_grad_(True)
            self.g_opt = _adam(self.G, g_lr)
            # The projected discriminator has no R1, so no lazy-regularisation rescaling either.
            self.d_opt = _adam(self.D, d_lr, None if self.projected else options.r1_interval)
        self.ada = AdaController(self.augment, target=options.ada_target, interval=options.ada_interval,
                                 speed_kimg=options.ada_kimg)
        self.grid_z = torch.randn(self._grid_size(), self.G.z_dim, generator=torch.Generator().manual_seed(123))

    def _grow(self, path: Path):
        source = load_checkpoint(path, networks=("G_ema",), device=self.device)
        if tuple(source.class_names) != tuple(self.class_names):
            raise ValueError(f"{path} was trained on classes {list(source.class_names)}, "
                             f"the dataset has {list(self.class_names)}")
        grow_generator(self.G, source.G_ema)

    def _check_classes(self, path: Path, class_names):
        if tuple(class_names) != tuple(self.class_names):
            raise ValueError(f"{path} was trained on classes {list(class_names)}, "
                             f"the dataset has {list(self.class_names)}")

    def _resume(self, path: Path):
        checkpoint = load_checkpoint(path, device=self.device)
        if self.options.objective == "imle":
            # The nearest latents are not saved: the first step searches them again. Without a
            # discriminator to restore, a shipped G_ema alone is enough to continue from.
            G = checkpoint.G if checkpoint.G is not None else copy.deepcopy(checkpoint.G_ema)
        elif checkpoint.G is None or checkpoint.D is None:
            raise ValueError(f"{path} holds no G and D to resume training from")
        else:
            G = checkpoint.G
        self._check_classes(path, checkpoint.class_names)
        if G.img_resolution != self.dataset.resolution:
            raise ValueError(f"{path} is {G.img_resolution} px, the dataset {self.dataset.resolution} px")
        self.kimg_start = checkpoint.kimg
        if self.options.objective == "imle":
            self.G, self.D, self.G_ema = G, None, checkpoint.G_ema
            return
        expected = ProjectedDiscriminator if self.options.discriminator == "projected" else Discriminator
        if not isinstance(checkpoint.D, expected):
            raise ValueError(f"{path} was trained with another discriminator than {self.options.discriminator!r}")
        self.G, self.D, self.G_ema = checkpoint.G, checkpoint.D, checkpoint.G_ema
        self.augment.p.fill_(float(checkpoint.augment.get("p", 0.0)))

    def _grid_size(self) -> int:
        return max(self.dataset.c_dim, 1) * 4 if self.class_names else 16

    def _grid_labels(self) -> torch.Tensor:
        if not self.class_names:
            return torch.zeros([self._grid_size(), 0])
        indices = torch.arange(len(self.class_names)).repeat_interleave(4)
        return F.one_hot(indices, len(self.class_names)).to(torch.float32)

    def _sample_reals(self, batch: int):
        indices = torch.randint(0, len(self.dataset.images), (batch,))
        images = self.dataset.images[indices].to(self.device, torch.float32) / 127.5 - 1
        labels = self.dataset.one_hot(self.dataset.labels[indices]) if self.class_names else torch.zeros([batch, 0])
        return images, labels.to(self.device)

    def _random_labels(self, batch: int) -> torch.Tensor:
        if not self.class_names:
            return torch.zeros([batch, 0], device=self.device)
        indices = self.dataset.labels[torch.randint(0, len(self.dataset.labels), (batch,))]
        return self.dataset.one_hot(indices).to(self.device)

    def step(self, step_index: int, nimg: int) -> dict:
        options = self.options
        batch = options.batch_size

        if self.imle:
            return self._imle_step(nimg)
        if self.projected:
            return self._projected_step(nimg)

        # Generator: non-saturating logistic loss, softplus(-D(G(z))).
        loss_g, c = self._generator_step(lambda fake, c: F.softplus(-self.D(self.augment(fake), c).float()).mean())

        # Discriminator: softplus(D(fake)) + softplus(-D(real)), lazy R1 on reals.
        reals, real_c = self._sample_reals(batch)
        do_r1 = options.r1_interval > 0 and step_index % options.r1_interval == 0
        gamma = options.resolved_r1_gamma(self.dataset.resolution)
        fake = self._detached_fakes(c)
        reals = reals.detach().requires_grad_(do_r1)
        with self._autocast():
            fake_logits = self.D(self.augment(fake), c).float()
            real_logits = self.D(self.augment(reals), real_c).float()
        loss_d = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        loss_r1 = torch.zeros([], device=self.device)
        if do_r1:
            (gradient,) = torch.autograd.grad(real_logits.sum(), reals, create_graph=True)
            loss_r1 = gradient.square().sum(dim=[1, 2, 3]).mean() * (gamma / 2) * options.r1_interval
        self.d_opt.zero_grad(set_to_none=True)
        (loss_d + loss_r1).backward()
        _sanitize_gradients(self.D)
        self.d_opt.step()
        ada_update = self.ada.accumulate(real_logits)

        self._update_ema(nimg)

        stats = {"loss_G": loss_g.item(), "loss_D": loss_d.item(), "augment_p": float(self.augment.p)}
        if do_r1:
            stats["loss_R1"] = loss_r1.item()
        if ada_update is not None:
            stats["ada_rt"] = ada_update.rt
        return stats

    def _projected_step(self, nimg: int) -> dict:
        """Hinge loss as in the Projected GAN paper; DiffAugment is inside D, no R1, no ADA."""
        loss_g, c = self._generator_step(lambda fake, c: -self.D(fake, c).float().mean())
        reals, real_c = self._sample_reals(self.options.batch_size)
        fake = self._detached_fakes(c)
        with self._autocast():
            fake_logits = self.D(fake, c).float()
            real_logits = self.D(reals, real_c).float()
        loss_d = F.relu(1 + fake_logits).mean() + F.relu(1 - real_logits).mean()
        self.d_opt.zero_grad(set_to_none=True)
        loss_d.backward()
        _sanitize_gradients(self.D)
        self.d_opt.step()
        self._update_ema(nimg)
        return {"loss_G": loss_g.item(), "loss_D": loss_d.item(),
                "logits_real": real_logits.mean().item(), "logits_fake": fake_logits.mean().item()}

    def _imle_step(self, nimg: int) -> dict:
        """Search the nearest latents when due, then pull the samples of a batch of training
        images towards those images (``coverage``)."""
        options = self.options
        stats = {}
        images, labels = self.dataset.images, self.all_labels
        if nimg >= self.next_search:
            started = time.perf_counter()
            stats["search_distance"] = self.nearest.search(
                self.G, images, labels, candidates=options.imle_candidates,
                resolution=min(options.imle_search_resolution, self.dataset.resolution), device=self.device)
            stats["search_seconds"] = time.perf_counter() - started
            every = options.imle_search_kimg * 1000 if options.imle_search_kimg else len(images)
            self.next_search = nimg + every
        index = self._imle_batch(options.batch_size)
        reals = images[index].to(self.device, torch.float32) / 127.5 - 1
        z = self.nearest.z[index].to(self.device)
        with self._autocast():
            fake = self.G(z, labels[index].to(self.device))
        loss = self.reconstruction(fake.float(), reals).mean()
        if options.diversity_weight:
            # Pairs of one motif: the two images differ, and so must the samples that answer them.
            loss = loss + options.diversity_weight * mode_seeking_loss(fake.float(), z)
        self.g_opt.zero_grad(set_to_none=True)
        loss.backward()
        _sanitize_gradients(self.G)
        self.g_opt.step()
        self._update_ema(nimg)
        stats["loss_G"] = loss.item()
        return stats

    def _imle_batch(self, batch: int) -> torch.Tensor:
        """Random training images; with the diversity term, pairs of one class (first half, second half)."""
        count = len(self.dataset.images)
        if not self.options.diversity_weight:
            return torch.randint(0, count, (batch,))
        first = torch.randint(0, count, (batch // 2,))
        labels = self.dataset.labels
        partners = []
        for i in first.tolist():
            same = (labels == labels[i]).nonzero().flatten()
            partners.append(int(same[torch.randint(0, len(same), (1,))]))
        return torch.cat([first, torch.tensor(partners)])

    def _all_labels(self) -> torch.Tensor:
        if not self.class_names:
            return torch.zeros([len(self.dataset.labels), 0])
        return self.dataset.one_hot(self.dataset.labels)

    def _generator_step(self, loss_of_fakes) -> tuple[torch.Tensor, torch.Tensor]:
        """One G update on ``loss_of_fakes(fake, c)`` of a fresh batch (D frozen meanwhile);
        returns the loss and the labels, which the D step reuses.

        With ``diversity_weight`` the batch is two halves with the same labels, and the loss
        gains the mode-seeking term of MSGAN (Mao et al., CVPR 2019): the ratio of latent to
        image distance of each pair, so two latents of one class that draw the same image
        cost the generator. It counters the collapse within a motif that the conditional
        generator shows on this small archive.
        """
        batch = self.options.batch_size
        weight = self.options.diversity_weight
        z = torch.randn(batch, self.G.z_dim, device=self.device)
        if weight:
            c = self._random_labels(batch // 2).repeat(2, 1)
        else:
            c = self._random_labels(batch)
        self.D.requires_grad_(False)
        with self._autocast():
            fake = self.G(z, c)
            loss = loss_of_fakes(fake, c)
        if weight:
            loss = loss + weight * mode_seeking_loss(fake.float(), z)
        self.g_opt.zero_grad(set_to_none=True)
        loss.backward()
        _sanitize_gradients(self.G)
        self.g_opt.step()
        self.D.requires_grad_(True)
        return loss, c

    def _detached_fakes(self, c: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), self._autocast():
            return self.G(torch.randn(len(c), self.G.z_dim, device=self.device), c).float()

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.options.bf16)

    def _update_ema(self, nimg: int):
        # Generator EMA with a half-life that ramps up at the start of training.
        options = self.options
        ema_nimg = options.resolved_ema_kimg() * 1000
        if options.ema_rampup:
            ema_nimg = min(ema_nimg, nimg * options.ema_rampup)
        _update_ema(self.G_ema, self.G, 0.5 ** (options.batch_size / max(ema_nimg, 1e-8)))

    def snapshot(self, kimg: float, metrics: dict) -> Path:
        grid_images = []
        labels = self._grid_labels().to(self.device)
        z = self.grid_z.to(self.device)
        with torch.no_grad():
            for start in range(0, len(z), 8):
                grid_images.append(to_uint8(self.G_ema(z[start:start + 8], labels[start:start + 8],
                                                       noise_mode="const")))
        save_png(image_grid(np.concatenate(grid_images), columns=4), self.outdir / f"fakes{int(kimg * 1000):08d}.png")
        training = {key: value for key, value in asdict(self.options).items() if key not in ("progress",)}
        path = self.outdir / f"network-snapshot-{int(kimg * 1000):08d}.safetensors"
        save_checkpoint(path, G_ema=self.G_ema, G=self.G, D=self.D, class_names=self.class_names, kimg=kimg,
                        metrics=metrics, augment={"p": float(self.augment.p), "target": self.options.ada_target},
                        training=training)
        with open(self.outdir / "log.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps({"kimg": kimg, **metrics}) + "\n")
        return path

    def run(self) -> TrainingResult:
        from tqdm import tqdm

        options = self.options
        total_nimg = int(options.kimg * 1000)
        nimg = 0
        step_index = 0
        next_snapshot = options.snapshot_kimg * 1000
        stats = {}
        checkpoint = None
        estimated = None
        started = time.perf_counter()
        deadline = started + options.minutes * 60 if options.minutes else None
        with tqdm(total=total_nimg, unit="img", disable=not options.progress, desc="training") as bar:
            while nimg < total_nimg and (deadline is None or time.perf_counter() < deadline):
                stats = self.step(step_index, self.kimg_start * 1000 + nimg + options.batch_size)
                nimg += options.batch_size
                step_index += 1
                if step_index == options.estimate_steps and nimg < total_nimg:
                    # Over a whole cycle of the lazy regularisation steps, so their cost is in it.
                    estimated = (time.perf_counter() - started) / nimg * total_nimg
                    if options.progress:
                        bar.write(f"time estimate: about {format_duration(estimated)} for {options.kimg:g} kimg "
                                  f"({estimated / options.kimg:.0f} s per kimg over the first {step_index} steps)",
                                  file=sys.stderr)
                bar.update(options.batch_size)
                bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items()})
                if nimg >= next_snapshot and nimg < total_nimg:
                    stats["seconds"] = time.perf_counter() - started
                    checkpoint = self.snapshot(self.kimg_start + nimg / 1000, stats)
                    next_snapshot += options.snapshot_kimg * 1000
        seconds = time.perf_counter() - started
        stats["seconds_per_kimg"] = seconds / max(nimg / 1000, 1e-9)
        stats["seconds"] = seconds
        checkpoint = self.snapshot(self.kimg_start + nimg / 1000, stats)
        return TrainingResult(checkpoint=checkpoint, kimg=self.kimg_start + nimg / 1000, seconds=seconds,
                              seconds_per_kimg=stats["seconds_per_kimg"], augment_p=float(self.augment.p),
                              losses={k: v for k, v in stats.items() if k.startswith("loss")},
                              estimated_seconds=estimated)


def mode_seeking_loss(images: torch.Tensor, z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """MSGAN's term for a batch whose first and second halves are pairs drawn for the same labels:
    the mean over pairs of (latent distance / image distance), both mean absolute differences."""
    half = len(images) // 2
    image_distance = (images[:half] - images[half:2 * half]).abs().mean(dim=[1, 2, 3])
    latent_distance = (z[:half] - z[half:2 * half]).abs().mean(dim=1)
    return (latent_distance / (image_distance + eps)).mean()


def format_duration(seconds: float) -> str:
    """``1 h 41 min``, ``12 min``, ``40 s``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def train(options: TrainingOptions) -> TrainingResult:
    return Trainer(options).run()
