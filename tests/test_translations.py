"""The Indonesian catalogue is complete, compiled, and covers every string in the code."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.nodb
ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "id" / "LC_MESSAGES" / "django.po"


def msgids(po_text: str) -> set[str]:
    return set(re.findall(r'^msgid "(.+)"$', po_text, re.M))


def test_every_message_has_an_indonesian_translation_and_none_is_fuzzy():
    text = PO.read_text(encoding="utf-8")
    assert "#, fuzzy" not in text
    blocks = [b for b in text.split("\n\n") if re.search(r'^msgid "', b, re.M)]
    untranslated = [b for b in blocks if 'msgid ""\nmsgstr ""' not in b and re.search(r'^msgstr(\[0\])? ""\s*$', b, re.M) and not re.search(r'^msgstr(\[0\])? ""\n"', b, re.M)]
    assert not untranslated, untranslated[:3]


@pytest.mark.skipif(not shutil.which("msgfmt"), reason="gettext's msgfmt is installed by scripts/setup.sh")
def test_committed_mo_file_is_the_compiled_po_file(tmp_path):
    subprocess.run(["msgfmt", "--check-format", "-o", str(tmp_path / "django.mo"), str(PO)], check=True)
    assert (tmp_path / "django.mo").read_bytes() == PO.with_suffix(".mo").read_bytes(), (
        "run: .venv/bin/python manage.py compilemessages -l id"
    )


@pytest.mark.skipif(not shutil.which("xgettext"), reason="gettext's xgettext is installed by scripts/setup.sh")
def test_catalogue_covers_every_translatable_string(tmp_path):
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("manage.py", "cualify", "core", "compat", "accounts", "motifs", "inference", "templates", "locale"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy / name)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "id", "--no-obsolete", "-v", "0"],
        cwd=copy, check=True, capture_output=True,
    )
    fresh = msgids((copy / "locale/id/LC_MESSAGES/django.po").read_text(encoding="utf-8"))
    missing = fresh - msgids(PO.read_text(encoding="utf-8"))
    assert not missing, f"new strings: run makemessages, translate them in the .po, then compilemessages: {sorted(missing)[:5]}"
