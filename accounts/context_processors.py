"""The viewer's role for templates (``core``'s context processor may not import accounts)."""
from django.utils.functional import SimpleLazyObject

from .roles import is_curator


def roles(request):
    """``user_is_curator``: the one curator rule, asked only when a template uses it."""
    return {"user_is_curator": SimpleLazyObject(lambda: _is_curator(request))}


def _is_curator(request) -> bool:
    user = getattr(request, "user", None)
    return user is not None and is_curator(user)
