import json
import shutil
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inference.models import ModelKind, ModelVersion


class Command(BaseCommand):
    help = (
        "Evaluate the active (or --version) classifier on the archive's test split or on any folder of "
        "class folders (folder names matched to motif slugs, aliases and names), with the share of correct "
        "photos its \"not a known motif\" rule accepts; with --open-set and/or --synthetic-strangers, also "
        "the share of photos of no known motif it wrongly accepts (the false acceptance)."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Our --version picks a model version; it replaces Django's own "--version".
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--version", type=int, help="model version id (default: the active classifier)")
        parser.add_argument("--folder", type=Path, help="class-folder tree (default: the archive's test split)")
        parser.add_argument("--open-set", type=Path, metavar="FOLDER",
                            help="photos that show no known motif (directly in FOLDER or in its subfolders, "
                                 "all strangers): reports how many the version accepts as a known motif")
        parser.add_argument("--synthetic-strangers", type=int, default=0, metavar="N",
                            help="also N drawn non-batik photos (gradients, textures, noise, screenshots, "
                                 "scenes; default 0: none)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the drawn strangers (default 0)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, version, folder, open_set, synthetic_strangers, seed, **options):
        from inference.evaluation import EvaluationError, MAX_SYNTHETIC_STRANGERS, evaluate_classifier
        from inference.training import export_test_split
        from motifs.dataset import DatasetError

        versions = ModelVersion.objects.filter(kind=ModelKind.CLASSIFIER)
        chosen = versions.filter(pk=version).first() if version else versions.filter(is_active=True).first()
        if chosen is None:
            raise CommandError(f"no classifier version {version}" if version else "no active classifier")
        for name, given in (("--folder", folder), ("--open-set", open_set)):
            if given is not None and not given.is_dir():
                raise CommandError(f"{name}: {given} is not a folder")
        if not 0 <= synthetic_strangers <= MAX_SYNTHETIC_STRANGERS:
            raise CommandError(f"--synthetic-strangers must be 0..{MAX_SYNTHETIC_STRANGERS}")
        strangers = open_set is not None or synthetic_strangers > 0
        exported = None
        note = None
        if folder is None:
            try:
                folder = exported = export_test_split()
            except DatasetError as exc:
                if not strangers:
                    raise CommandError(str(exc)) from exc
                # Strangers alone still say something: the false acceptance.
                note = f"no photos of known motifs evaluated ({exc}); give --folder for them"
        try:
            result = evaluate_classifier(chosen, folder=folder, strangers_folder=open_set,
                                         synthetic_strangers=synthetic_strangers, seed=seed)
        except EvaluationError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if exported is not None:
                shutil.rmtree(exported.parent.parent, ignore_errors=True)  # export_test_split's temp folder
        data = result.to_json()
        if note:
            data["note"] = note
        if options["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False))
            return
        self._write_text(chosen, result, note)

    def _write_text(self, version, result, note):
        known, open_set = result.known, result.open_set
        if note:
            self.stdout.write(self.style.WARNING(note))
        if known is not None:
            self.stdout.write(f"{version} on {result.folder}: n={known.n} top1={known.top1:.3f} top5={known.top5:.3f} "
                              f"macro P/R/F1={known.macro_precision:.3f}/{known.macro_recall:.3f}/{known.macro_f1:.3f}")
            for name, row in known.per_class.items():
                self.stdout.write(f"  {name:28s} P={row['precision']:.2f} R={row['recall']:.2f} F1={row['f1']:.2f} "
                                  f"n={row['support']}")
            for name, count in known.skipped.items():
                self.stdout.write(self.style.WARNING(f"  skipped {count} images in {name}/ (no class of this version)"))
        if not open_set["calibrated"]:
            self.stdout.write(self.style.WARNING(open_set["note"]))
        else:
            self.stdout.write(f'"not a known motif": recognised when confidence >= {open_set["min_confidence"]:.3f} '
                              f'and archive distance <= {open_set["max_distance"]:.3f}')
        if (accepted := open_set["known"]) is not None and accepted["n"]:
            self.stdout.write(
                f"  correct photos accepted: {_figure(accepted['correct_acceptance'])} "
                f"({accepted['n_correct_accepted']}/{accepted['n_correct']}); all photos accepted "
                f"{_figure(accepted['acceptance'])}; accepted answers right {_figure(accepted['accepted_accuracy'])}; "
                f"wrong answers rejected {_figure(accepted['wrong_rejected'])}")
        for part in open_set["strangers"].values():
            self.stdout.write(f"  strangers accepted as a known motif (false acceptance): {_figure(part['false_acceptance'])} "
                              f"({part['n_accepted']}/{part['n']}) on {part['source']}")
            for group, row in part["by_group"].items():
                self.stdout.write(f"    {group:28s} {_figure(row['false_acceptance'])} ({row['n_accepted']}/{row['n']})")
            if part.get("unreadable"):
                self.stdout.write(self.style.WARNING(f"    {part['unreadable']} files could not be read"))
        if "false_acceptance" in open_set and len(open_set["strangers"]) > 1:
            self.stdout.write(f"  false acceptance over all strangers: {_figure(open_set['false_acceptance'])}")


def _figure(value) -> str:
    return "—" if value is None else f"{value:.3f}"
