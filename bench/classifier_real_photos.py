"""The classifier recipe on real photos of cloth (issue 11): accuracy with all and with few photos
per class, "not a known motif" judged leave-one-class-out, int8 against float, and YOLO11n-cls
from scratch beside it. Runs the engines directly (no database), on any class-folder tree.

    .venv/bin/python bench/classifier_real_photos.py --folder ../shared/data/real-batik-dev \\
        [--folds 5] [--few-shot 5,10,15] [--subsets 3] [--loco] [--int8] [--yolo] [--json OUT]

Every figure is on photos the model never saw: stratified k-fold (each photo tested once);
within a fold's training part, 15 % per class (at least one) is the validation split that
early stopping and the "not a known motif" thresholds use, as the archive's val split does in
``train_classifier``. Few-shot: k photos per class in all (validation included), several random
subsets, tested on the same held-out fold. Leave-one-class-out: train without class c; then
count how many held-out photos of the known classes are accepted and how many photos of c (all
of them) and of drawn non-batik strangers are accepted as a known motif.

The dev set is for checking the recipe, not for tuning it: the recipe's defaults are fixed in
``inference/engines/finetune.py`` and this script only reads them.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VAL_SHARE = 0.15


def stratified_folds(labels: list[int], k: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(labels), dtype=int)
    labels_array = np.asarray(labels)
    for label in np.unique(labels_array):
        members = np.flatnonzero(labels_array == label)
        rng.shuffle(members)
        fold[members] = np.arange(len(members)) % k
    return fold.tolist()


def split_train_val(indices: list[int], labels: list[int], seed: int):
    """(train, val) of ``indices`` (positions in ``labels``): 15 % of each class for val."""
    from inference.engines.finetune import split_train_val as split

    train, val = split([labels[i] for i in indices], sorted({labels[i] for i in indices}), VAL_SHARE, seed=seed)
    return [indices[j] for j in train], [indices[j] for j in val]


def train(images, labels, class_names, train_idx, val_idx, options):
    from inference.engines.finetune import fine_tune

    remap = {old: new for new, old in enumerate(sorted({labels[i] for i in train_idx}))}
    result = fine_tune(
        train_images=[images[i] for i in train_idx], train_labels=[remap[labels[i]] for i in train_idx],
        val_images=[images[i] for i in val_idx], val_labels=[remap[labels[i]] for i in val_idx],
        class_names=[class_names[old] for old in sorted(remap)], options=options)
    return result, remap


def engine_of(result, folder: Path):
    from inference.engines.classifier import ClassifierEngine
    from inference.engines.finetune import save_lite_classifier

    path = save_lite_classifier(result.model, folder / "model.safetensors", class_names=result.class_names,
                                imgsz=result.imgsz)
    return ClassifierEngine.load(path)


def scores(engine, images, labels, idx, remap):
    from inference.engines.training import evaluate_predictions

    predictions = engine.predict_all([images[i] for i in idx])
    result = evaluate_predictions(
        true_labels=[remap[labels[i]] for i in idx],
        ranked_predictions=[np.argsort(-p.probabilities, kind="stable").tolist() for p in predictions],
        class_names=engine.class_names)
    return result, predictions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=ROOT.parent / "shared" / "data" / "real-batik-dev")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--run-folds", type=int, default=None, help="train only the first N folds (default all)")
    parser.add_argument("--few-shot", default="5,10,15")
    parser.add_argument("--subsets", type=int, default=3)
    parser.add_argument("--loco", action="store_true", help="leave-one-class-out open-set check")
    parser.add_argument("--int8", action="store_true", help="int8 ONNX against float ONNX on fold 0")
    parser.add_argument("--yolo", action="store_true", help="YOLO11n-cls from scratch on fold 0, for comparison")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import torch

    from inference.engines.finetune import FineTuneOptions, read_class_folders

    torch.set_num_threads(args.threads)
    if not args.folder.is_dir():
        print(f"{args.folder} is not a folder", file=sys.stderr)
        return 2
    class_names, images, labels = read_class_folders(args.folder)
    options = FineTuneOptions(seed=args.seed)
    report: dict = {"folder": str(args.folder), "photos": len(images), "classes": list(class_names),
                    "recipe": {k: v for k, v in vars(options).items()}}
    print(f"{len(images)} photos in {len(class_names)} classes; recipe {report['recipe']}", flush=True)
    fold_of = stratified_folds(labels, args.folds, args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench-cls-"))

    # --- all photos per class, k-fold ---------------------------------------------------------
    rows = []
    fold_models = {}
    for fold in range(args.run_folds or args.folds):
        test_idx = [i for i, f in enumerate(fold_of) if f == fold]
        train_idx, val_idx = split_train_val([i for i, f in enumerate(fold_of) if f != fold], labels, args.seed + fold)
        started = time.perf_counter()
        result, remap = train(images, labels, class_names, train_idx, val_idx, options)
        engine = engine_of(result, work / f"fold{fold}")
        evaluation, _ = scores(engine, images, labels, test_idx, remap)
        row = {"fold": fold, "train": len(train_idx), "val": len(val_idx), "test": len(test_idx),
               "top1": evaluation.top1, "macro_recall": evaluation.macro_recall, "best_epoch": result.best_epoch,
               "train_seconds": round(time.perf_counter() - started, 1),
               "per_train_photo_ms": round(1000 * result.seconds / len(train_idx), 1)}
        rows.append(row)
        fold_models[fold] = (engine, result, remap, train_idx, val_idx, test_idx)
        print(f"fold {fold}: train {row['train']} val {row['val']} test {row['test']}  top-1 {row['top1']:.3f}  "
              f"macro recall {row['macro_recall']:.3f}  best epoch {row['best_epoch']}  {row['train_seconds']} s", flush=True)
    report["kfold"] = {"rows": rows, "top1_mean": statistics.mean(r["top1"] for r in rows),
                       "macro_recall_mean": statistics.mean(r["macro_recall"] for r in rows),
                       "photos_per_class_for_training": round(statistics.mean(r["train"] + r["val"] for r in rows)
                                                               / len(class_names), 1)}
    print(f"k-fold: top-1 {report['kfold']['top1_mean']:.3f}  macro recall {report['kfold']['macro_recall_mean']:.3f} "
          f"(~{report['kfold']['photos_per_class_for_training']} photos per class for training)", flush=True)

    # --- few photos per class -----------------------------------------------------------------
    test_idx = [i for i, f in enumerate(fold_of) if f == 0]
    pool = [i for i, f in enumerate(fold_of) if f != 0]
    from inference.engines.finetune import few_shot_table

    shots = [int(x) for x in args.few_shot.split(",") if x.strip()]
    few = few_shot_table(images=[images[i] for i in pool], labels=[labels[i] for i in pool],
                         test_images=[images[i] for i in test_idx], test_labels=[labels[i] for i in test_idx],
                         class_names=class_names, shots=shots, subsets=args.subsets, options=options,
                         val_share=VAL_SHARE, progress=lambda line: print("  " + line, flush=True)) if shots else {}
    for k, row in few.items():
        print(f"{k:>3} per class: top-1 mean {row['mean']:.3f}  min {row['min']:.3f}  ({args.subsets} subsets)", flush=True)
    report["few_shot"] = few

    # --- leave one class out ------------------------------------------------------------------
    if args.loco:
        from inference.engines.finetune import leave_one_class_out
        from inference.engines.strangers import non_batik_images

        loco = leave_one_class_out(
            images=[images[i] for i in pool], labels=[labels[i] for i in pool],
            test_images=[images[i] for i in test_idx], test_labels=[labels[i] for i in test_idx],
            class_names=class_names, strangers=non_batik_images(56, 256, seed=args.seed), options=options,
            val_share=VAL_SHARE, workdir=work, progress=lambda line: print("  " + line, flush=True))
        report["loco"] = {"rows": loco, **{key: statistics.mean(r[key] for r in loco) for key in
                                           ("known_top1", "correct_accepted", "left_out_accepted", "strangers_accepted")}}
        print("leave-one-class-out mean: correct known photos accepted {correct_accepted:.3f}, left-out class "
              "accepted {left_out_accepted:.3f}, strangers accepted {strangers_accepted:.3f}".format(**report["loco"]),
              flush=True)

    # --- int8 against float -------------------------------------------------------------------
    if args.int8 and 0 in fold_models:
        from inference.engines.classifier import ClassifierEngine, export_onnx, quantize_onnx_int8

        engine, result, remap, train_idx, _val, test_idx0 = fold_models[0]
        float_path = export_onnx(engine.path, work / "fold0.onnx")
        int8_path = quantize_onnx_int8(float_path, work / "fold0.int8.onnx", [images[i] for i in train_idx[:64]])
        figures = {}
        for name, path in (("float32", float_path), ("int8", int8_path)):
            onnx_engine = ClassifierEngine.load(path, threads=1)
            evaluation, _ = scores(onnx_engine, images, labels, test_idx0, remap)
            batch = onnx_engine.preprocess([images[test_idx0[0]]])
            onnx_engine._forward(batch)
            times = []
            for _ in range(30):
                started = time.perf_counter()
                onnx_engine._forward(batch)
                times.append(time.perf_counter() - started)
            figures[name] = {"top1": evaluation.top1, "forward_ms_p50_1_thread": round(1000 * statistics.median(times), 2),
                             "bytes": path.stat().st_size}
            print(f"{name:>7}: top-1 {evaluation.top1:.3f}  forward p50 {figures[name]['forward_ms_p50_1_thread']} ms "
                  f"(1 thread)  {path.stat().st_size / 1e6:.1f} MB", flush=True)
        report["int8"] = figures

    # --- YOLO11n-cls from scratch, same fold ------------------------------------------------------
    if args.yolo:
        import shutil

        from inference.engines.classifier import ClassifierEngine
        from inference.engines.training import train_yolo_classifier

        test_idx0 = [i for i, f in enumerate(fold_of) if f == 0]
        train_idx, val_idx = split_train_val(pool, labels, args.seed)
        layout = work / "yolo-data"
        for split, idx in (("train", train_idx), ("val", val_idx), ("test", test_idx0)):
            for i in idx:
                folder = layout / split / class_names[labels[i]]
                folder.mkdir(parents=True, exist_ok=True)
                images[i].save(folder / f"{i}.jpg", quality=95)
        started = time.perf_counter()
        yolo = train_yolo_classifier(data_dir=layout, run_dir=work / "yolo-run", epochs=60, imgsz=64, batch=32,
                                     seed=args.seed)
        engine = ClassifierEngine.load(yolo.weights_path)
        evaluation, _ = scores(engine, images, labels, test_idx0, {c: c for c in range(len(class_names))})
        report["yolo11n_cls_scratch_fold0"] = {"top1": evaluation.top1, "macro_recall": evaluation.macro_recall,
                                               "train_seconds": round(time.perf_counter() - started, 1)}
        print(f"YOLO11n-cls from scratch (60 epochs, 64 px), fold 0: top-1 {evaluation.top1:.3f}  macro recall "
              f"{evaluation.macro_recall:.3f}", flush=True)
        shutil.rmtree(layout, ignore_errors=True)

    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
