"""Benchmark the clean-room StyleGAN2-ADA: synthesis images/s and training seconds per kimg.

    .venv/bin/python bench/generator.py                 # CPU (and CUDA when present)
    .venv/bin/python bench/generator.py --resolutions 64 --train-steps 8

Synthesis runs the generator in inference mode with const noise at 64, 128 and 256 px
for batch 1 and 8; training runs full G+D steps at 128 px on random images — the classic
discriminator (ADA on, lazy R1 amortised) and the projected one (frozen ImageNet
EfficientNet-Lite0), each in float32 and in bfloat16 autocast — and reports seconds per
thousand real images, side by side with the ratio to the classic float32 row.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylegan2_ada.networks import Generator, count_parameters  # noqa: E402
from stylegan2_ada.train import ImageDataset, Trainer, TrainingOptions  # noqa: E402


@dataclass(frozen=True)
class SynthesisTiming:
    device: str
    resolution: int
    batch: int
    params_millions: float
    images_per_second: float


@dataclass(frozen=True)
class TrainingTiming:
    device: str
    resolution: int
    batch: int
    seconds_per_kimg: float
    discriminator: str = "stylegan2"
    bf16: bool = False


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def time_synthesis(device, resolution, batch, channel_base, channel_max, repeats) -> SynthesisTiming:
    gpu = device.type == "cuda"
    G = Generator(z_dim=256, c_dim=0, w_dim=256, img_resolution=resolution, img_channels=3,
                  mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=channel_base, channel_max=channel_max,
                                        **(dict(num_fp16_res=4, conv_clamp=256) if gpu else {}))).to(device).eval()
    z = torch.randn(batch, 256, device=device)
    c = torch.zeros(batch, 0, device=device)
    G(z, c, noise_mode="const")  # warm-up: the first call allocates and picks kernels
    _sync(device)
    started = time.perf_counter()
    for _ in range(repeats):
        G(z, c, noise_mode="const")
    _sync(device)
    seconds = time.perf_counter() - started
    return SynthesisTiming(device.type, resolution, batch, count_parameters(G) / 1e6, batch * repeats / seconds)


def time_training(device, resolution, batch, channel_base, channel_max, steps, discriminator="stylegan2",
                  bf16=False) -> TrainingTiming:
    images = torch.randint(0, 256, (64, 3, resolution, resolution), dtype=torch.uint8)
    dataset = ImageDataset(images=images, labels=torch.arange(64) % 4, class_names=("a", "b", "c", "d"))
    with tempfile.TemporaryDirectory() as outdir:
        options = TrainingOptions(data=outdir, outdir=outdir, batch_size=batch, channel_base=channel_base,
                                  channel_max=channel_max, device=device.type, progress=False,
                                  discriminator=discriminator, bf16=bf16)
        trainer = Trainer(options, dataset=dataset)
        trainer.augment.p.fill_(0.2)  # ADA active, as it is on a small archive
        trainer.step(1, batch)  # warm-up
        _sync(device)
        started = time.perf_counter()
        for index in range(steps):
            trainer.step(index, (index + 2) * batch)  # index 0 and every r1_interval-th run R1
        _sync(device)
        seconds = time.perf_counter() - started
    return TrainingTiming(device.type, resolution, batch, seconds / (steps * batch / 1000), discriminator, bf16)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", default="64,128,256")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--cbase", type=int, default=4096, help="channel_base (demo model: 4096)")
    parser.add_argument("--cmax", type=int, default=128, help="channel_max (demo model: 128)")
    parser.add_argument("--repeats", type=int, default=5, help="timed synthesis calls per row")
    parser.add_argument("--train-steps", type=int, default=16, help="timed training steps (one R1 step included)")
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--train-resolution", type=int, default=128)
    parser.add_argument("--train-variants", default="stylegan2,stylegan2+bf16,projected,projected+bf16",
                        help="discriminator[+bf16], comma-separated")
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"channel_base={args.cbase}, channel_max={args.cmax}")
    print(f"{'device':<7}{'res':>6}{'batch':>7}{'G params (M)':>14}{'images/s':>11}")
    for device_name in args.devices.split(","):
        device = torch.device(device_name)
        for resolution in map(int, args.resolutions.split(",")):
            for batch in map(int, args.batches.split(",")):
                row = time_synthesis(device, resolution, batch, args.cbase, args.cmax, args.repeats)
                print(f"{row.device:<7}{row.resolution:>6}{row.batch:>7}{row.params_millions:>14.2f}"
                      f"{row.images_per_second:>11.1f}", flush=True)
    print()
    print(f"{'device':<7}{'res':>6}{'batch':>7}  {'discriminator':<15}{'s/kimg':>10}{'min/kimg':>10}{'ratio':>8}")
    for device_name in args.devices.split(","):
        if args.train_steps <= 0:
            break
        first = None
        for variant in args.train_variants.split(","):
            discriminator, _, precision = variant.partition("+")
            bf16 = precision == "bf16" and device_name == "cpu"
            row = time_training(torch.device(device_name), args.train_resolution, args.train_batch, args.cbase,
                                args.cmax, args.train_steps, discriminator=discriminator, bf16=bf16)
            first = first or row.seconds_per_kimg
            label = discriminator + (" bf16" if bf16 else "")
            print(f"{row.device:<7}{row.resolution:>6}{row.batch:>7}  {label:<15}{row.seconds_per_kimg:>10.1f}"
                  f"{row.seconds_per_kimg / 60:>10.2f}{first / row.seconds_per_kimg:>7.2f}x", flush=True)


if __name__ == "__main__":
    main()
