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
import inference.views, inference.admin, inference.services, inference.forms
import inference.generate_views, inference.generation, inference.api, cualify.compat
# What web requests import lazily: print sheets, repeat previews, PNG metadata, prompt checks.
import inference.engines.generator, inference.engines.prompt
heavy = sorted(m for m in ("torch", "ultralytics", "onnxruntime", "torchvision", "stylegan2_ada.networks", "diffusers",
                           "sentence_transformers", "transformers") if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_the_web_process_imports_no_model_library(tmp_path):
    result = subprocess.run([sys.executable, "-c", CHECK], cwd=settings.BASE_DIR, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "CUALIFY_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"
