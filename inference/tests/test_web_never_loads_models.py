import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.nodb

CHECK = """
import django, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cualify.settings")
django.setup()
import cualify.wsgi
from django.urls import get_resolver
def walk(patterns):
    for p in patterns:
        if hasattr(p, "url_patterns"):
            walk(p.url_patterns)
        else:
            p.callback
walk(get_resolver().url_patterns)
# Every module a web process may import: the apps' pages, APIs, admin, services, forms, the
# core app and the Flask-compatible service. Queue-worker code (engines, runtime, the generation
# pipeline, training and evaluation) and commands are the only places a model library may load.
import importlib, pkgutil
WORKER_ONLY = ("inference.engines", "inference.runtime", "inference.training", "inference.evaluation",
               "inference.generation.pipeline", "inference.generation.print_pipeline", "inference.generation.tasks",
               "inference.classification.tasks")
def walk_modules(package):
    # Not pkgutil.walk_packages: it imports every package it descends into, worker-only ones too.
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__, package + "."):
        name = info.name
        if any(part in ("tests", "migrations", "management") for part in name.split(".")):
            continue
        if name.startswith(WORKER_ONLY) or name in ("cualify.settings",):
            continue
        importlib.import_module(name)
        if info.ispkg:
            walk_modules(name)
for package in ("core", "compat", "accounts", "motifs", "inference", "cualify"):
    walk_modules(package)
heavy = sorted(m for m in ("torch", "ultralytics", "onnxruntime", "torchvision", "stylegan2_ada.networks", "diffusers",
                           "sentence_transformers", "transformers") if m in sys.modules)
print(",".join(heavy) or "none")
# The web needs the engines' error types and nothing else of them: the Pillow-only helpers are
# inference.generation.images, the prompt rule core.limits.
engines = sorted(m for m in sys.modules if m.startswith("inference.engines")
                 and m not in ("inference.engines", "inference.engines.errors"))
print(",".join(engines) or "none")
# Nor does it load the workers' own code: the generation pipeline, the print files' composer, the tasks.
worker = sorted(m for m in sys.modules if m.startswith(WORKER_ONLY) and not m.startswith("inference.engines"))
print(",".join(worker) or "none")
# The installed distributions behind every module loaded (the web's own requirements).
import importlib.metadata as metadata, json
owners = metadata.packages_distributions()
print(json.dumps(sorted({d for m in list(sys.modules) for d in owners.get(m.split(".")[0], [])})))
"""


def test_the_web_process_imports_no_model_library(tmp_path):
    result = subprocess.run([sys.executable, "-c", CHECK], cwd=settings.BASE_DIR, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "CUALIFY_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    heavy, engines, worker, distributions = result.stdout.strip().splitlines()[-4:]
    assert heavy == "none", f"model libraries loaded in the web process: {heavy}"
    assert engines == "none", f"engine modules loaded in the web process: {engines}"
    assert worker == "none", f"queue-worker modules loaded in the web process: {worker}"
    # ... and a web host installed from requirements/web.txt has all it imports.
    loaded = {canonical(name) for name in json.loads(distributions)}
    assert "django" in loaded and "pillow" in loaded
    missing = loaded - installed_with(pinned(Path(settings.BASE_DIR) / "requirements" / "web.txt")) - OPTIONAL_HERE
    assert not missing, f"a web process imports packages requirements/web.txt does not bring: {sorted(missing)}"


# Imported by the web when installed, never needed: django-q2 and DRF try them (psutil; requests
# and its own dependencies, Pygments) and go on without; setuptools is the venv's own (its .pth).
OPTIONAL_HERE = {"psutil", "requests", "certifi", "charset-normalizer", "idna", "pygments", "setuptools"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(path: Path) -> dict[str, str]:
    """``{name: version}`` of a requirements file and the files it includes (``-r``); every
    requirement must be pinned with ``==``."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            pins.update(pinned(path.parent / line[3:].strip()))
            continue
        name, _, version = line.partition("==")
        assert version, f"{path.name}: {line!r} is not pinned"
        pins[canonical(name.split("[")[0])] = version
    return pins


def installed_with(pins: dict[str, str]) -> set[str]:
    """The pinned distributions and everything they depend on, as installed here (markers and
    optional extras left out: what ``pip install -r`` brings)."""
    from importlib import metadata

    seen, todo = set(), list(pins)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement:
                continue
            todo.append(canonical(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]))
    return seen


def test_requirements_by_role_are_pinned_and_the_web_needs_no_model_library():
    root = Path(settings.BASE_DIR)
    web, worker, dev = (pinned(root / "requirements" / f"{role}.txt") for role in ("web", "worker", "dev"))
    assert not {"torch", "torchvision", "ultralytics", "onnxruntime", "diffusers", "sentence-transformers"} & set(web)
    assert set(web) < set(worker) < set(dev) == set(pinned(root / "requirements.txt"))
    assert {"torch", "onnxruntime", "diffusers"} <= set(worker) and {"pytest", "ruff"} <= set(dev)
    heavy = {"torch", "nvidia-cudnn-cu12", "nvidia-cublas-cu12", "triton"} & installed_with(web)
    assert not heavy, f"requirements/web.txt pulls in {sorted(heavy)}"
