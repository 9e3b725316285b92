from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MotifsConfig(AppConfig):
    name = "motifs"
    verbose_name = _("Motif archive")

    def ready(self):
        from . import signals  # noqa: F401  (file clean-up on delete)
