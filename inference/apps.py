from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = _("Models and inference")

    def ready(self):
        from . import signals  # noqa: F401  (worker warm-up and heartbeat; file clean-up)

        from core.signals import bootstrap

        post_migrate.connect(_ensure_schedules, sender=self)
        bootstrap.connect(_register_shipped_models, dispatch_uid="inference-bootstrap")


def _ensure_schedules(sender, using="default", **kwargs):
    """The generation sweeper and the purge of old anonymous records run as django-q2
    schedules; kept in step with the settings."""
    from .generation.services import ensure_sweep_schedule
    from .privacy.services import ensure_purge_schedule

    ensure_sweep_schedule(using=using)
    ensure_purge_schedule(using=using)


def _register_shipped_models(sender, stdout, **kwargs):
    """Bootstrap: the models listed in weights/manifest.json, activated where a kind has none."""
    from core.signals import BootstrapError

    from .registry import RegistryError, shipped_models_register

    try:
        lines = shipped_models_register()
    except RegistryError as exc:
        raise BootstrapError(str(exc)) from exc
    for line in lines or ["shipped models: none listed in weights/manifest.json"]:
        stdout.write(line)
