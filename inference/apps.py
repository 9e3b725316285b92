from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = _("Models and inference")

    def ready(self):
        from . import signals  # noqa: F401  (worker warm-up and heartbeat; file clean-up)

        post_migrate.connect(_ensure_schedules, sender=self)


def _ensure_schedules(sender, using="default", **kwargs):
    """The generation sweeper and the purge of old anonymous records run as django-q2
    schedules; kept in step with the settings."""
    from .generation import ensure_sweep_schedule
    from .privacy import ensure_purge_schedule

    ensure_sweep_schedule(using=using)
    ensure_purge_schedule(using=using)
