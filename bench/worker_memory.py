"""Resident memory per worker kind (not a test): a real ``classify`` and a real ``generate``
qcluster start on a throwaway SQLite archive with the shipped models, each warms only its own
kinds (inference/queues.py), and their worker processes' RSS is read from /proc once every
worker has announced its models in a heartbeat; then again after a classification and a
fusion job (8 images, refined) have run through them.

    .venv/bin/python bench/worker_memory.py

Goal (issue 14): a classify worker <= 600 MB.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
sys.path.insert(0, str(ROOT))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def workers_of(cluster_pid: int) -> list[int]:
    """django-q2's worker processes under a qcluster (the processes that load models)."""
    from django.db import close_old_connections

    from inference.models import WorkerHeartbeat

    close_old_connections()
    beating = set(WorkerHeartbeat.objects.values_list("pid", flat=True))
    children = subprocess.run(["pgrep", "-g", str(cluster_pid)], capture_output=True, text=True).stdout.split()
    return sorted(int(pid) for pid in children if int(pid) in beating)


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="cualify-bench-memory-"))
    env = {**os.environ, "CUALIFY_DATA_DIR": str(data_dir), "CUALIFY_QUEUE_WORKERS": "1", "CUALIFY_TORCH_THREADS": "1",
           "OMP_NUM_THREADS": "1", "CUALIFY_HEARTBEAT_SECONDS": "1", "CUALIFY_RATE_CLASSIFY": "", "CUALIFY_RATE_GENERATE": ""}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    os.environ.update({k: env[k] for k in ("CUALIFY_DATA_DIR", "CUALIFY_HEARTBEAT_SECONDS")})
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    subprocess.run([PY, "manage.py", "bootstrap", "--no-demo", "--no-progress", "-v", "0"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cualify.settings")
    django.setup()
    from inference.models import WorkerHeartbeat

    clusters = {name: subprocess.Popen([PY, "manage.py", "qcluster"], cwd=ROOT, env={**env, "Q_CLUSTER_NAME": name},
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                for name in ("classify", "generate")}
    try:
        from inference import queues
        from inference.models import ModelVersion

        active = set(ModelVersion.objects.filter(is_active=True).values_list("kind", flat=True))

        def warm(beat) -> bool:  # every active kind its cluster serves is loaded
            return set(queues.served_kinds(beat.cluster)) & active <= set(beat.models_loaded)

        deadline = time.monotonic() + 180
        while {b.cluster for b in WorkerHeartbeat.objects.all() if warm(b)} != set(clusters):
            assert time.monotonic() < deadline, "the workers did not warm up in 180 s"
            time.sleep(0.5)
        time.sleep(2)
        rows = {name: {"warm": [round(rss_mb(pid)) for pid in workers_of(process.pid)]} for name, process in clusters.items()}
        loaded = {b.cluster: sorted(b.models_loaded) for b in WorkerHeartbeat.objects.all()}
        run_work()
        for name, process in clusters.items():
            rows[name]["after work"] = [round(rss_mb(pid)) for pid in workers_of(process.pid)]
    finally:
        from tests.processes import stop_process_group

        for process in clusters.values():
            stop_process_group(process)
    print(f"{'cluster':10s} {'models loaded':32s} {'worker RSS warm (MB)':>22s} {'after work':>12s}")
    for name, row in rows.items():
        print(f"{name:10s} {', '.join(loaded.get(name, [])):32s} {str(row['warm']):>22s} {str(row['after work']):>12s}")


def run_work() -> None:
    """One classification and one fusion job of 8 refined images, through the clusters."""
    import io

    from inference.classification import services as classification
    from inference.generation import services as generation
    from inference.models import GenerationJob
    from motifs.demo_art import render_motif

    buffer = io.BytesIO()
    render_motif("merak", 1, 512).save(buffer, "JPEG")
    record = classification.classification_submit(data=buffer.getvalue(), wait_seconds=60)
    assert record.status == "done", record.error
    request = generation.generation_request(mode="fusion", motifs=(("merak", 1.0), ("kepiting", 1.0)), count=8, seed=1,
                                            refine=True, refine_strength=0.3, upscale=2, tile=True)
    job = generation.generation_job_create(request=request)
    deadline = time.monotonic() + 300
    while not GenerationJob.objects.get(pk=job.pk).is_finished:
        assert time.monotonic() < deadline, "the job did not finish in 300 s"
        time.sleep(0.5)


if __name__ == "__main__":
    main()
