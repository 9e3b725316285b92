from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from motifs.dataset import DatasetError, export_dataset

from ._progress import progress_bar


class Command(BaseCommand):
    help = (
        "Export the archive's consented images as an Ultralytics classification dataset "
        "(train/val/test with the study's 90/7/3 split; stored splits win, new ones are saved) "
        "or, with --flat, as plain class folders for generator training."
    )

    def add_arguments(self, parser):
        parser.add_argument("out", type=Path, help="folder to write (must not exist or be empty)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the split assignment and augmentation")
        parser.add_argument("--flat", action="store_true", help="plain class folders: no splits, no augmentation")
        parser.add_argument("--augment", type=int, default=0, metavar="N",
                            help="N augmented copies (rotation, flip, contrast) of each training image")
        parser.add_argument("--size", type=int, default=None, help="centre-crop and resize to SIZE×SIZE")
        parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, out, seed, flat, augment, size, overwrite, no_progress, **options):
        if augment < 0 or augment > 20:
            raise CommandError("--augment must be between 0 and 20")
        if augment and flat:
            raise CommandError("--flat exports have no augmentation")
        if size is not None and not 16 <= size <= 4096:
            raise CommandError("--size must be between 16 and 4096")
        try:
            report = export_dataset(
                out, seed=seed, flat=flat, augment_copies=augment, size=size, overwrite=overwrite,
                progress=progress_bar("export", enabled=not no_progress and options["verbosity"] > 0),
            )
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        for line in report.lines():
            self.stdout.write(line)
