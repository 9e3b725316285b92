"""Benchmark the classifier engine: PyTorch (.pt) against ONNX Runtime (.onnx), and their parity.

    .venv/bin/python bench/classify_engine.py
    .venv/bin/python bench/classify_engine.py --weights weights/classifier-demo-yolo11n-cls.pt --threads 1 2

Exports the .pt to a temporary .onnx, then for each thread count and batch size times
``predict`` (preprocessing included and separately) on the same rendered demo images, and
compares the two engines' outputs: top-1 agreement and the largest probability / embedding
difference. Also times raw Ultralytics ``YOLO.predict`` on the same images for reference.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "classifier-demo-yolo11n-cls.pt"


def _images(class_names, per_class: int, size: int):
    from motifs.demo_art import render_motif

    images = []
    for index, slug in enumerate(class_names):
        for copy in range(per_class):
            images.append((index, render_motif(slug, 20_000 + per_class * index + copy, size)))
    return images


def _time(call, repeats: int) -> tuple[float, float]:
    """(median, p95) seconds over ``repeats`` calls after one warm-up call."""
    call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.95 * len(samples)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--per-class", type=int, default=4, help="rendered demo images per class")
    parser.add_argument("--size", type=int, default=512, help="rendered image size (pixels)")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)

    import torch

    from inference.engines.classifier import ClassifierEngine, export_onnx
    from inference.engines.offline import configure_ultralytics_offline, default_config_dir

    configure_ultralytics_offline(default_config_dir())
    torch_engine = ClassifierEngine.load(args.weights)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        onnx_path = export_onnx(args.weights, Path(folder) / "model.onnx")
        export_seconds = time.perf_counter() - started
        labelled = _images(torch_engine.class_names, args.per_class, args.size)
        labels = [label for label, _ in labelled]
        images = [image for _, image in labelled]
        print(f"weights {Path(args.weights).name}  imgsz {torch_engine.imgsz}  classes {len(torch_engine.class_names)}")
        print(f"ONNX export {export_seconds:.2f} s  ({onnx_path.stat().st_size / 1e6:.1f} MB)")
        print(f"{len(images)} rendered images at {args.size} px, cpu: {os.cpu_count()} cores\n")

        # Parity on every image.
        onnx_engine = ClassifierEngine.load(onnx_path)
        ours, theirs = torch_engine.predict(images), onnx_engine.predict(images)
        same_top1 = sum(a.top[0][0] == b.top[0][0] for a, b in zip(ours, theirs))
        probability_gap = max(float(np.abs(a.probabilities - b.probabilities).max()) for a, b in zip(ours, theirs))
        embedding_gap = max(float(np.abs(a.embedding - b.embedding).max()) for a, b in zip(ours, theirs))
        accuracy_pt = np.mean([p.top[0][0] == label for p, label in zip(ours, labels)])
        accuracy_onnx = np.mean([p.top[0][0] == label for p, label in zip(theirs, labels)])
        print(f"parity: top-1 equal {same_top1}/{len(images)}, max |prob diff| {probability_gap:.2e}, "
              f"max |embedding diff| {embedding_gap:.2e}")
        print(f"top-1 accuracy on these renders: pt {accuracy_pt:.3f}, onnx {accuracy_onnx:.3f}\n")

        header = ("threads", 7), ("batch", 5), ("engine", 10), ("ms/img p50", 11), ("p95", 8), ("forward ms/img", 15)
        print(" ".join(f"{title:>{width}}" for title, width in header), f"{'img/s':>8}")
        from ultralytics import YOLO

        yolo = YOLO(args.weights, task="classify")
        for threads in args.threads:
            torch.set_num_threads(threads)
            onnx_engine = ClassifierEngine.load(onnx_path, threads=threads)
            for batch in args.batches:
                chunk = images[:batch]
                rows = []
                for name, engine in (("pytorch", torch_engine), ("onnx", onnx_engine)):
                    tensor = engine.preprocess(chunk)
                    median, p95 = _time(lambda: engine.predict(chunk), args.repeats)
                    forward, _ = _time(lambda: engine._forward(tensor), args.repeats)
                    rows.append((name, median, p95, forward))
                median, p95 = _time(
                    lambda: yolo.predict(chunk, imgsz=torch_engine.imgsz, device="cpu", verbose=False), args.repeats
                )
                rows.append(("yolo", median, p95, float("nan")))
                for name, median, p95, forward in rows:
                    print(f"{threads:>7} {batch:>5} {name:>10} {1000 * median / batch:>11.2f} "
                          f"{1000 * p95 / batch:>8.2f} {1000 * forward / batch:>15.2f} {batch / median:>8.1f}")
                speedup = rows[0][1] / rows[1][1]
                print(f"{'':>7} {'':>5} {'onnx/pt':>10} {speedup:>10.2f}x faster end to end, "
                      f"{rows[0][3] / rows[1][3]:.2f}x on the forward pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
