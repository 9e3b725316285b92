from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from motifs.dataset import DatasetError


class Command(BaseCommand):
    help = (
        "Export the archive at full size, train the diffusion super-resolution refiner (a diffusers UNet2DModel "
        "on the residual of a bicubic enlargement, DDIM; progress bar, snapshots, sample grids; --resume "
        "RUN_FOLDER continues a run), measure it against Lanczos and register it as a refiner version."
    )

    def add_arguments(self, parser):
        parser.add_argument("--steps", type=int, default=2000, help="optimizer steps in all (default 2000, as the shipped refiner)")
        parser.add_argument("--scale", type=int, choices=[2, 4, 8],
                            help="enlargement factor (default: what takes the active generator to 512 px)")
        parser.add_argument("--batch", type=int, default=8)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--resume", type=Path, help="the run folder of an earlier train_refiner to continue")
        parser.add_argument("--eval-per-motif", type=int, default=8,
                            help="generated motifs per class for the measurement against Lanczos")
        parser.add_argument("--no-evaluate", action="store_true", help="register without measuring")
        parser.add_argument("--activate", action="store_true")

    def handle(self, *args, steps, scale, batch, seed, resume, eval_per_motif, no_evaluate, activate, **options):
        if not 1 <= steps <= 1_000_000:
            raise CommandError("--steps must be between 1 and 1000000")
        if not 1 <= batch <= 256:
            raise CommandError("--batch must be between 1 and 256")
        if not 1 <= eval_per_motif <= 1000:
            raise CommandError("--eval-per-motif must be between 1 and 1000")
        if resume and not (resume / "run").is_dir():
            raise CommandError(f"--resume {resume} is not a train_refiner run folder")
        from inference.engines.refiner import RefinerError
        from inference.training import checked_training_device, train_refiner

        checked_training_device()  # CUALIFY_DEVICE names a device that is there, before any work

        try:
            trained = train_refiner(steps=steps, scale=scale, batch=batch, seed=seed, resume=resume,
                                    activate=activate, progress=options["verbosity"] > 0,
                                    evaluate=not no_evaluate, eval_per_motif=eval_per_motif)
        except (DatasetError, RefinerError) as exc:
            raise CommandError(str(exc)) from exc
        version = trained.version
        self.stdout.write(f"registered {version}" + (" — active" if version.is_active else ""))
        self.stdout.write("metrics: " + ", ".join(f"{k}={v}" for k, v in version.metrics.items()))
        self.stdout.write(f"run folder: {trained.run_dir} (resume with --resume {trained.run_dir})")
