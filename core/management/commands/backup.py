from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.backup import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Back up the whole site into OUT.tar.gz: every row as Django JSON with natural keys (restores into "
        "SQLite and MariaDB alike), every media file, and a manifest with row counts and sha256s. Read in one "
        "transaction; written under a temporary name and renamed when complete."
    )

    def add_arguments(self, parser):
        parser.add_argument("out", type=Path, help="the archive to write, e.g. cualify-2026-01-31.tar.gz")

    def handle(self, *args, out: Path, **options):
        try:
            summary = backup_create(out)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        for name in summary.missing:
            self.stderr.write(f"warning: a row points at {name}, which is not in the media folder")
        self.stdout.write(f"wrote {summary.path} ({summary.bytes / 1e6:.1f} MB): {summary.rows} rows, "
                          f"{summary.files} media files, in {summary.seconds:.1f} s")
