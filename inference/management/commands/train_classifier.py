import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from motifs.dataset import DatasetError


class Command(BaseCommand):
    help = (
        "Export the archive, train a motif classifier (--arch efficientnet-lite0: the ImageNet-trained "
        "EfficientNet-Lite0 fine-tuned, the default; or --arch yolo11n-cls: Ultralytics YOLO11, from "
        "yolo11n-cls.yaml or --weights), evaluate it on the test split (top-1/top-5, per-class "
        "precision/recall/F1, confusion matrix, training curves), calibrate 'not a known motif', and "
        "register it as a model version."
    )

    def add_arguments(self, parser):
        from inference.training import ARCH_DEFAULTS, ARCHS, DEFAULT_ARCH

        sizes = "; ".join(f"{arch}: {values['epochs']} epochs, {values['imgsz']} px, batch {values['batch']}"
                          for arch, values in ARCH_DEFAULTS.items())
        parser.add_argument("--arch", default=DEFAULT_ARCH, help=f"one of {', '.join(ARCHS)} (default {DEFAULT_ARCH})")
        parser.add_argument("--epochs", type=int, help=f"at most this many epochs (defaults: {sizes})")
        parser.add_argument("--imgsz", type=int, help="training image size (pixels, multiple of 32)")
        parser.add_argument("--batch", type=int)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--augment", type=int, default=0, metavar="N",
                            help="augmented copies per training image, written into the export (YOLO; the "
                                 "EfficientNet recipe augments every epoch by itself)")
        parser.add_argument("--weights", type=Path, help="a YOLO11-cls .pt to fine-tune (--arch yolo11n-cls; trusted file)")
        parser.add_argument("--few-shot", default="", metavar="K,K,...",
                            help="also measure top-1 with only K photos per class (three random subsets each, "
                                 "e.g. 5,10,15; each is another training run)")
        parser.add_argument("--activate", action="store_true")

    def handle(self, *args, arch, epochs, imgsz, batch, seed, augment, weights, activate, few_shot, **options):
        from inference.training import ARCHS

        try:
            shots = tuple(int(k) for k in few_shot.split(",") if k.strip())
        except ValueError:
            raise CommandError("--few-shot takes photo counts per class, e.g. 5,10,15") from None
        if any(not 2 <= k <= 1000 for k in shots):
            raise CommandError("--few-shot counts must be between 2 and 1000 photos per class")

        if arch not in ARCHS:
            raise CommandError(f"unknown --arch {arch!r}: choose one of {', '.join(ARCHS)}")
        if epochs is not None and not 1 <= epochs <= 1000:
            raise CommandError("--epochs must be between 1 and 1000")
        if imgsz is not None and (imgsz < 32 or imgsz > 640 or imgsz % 32):
            raise CommandError("--imgsz must be a multiple of 32 between 32 and 640")
        if batch is not None and not 1 <= batch <= 512:
            raise CommandError("--batch must be between 1 and 512")
        if weights and arch != "yolo11n-cls":
            raise CommandError("--weights is a YOLO11-cls .pt to fine-tune: use it with --arch yolo11n-cls")
        if weights and not weights.is_file():
            raise CommandError(f"--weights {weights} is not a file")
        from inference.training import checked_training_device, train_classifier

        checked_training_device()  # CUALIFY_DEVICE=cuda without a GPU: said now, not after the export
        bar = None

        def progress(epoch, total, metrics):
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, desc=f"train {arch}", unit="epoch", file=sys.stderr,
                           disable=options["verbosity"] == 0)
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in metrics.items() if isinstance(v, float) and k != "lr"},
                            refresh=False)

        try:
            trained = train_classifier(arch=arch, epochs=epochs, imgsz=imgsz, batch=batch, seed=seed, weights=weights,
                                       augment=augment, activate=activate, progress=progress, few_shot=shots)
        except (DatasetError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if bar is not None:
                bar.close()
        version = trained.version
        metrics = version.metrics
        self.stdout.write(f"registered {version}" + (" — active" if version.is_active else ""))
        self.stdout.write(f"trained {metrics['epochs']} epochs on {metrics.get('device', 'cpu')} in {metrics['train_seconds']:.0f} s "
                          f"({metrics['train_seconds'] / 60:.1f} min)")
        self.stdout.write(f"test split: n={metrics['n']} top1={metrics['top1']:.3f} top5={metrics['top5']:.3f} "
                          f"macro recall={metrics['macro_recall']:.3f} macro F1={metrics['macro_f1']:.3f}")
        for k, row in (metrics.get("few_shot") or {}).items():
            self.stdout.write(f"few-shot: {k:>3} photos per class: top-1 mean {row['mean']:.3f}, min {row['min']:.3f} "
                              f"({len(row['runs'])} subsets)")
        acceptance = version.calibration.get("metrics", {})
        if acceptance:
            self.stdout.write("recognition: " + ", ".join(f"{k}={v}" for k, v in acceptance.items() if not isinstance(v, (dict, list))))
        for name in trained.unmatched_classes:
            self.stdout.write(self.style.WARNING(f"class matches no motif: {name}"))
