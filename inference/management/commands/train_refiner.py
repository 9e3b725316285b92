from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from motifs.dataset import DatasetError


class Command(BaseCommand):
    help = (
        "Export the archive (flat, --resolution px), train the small diffusion refiner (a diffusers UNet2DModel "
        "with a DDIM scheduler; progress bar, snapshots, sample grids; --resume RUN_FOLDER continues a run) "
        "and register it as a refiner version."
    )

    def add_arguments(self, parser):
        parser.add_argument("--steps", type=int, default=2500, help="optimizer steps in all (default 2500, as the shipped refiner)")
        parser.add_argument("--resolution", type=int, default=64, choices=[32, 64, 128])
        parser.add_argument("--batch", type=int, default=16)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--resume", type=Path, help="the run folder of an earlier train_refiner to continue")
        parser.add_argument("--activate", action="store_true")

    def handle(self, *args, steps, resolution, batch, seed, resume, activate, **options):
        if not 1 <= steps <= 1_000_000:
            raise CommandError("--steps must be between 1 and 1000000")
        if not 1 <= batch <= 256:
            raise CommandError("--batch must be between 1 and 256")
        if resume and not (resume / "run").is_dir():
            raise CommandError(f"--resume {resume} is not a train_refiner run folder")
        from inference.engines.refiner import RefinerError
        from inference.training import checked_training_device, train_refiner

        checked_training_device()  # CUALIFY_DEVICE names a device that is there, before any work

        try:
            trained = train_refiner(steps=steps, resolution=resolution, batch=batch, seed=seed, resume=resume,
                                    activate=activate, progress=options["verbosity"] > 0)
        except (DatasetError, RefinerError) as exc:
            raise CommandError(str(exc)) from exc
        version = trained.version
        self.stdout.write(f"registered {version}" + (" — active" if version.is_active else ""))
        self.stdout.write("metrics: " + ", ".join(f"{k}={v}" for k, v in version.metrics.items()))
        self.stdout.write(f"run folder: {trained.run_dir} (resume with --resume {trained.run_dir})")
