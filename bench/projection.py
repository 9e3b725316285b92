"""Projection of a reference image (variation from your own motif), with and without the
perceptual loss in the neutral ImageNet space (not a test): fresh demo renders of every motif
are projected into the shipped generator, starting from the class the shipped classifier
guesses (as the worker does), and judged by whether the classifier recognises the reference's
motif in the projected image, the neutral cosine distance to the fitted reference, pixel MSE,
and seconds per projection, side by side in one run (the perceptual loss at 224 px and at the
128 px the worker uses).

    .venv/bin/python bench/projection.py [--per-motif 2] [--steps 100] [--threads 1]

The neutral distance is measured in the space the perceptual loss optimises, so it flatters
that row; the agreement is the independent figure.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-motif", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100, help="projection steps (the site's CUALIFY_PROJECTION_STEPS)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a queue worker uses 1)")
    parser.add_argument("--generator", type=Path, help="generator checkpoint (default: the one weights/ ships)")
    parser.add_argument("--used-only", action="store_true", help="only the loss the worker uses (128 px perceptual)")
    args = parser.parse_args()

    import numpy as np
    import torch

    from inference.engines.classifier import ClassifierEngine
    from inference.engines.generator import GeneratorEngine
    from inference.engines.neutral import NeutralFeatures
    from motifs.demo_art import render_motif

    torch.set_num_threads(args.threads)
    generator = GeneratorEngine.load(args.generator or shipped_generator())
    classifier = ClassifierEngine.load(ROOT / "weights" / "classifier-demo-yolo11n-cls.pt")
    neutral = NeutralFeatures()
    names = list(generator.class_names)
    rows: dict[str, list[dict]] = {"pixel and multi-scale MSE": [], "+ neutral perceptual, 224 px": [],
                                   "+ neutral perceptual, 128 px": []}
    losses = (None, lambda images: neutral.perceptual(images, size=224), neutral.perceptual)
    if args.used_only:
        rows, losses = {"+ neutral perceptual, 128 px": []}, (neutral.perceptual,)
    for index, slug in enumerate(names):
        for k in range(args.per_motif):
            reference = render_motif(slug, 77000 + 10 * index + k, 256)
            guess = classifier.class_names[classifier.predict([reference])[0].top[0][0]]
            start = names.index(guess) if guess in names else 0
            for label, feature_fn in zip(rows, losses):
                began = time.perf_counter()
                projected = generator.projection(reference, class_index=start, steps=args.steps, feature_fn=feature_fn)
                seconds = time.perf_counter() - began
                top = classifier.class_names[classifier.predict([projected.image])[0].top[0][0]]
                a, b = neutral.features([projected.image, projected.target])
                rows[label].append({"agrees": top == slug, "neutral": 1 - float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)),
                                    "mse": projected.final_distance, "seconds": seconds})
    print(f"{len(names)} motifs × {args.per_motif} fresh renders, {args.steps} steps, {args.threads} torch thread(s), "
          f"{generator.resolution} px generator")
    print(f"{'projection loss':28s} {'agreement':>9s} {'neutral dist':>12s} {'pixel MSE':>9s} {'s (median)':>10s}")
    for label, found in rows.items():
        print(f"{label:28s} {statistics.mean(r['agrees'] for r in found):9.3f} {statistics.mean(r['neutral'] for r in found):12.4f} "
              f"{statistics.mean(r['mse'] for r in found):9.4f} {statistics.median(r['seconds'] for r in found):10.2f}")


def shipped_generator() -> Path:
    import json

    manifest = json.loads((ROOT / "weights" / "manifest.json").read_text())
    return ROOT / "weights" / next(m["file"] for m in manifest["models"] if m["kind"] == "generator")


if __name__ == "__main__":
    main()
