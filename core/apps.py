from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """What every door shares and no feature owns: image intake, limits, the error shape, API
    base classes, throttles, security headers, media serving, backup/restore and bootstrap.
    It imports no other project app; apps plug in through ``core.signals``."""

    name = "core"
    verbose_name = _("Core")
