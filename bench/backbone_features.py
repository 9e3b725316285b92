"""How far the pretrained EfficientNet-Lite0 features alone go on real photos of cloth (not a
test): pooled 1280-d features of every photo of a class-folder tree, then a softmax regression
on them, scored by stratified k-fold cross-validation, with all photos per class for training
and with a few (several random subsets each). Also times the feature extraction.

    .venv/bin/python bench/backbone_features.py [--folder ../shared/data/real-batik-dev] [--size 224]

Nothing here is trained on the photos beyond the linear probe; it is the floor the fine-tuned
classifier (issue 11) must beat, measured on the same photos in the same run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_photos(folder: Path, size: int):
    from PIL import Image

    from inference.generation.images import resize_and_crop

    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    images, labels = [], []
    for index, name in enumerate(classes):
        for path in sorted((folder / name).iterdir()):
            if path.suffix.lower() not in {".jpg", ".jpeg", ".png", ".webp"}:
                continue
            picture = Image.open(path).convert("RGB")
            scale = size / min(picture.size)
            scaled = (max(size, round(picture.width * scale)), max(size, round(picture.height * scale)))
            left, top = (scaled[0] - size) // 2, (scaled[1] - size) // 2
            images.append(resize_and_crop(picture, scaled, (left, top, left + size, top + size), Image.Resampling.BILINEAR))
            labels.append(index)
    return classes, images, labels


def features(network, images, batch: int = 16):
    import numpy as np
    import torch

    rows = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            array = np.stack([np.asarray(image, dtype=np.float32) / 255.0 for image in images[start:start + batch]])
            rows.append(network.embed(torch.from_numpy(array).permute(0, 3, 1, 2)))
    return torch.cat(rows)


def probe_accuracy(train_x, train_y, test_x, test_y, classes: int, l2: float = 1e-3) -> float:
    """Softmax regression (L-BFGS, L2) on standardised features."""
    import torch

    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    weight = torch.zeros(train_x.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimiser = torch.optim.LBFGS([weight, bias], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(train_x @ weight + bias, train_y) + l2 * (weight ** 2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    with torch.no_grad():
        return float(((test_x @ weight + bias).argmax(1) == test_y).float().mean())


def folds(labels, k: int, seed: int):
    import random

    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    rng = random.Random(seed)
    assignment = {}
    for members in by_class.values():
        rng.shuffle(members)
        for position, index in enumerate(members):
            assignment[index] = position % k
    return [([i for i in assignment if assignment[i] != f], [i for i in assignment if assignment[i] == f]) for f in range(k)]


def main() -> None:
    import torch

    from inference.engines.backbones import efficientnet_lite0

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=ROOT.parent / "shared" / "data" / "real-batik-dev")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--subsets", type=int, default=5, help="random few-shot subsets per size")
    args = parser.parse_args()
    if not args.folder.is_dir():
        raise SystemExit(f"{args.folder} is not a folder of class folders")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    classes, images, labels = load_photos(args.folder, args.size)
    network = efficientnet_lite0()
    started = time.perf_counter()
    x = features(network, images)
    extraction = time.perf_counter() - started
    y = torch.tensor(labels)
    print(f"{len(images)} photos, {len(classes)} classes ({', '.join(classes)}), {args.size} px; "
          f"features in {extraction:.1f} s ({extraction / len(images) * 1000:.0f} ms/photo, "
          f"{torch.get_num_threads()} threads)")
    print(f"{'train photos per class':<24} {'top-1 mean':>10} {'min':>6}  ({args.folds}-fold; few-shot: "
          f"{args.subsets} random subsets of each training fold)")
    import random

    for shots in (5, 10, 15, None):
        scores = []
        for fold, (train, test) in enumerate(folds(labels, args.folds, seed=0)):
            for subset in range(1 if shots is None else args.subsets):
                chosen = train
                if shots is not None:
                    rng = random.Random(1000 * fold + subset)
                    chosen = [i for c in range(len(classes))
                              for i in rng.sample([j for j in train if labels[j] == c], min(shots, sum(labels[j] == c for j in train)))]
                scores.append(probe_accuracy(x[chosen], y[chosen], x[test], y[test], len(classes)))
        label = "all (~45)" if shots is None else str(shots)
        print(f"{label:<24} {statistics.mean(scores):>10.3f} {min(scores):>6.3f}")


if __name__ == "__main__":
    main()
