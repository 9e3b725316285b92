"""Generation benchmark (not a test): per-stage and total job latency through a real qcluster,
next to the raw engine calls, all in one run.

    .venv/bin/python bench/generate.py                  # embedded default (SQLite, ORM broker)
    .venv/bin/python bench/generate.py --repeats 5 --device cuda   # raw engine rows on a GPU too

Jobs: a fusion of two motifs at the active generator's native resolution (64 px shipped) and ×4
(Lanczos upscale of the tile), one image and eight, without and with diffusion refinement (the
shipped refiner is super-resolution: ×8 to 512 px, 4 denoising steps; ×4 upscale then makes
2048 px). Each job is created with the site's own service, run by the cluster
(one worker, one torch thread), and timed from creation until its row says succeeded; the
stage timings are the ones the worker recorded. The raw rows call the engines directly in
this process (generator synthesis, refiner, PNG encoding) on the same inputs.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = str(ROOT / ".venv" / "bin" / "python")

CASES = [  # (count, refine, upscale)
    (1, False, 1), (1, True, 1), (8, False, 1), (8, True, 1), (1, True, 4), (8, True, 4),
]


def setup_django(data_dir: Path) -> None:
    os.environ.update({"CUALIFY_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "cualify.settings",
                       "CUALIFY_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1"})
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()


def wait_for_worker(timeout: float = 120) -> None:
    from django.utils import timezone

    from inference.models import WorkerHeartbeat

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if WorkerHeartbeat.objects.filter(last_seen__gte=timezone.now() - timezone.timedelta(seconds=20),
                                          models_loaded__has_key="generator").exists():
            return
        time.sleep(0.3)
    raise SystemExit("no queue worker warmed up in time")


def run_job(count: int, refine: bool, upscale: int, seed: int) -> tuple[float, dict]:
    from inference.generation import services as generation

    request = generation.GenerationRequest(mode="fusion", motifs=(("merak", 1.0), ("kepiting", 1.0)), seed=seed,
                                           count=count, refine=refine, refine_strength=0.3, tile=True, upscale=upscale)
    started = time.perf_counter()
    job = generation.generation_job_create(request=request)
    while not job.is_finished:
        time.sleep(0.01)
        job.refresh_from_db(fields=["status", "timings", "error", "finished"])
    elapsed = time.perf_counter() - started
    if job.status != "succeeded":
        raise SystemExit(f"job failed: {job.error}")
    return elapsed, job.timings


def raw_rows(device: str, repeats: int) -> list[tuple[str, float]]:
    """Median seconds of the engine calls a job makes, in this process."""
    import numpy as np
    import torch
    from PIL import Image

    from inference.engines.generator import GeneratorEngine
    from inference.engines.refiner import Upscaler, denoising_steps, load_refiner
    from inference.generation.images import png_bytes, upscale
    from inference.models import ModelKind
    from inference.runtime import active_version, model_file

    torch.set_num_threads(1)
    engine = GeneratorEngine.load(model_file(active_version(ModelKind.GENERATOR)), device=device)
    engine.warm_up()
    refiner_version = active_version(ModelKind.REFINER)
    refiner = load_refiner(model_file(refiner_version), device=device) if refiner_version else None
    steps = refiner.schedule_steps(0.3) if refiner else 0
    variants = {}
    if isinstance(refiner, Upscaler):
        import copy

        from stylegan2_ada.train import native_bf16

        # channels-last: the same weights in NHWC memory order (oneDNN's preferred layout).
        variants["channels-last"] = Upscaler(copy.deepcopy(refiner.unet).to(memory_format=torch.channels_last),
                                             refiner.scheduler_config, refiner.metadata, device=device)
        if native_bf16(device):
            variants["bf16"] = "bf16"

    def median(call) -> float:
        call()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    rows = []
    for count in (1, 8):
        result = engine.fusion([(0, 1.0), (7, 1.0)], seed=1, count=count, tile=True)
        arrays = np.stack([np.asarray(image) for image in result.images])
        rows.append((f"synthesis, {count} image(s) [{device}]",
                     median(lambda: engine.fusion([(0, 1.0), (7, 1.0)], seed=1, count=count, tile=True))))
        if refiner:
            denoise = denoising_steps(steps, 0.3)
            scale = refiner.output_side(1)
            rows.append((f"refinement ×{scale}, {denoise} steps, {count} image(s) [{device}]",
                         median(lambda: refiner.refine(arrays, strength=0.3, steps=steps, seed=1, tile=True))))
            for name, variant in variants.items():
                if variant == "bf16":
                    def call():
                        with torch.autocast(device, dtype=torch.bfloat16):
                            refiner.refine(arrays, strength=0.3, steps=steps, seed=1, tile=True)
                else:
                    def call():
                        variant.refine(arrays, strength=0.3, steps=steps, seed=1, tile=True)
                rows.append((f"refinement ×{scale} {name}, {count} image(s) [{device}]", median(call)))
            if scale > 1:
                rows.append((f"Lanczos ×{scale} instead, {count} image(s)",
                             median(lambda: [upscale(Image.fromarray(a), scale, tile=True) for a in arrays])))
        native = engine.resolution
        rows.append((f"PNG encoding, {count} × {native} px",
                     median(lambda: [png_bytes(Image.fromarray(a), {}) for a in arrays])))
        rows.append((f"upscale ×4 + PNG encoding, {count} × {4 * native} px",
                     median(lambda: [png_bytes(upscale(Image.fromarray(a), 4, tile=True)[0], {}) for a in arrays])))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="jobs per case (median reported)")
    parser.add_argument("--device", default="cpu", help="device of the raw engine rows (cpu or cuda)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    data_dir = Path(tempfile.mkdtemp(prefix="cualify-bench-generate-"))
    setup_django(data_dir)
    env = {**os.environ, "CUALIFY_QUEUE_WORKERS": "1"}
    subprocess.run([PY, "manage.py", "bootstrap", "--no-demo", "--no-progress", "-v", "0"], cwd=ROOT, env=env, check=True)
    cluster = subprocess.Popen([PY, "manage.py", "qcluster"], cwd=ROOT, env={**env, "Q_CLUSTER_NAME": "generate"},
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    native = native_resolution()
    results = []
    try:
        wait_for_worker()
        run_job(1, True, 1, seed=0)  # warm: the refiner and the class means load on first use
        for count, refine, factor in CASES:
            runs = [run_job(count, refine, factor, seed=100 + i) for i in range(args.repeats)]
            total = statistics.median(r[0] for r in runs)
            stages = {key: statistics.median(r[1].get(key, 0.0) for r in runs) for key in runs[0][1]}
            results.append((count, refine, factor, total, stages))
    finally:
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)

    print(f"\njobs through the cluster (embedded default: SQLite + ORM broker; 1 worker, 1 torch thread; "
          f"median of {args.repeats}), seconds:")
    print(f"{'images':>6} {'refine':>6} {'size':>6} {'total':>7}  stages (worker)")
    for count, refine, factor, total, stages in results:
        detail = ", ".join(f"{k[:-2]} {v:.3f}" for k, v in stages.items() if k != "total_s")
        side = native * factor * (refiner_scale() if refine else 1)
        print(f"{count:6d} {'yes' if refine else 'no':>6} {side:4d}px {total:7.3f}  {detail}")
    print("\nraw engine calls in this process (median seconds):")
    raw = raw_rows("cpu", max(args.repeats, 3))
    if args.device != "cpu":
        raw += raw_rows(args.device, max(args.repeats, 3))
    for name, seconds in raw:
        print(f"  {name:52s} {seconds:7.3f}")
    plain = next(r for r in results if r[:3] == (1, False, 1))
    one = next(r for r in results if r[:3] == (1, True, 1))
    big = next(r for r in results if r[:3] == (1, True, 4))
    eight = next(r for r in results if r[:3] == (8, True, 1))
    refined_side = native * refiner_scale()
    print(f"\ngoals (2-core CPU): one {native} px image end to end (queue, synthesis, PNG) {plain[3]:.2f} s "
          f"(goal ≤ 1 s); one refined ({refined_side} px) {one[3]:.2f} s (goal ≤ 3 s), eight refined {eight[3]:.2f} s "
          f"(goal ≤ 15 s); refined ×4 ({4 * refined_side} px) {big[3]:.2f} s")
    # The calls a job makes: synthesis, the refiner as shipped (not its variants), PNG encoding.
    raw_one = sum(s for n, s in raw if "1 image" in n and "cpu" in n and not any(v in n for v in ("channels-last", "bf16")))
    print(f"ratio end-to-end / raw engine calls, one refined {refined_side} px image: ×{one[3] / raw_one:.2f}")


def refiner_scale() -> int:
    from inference.models import ModelKind
    from inference.runtime import active_version

    version = active_version(ModelKind.REFINER)
    return int((version.metrics or {}).get("scale") or 1) if version else 1


def native_resolution() -> int:
    from stylegan2_ada.checkpoint import read_metadata

    from inference.models import ModelKind
    from inference.runtime import active_version, model_file

    return int(read_metadata(model_file(active_version(ModelKind.GENERATOR)))["networks"]["G_ema"]["kwargs"]["img_resolution"])


if __name__ == "__main__":
    main()
