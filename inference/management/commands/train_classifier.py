import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from motifs.dataset import DatasetError


class Command(BaseCommand):
    help = (
        "Export the archive, train a YOLO11 classifier with Ultralytics (from yolo11n-cls.yaml, or fine-tune "
        "--weights), evaluate it on the test split (top-1/top-5, per-class precision/recall/F1, confusion "
        "matrix, training curves), calibrate 'not a known motif', and register it as a model version."
    )

    def add_arguments(self, parser):
        parser.add_argument("--epochs", type=int, default=60)
        parser.add_argument("--imgsz", type=int, default=64, help="training image size (pixels, multiple of 32)")
        parser.add_argument("--batch", type=int, default=32)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--augment", type=int, default=0, metavar="N", help="augmented copies per training image")
        parser.add_argument("--weights", type=Path, help="a YOLO11-cls .pt to fine-tune (trusted file)")
        parser.add_argument("--activate", action="store_true")

    def handle(self, *args, epochs, imgsz, batch, seed, augment, weights, activate, **options):
        if not 1 <= epochs <= 1000:
            raise CommandError("--epochs must be between 1 and 1000")
        if imgsz < 32 or imgsz > 640 or imgsz % 32:
            raise CommandError("--imgsz must be a multiple of 32 between 32 and 640")
        if not 1 <= batch <= 512:
            raise CommandError("--batch must be between 1 and 512")
        if weights and not weights.is_file():
            raise CommandError(f"--weights {weights} is not a file")
        from inference.training import train_classifier

        bar = tqdm(total=epochs, desc="train", unit="epoch", file=sys.stderr, disable=options["verbosity"] == 0)

        def progress(epoch, total, metrics):
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in metrics.items() if isinstance(v, float)}, refresh=False)

        try:
            trained = train_classifier(epochs=epochs, imgsz=imgsz, batch=batch, seed=seed, weights=weights,
                                       augment=augment, activate=activate, progress=progress)
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        version = trained.version
        metrics = version.metrics
        self.stdout.write(f"registered {version}" + (" — active" if version.is_active else ""))
        self.stdout.write(f"test split: n={metrics['n']} top1={metrics['top1']:.3f} top5={metrics['top5']:.3f} "
                          f"macro F1={metrics['macro_f1']:.3f}")
        acceptance = version.calibration.get("metrics", {})
        if acceptance:
            self.stdout.write("recognition: " + ", ".join(f"{k}={v}" for k, v in acceptance.items() if not isinstance(v, (dict, list))))
        for name in trained.unmatched_classes:
            self.stdout.write(self.style.WARNING(f"class matches no motif: {name}"))
