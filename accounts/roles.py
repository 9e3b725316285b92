"""Roles: visitor (anonymous), registered (signed in), curator (staff in the Curator group),
admin (superuser). Curators edit the archive in the admin but cannot manage users."""
from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.utils.translation import gettext_lazy as _

CURATOR_GROUP = "Curator"
# Apps whose models curators manage in the admin (models that later issues add join in).
CURATED_APPS = ("motifs", "inference")

ROLE_LABELS = {
    "visitor": _("Visitor"),
    "registered": _("Registered"),
    "curator": _("Curator"),
    "admin": _("Administrator"),
}


def ensure_curator_group(using: str = "default") -> Group:
    """Create or refresh the Curator group: every permission on the curated apps' models."""
    for config in apps.get_app_configs():
        create_permissions(config, verbosity=0, using=using)
    group, _created = Group.objects.using(using).get_or_create(name=CURATOR_GROUP)
    permissions = Permission.objects.using(using).filter(content_type__app_label__in=CURATED_APPS)
    group.permissions.set(permissions)
    return group


def user_role(user) -> str:
    if not user.is_authenticated:
        return "visitor"
    if user.is_superuser:
        return "admin"
    if user.is_staff and user.groups.filter(name=CURATOR_GROUP).exists():
        return "curator"
    return "registered"


def is_curator(user) -> bool:
    """The one "may curate" rule, for every door (pages, templates, REST API, admin thumbnails):
    ``is_staff`` alone only lets Django's admin log a user in, it makes no curator."""
    return user_role(user) in ("curator", "admin")


def make_curator(user) -> None:
    """Give ``user`` the curator role: staff (admin access) and the Curator group."""
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(ensure_curator_group())
