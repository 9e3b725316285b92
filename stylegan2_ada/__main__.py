"""Command line: ``python -m stylegan2_ada {generate,style-mix,train,convert,project}``.

Each command only parses its arguments and calls the package; ``--network`` accepts
either one of our safetensors checkpoints or an NVlabs pickle (read with the
restricted loader, never executing code from it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _class_index(value: str | None, class_names) -> int | None:
    """Accept a class index or, for our checkpoints, a class name."""
    if value is None:
        return None
    if value.lstrip("-").isdigit():
        return int(value)
    if value in class_names:
        return list(class_names).index(value)
    raise ValueError(f"unknown class {value!r}; known classes: {', '.join(class_names) or 'none (use an index)'}")


def _class_names(value: str | None):
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [name.strip() for name in value.split(",") if name.strip()]


def cmd_generate(args) -> None:
    from stylegan2_ada.checkpoint import load_generator
    from stylegan2_ada.generate import generate_images, parse_seeds

    loaded = load_generator(args.network, device=args.device)
    results = generate_images(loaded.G, parse_seeds(args.seeds), args.outdir,
                              class_index=_class_index(args.class_, loaded.class_names),
                              truncation_psi=args.trunc, truncation_cutoff=args.trunc_cutoff,
                              noise_mode=args.noise_mode, tile=args.tile, device=args.device)
    for result in results:
        print(result.path)


def cmd_style_mix(args) -> None:
    from stylegan2_ada.checkpoint import load_generator
    from stylegan2_ada.generate import parse_layers, parse_seeds, save_png, style_mix_grid

    loaded = load_generator(args.network)
    G = loaded.G
    layers = parse_layers(args.styles) if args.styles else list(range(G.num_ws // 2, G.num_ws))
    grid = style_mix_grid(G, parse_seeds(args.rows), parse_seeds(args.cols), layers,
                          class_index=_class_index(args.class_, loaded.class_names), truncation_psi=args.trunc,
                          noise_mode=args.noise_mode, tile=args.tile)
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    save_png(grid, outdir / "grid.png")
    print(outdir / "grid.png")


def cmd_train(args) -> None:
    from stylegan2_ada.train import TrainingOptions, train

    options = TrainingOptions(
        data=args.data, outdir=args.outdir, resolution=args.resolution, kimg=args.kimg, batch_size=args.batch,
        z_dim=args.z_dim, w_dim=args.w_dim, mapping_layers=args.map, channel_base=args.cbase,
        channel_max=args.cmax, g_lr=args.glr, d_lr=args.dlr, r1_gamma=args.gamma, ada_target=args.ada_target,
        ada_kimg=args.ada_kimg, snapshot_kimg=args.snap, conditional=not args.unconditional, resume=args.resume,
        seed=args.seed, device=args.device, discriminator=args.discriminator, feature_network=args.feature_network,
        grow_from=args.grow_from, bf16=args.bf16, minutes=args.minutes,
        diversity_weight=args.diversity, objective=args.objective, imle_candidates=args.candidates,
        imle_search_resolution=args.search_resolution, imle_search_kimg=args.search_kimg, imle_lr=args.imle_lr,
        imle_mapping_lr=args.imle_mapping_lr,
        perceptual_weight=args.perceptual)
    result = train(options)
    print(f"{result.checkpoint}  kimg={result.kimg:.3f}  s/kimg={result.seconds_per_kimg:.1f}  "
          f"p={result.augment_p:.3f}")


def cmd_convert(args) -> None:
    from stylegan2_ada.checkpoint import convert_network_pickle

    print(convert_network_pickle(args.network, args.output, class_names=_class_names(args.class_names)))


def cmd_project(args) -> None:
    import numpy as np
    import torch
    from PIL import Image

    from stylegan2_ada.checkpoint import load_generator
    from stylegan2_ada.generate import save_png, to_uint8
    from stylegan2_ada.project import image_to_tensor, project

    loaded = load_generator(args.network)
    G = loaded.G
    with Image.open(args.target) as opened:
        reference = opened.convert("RGB")
    side = min(reference.size)
    left, top = (reference.width - side) // 2, (reference.height - side) // 2
    reference = reference.crop((left, top, left + side, top + side)).resize((G.img_resolution,) * 2, Image.LANCZOS)
    torch.manual_seed(args.seed)
    result = project(G, image_to_tensor(reference), class_index=_class_index(args.class_, loaded.class_names),
                     steps=args.steps, seed=args.seed)
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    reference.save(outdir / "target.png")
    save_png(to_uint8(result.image)[0], outdir / "proj.png")
    np.save(outdir / "projected_w.npy", result.ws.cpu().numpy())
    print(f"{outdir / 'proj.png'}  mse {result.initial_distance:.4f} -> {result.final_distance:.4f}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stylegan2_ada", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def sampling_options(sub):
        sub.add_argument("--network", required=True, help="checkpoint (.safetensors) or NVlabs pickle (.pkl)")
        sub.add_argument("--class", dest="class_", help="class index (or name, for our checkpoints)")
        sub.add_argument("--trunc", type=float, default=1.0, help="truncation psi")
        sub.add_argument("--noise-mode", choices=["const", "random", "none"], default="const")
        sub.add_argument("--outdir", required=True)
        sub.add_argument("--tile", action="store_true", help="seamless tiles")

    generate = commands.add_parser("generate", help="images from seeds")
    sampling_options(generate)
    generate.add_argument("--seeds", required=True, help="e.g. 0-3,7")
    generate.add_argument("--trunc-cutoff", type=int, default=None)
    generate.add_argument("--device", default="cpu")
    generate.set_defaults(handler=cmd_generate)

    mix = commands.add_parser("style-mix", help="style-mixing grid")
    sampling_options(mix)
    mix.add_argument("--rows", required=True, help="row seeds")
    mix.add_argument("--cols", required=True, help="column seeds")
    mix.add_argument("--styles", help="layers taken from the column seeds, e.g. 0-3 (default: the later half)")
    mix.set_defaults(handler=cmd_style_mix)

    training = commands.add_parser("train", help="train on a folder of class folders")
    training.add_argument("--data", required=True)
    training.add_argument("--outdir", required=True)
    training.add_argument("--resolution", type=int, help="resize on load (power of two)")
    training.add_argument("--kimg", type=float, default=10.0)
    training.add_argument("--batch", type=int, default=16)
    training.add_argument("--z-dim", type=int, default=256)
    training.add_argument("--w-dim", type=int, default=256)
    training.add_argument("--map", type=int, default=2, help="mapping layers")
    training.add_argument("--cbase", type=int, default=4096)
    training.add_argument("--cmax", type=int, default=128)
    training.add_argument("--glr", type=float, default=None, help="G learning rate (default: 0.0025 classic D, "
                          "0.0002 projected D)")
    training.add_argument("--dlr", type=float, default=None, help="D learning rate (default: as --glr)")
    training.add_argument("--discriminator", choices=["stylegan2", "projected"], default="stylegan2",
                          help="classic StyleGAN2 D with R1 and ADA, or a projected D on frozen pretrained features")
    training.add_argument("--feature-network", default="inference.engines.backbones:efficientnet_lite0",
                          help="module:factory of the projected D's frozen feature network")
    training.add_argument("--grow-from", help="start G from this lower-resolution checkpoint")
    training.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CPUs with AVX-512-BF16/AMX)")
    training.add_argument("--minutes", type=float, help="stop with a snapshot after this much wall time")
    training.add_argument("--diversity", type=float, default=0.0,
                          help="weight of the mode-seeking term against collapse within a class (0 = off)")
    training.add_argument("--objective", choices=["gan", "imle"], default="gan",
                          help="gan: a discriminator judges the images; imle: every training image pulls its "
                               "nearest generated sample towards it (no discriminator, no motif left behind)")
    training.add_argument("--candidates", type=int, default=16, help="IMLE: fresh latents per image at each search")
    training.add_argument("--search-resolution", type=int, default=16,
                          help="IMLE: draw and compare the candidates at this size")
    training.add_argument("--search-kimg", type=float, default=None,
                          help="IMLE: search again every N kimg (default: once per pass over the data)")
    training.add_argument("--imle-lr", type=float, default=0.005, help="IMLE: generator learning rate")
    training.add_argument("--imle-mapping-lr", type=float, default=10.0,
                          help="IMLE: the mapping network's learning rate as a multiple of --imle-lr")
    training.add_argument("--perceptual", type=float, default=1.0,
                          help="IMLE: weight of the feature distance in the frozen --feature-network (0 = pixels)")
    training.add_argument("--gamma", type=float, default=None, help="R1 weight (default: NVlabs auto formula)")
    training.add_argument("--ada-target", type=float, default=0.6)
    training.add_argument("--ada-kimg", type=float, default=100.0)
    training.add_argument("--snap", type=float, default=5.0, help="snapshot every N kimg")
    training.add_argument("--unconditional", action="store_true", help="ignore class folders")
    training.add_argument("--resume", help="checkpoint to continue from")
    training.add_argument("--seed", type=int, default=0)
    training.add_argument("--device", default="cpu")
    training.set_defaults(handler=cmd_train)

    convert = commands.add_parser("convert", help="NVlabs pickle -> safetensors checkpoint")
    convert.add_argument("--network", required=True, help="NVlabs network pickle")
    convert.add_argument("--output", required=True, help="target .safetensors file")
    convert.add_argument("--class-names", help="comma-separated names in label order, or a file with one a line")
    convert.set_defaults(handler=cmd_convert)

    proj = commands.add_parser("project", help="find w for a reference image")
    proj.add_argument("--network", required=True)
    proj.add_argument("--target", required=True, help="reference image")
    proj.add_argument("--class", dest="class_")
    proj.add_argument("--steps", type=int, default=200)
    proj.add_argument("--seed", type=int, default=0)
    proj.add_argument("--outdir", required=True)
    proj.set_defaults(handler=cmd_project)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
