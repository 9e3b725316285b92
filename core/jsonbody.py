"""Reading a JSON request body, one way for every door (the REST API's parser and the
Flask-compatible service): nesting too deep for the decoder, non-standard constants (NaN,
Infinity) and bytes that are not JSON are refused with a clear message, never a 500."""
from __future__ import annotations

import json

from django.utils.translation import gettext_lazy as _

MESSAGES = {
    "not_json": _("The request body is not valid JSON."),
    "too_deep": _("The JSON body is nested too deeply."),
    "bad_constant": _("The JSON body contains NaN or Infinity, which JSON does not allow."),
}


class JsonBodyError(ValueError):
    def __init__(self, code: str):
        self.code = code
        super().__init__(code)

    @property
    def message(self) -> str:
        return str(MESSAGES[self.code])


def _refuse_constant(name: str):
    raise JsonBodyError("bad_constant")


def loads(raw: bytes | str):
    """The decoded body; raises JsonBodyError."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        # The C decoder gives up at the interpreter's recursion limit: cheap, and no crash.
        raise JsonBodyError("too_deep") from None
    except JsonBodyError:
        raise
    except (ValueError, UnicodeDecodeError):
        raise JsonBodyError("not_json") from None
