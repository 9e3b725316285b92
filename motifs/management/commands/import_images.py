from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from motifs.dataset import import_images
from motifs.models import MotifImage

from ._progress import progress_bar


class Command(BaseCommand):
    help = (
        "Import a folder of class folders (<motif>/*.jpg) or the Ultralytics classification layout "
        "(train|val|test/<motif>/*) into the archive. Deduplicates by content, converts to RGB, applies "
        "EXIF orientation and drops EXIF; prints what was imported, duplicated and rejected (with why)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="folder to import")
        parser.add_argument("--create-missing", action="store_true", help="create draft motifs for unknown class folders")
        parser.add_argument("--source", choices=MotifImage.Source.values, default=MotifImage.Source.GALLERY_PHOTO)
        parser.add_argument("--credit", default="", help="credit line stored with every image")
        parser.add_argument("--licence", default="", help="licence stored with every image, e.g. CC-BY-4.0")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, path, create_missing, source, credit, licence, no_progress, **options):
        if not path.is_dir():
            raise CommandError(f"{path} is not a folder")
        report = import_images(
            path.resolve(), create_missing=create_missing, source=source, credit=credit, licence=licence,
            progress=progress_bar("import", enabled=not no_progress and options["verbosity"] > 0),
        )
        for line in report.lines():
            self.stdout.write(line)
