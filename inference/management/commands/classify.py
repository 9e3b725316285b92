import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.imaging import ImageRejected
from core.intake import rejection_message
from inference.classification import services

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def image_paths(paths: list[Path]) -> list[Path]:
    found = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise CommandError(f"{path} is neither a file nor a folder")
    return found


class Command(BaseCommand):
    help = (
        "Classify image files or folders with the same service code as the site and print one JSON line "
        "per image, the REST API's answer: label, motif slug and confidence 0–1 (null when not recognised), reason, top-5 guesses and timings in seconds. In-process "
        "by default; --cluster goes through the running queue workers."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--cluster", action="store_true", help="send each image through the running cluster")
        parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for each answer with --cluster")

    def handle(self, *args, paths, cluster, wait, **options):
        from django_q.conf import Conf

        was_sync = Conf.SYNC
        Conf.SYNC = was_sync or not cluster  # in-process: the worker code runs right here
        try:
            self.classify_all(paths, wait)
        finally:
            Conf.SYNC = was_sync

    def classify_all(self, paths, wait):
        for path in image_paths(paths):
            started = time.perf_counter()
            try:
                record = services.classification_submit(data=path.read_bytes(), wait_seconds=wait)
            except ImageRejected as exc:
                self.stdout.write(json.dumps({"file": str(path), "error": exc.code, "message": rejection_message(exc),
                                              "detail": exc.detail}, ensure_ascii=False))
                continue
            except services.ClassificationUnavailable as exc:
                raise CommandError(f"classification is unavailable: {exc}") from exc
            # The same answer as the REST API and the compat service give (one summary for every
            # door): label and confidence are null when the photo is not recognised, reason says why.
            summary = {key: value for key, value in services.classification_summary(record).items() if key != "id"}
            self.stdout.write(json.dumps({"file": str(path), **summary, "total_s": round(time.perf_counter() - started, 4)},
                                         ensure_ascii=False, default=str))
            record.delete()  # a command's photos are not visitor records
