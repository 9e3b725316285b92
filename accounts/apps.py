from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from core.signals import bootstrap

        post_migrate.connect(_ensure_groups, sender=self)
        bootstrap.connect(_ensure_groups, dispatch_uid="accounts-bootstrap")


def _ensure_groups(sender, using="default", **kwargs):
    """After every migrate and at bootstrap: the Curator group with its permissions."""
    from .roles import ensure_curator_group

    ensure_curator_group(using=using)
