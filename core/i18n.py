"""Bilingual content: pick the Indonesian or English variant of a field for the active language."""
from django.utils.translation import get_language


def active_language() -> str:
    """'en' or 'id' (the default)."""
    return "en" if (get_language() or "id").startswith("en") else "id"


class BilingualMixin:
    """For models with ``<field>_id`` (Indonesian) and ``<field>_en`` (English) text fields.

    ``obj.localized("description")`` gives the variant for the active language and falls back
    to the other one when it is empty, so a motif never shows a blank where a text exists.
    """

    def localized(self, field: str) -> str:
        first, second = ("en", "id") if active_language() == "en" else ("id", "en")
        return getattr(self, f"{field}_{first}", "") or getattr(self, f"{field}_{second}", "")
