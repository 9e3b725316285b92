from django.core.management.base import BaseCommand, CommandError

from motifs.dataset import DatasetError, make_demo_images

from ._progress import progress_bar


class Command(BaseCommand):
    help = (
        "Render synthetic demo images (procedural Cual-like patterns, deterministic from the seed) "
        "for every seeded motif and store them with source 'synthetic demo'."
    )

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=16, help="images per motif (default 16)")
        parser.add_argument("--size", type=int, default=512, help="width and height in pixels (default 512)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--motif", action="append", dest="slugs", metavar="SLUG", help="only this motif (repeatable)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, count, size, seed, slugs, no_progress, **options):
        if not 1 <= count <= 1000:
            raise CommandError("--count must be between 1 and 1000")
        if not 32 <= size <= 2048:
            raise CommandError("--size must be between 32 and 2048")
        try:
            report = make_demo_images(
                count=count, size=size, seed=seed, slugs=slugs,
                progress=progress_bar("demo images", enabled=not no_progress and options["verbosity"] > 0),
            )
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"demo images created: {report.created}, already there: {report.skipped}")
