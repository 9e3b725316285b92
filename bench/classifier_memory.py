"""Resident memory of a queue worker that serves only the classifier (not a test): the
classifier file is registered on a throwaway SQLite archive, then a fresh process sets up
Django, loads it as a worker does (``inference.runtime.get_model``), classifies photos, and
prints its RSS at each step, next to a bare Python + Django process measured in the same run.

    .venv/bin/python bench/classifier_memory.py [--classifier weights/classifier-demo-yolo11n-cls.pt] [PATH ...]

Each classifier is measured in its own child process (RSS only grows within a process).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(classifier: str | None) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cualify.settings")
    django.setup()

    figures = {"django": round(rss_mb(), 1)}
    if classifier is None:
        return figures
    from inference import runtime
    from motifs.demo_art import render_motif

    loaded = runtime.get_model("classifier")
    figures["loaded"] = round(rss_mb(), 1)
    photos = [render_motif("merak", seed, 512) for seed in range(8)]
    for photo in photos:
        loaded.engine.predict([photo])
    figures["after 8 classifications"] = round(rss_mb(), 1)
    figures["served as"] = loaded.engine.kind
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("classifiers", nargs="*", default=[str(ROOT / "weights" / "classifier-demo-yolo11n-cls.pt")])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child or None)))
        return 0
    for classifier in ["", *args.classifiers]:
        data_dir = tempfile.mkdtemp(prefix="cualify-mem-")
        env = {**os.environ, "CUALIFY_DATA_DIR": data_dir, "CUALIFY_TEST_DB_FILE": "", "OMP_NUM_THREADS": "1",
               "CUALIFY_TORCH_THREADS": "1"}
        env.pop("DATABASE_URL", None)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        if classifier:  # in another process: registering loads, verifies and exports the model
            subprocess.run([sys.executable, "manage.py", "register_model", classifier, "--kind", "classifier",
                            "--activate"], cwd=ROOT, env=env, check=True, capture_output=True)
        out = subprocess.run([sys.executable, __file__, "--child", classifier], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        name = Path(classifier).name if classifier else "(no model: Python + Django)"
        print(f"{name:<40} " + "  ".join(f"{k} {v}{' MB' if isinstance(v, float) else ''}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
