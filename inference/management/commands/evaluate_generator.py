import json
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from inference.evaluation import (
    DEFAULT_PER_CLASS,
    DEFAULT_TRUNCATION,
    MAX_PER_CLASS,
    MIN_PER_CLASS,
    EvaluationError,
    evaluate_generator,
)
from inference.models import ModelKind, ModelVersion


class Command(BaseCommand):
    help = (
        "Measure the active (or --version) generator against the archive: Fréchet distance and KID in the active "
        "classifier's embedding and in the neutral ImageNet EfficientNet-Lite0 space (beside the archive against "
        "itself), classifier agreement, diversity beside the archive's and near-duplicate pairs, per motif too. "
        "The result is stored in the version's metrics and shown in the admin."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Our --version picks a model version; it replaces Django's own "--version".
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--version", type=int, help="generator version id (default: the active generator)")
        parser.add_argument("--per-class", type=int, default=DEFAULT_PER_CLASS,
                            help=f"samples per motif class, {MIN_PER_CLASS}..{MAX_PER_CLASS} (default {DEFAULT_PER_CLASS})")
        parser.add_argument("--seed", type=int, default=0, help="class i uses seeds seed + 1000·i + j (default 0)")
        parser.add_argument("--truncation", type=float, default=DEFAULT_TRUNCATION,
                            help=f"psi 0.1..1.0 (default {DEFAULT_TRUNCATION}: no truncation)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, version, per_class, seed, truncation, **options):
        if not MIN_PER_CLASS <= per_class <= MAX_PER_CLASS:
            raise CommandError(f"--per-class must be between {MIN_PER_CLASS} and {MAX_PER_CLASS}")
        if seed < 0:
            raise CommandError("--seed must be 0 or more")
        chosen = None
        if version is not None:
            chosen = ModelVersion.objects.filter(pk=version, kind=ModelKind.GENERATOR).first()
            if chosen is None:
                raise CommandError(f"no generator version {version}")
        bar: tqdm | None = None
        bar_stage = None

        def progress(stage, done, total):
            nonlocal bar, bar_stage
            if stage != bar_stage:  # one bar per stage, one stage at a time
                if bar is not None:
                    bar.close()
                bar, bar_stage = tqdm(total=total, desc=stage, unit="img", file=sys.stderr,
                                      disable=options["verbosity"] == 0), stage
            bar.update(done - bar.n)

        try:
            result = evaluate_generator(chosen, per_class=per_class, seed=seed, truncation=truncation, progress=progress)
        except EvaluationError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if bar is not None:
                bar.close()
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False))
            return
        self._table(result)

    def _table(self, result):
        def figure(value, digits=4):
            return "—" if value is None else f"{value:.{digits}f}"

        n = result["n"]
        self.stdout.write(
            f"generator #{result['generator_version']} against the archive, classifier #{result['classifier_version']} "
            f"(n generated {n['generated']}, real {n['real']}; {result['per_class']} per class, seed {result['seed']}, "
            f"psi {result['truncation']}):"
        )
        neutral = result.get("neutral") or {}
        floor = neutral.get("floor") or {}
        self.stdout.write(f"  in the classifier's embedding:       Fréchet {figure(result['frechet'])}   "
                          f"KID motif mean {figure(result['kid'])}   overall {figure(result['kid_overall'])}")
        self.stdout.write(f"  in {neutral.get('features', 'the neutral space')}; archive against itself in brackets:")
        self.stdout.write(f"    Fréchet {figure(neutral.get('frechet'))} ({figure(floor.get('frechet'))})   "
                          f"KID motif mean {figure(neutral.get('kid'))} ({figure(floor.get('kid'))})   "
                          f"overall {figure(neutral.get('kid_overall'))} ({figure(floor.get('kid_overall'))})")
        self.stdout.write(f"    diversity {figure(neutral.get('diversity'))}, archive {figure(neutral.get('diversity_real'))}   "
                          f"near-duplicate pairs {neutral.get('near_duplicates', '—')} of {neutral.get('pairs', '—')}")
        self.stdout.write(f"  agreement (the classifier calls a sample its motif)   {figure(result['agreement'], 3)}")
        self.stdout.write(f"  recognised by \"Classify this\" (its motif, not \"not a known motif\")   "
                          f"{figure(result.get('recognised'), 3)}")
        self.stdout.write(f"  {'motif':24s} {'agree':>6s} {'KID':>8s} {'KID n.':>8s} {'floor':>8s} {'div n.':>7s} "
                          f"{'archive':>7s} {'near-dup':>8s} {'n gen':>5s} {'n real':>6s}")
        neutral_rows = neutral.get("per_motif") or {}
        for slug, row in result["per_motif"].items():
            other = neutral_rows.get(slug, {})
            duplicates = "—" if other.get("near_duplicates") is None else f"{other['near_duplicates']}/{other['pairs']}"
            self.stdout.write(
                f"  {slug:24s} {figure(row['agreement'], 2):>6s} {figure(row['kid']):>8s} {figure(other.get('kid')):>8s} "
                f"{figure(other.get('kid_floor')):>8s} {figure(other.get('diversity')):>7s} "
                f"{figure(other.get('diversity_real')):>7s} {duplicates:>8s} {row['n_generated']:>5d} {row['n_real']:>6d}"
            )
