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


# Words that are the same in Indonesian and English; every other admin label must change.
SAME_IN_BOTH = {"ID", "URL", "SHA-256", "slug", "status", "seed", "e-mail", "F1", "KID", "PID", "JSON",
                "motif", "alias", "format", "host", "mode", "metadata"}
PROJECT_APPS = ("core", "accounts", "motifs", "inference")


def _untranslated(labels) -> list[str]:
    """The (where, label) pairs whose label reads the same under Indonesian as under English."""
    from django.utils import translation

    missing = []
    for where, label in labels:
        with translation.override("en"):
            english = str(label)
        with translation.override("id"):
            indonesian = str(label)
        if english == indonesian and english not in SAME_IN_BOTH and english.lower() not in SAME_IN_BOTH:
            missing.append(f"{where}: {english!r}")
    return missing


def _project_models():
    from django.apps import apps

    return [model for app in PROJECT_APPS for model in apps.get_app_config(app).get_models()]


def test_every_model_and_field_label_of_the_project_is_in_indonesian():
    labels = []
    for model in _project_models():
        opts = model._meta
        labels += [(model.__name__, opts.verbose_name), (f"{model.__name__} (plural)", opts.verbose_name_plural)]
        labels += [(f"{model.__name__}.{field.name}", field.verbose_name) for field in [*opts.fields, *opts.many_to_many]]
    missing = _untranslated(labels)
    assert not missing, "set verbose_name=_(...) and translate it: " + "; ".join(missing)


def test_every_admin_column_field_and_filter_label_is_in_indonesian():
    """The labels the admin makes for display functions, columns, read-only fields, filters
    and actions of the project's models (and their inlines)."""
    from django.contrib import admin
    from django.contrib.admin.utils import label_for_field

    labels = []
    models = set(_project_models())
    for model, model_admin in admin.site._registry.items():
        if model not in models:
            continue
        admins = [model_admin, *(inline(model, admin.site) for inline in model_admin.inlines)]
        for each in admins:
            names = [*each.get_list_display(None), *each.readonly_fields] if each is model_admin else [*each.readonly_fields]
            for name in names:
                if name in ("__str__", "action_checkbox"):
                    continue
                labels.append((f"{type(each).__name__}.{getattr(name, '__name__', name)}",
                               label_for_field(name, each.model, each)))
            for list_filter in getattr(each, "list_filter", []) if each is model_admin else []:
                if isinstance(list_filter, type):
                    labels.append((f"{type(each).__name__} filter", list_filter.title))
        for name, func in vars(type(model_admin)).items():
            if callable(func) and getattr(func, "allowed_permissions", None) is not None:  # an @admin.action
                labels.append((f"{type(model_admin).__name__}.{name} (action)", func.short_description))
    missing = _untranslated(labels)
    assert not missing, "give the admin label a translated description: " + "; ".join(missing)


ADMIN_TEMPLATES = ROOT / "templates" / "admin"


def test_admin_templates_show_only_translated_text():
    """Everything a person reads in templates/admin/ comes through {% translate %} or a variable."""
    problems = []
    for template in sorted(ADMIN_TEMPLATES.rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        text = re.sub(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", "", text, flags=re.S)
        text = re.sub(r"{#.*?#}", "", text, flags=re.S)
        for attribute in re.findall(r'\b(?:title|alt|aria-label|placeholder|value)="([^"]*)"', text):
            if re.sub(r"{[{%].*?[}%]}", "", attribute).strip() and attribute not in ("accept", "reject"):
                problems.append(f"{template.name}: attribute {attribute!r}")
        visible = re.sub(r"{[{%].*?[}%]}", " ", text, flags=re.S)
        visible = re.sub(r"<[^>]*>", " ", visible, flags=re.S)
        words = [w for w in re.findall(r"[^\W\d_]{2,}", visible)]
        if words:
            problems.append(f"{template.name}: {' '.join(words)[:80]}")
    assert not problems, problems
