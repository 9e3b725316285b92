import subprocess
import sys

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
               "inference.generation.pipeline", "inference.generation.tasks", "inference.classification.tasks")
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
"""


def test_the_web_process_imports_no_model_library(tmp_path):
    result = subprocess.run([sys.executable, "-c", CHECK], cwd=settings.BASE_DIR, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "CUALIFY_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    heavy, engines = result.stdout.split()[-2:]
    assert heavy == "none", f"model libraries loaded in the web process: {heavy}"
    assert engines == "none", f"engine modules loaded in the web process: {engines}"
