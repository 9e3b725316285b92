"""How an anonymous visitor's records are tied to them.

Each visitor gets a key kept inside their session (it survives the session key's rotation at
log-in, so their records can follow them into their account). Rows never store that key, nor the
session key: only a keyed hash of it (HMAC-SHA256 with ``SECRET_KEY``), so nobody who reads the
database or the admin can take over a visitor's session with it.
"""
from django.utils.crypto import salted_hmac

VISITOR_KEY = "cualify_visitor"


def visitor_key_hash(key: str) -> str:
    """What a row stores for the visitor key ``key`` ('' for none)."""
    return salted_hmac("cualify.visitor-records", key, algorithm="sha256").hexdigest() if key else ""


def record_session_key(request) -> str:
    """The hashed key a new record of this request's visitor carries (the session is created
    when it has none yet, so a client with a cookie jar can read its result back)."""
    if not request.session.session_key:
        request.session.save()
    if not request.user.is_authenticated:
        request.session.setdefault(VISITOR_KEY, request.session.session_key)
        return visitor_key_hash(request.session[VISITOR_KEY])
    return visitor_key_hash(request.session.session_key)


def viewer_key(request) -> str:
    """The hashed key that this visitor's anonymous records carry (see ``record_session_key``)."""
    return visitor_key_hash(request.session.get(VISITOR_KEY) or request.session.session_key or "")
