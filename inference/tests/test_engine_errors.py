"""One error type for the engines, one code vocabulary, and a visitor message for every code."""
import pickle
import re
from pathlib import Path

import pytest
from django.conf import settings

from inference.engines import errors
from inference.engines.errors import CODES, EngineError
from inference.generation.messages import ERROR_MESSAGES, error_message

pytestmark = pytest.mark.nodb

ENGINE_SOURCES = sorted((settings.BASE_DIR / "inference" / "engines").rglob("*.py")) + [
    settings.BASE_DIR / "inference" / "generation" / "images.py",
]
ERROR_CLASSES = [getattr(errors, name) for name in errors.__all__ if name.endswith("Error")]
# `SomeError("code", ...` or `SomeError(\n    "code", ...`: the first argument, a bare identifier.
RAISED = re.compile(r"\b(" + "|".join(cls.__name__ for cls in ERROR_CLASSES) + r')\(\s*"([a-z_]+)"')
LEGACY = {"empty", "one_motif", "motif_not_generatable", "duplicate_motif", "source_not_in_motifs"}


def raised_codes() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in ENGINE_SOURCES:
        if "tests" in path.relative_to(settings.BASE_DIR).parts:
            continue
        for _, code in RAISED.findall(path.read_text(encoding="utf-8")):
            found.setdefault(code, set()).add(str(path.relative_to(settings.BASE_DIR)))
    return found


def test_the_grep_finds_the_engines_codes():
    # Guards the pattern itself: were it to match nothing, the next tests would pass vacuously.
    found = raised_codes()
    assert {"bad_seed", "bad_strength", "no_model", "bad_png", "too_large"} <= set(found)


def test_every_code_an_engine_raises_is_in_the_table():
    unlisted = {code: sorted(paths) for code, paths in raised_codes().items() if code not in CODES}
    assert not unlisted, f"add these to inference.engines.errors.CODES: {unlisted}"


def test_every_engine_code_has_a_visitor_message():
    missing = sorted(code for code in CODES if code not in ERROR_MESSAGES)
    assert not missing, f"add a message to inference.generation.messages.ERROR_MESSAGES: {missing}"
    generic = error_message("failed")
    assert all(error_message(code) != generic for code in CODES)


def test_codes_follow_one_vocabulary():
    odd = sorted(code for code in CODES if not re.fullmatch(r"(bad|no|too)_[a-z_]+", code) and code not in LEGACY)
    assert not odd, odd


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_each_engine_error_is_an_engine_error_with_code_message_and_details(cls):
    error = cls("bad_image", "the reference image is empty", width=0)
    assert isinstance(error, EngineError)
    assert (error.code, error.message, error.details) == ("bad_image", "the reference image is empty", {"width": 0})
    assert error.message in str(error)
    copy = pickle.loads(pickle.dumps(error))  # a queue worker may send it back to the web
    assert type(copy) is cls and (copy.code, copy.message, copy.details) == (error.code, error.message, error.details)


def test_a_refused_refinement_fails_the_job_with_its_own_code():
    from inference.engines.errors import RefinerError
    from inference.generation.pipeline import _refusal_code

    assert _refusal_code(RefinerError("bad_strength", "strength must be in (0, 1], got 0")) == "bad_strength"
    assert _refusal_code(RuntimeError("out of memory")) == ""


def test_the_errors_module_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, inference.engines.errors, inference.generation.images; "
            "print(sorted(m for m in ('torch', 'django', 'diffusers', 'ultralytics') if m in sys.modules)); "
            "print(sorted(m for m in sys.modules if m.startswith('inference.engines.')))")
    root = Path(settings.BASE_DIR)
    output = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert output.stdout.split("\n")[:2] == ["[]", "['inference.engines.errors']"]
