import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inference.models import ModelKind
from inference.registry import RegistryError, model_version_register


class Command(BaseCommand):
    help = (
        "Register a model file: verify it loads and is of the given kind, store it by content hash, "
        "map its class names to motif slugs (slugs, aliases, names, or --class-map), and report any "
        "class that matches no motif. A classifier gets its \"not a known motif\" calibration from --calibrate-on "
        "(class folders of photos) or else from the archive's train and val splits; without either the rule is off "
        "for it. Model files can carry code: register only files you trust."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--kind", required=True, choices=ModelKind.values)
        parser.add_argument("--name", default="", help="a label (default: the file name)")
        parser.add_argument("--class-map", type=Path, help='JSON file {"class name": "motif-slug" or null}')
        parser.add_argument("--activate", action="store_true", help="make it the active version of its kind")
        parser.add_argument("--class-names", default="", help="an NVlabs generator pickle's classes, in label order "
                            "(comma-separated motif slugs; the pickle does not carry them)")
        parser.add_argument("--calibrate-on", type=Path, metavar="DIR",
                            help='a classifier\'s "not a known motif" thresholds, fitted on DIR/<class>/ photo folders '
                                 "(class names, motif slugs, aliases or names; every class, at least 2 photos each: "
                                 "half for the prototypes, half for the thresholds). Default: the archive's train and "
                                 "val splits when it has images of every class")
        parser.add_argument("--seed", type=int, default=0, help="seed of the calibration's split and strangers (default 0)")

    def handle(self, *args, path, kind, name, class_map, activate, class_names, calibrate_on, seed, **options):
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
                calibrate_on=calibrate_on, calibrate_from_archive=kind == ModelKind.CLASSIFIER, calibration_seed=seed,
            )
        except RegistryError as exc:
            raise CommandError(str(exc)) from exc
        version = registration.version
        verb = "registered" if registration.created else "already registered"
        self.stdout.write(f"{verb}: {version} ({version.file_format}, {len(version.class_names)} classes)"
                          + (" — active" if version.is_active else ""))
        for name_ in registration.unmatched_classes:
            self.stdout.write(self.style.WARNING(f"class matches no motif: {name_}"))
        if registration.calibration_note:
            calibrated = bool(version.calibration)
            self.stdout.write(registration.calibration_note if calibrated else self.style.WARNING(registration.calibration_note))
