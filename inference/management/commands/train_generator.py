from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from motifs.dataset import DatasetError


class Command(BaseCommand):
    help = (
        "Export the archive (flat class folders at --resolution), train the StyleGAN2-ADA generator "
        "(progress bar; --resume continues from a checkpoint), keep its G_ema, measure how often the active "
        "classifier recognises each generated motif, and register it as a generator version."
    )

    def add_arguments(self, parser):
        parser.add_argument("--kimg", type=float, default=40.0, help="thousands of real images shown (default 40)")
        parser.add_argument("--resolution", type=int, default=64, choices=[32, 64, 128, 256])
        parser.add_argument("--batch", type=int, default=16)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--resume", type=Path, help="a training checkpoint (.safetensors with G and D) to continue")
        parser.add_argument("--discriminator", choices=["stylegan2", "projected"], default="stylegan2",
                            help="classic StyleGAN2 discriminator (R1, ADA) or a projected one on the frozen "
                                 "ImageNet EfficientNet-Lite0 (hinge loss, DiffAugment)")
        parser.add_argument("--grow-from", type=Path,
                            help="start from this lower-resolution generator (.safetensors), e.g. the shipped 64 px one")
        parser.add_argument("--bf16", action="store_true",
                            help="bfloat16 autocast (about 2× faster on CPUs with AVX-512-BF16/AMX)")
        parser.add_argument("--diversity", type=float, default=0.0,
                            help="weight of the mode-seeking term against near-copies within a motif (0 = off)")
        parser.add_argument("--objective", choices=["gan", "imle"], default="gan",
                            help="gan: a discriminator judges the images; imle: every archive image pulls its "
                                 "nearest generated sample towards it (no discriminator; no motif collapses; "
                                 "--resume may name a shipped generator)")
        parser.add_argument("--activate", action="store_true")

    def handle(self, *args, kimg, resolution, batch, seed, resume, activate, discriminator, grow_from, bf16,
               diversity, objective, **options):
        if not 0 < kimg <= 100_000:
            raise CommandError("--kimg must be above 0 and at most 100000")
        if not 2 <= batch <= 256:
            raise CommandError("--batch must be between 2 and 256")
        if resume and not resume.is_file():
            raise CommandError(f"--resume {resume} is not a file")
        if grow_from and not grow_from.is_file():
            raise CommandError(f"--grow-from {grow_from} is not a file")
        if not 0 <= diversity <= 100:
            raise CommandError("--diversity must be between 0 and 100")
        if objective == "imle" and discriminator != "stylegan2":
            raise CommandError("--objective imle trains without a discriminator: leave --discriminator out")
        if grow_from and resume:
            raise CommandError("--grow-from starts a new run; --resume continues one: give one of them")
        from inference.training import checked_training_device, generator_time_estimate, train_generator

        device = checked_training_device()
        if options["verbosity"] > 0:
            self.stdout.write(generator_time_estimate(kimg=kimg, resolution=resolution, batch=batch, device=device,
                                                      discriminator=discriminator, bf16=bf16, objective=objective))
            self.stdout.flush()

        try:
            trained = train_generator(kimg=kimg, resolution=resolution, batch=batch, seed=seed, resume=resume,
                                      activate=activate, progress=options["verbosity"] > 0,
                                      discriminator=discriminator, grow_from=grow_from, bf16=bf16,
                                      diversity=diversity, objective=objective)
        except (DatasetError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        version = trained.version
        self.stdout.write(f"registered {version}" + (" — active" if version.is_active else ""))
        self.stdout.write("metrics: " + ", ".join(f"{k}={v}" for k, v in version.metrics.items()))
        self.stdout.write(f"run folder: {trained.run_dir}")
