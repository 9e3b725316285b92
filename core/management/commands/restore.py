from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup made by the backup command: checks every file against its manifest, then replaces "
        "all rows and media in one go (nothing changes if anything fails). Refuses a site that already has "
        "content unless --force. Run migrate first; stop the web and queue processes meanwhile."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", type=Path, help="a .tar.gz written by the backup command")
        parser.add_argument("--force", action="store_true", help="replace the current rows and media")

    def handle(self, *args, archive: Path, force=False, **options):
        try:
            summary = backup_restore(archive, force=force)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        for name in summary.missing:
            self.stderr.write(f"warning: the backup had no file for {name}")
        self.stdout.write(f"restored {summary.path}: {summary.rows} rows, {summary.files} media files, "
                          f"in {summary.seconds:.1f} s")
