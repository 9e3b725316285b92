from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MotifsConfig(AppConfig):
    name = "motifs"
    verbose_name = _("Motif archive")

    def ready(self):
        from core.media import register_media_guard
        from core.signals import bootstrap

        from . import signals  # noqa: F401  (file clean-up on delete)

        bootstrap.connect(_bootstrap_archive, dispatch_uid="motifs-bootstrap")
        register_media_guard("archive/", _archive_file_visible)
        register_media_guard("pages/", _page_file_visible)


def _bootstrap_archive(sender, options, stdout, **kwargs):
    """The seed catalogue, then (unless ``--no-demo``) the synthetic demo images."""
    from django.apps import apps
    from django.core.management import call_command

    from .catalogue import seed_catalogue

    added = seed_catalogue(apps.get_model)
    stdout.write("catalogue: " + ", ".join(f"{k} +{v}" for k, v in added.items()))
    if options["demo"]:
        call_command("make_demo_dataset", count=options["demo_count"], no_progress=options["no_progress"],
                     verbosity=options["verbosity"], stdout=stdout)


def _archive_file_visible(request, path: str) -> bool:
    """``/media/archive/...`` (local runs) follows the archive's rule: an image of a published
    motif for everyone, a draft's for curators only (their admin shows it). A file that no image
    row owns, however its name is spelled, is not public either."""
    from accounts.roles import is_curator

    from .models import Motif, MotifImage

    if is_curator(request.user):
        return True
    return MotifImage.objects.filter(file=path, motif__status=Motif.Status.PUBLISHED).exists()


def _page_file_visible(request, path: str) -> bool:
    """Pages are public, so are their pictures; a file no page image owns is not."""
    from .models import PageImage

    return PageImage.objects.filter(file=path).exists()
