"""Fill locale/id/LC_MESSAGES/django.po from scripts/translations_id.py and compile it.

Run after ``manage.py makemessages -l id``: ``python scripts/update_translations.py``. It
prints every message that has no translation yet (and exits 1), so nothing ships half-done.
Needs gettext's msgfmt. Deliberately without a .po library: the format is simple and this
keeps the project's requirements to what the site itself needs.
"""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from translations_id import ID  # noqa: E402

PO = ROOT / "locale" / "id" / "LC_MESSAGES" / "django.po"


def po_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def unquote(lines: list[str]) -> str:
    joined = "".join(re.match(r'^(?:msgid|msgid_plural|msgstr(?:\[\d+\])?)?\s*"(.*)"$', l).group(1) for l in lines)
    return joined.encode("utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")


def main() -> int:
    blocks = PO.read_text(encoding="utf-8").split("\n\n")
    missing, out = [], []
    for block in blocks:
        lines = block.split("\n")
        keys = [i for i, l in enumerate(lines) if re.match(r"^(msgid|msgid_plural|msgstr)", l)]
        if not keys or not any(l.startswith("msgid ") for l in lines):
            out.append(block)
            continue
        parts = {}
        current = None
        for line in lines:
            m = re.match(r"^(msgid_plural|msgid|msgstr(?:\[\d+\])?) ", line)
            if m:
                current = m.group(1)
                parts[current] = [line]
            elif current and line.startswith('"'):
                parts[current].append(line)
        msgid = unquote(parts["msgid"])
        if msgid == "":  # the header: ours, not a template's
            header = "\n".join(l for l in lines if l != "#, fuzzy")
            header = header.replace('"Language: \\n"', '"Language: id\\n"')
            header = re.sub(r"^# SOME DESCRIPTIVE TITLE\.", "# Cualify: Indonesian interface texts.", header)
            out.append(header)
            continue
        comments = [l for l in lines if l.startswith("#") and not l.startswith("#, fuzzy") and "fuzzy" not in l]
        plural = unquote(parts["msgid_plural"]) if "msgid_plural" in parts else None
        key = (msgid, plural) if plural else msgid
        if key not in ID:
            missing.append(key)
            out.append(block)
            continue
        new = comments + [f"msgid {po_string(msgid)}"]
        if plural:
            new.append(f"msgid_plural {po_string(plural)}")
            new += [f"msgstr[{i}] {po_string(t)}" for i, t in enumerate(ID[key])]
        else:
            new.append(f"msgstr {po_string(ID[key])}")
        out.append("\n".join(new))
    PO.write_text("\n\n".join(out), encoding="utf-8")
    subprocess.run(["msgfmt", "--check-format", "-o", str(PO.with_suffix(".mo")), str(PO)], check=True)
    for key in missing:
        print("untranslated:", key)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
