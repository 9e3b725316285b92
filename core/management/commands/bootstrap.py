from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from core.signals import BootstrapError, bootstrap


class Command(BaseCommand):
    help = (
        "Make this installation ready; safe to run again: migrations, the seed catalogue, the Curator "
        "group, the synthetic demo images, and registration of the shipped models in weights/manifest.json."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-demo", action="store_true", help="skip the synthetic demo images")
        parser.add_argument("--demo-count", type=int, default=16, help="demo images per motif (default 16)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, no_demo, demo_count, no_progress, **options):
        verbosity = options["verbosity"]
        call_command("migrate", interactive=False, verbosity=max(0, verbosity - 1))
        step_options = {"demo": not no_demo, "demo_count": demo_count, "no_progress": no_progress, "verbosity": verbosity}
        try:
            bootstrap.send(sender=self.__class__, options=step_options, stdout=self.stdout)
        except BootstrapError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS("bootstrap done"))
