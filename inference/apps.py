from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = _("Models and inference")

    def ready(self):
        from . import signals  # noqa: F401  (worker warm-up and heartbeat; file clean-up)
