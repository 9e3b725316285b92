from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inference.privacy.services import anonymous_records_purge


class Command(BaseCommand):
    help = (
        "Delete anonymous visitors' classifications and generation jobs older than the retention "
        "period, with their photos, heat maps, references and results (the same purge the queue runs "
        "hourly). Registered users' records are kept until they delete them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help="age in days (default: CUALIFY_ANONYMOUS_RETENTION_DAYS)")
        parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")

    def handle(self, *args, days=None, dry_run=False, **options):
        if days is None:
            days = settings.CUALIFY_ANONYMOUS_RETENTION_DAYS
            if days <= 0:
                raise CommandError("CUALIFY_ANONYMOUS_RETENTION_DAYS is 0 (keep for ever): pass --days to purge anyway")
        if days < 0:
            raise CommandError("--days must be 0 or more")
        deleted = anonymous_records_purge(days=days, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        files = "" if dry_run else f" and {deleted.files} files"
        self.stdout.write(f"{verb} {deleted.classifications} classifications and {deleted.generations} "
                          f"generation jobs of anonymous visitors older than {days} days{files}")
