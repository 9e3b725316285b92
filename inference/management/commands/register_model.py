import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inference.models import ModelKind
from inference.registry import RegistryError, model_version_register


class Command(BaseCommand):
    help = (
        "Register a model file: verify it loads and is of the given kind, store it by content hash, "
        "map its class names to motif slugs (slugs, aliases, names, or --class-map), and report any "
        "class that matches no motif. Model files can carry code: register only files you trust."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--kind", required=True, choices=ModelKind.values)
        parser.add_argument("--name", default="", help="a label (default: the file name)")
        parser.add_argument("--class-map", type=Path, help='JSON file {"class name": "motif-slug" or null}')
        parser.add_argument("--activate", action="store_true", help="make it the active version of its kind")
        parser.add_argument("--class-names", default="", help="an NVlabs generator pickle's classes, in label order "
                            "(comma-separated motif slugs; the pickle does not carry them)")

    def handle(self, *args, path, kind, name, class_map, activate, class_names, **options):
        explicit = None
        if class_map:
            try:
                explicit = json.loads(class_map.read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"--class-map: {exc}") from exc
            if not isinstance(explicit, dict) or not all(isinstance(v, (str, type(None))) for v in explicit.values()):
                raise CommandError('--class-map must be a JSON object of "class name": "motif-slug" or null')
        try:
            registration = model_version_register(
                path=path, kind=kind, name=name, explicit_class_map=explicit, activate=activate,
                pickle_class_names=tuple(filter(None, (c.strip() for c in class_names.split(",")))) or None,
            )
        except RegistryError as exc:
            raise CommandError(str(exc)) from exc
        version = registration.version
        verb = "registered" if registration.created else "already registered"
        self.stdout.write(f"{verb}: {version} ({version.file_format}, {len(version.class_names)} classes)"
                          + (" — active" if version.is_active else ""))
        for name_ in registration.unmatched_classes:
            self.stdout.write(self.style.WARNING(f"class matches no motif: {name_}"))
