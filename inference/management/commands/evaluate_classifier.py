import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inference.models import ModelKind, ModelVersion


class Command(BaseCommand):
    help = (
        "Evaluate the active (or --version) classifier on the archive's test split or on any folder of "
        "class folders (folder names matched to motif slugs, aliases and names)."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Our --version picks a model version; it replaces Django's own "--version".
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--version", type=int, help="model version id (default: the active classifier)")
        parser.add_argument("--folder", type=Path, help="class-folder tree (default: the archive's test split)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, version, folder, **options):
        as_json = options["json"]
        from inference.training import evaluate_version, export_test_split
        from motifs.dataset import DatasetError

        versions = ModelVersion.objects.filter(kind=ModelKind.CLASSIFIER)
        chosen = versions.filter(pk=version).first() if version else versions.filter(is_active=True).first()
        if chosen is None:
            raise CommandError(f"no classifier version {version}" if version else "no active classifier")
        if folder is not None and not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        try:
            folder = folder or export_test_split()
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        _engine, result = evaluate_version(chosen, folder)
        data = {"version": chosen.pk, "folder": str(folder), **result.to_json()}
        if as_json:
            self.stdout.write(json.dumps(data, ensure_ascii=False))
            return
        self.stdout.write(f"{chosen} on {folder}: n={result.n} top1={result.top1:.3f} top5={result.top5:.3f} "
                          f"macro P/R/F1={result.macro_precision:.3f}/{result.macro_recall:.3f}/{result.macro_f1:.3f}")
        for name, row in result.per_class.items():
            self.stdout.write(f"  {name:28s} P={row['precision']:.2f} R={row['recall']:.2f} F1={row['f1']:.2f} n={row['support']}")
