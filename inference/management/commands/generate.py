import argparse
import json
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core import intake
from core import limits
from core.imaging import ImageRejected
from core.limits import GENERATION_DEFAULTS as DEFAULTS
from inference.generation import services as generation
from inference.generation import messages as generation_messages
from inference.models import GenerationJob, ModelKind
from inference.health import model_availability


def parse_motifs(text: str) -> tuple[tuple[str, float], ...]:
    """'merak:2,kepiting' -> (('merak', 2.0), ('kepiting', 1.0))."""
    motifs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        slug, _, weight = part.partition(":")
        try:
            motifs.append((slug.strip(), float(weight) if weight else 1.0))
        except ValueError as exc:
            raise CommandError(f"--motifs: {part!r} is not SLUG or SLUG:WEIGHT") from exc
    return tuple(motifs)


class Command(BaseCommand):
    help = (
        "Run one generation job with the same service code as the site and write its PNGs to --outdir. "
        "In-process by default; --cluster goes through the running queue workers. --json prints the job "
        "(status, matched motifs with weights, seeds, timings, files)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--mode", required=True, choices=GenerationJob.Mode.values)
        parser.add_argument("--motifs", default="", help="SLUG[:WEIGHT],... (fusion: 2–4; variation: 1)")
        parser.add_argument("--structure-from", default="", metavar="SLUG")
        parser.add_argument("--detail-from", default="", metavar="SLUG")
        parser.add_argument("--reference", type=Path, help="an image to vary (variation mode)")
        parser.add_argument("--prompt", default="", help="a description in Indonesian or English (prompt mode)")
        parser.add_argument("--seed", type=int, help="default: random (always recorded)")
        parser.add_argument("--count", type=int, default=DEFAULTS.count,
                            help=f"{limits.COUNT.low:g}–{limits.COUNT.high:g} (default {DEFAULTS.count})")
        parser.add_argument("--truncation", type=float, default=DEFAULTS.truncation)
        parser.add_argument("--distance", type=float, default=DEFAULTS.distance, help="variation: how different, 0–1")
        parser.add_argument("--refine", type=float, metavar="STRENGTH", help="refine with the diffusion model at this strength")
        parser.add_argument("--tile", action=argparse.BooleanOptionalAction, default=DEFAULTS.tile,
                            help="seamless tiles (default: on, as on the site)")
        parser.add_argument("--upscale", type=int, default=DEFAULTS.upscale, choices=limits.UPSCALE_FACTORS)
        parser.add_argument("--outdir", type=Path, required=True)
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--cluster", action="store_true", help="run in the running cluster")
        parser.add_argument("--wait", type=float, default=600.0, help="seconds to wait with --cluster")

    def handle(self, *args, **options):
        from django_q.conf import Conf

        was_sync = Conf.SYNC
        Conf.SYNC = was_sync or not options["cluster"]
        try:
            self.run(options)
        finally:
            Conf.SYNC = was_sync

    def run(self, options):
        reference = None
        if options["reference"] and generation.reference_needed(options["mode"]):
            try:
                reference = intake.image_normalize(options["reference"].read_bytes())
            except OSError as exc:
                raise CommandError(f"--reference: {exc}") from exc
            except ImageRejected as exc:
                raise CommandError(f"--reference: {intake.rejection_message(exc)}") from exc
        request = generation.generation_request(
            mode=options["mode"], motifs=parse_motifs(options["motifs"]), structure_from=options["structure_from"],
            detail_from=options["detail_from"], prompt=options["prompt"], reference=reference, seed=options["seed"],
            count=options["count"], truncation=options["truncation"], distance=options["distance"],
            refine=options["refine"] is not None, refine_strength=options["refine"], tile=options["tile"],
            upscale=options["upscale"],
        )
        if options["cluster"]:
            availability = model_availability(ModelKind.GENERATOR)
            if not availability.available:
                raise CommandError(generation_messages.error_message(availability.reason))
        try:
            options["outdir"].mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"--outdir: {exc}") from exc
        try:
            job = generation.generation_job_create(request=request)
        except generation.GenerationRejected as exc:
            raise CommandError(f"{exc.message} ({exc.code}{': ' + exc.detail if exc.detail else ''})") from exc
        job = self.wait(job, options["wait"]) if options["cluster"] else job
        files = []
        for image in job.images.all():
            path = options["outdir"] / f"{job.public_id.hex[:8]}-{image.index:02d}-seed{image.seed}.png"
            path.write_bytes(generation.job_png(image))
            files.append(str(path))
        summary = {
            "job": str(job.public_id), "status": job.status, "mode": job.mode, "seed": job.seed,
            "error": generation_messages.error_message(job.error) if job.status == GenerationJob.Status.FAILED else "",
            "motifs": job.motifs, "matched": job.prompt_match.get("weights", []), "colours": job.prompt_match.get("colours", []),
            "seeds": [image.seed for image in job.images.all()], "timings": job.timings,
            "models": job.model_versions, "files": files,
            "suggestions": generation.prompt_suggestions(job) if job.status == GenerationJob.Status.FAILED else [],
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
        else:
            self.stdout.write(f"{job.status}: {len(files)} images in {options['outdir']} (seed {job.seed})")
            for slug, weight in summary["matched"]:
                self.stdout.write(f"  matched {slug}: {weight:.2f}")
        if job.status != GenerationJob.Status.SUCCEEDED:
            guesses = ", ".join(f"{item['name']} ({item['motif']})" for item in summary["suggestions"])
            raise CommandError((summary["error"] or job.status) + (f" [{guesses}]" if guesses else ""))

    def wait(self, job, timeout):
        deadline = time.monotonic() + timeout
        with tqdm(total=100, desc="generate", unit="%", file=sys.stderr, leave=False) as bar:
            while not job.is_finished:
                if time.monotonic() > deadline:
                    raise CommandError(f"no answer within {timeout:.0f} s; the job {job.public_id} goes on in the cluster")
                time.sleep(0.3)
                job.refresh_from_db()
                bar.n = round(job.progress * 100)
                bar.set_postfix_str(generation_messages.stage_label(job.stage), refresh=True)
        return job
