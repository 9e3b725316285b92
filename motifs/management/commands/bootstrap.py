from django.apps import apps
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from accounts.roles import ensure_curator_group
from motifs.catalogue import seed_catalogue


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
        added = seed_catalogue(apps.get_model)
        self.stdout.write("catalogue: " + ", ".join(f"{k} +{v}" for k, v in added.items()))
        ensure_curator_group()
        if not no_demo:
            call_command("make_demo_dataset", count=demo_count, no_progress=no_progress, verbosity=verbosity, stdout=self.stdout)
        from inference.registry import RegistryError, shipped_models_register

        try:
            lines = shipped_models_register()
        except RegistryError as exc:
            raise CommandError(str(exc)) from exc
        for line in lines or ["shipped models: none listed in weights/manifest.json"]:
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS("bootstrap done"))
