"""Command line over the engines, for reproducing the shipped weights without Django.

    python -m inference.engines train --data DIR --out weights/x.pt --epochs 100 --imgsz 128 --seed 0
    python -m inference.engines evaluate --weights W --folder DIR [--json] [--confusion PNG]
    python -m inference.engines export-onnx --weights W.pt --out W.onnx
    python -m inference.engines calibrate --weights W --data DIR [--out calibration.json]
    python -m inference.engines predict --weights W IMAGE... (one JSON line per image)
    python -m inference.engines refiner-train --data DIR --outdir RUN [--out weights/refiner] [--resume]
    python -m inference.engines refiner-eval --refiner DIR --generator G --classifier C --real DIR [--json]
    python -m inference.engines upscaler-train --data DIR --outdir RUN [--scale 8] [--out weights/refiner-sr-x8] [--resume]
    python -m inference.engines upscaler-eval --refiner DIR --generator G --classifier C --real DIR [--json]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def _train(args: argparse.Namespace) -> int:
    from .training import train_yolo_classifier

    def progress(epoch: int, epochs: int, metrics: dict) -> None:
        top1 = metrics.get("metrics/accuracy_top1", float("nan"))
        loss = metrics.get("train/loss", float("nan"))
        print(f"epoch {epoch}/{epochs}  train loss {loss:.4f}  val top-1 {top1:.4f}", file=sys.stderr, flush=True)

    result = train_yolo_classifier(
        data_dir=args.data,
        run_dir=args.run_dir,
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        seed=args.seed,
        weights=args.weights,
        workers=args.workers,
        patience=args.patience,
        progress=progress,
    )
    summary = {
        "weights": str(result.weights_path),
        "run_dir": str(result.run_dir),
        "epochs_run": result.epochs_run,
        "seconds": round(result.seconds, 1),
        "curves_png": str(result.curves_png),
    }
    if args.out:
        out = Path(args.out).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.weights_path, out)
        summary["out"] = str(out)
    print(json.dumps(summary))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .classifier import ClassifierEngine
    from .training import confusion_matrix_png, evaluate_folder

    engine = ClassifierEngine.load(args.weights)
    result = evaluate_folder(engine, Path(args.folder))
    if args.confusion:
        confusion_matrix_png(result, args.confusion)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(f"n={result.n}  top-1 {result.top1:.4f}  top-5 {result.top5:.4f}  macro F1 {result.macro_f1:.4f}")
        print(f"macro precision {result.macro_precision:.4f}  macro recall {result.macro_recall:.4f}")
        for name, values in result.per_class.items():
            print(
                f"  {name:<24} P {values['precision']:.3f}  R {values['recall']:.3f}  "
                f"F1 {values['f1']:.3f}  n {values['support']}"
            )
        for folder, count in result.skipped.items():
            print(f"  skipped {count} image(s) in {folder}/: no class of that name", file=sys.stderr)
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    from .classifier import export_onnx

    out = args.out or str(Path(args.weights).with_suffix(".onnx"))
    print(export_onnx(args.weights, out))
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from .classifier import ClassifierEngine
    from .ood import calibrate_from_folders

    engine = ClassifierEngine.load(args.weights)
    calibration = calibrate_from_folders(
        engine,
        Path(args.data),
        heldout_split=args.heldout,
        ood_count=args.ood_count,
        ood_size=args.ood_size,
        seed=args.seed,
        target_acceptance=args.target_acceptance,
        prototypes_per_class=args.prototypes_per_class or None,
    )
    if args.out:
        Path(args.out).write_text(json.dumps(calibration.to_json()), encoding="utf-8")
    print(json.dumps(calibration.metrics, indent=2))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from PIL import Image

    from .classifier import ClassifierEngine

    engine = ClassifierEngine.load(args.weights)
    for path in args.images:
        with Image.open(path) as image:
            prediction = engine.predict([image.convert("RGB")])[0]
        top = [{"label": engine.class_names[index], "confidence": round(p, 6)} for index, p in prediction.top]
        print(
            json.dumps(
                {
                    "path": str(path),
                    "label": top[0]["label"],
                    "confidence": top[0]["confidence"],
                    "top5": top,
                    "preprocess_s": round(prediction.preprocess_s, 6),
                    "inference_s": round(prediction.inference_s, 6),
                }
            )
        )
    return 0


def _parse_ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _parse_floats(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(",") if part.strip())


def _refiner_train(args: argparse.Namespace) -> int:
    from .refiner import RefinerError, RefinerTrainingOptions, copy_refiner_folder, folder_sha256, train_refiner

    options = RefinerTrainingOptions(
        data=Path(args.data),
        outdir=Path(args.outdir),
        resolution=args.resolution,
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        resume=args.resume,
        snapshot_every=args.snap,
        num_threads=args.threads,
        channels=_parse_ints(args.channels),
        ema_decay=args.ema,
        show_progress=not args.no_progress,
    )
    try:
        result = train_refiner(options)
    except RefinerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    model_dir = result.model_dir
    if args.out:
        model_dir = copy_refiner_folder(result.model_dir, Path(args.out).resolve())
    print(
        json.dumps(
            {
                "model_dir": str(model_dir),
                "sha256": folder_sha256(model_dir),
                "steps": result.steps,
                "resumed_from": result.resumed_from,
                "seconds": round(result.seconds, 1),
                "final_loss": result.final_loss,
                "data_count": result.data_count,
                "samples_png": str(result.samples_png),
                "snapshot": str(result.snapshot),
            }
        )
    )
    return 0


def _refiner_eval(args: argparse.Namespace) -> int:
    from .refiner import Refiner, RefinerError, evaluate_refiner

    try:
        report = evaluate_refiner(
            refiner=Refiner.load(args.refiner),
            generator_path=args.generator,
            classifier_path=args.classifier,
            real_folder=args.real,
            seeds_per_class=args.seeds_per_class,
            strengths=_parse_floats(args.strengths),
            steps=args.steps,
            truncation_psi=args.trunc,
            seed=args.seed,
            grid_path=args.grid,
            progress=lambda message: print(message, file=sys.stderr, flush=True),
        )
    except RefinerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
    if args.json:
        print(json.dumps(report.to_json()))
        return 0
    print(f"real images: {report.real_n}")
    for variant in (report.gan, *report.refined):
        change = "" if variant.pixel_change is None else f"  mean |change| {variant.pixel_change:.2f}"
        print(
            f"  {variant.name:<14} n {variant.n}  Frechet {variant.frechet:.4f}  KID {variant.kernel:.4f}  "
            f"class agreement {variant.class_agreement:.3f}{change}"
        )
    print(f"default on: {report.default_on} (best strength {report.best_strength}); rule: {report.rule}")
    return 0


def _upscaler_train(args: argparse.Namespace) -> int:
    from .refiner import RefinerError, copy_refiner_folder, folder_sha256
    from .refiner.upscaler_training import UpscalerTrainingOptions, train_upscaler

    try:
        options = UpscalerTrainingOptions(
            data=Path(args.data), outdir=Path(args.outdir), scale=args.scale, resolution=args.resolution,
            steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed, resume=args.resume,
            snapshot_every=args.snap, num_threads=args.threads, show_progress=not args.no_progress,
            crop=args.crop, channels=tuple(int(c) for c in args.channels.split(",")),
        )
        result = train_upscaler(options)
    except RefinerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    model_dir = copy_refiner_folder(result.model_dir, Path(args.out).resolve()) if args.out else result.model_dir
    print(f"{model_dir}  steps={result.steps}  seconds={result.seconds:.0f}  loss={result.final_loss:.4f}  "
          f"sha256={folder_sha256(model_dir)}")
    return 0


def _upscaler_eval(args: argparse.Namespace) -> int:
    from .refiner import RefinerError, Upscaler, load_refiner
    from .refiner.upscaler_quality import evaluate_upscaler

    try:
        upscaler = load_refiner(args.refiner)
        if not isinstance(upscaler, Upscaler):
            raise RefinerError("bad_model", f"{args.refiner} is not a super-resolution refiner")
        quality = evaluate_upscaler(
            upscaler=upscaler, generator_path=args.generator, classifier_path=args.classifier, real_folder=args.real,
            seeds_per_class=args.seeds_per_class, strength=args.strength, truncation_psi=args.trunc, seed=args.seed,
            grid_path=args.grid, progress=lambda message: print(message, file=sys.stderr, flush=True),
        )
    except RefinerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    metrics = quality.to_metrics()
    if args.out:
        Path(args.out).write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    print(json.dumps(metrics) if args.json else "\n".join(f"  {key}: {value}" for key, value in metrics.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inference.engines", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train YOLO11-cls (from yolo11n-cls.yaml unless --weights)")
    train.add_argument("--data", required=True, help="Ultralytics classification folder: train/ val/ test/")
    train.add_argument("--run-dir", default="runs/classify/train", help="run folder (plots, results.csv)")
    train.add_argument("--out", help="copy best.pt here")
    train.add_argument("--epochs", type=int, default=100)
    train.add_argument("--imgsz", type=int, default=128)
    train.add_argument("--batch", type=int, default=32)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--weights", help="a .pt on disk to fine-tune from")
    train.add_argument("--workers", type=int, default=0)
    train.add_argument("--patience", type=int, default=100)
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("evaluate", help="top-1/top-5/per-class metrics on a class-folder tree")
    evaluate.add_argument("--weights", required=True, help=".pt or .onnx")
    evaluate.add_argument("--folder", required=True)
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--confusion", help="write the confusion matrix PNG here")
    evaluate.set_defaults(handler=_evaluate)

    export = commands.add_parser("export-onnx", help="export a .pt to ONNX (probabilities + embeddings)")
    export.add_argument("--weights", required=True)
    export.add_argument("--out")
    export.set_defaults(handler=_export_onnx)

    calibrate = commands.add_parser("calibrate", help='fit the "not a known motif" thresholds')
    calibrate.add_argument("--weights", required=True, help=".pt or .onnx")
    calibrate.add_argument("--data", required=True, help="classification folder with train/ and the held-out split")
    calibrate.add_argument("--heldout", default="val")
    calibrate.add_argument("--ood-count", type=int, default=120)
    calibrate.add_argument("--ood-size", type=int, default=256)
    calibrate.add_argument("--seed", type=int, default=0)
    calibrate.add_argument("--target-acceptance", type=float, default=0.95)
    calibrate.add_argument("--prototypes-per-class", type=int, default=4, help="0 keeps every training embedding")
    calibrate.add_argument("--out", help="write the calibration JSON here")
    calibrate.set_defaults(handler=_calibrate)

    predict = commands.add_parser("predict", help="classify images, one JSON line each")
    predict.add_argument("--weights", required=True, help=".pt or .onnx")
    predict.add_argument("images", nargs="+")
    predict.set_defaults(handler=_predict)

    refiner_train = commands.add_parser("refiner-train", help="train the diffusion refiner's UNet (resumable)")
    refiner_train.add_argument("--data", required=True, help="images, flat or in class folders (recursive)")
    refiner_train.add_argument("--outdir", required=True, help="run folder: snapshots/, samples/, model/")
    refiner_train.add_argument("--out", help="copy the final model folder here (unet/, scheduler/, refiner.json)")
    refiner_train.add_argument("--resolution", type=int, default=64)
    refiner_train.add_argument("--steps", type=int, default=3000, help="total optimizer steps, resumed ones included")
    refiner_train.add_argument("--batch", type=int, default=16)
    refiner_train.add_argument("--lr", type=float, default=5e-4)
    refiner_train.add_argument("--seed", type=int, default=0)
    refiner_train.add_argument("--resume", action="store_true", help="continue from the newest snapshot in --outdir")
    refiner_train.add_argument("--snap", type=int, default=250, help="steps between snapshots and sample grids")
    refiner_train.add_argument("--threads", type=int, help="torch threads")
    refiner_train.add_argument("--channels", default="16,32,64,96", help="UNet channels per level")
    refiner_train.add_argument("--ema", type=float, default=0.999, help="EMA decay, 0 to disable")
    refiner_train.add_argument("--no-progress", action="store_true")
    refiner_train.set_defaults(handler=_refiner_train)

    refiner_eval = commands.add_parser(
        "refiner-eval", help="does refinement bring the GAN's images closer to the archive?"
    )
    refiner_eval.add_argument("--refiner", required=True, help="refiner folder")
    refiner_eval.add_argument("--generator", required=True, help="conditional generator checkpoint")
    refiner_eval.add_argument("--classifier", required=True, help=".pt or .onnx classifier (features and classes)")
    refiner_eval.add_argument("--real", required=True, help="archive images, flat or in class folders")
    refiner_eval.add_argument("--seeds-per-class", type=int, default=20)
    refiner_eval.add_argument("--strengths", default="0.1,0.2,0.3,0.5")
    refiner_eval.add_argument("--steps", type=int, default=10)
    refiner_eval.add_argument("--trunc", type=float, default=0.7)
    refiner_eval.add_argument("--seed", type=int, default=0)
    refiner_eval.add_argument("--grid", help="write a comparison grid PNG (GAN row, then one row per strength)")
    refiner_eval.add_argument("--out", help="write the report JSON here")
    refiner_eval.add_argument("--json", action="store_true")

    upscaler_train = commands.add_parser("upscaler-train", help="train the super-resolution refiner (resumable)")
    upscaler_train.add_argument("--data", required=True, help="full-size images, flat or in class folders")
    upscaler_train.add_argument("--outdir", required=True, help="run folder: snapshots/, samples/, model/")
    upscaler_train.add_argument("--out", help="copy the final model folder here")
    upscaler_train.add_argument("--scale", type=int, default=8, choices=[2, 4, 8])
    upscaler_train.add_argument("--resolution", type=int, default=512, help="full size the images are resized to")
    upscaler_train.add_argument("--steps", type=int, default=2000)
    upscaler_train.add_argument("--batch", type=int, default=8)
    upscaler_train.add_argument("--lr", type=float, default=2e-4)
    upscaler_train.add_argument("--seed", type=int, default=0)
    upscaler_train.add_argument("--resume", action="store_true")
    upscaler_train.add_argument("--snap", type=int, default=250)
    upscaler_train.add_argument("--threads", type=int)
    upscaler_train.add_argument("--crop", type=int, help="training crop side at full size (default 32 x scale)")
    upscaler_train.add_argument("--channels", default="64,128,192", help="UNet channels per level")
    upscaler_train.add_argument("--no-progress", action="store_true")
    upscaler_train.set_defaults(handler=_upscaler_train)

    upscaler_eval = commands.add_parser("upscaler-eval", help="does the super-resolution refiner beat Lanczos?")
    upscaler_eval.add_argument("--refiner", required=True)
    upscaler_eval.add_argument("--generator", required=True)
    upscaler_eval.add_argument("--classifier", required=True)
    upscaler_eval.add_argument("--real", required=True, help="the archive at full size (the held-out split is taken from it)")
    upscaler_eval.add_argument("--seeds-per-class", type=int, default=16)
    upscaler_eval.add_argument("--strength", type=float, default=1.0)
    upscaler_eval.add_argument("--trunc", type=float, default=1.0)
    upscaler_eval.add_argument("--seed", type=int, default=0)
    upscaler_eval.add_argument("--grid", help="write a Lanczos-over-refined grid PNG")
    upscaler_eval.add_argument("--out", help="write the metrics JSON here")
    upscaler_eval.add_argument("--json", action="store_true")
    upscaler_eval.set_defaults(handler=_upscaler_eval)
    refiner_eval.set_defaults(handler=_refiner_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
