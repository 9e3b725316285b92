from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        post_migrate.connect(_ensure_groups, sender=self)


def _ensure_groups(sender, using="default", **kwargs):
    from .roles import ensure_curator_group

    ensure_curator_group(using=using)
