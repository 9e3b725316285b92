"""End-to-end classification benchmark (not a test): starts the stack, loads it over HTTP,
and prints latency and throughput next to the study's design and raw in-process predict,
all measured in this one run.

    .venv/bin/python bench/classify.py                       # production config: MariaDB + Redis
    .venv/bin/python bench/classify.py --db sqlite --broker orm   # the embedded default
    .venv/bin/python bench/classify.py --classifier RUN/classifier.safetensors --no-baseline
                                         # the site serving another classifier (e.g. a fine-tuned EfficientNet-Lite0)
    .venv/bin/python bench/classify.py --while-generating 3 --no-baseline
                                         # classify idle, then while 3 generation jobs keep running

With ``--while-generating N`` both clusters run with their default sizes (half the cores each:
the one-machine default of scripts/run.sh), and classification is measured twice in one run:
idle, then while N fusion jobs of 8 refined images are kept running (a finished one is replaced
at once) through the site's own form. The goal: p95 under load <= 2x the idle p95.

What runs (all on this machine, ports on 127.0.0.1):
- the site: gunicorn (2 workers) + one qcluster (2 workers), the shipped classifier;
- the baseline: bench/flask_baseline.py under gunicorn (2 workers), Ultralytics predict in the request;
- clients: threads posting the same 512×512 demo photos (the study's image size), keep-alive.
"""
from __future__ import annotations

import argparse
import http.client
import io
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
WEIGHTS = ROOT / "weights" / "classifier-demo-yolo11n-cls.pt"


def demo_photos(count: int) -> list[bytes]:
    from motifs.demo_art import MOTIF_SLUGS, render_motif

    photos = []
    for i in range(count):
        buffer = io.BytesIO()
        render_motif(MOTIF_SLUGS[i % len(MOTIF_SLUGS)], 90_000 + i, 512).save(buffer, "JPEG", quality=90)
        photos.append(buffer.getvalue())
    return photos


STUDY = "Flask baseline, study defaults"
TUNED = "Flask baseline, 1 torch thread"


def multipart(field: str, data: bytes, extra: dict[str, str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in extra.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="photo.jpg"\r\n'
                 f"Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class SiteClient:
    """A browser-like client of /classify/: session and CSRF cookies, keep-alive."""

    PAGE = "/classify/"

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.connection.request("GET", self.PAGE)
        response = self.connection.getresponse()
        page = response.read().decode()
        cookies = [c.split(";")[0] for c in response.headers.get_all("Set-Cookie") or []]
        self.cookie = "; ".join(cookies)
        self.token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    def classify(self, photo: bytes) -> int:
        body, content_type = multipart("photo", photo, {"csrfmiddlewaretoken": self.token})
        self.connection.request("POST", "/classify/", body, {"Content-Type": content_type, "Cookie": self.cookie,
                                                             "Referer": "http://127.0.0.1/classify/"})
        response = self.connection.getresponse()
        response.read()
        if response.status != 302:
            raise RuntimeError(f"site answered {response.status}")
        self.keep_cookies(response)
        return response.status

    def keep_cookies(self, response) -> None:
        """Like a browser: keep the session cookie the site sets, so it is one visitor."""
        jar = dict(c.split("=", 1) for c in self.cookie.split("; ") if "=" in c)
        for header in response.headers.get_all("Set-Cookie") or []:
            name, value = header.split(";")[0].split("=", 1)
            jar[name] = value
        self.cookie = "; ".join(f"{k}={v}" for k, v in jar.items())


class GenerateClient(SiteClient):
    """A visitor of /generate/ who keeps submitting fusion jobs (8 refined, upscaled images)."""

    FORM = {"mode": "fusion", "motifs": ["merak", "kepiting"], "count": "8", "truncation": "0.7", "distance": "0.5",
            "refine_strength": "0.3", "upscale": "2", "tile": "on"}
    PAGE = "/generate/"

    def submit(self, seed: int) -> str:
        from urllib.parse import urlencode

        fields = [("csrfmiddlewaretoken", self.token), ("seed", str(seed))]
        fields += [(k, v) for k, values in self.FORM.items() for v in ([values] if isinstance(values, str) else values)]
        self.connection.request("POST", "/generate/", urlencode(fields), {
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": self.cookie,
            "Referer": "http://127.0.0.1/generate/"})
        response = self.connection.getresponse()
        response.read()
        if response.status != 302:
            raise RuntimeError(f"generate answered {response.status}")
        self.keep_cookies(response)
        return response.headers["Location"]

    def finished(self, job_url: str) -> bool:
        import json

        self.connection.request("GET", job_url.rstrip("/") + "/status/", headers={"Cookie": self.cookie})
        response = self.connection.getresponse()
        body = response.read()
        return response.status != 200 or json.loads(body).get("finished", False)


def keep_generating(port: int, jobs: int, stop: threading.Event, done: list) -> None:
    """Keep ``jobs`` generation jobs in flight until ``stop`` is set; ``done`` counts the finished."""
    client = GenerateClient(port)
    running = [client.submit(seed) for seed in range(jobs)]
    seed = jobs
    while not stop.is_set():
        time.sleep(0.5)
        for index, url in enumerate(running):
            if client.finished(url):
                done.append(url)
                running[index] = client.submit(seed)
                seed += 1


class BaselineClient:
    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def classify(self, photo: bytes) -> int:
        body, content_type = multipart("file", photo, {})
        self.connection.request("POST", "/predict", body, {"Content-Type": content_type})
        response = self.connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"baseline answered {response.status}")
        return response.status


def load(make_client, photos: list[bytes], clients: int, requests: int) -> dict:
    """``clients`` threads share ``requests`` requests; returns latency percentiles and rps."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(requests))
    errors: list[str] = []

    def worker():
        client = make_client()
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            started = time.perf_counter()
            try:
                client.classify(photos[index % len(photos)])
            except Exception as exc:  # report, keep going
                errors.append(str(exc))
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    if errors and not latencies:
        raise RuntimeError(f"every request failed: {errors[0]}")
    return {
        "clients": clients, "n": len(latencies), "errors": len(errors),
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan"),
        "rps": len(latencies) / elapsed,
    }


def cpu_seconds(root_pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU time (user + system) of each named group of processes and all their children
    (a negative pid counts that process alone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)  # ppid, cpu

    def with_children(pid):
        found, frontier = {pid}, [pid]
        while frontier:
            parent = frontier.pop()
            for child, (ppid, _) in stats.items():
                if ppid == parent and child not in found:
                    found.add(child)
                    frontier.append(child)
        return found

    def members(pid):
        return {-pid} if pid < 0 else with_children(pid)

    return {name: sum(stats[p][1] for pid in pids for p in members(pid) if p in stats) for name, pids in root_pids.items()}


def service_pids(name: str) -> list[int]:
    result = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True)
    return [int(p) for p in result.stdout.split()]


def wait_for(check, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise SystemExit(f"timed out waiting for {what}")


def page_ready(port: int, kind: str = "") -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    if kind:  # a live worker with the active model of that kind
        connection.request("GET", f"/ready?kind={kind}")
        return connection.getresponse().status == 200
    connection.request("GET", "/classify/")
    response = connection.getresponse()
    return response.status == 200 and b"data-testid=\"unavailable\"" not in response.read()


def baseline_ready(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("POST", "/predict", b"", {"Content-Type": "multipart/form-data; boundary=x"})
    return connection.getresponse().status in (400, 200)


def raw_predict_ms(photos: list[bytes], repeat: int, classifier: Path | None = None) -> dict:
    from PIL import Image

    from inference.engines.classifier import ClassifierEngine, export_onnx
    from inference.engines.offline import configure_ultralytics_offline

    configure_ultralytics_offline(os.environ["YOLO_CONFIG_DIR"])
    import torch
    from ultralytics import YOLO

    torch.set_num_threads(1)
    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in photos]
    yolo = YOLO(str(WEIGHTS), task="classify")
    onnx_path = Path(tempfile.mkdtemp()) / "demo.onnx"
    engines = {"ultralytics YOLO.predict (.pt)": lambda im: yolo.predict(im, verbose=False),
               "Cualify engine (ONNX Runtime)": ClassifierEngine.load(export_onnx(WEIGHTS, onnx_path), threads=1).predict}
    if classifier is not None:
        other = ClassifierEngine.load(export_onnx(classifier, onnx_path.with_name("other.onnx")), threads=1)
        engines[f"Cualify engine (ONNX Runtime), {classifier.name}"] = other.predict
    results = {}
    for name, predict in engines.items():
        for im in images[:3]:
            predict(im if "YOLO" in name else [im])  # warm up
        times = []
        for i in range(repeat):
            im = images[i % len(images)]
            started = time.perf_counter()
            predict(im if "YOLO" in name else [im])
            times.append(time.perf_counter() - started)
        results[name] = 1000 * statistics.median(times)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["mariadb", "sqlite"], default="mariadb")
    parser.add_argument("--broker", choices=["redis", "orm"], default="redis")
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--requests", type=int, default=120, help="requests per client count")
    parser.add_argument("--site-port", type=int, default=8100)
    parser.add_argument("--baseline-port", type=int, default=8101)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--classifier", type=Path, help="register and activate this classifier file instead of "
                        "the shipped demo one (the baseline keeps the demo .pt)")
    parser.add_argument("--while-generating", type=int, default=0, metavar="N",
                        help="also measure classification while N generation jobs keep running (both clusters)")
    parser.add_argument("--class-map", type=Path, help='with --classifier: JSON {"class": "motif-slug"} for a model '
                        "whose classes are not the catalogue's (only the speed is measured)")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    # Stopped from outside: still stop the servers it started (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    data_dir = Path(tempfile.mkdtemp(prefix="cualify-bench-"))
    env = {**os.environ, "CUALIFY_DATA_DIR": str(data_dir), "CUALIFY_ENV": "local", "DEBUG": "false",
           "CUALIFY_QUEUE_WORKERS": "2", "CUALIFY_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1",
           # The load generator is one visitor: lift the per-visitor rates (30 and 10/min by default).
           "CUALIFY_RATE_CLASSIFY": "1000000/min", "CUALIFY_RATE_GENERATE": "1000000/min",
           "YOLO_CONFIG_DIR": os.environ.get("YOLO_CONFIG_DIR", str(Path.home() / ".cache/cualify/ultralytics"))}
    os.environ.update({k: env[k] for k in ("CUALIFY_DATA_DIR", "YOLO_CONFIG_DIR")})
    if args.db == "mariadb":
        subprocess.run(["mariadb", "-uroot", "-e", "DROP DATABASE IF EXISTS cualify_bench; "
                        "CREATE DATABASE cualify_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"], check=True)
        env["DATABASE_URL"] = "mysql://root:@localhost/cualify_bench"
    else:
        env.pop("DATABASE_URL", None)
    if args.broker == "redis":
        env["REDIS_URL"] = "redis://127.0.0.1:6379/15"
        subprocess.run(["redis-cli", "-n", "15", "FLUSHDB"], check=True, capture_output=True)
    else:
        env.pop("REDIS_URL", None)

    if args.while_generating:
        env.pop("CUALIFY_QUEUE_WORKERS")  # the clusters' own defaults, as scripts/run.sh starts them
    shape = ("classify + generate qclusters (default sizes)" if args.while_generating else "classify qcluster 2 workers")
    print(f"config: db={args.db} broker={args.broker}; site = gunicorn 2 workers + {shape}; data in {data_dir}")
    subprocess.run([PY, "manage.py", "bootstrap", "--no-demo", "--no-progress", "-v", "0"], cwd=ROOT, env=env, check=True)
    if args.classifier:
        mapping = ["--class-map", str(args.class_map.resolve())] if args.class_map else []
        subprocess.run([PY, "manage.py", "register_model", str(args.classifier.resolve()), "--kind", "classifier",
                        "--activate", *mapping], cwd=ROOT, env=env, check=True)
    processes = []

    def start(command, extra=None):
        process = subprocess.Popen(command, cwd=ROOT, env={**env, **(extra or {})}, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        processes.append(process)
        return process

    try:
        cluster = start([PY, "manage.py", "qcluster"], {"Q_CLUSTER_NAME": "classify"})
        if args.while_generating:
            start([PY, "manage.py", "qcluster"], {"Q_CLUSTER_NAME": "generate"})
        web = start([GUNICORN, "cualify.wsgi", "--workers", "2", "--threads", "4", "--no-control-socket",
                     "--bind", f"127.0.0.1:{args.site_port}"])
        groups = {"web (gunicorn)": [web.pid], "queue (qcluster)": [cluster.pid],
                  "database": service_pids("mariadbd") if args.db == "mariadb" else [],
                  "broker (redis)": service_pids("redis-server") if args.broker == "redis" else [],
                  "load generator (this process)": [-os.getpid()]}
        wait_for(lambda: page_ready(args.site_port), "the site and a warm worker")
        baselines = {}
        if not args.no_baseline:
            # As the study ran it (torch's default threads), and tuned like our workers (1 thread).
            for offset, (name, threads) in enumerate([(STUDY, None), (TUNED, "1")]):
                extra = {"CUALIFY_BASELINE_WEIGHTS": str(WEIGHTS)}
                baseline_env = {k: v for k, v in env.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
                if threads:
                    extra["CUALIFY_BASELINE_THREADS"] = threads
                port = args.baseline_port + offset
                process = subprocess.Popen(
                    [GUNICORN, "bench.flask_baseline:app", "--workers", "2", "--no-control-socket", "--bind", f"127.0.0.1:{port}"],
                    cwd=ROOT, env={**baseline_env, **extra}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True)
                processes.append(process)
                wait_for(lambda: baseline_ready(port), name)
                baselines[name] = port
        photos = demo_photos(28)
        rows = []
        cpu_per_request = {}
        for count in clients:
            # Warm each path once, then measure.
            load(lambda: SiteClient(args.site_port), photos, 1, 4)
            before = cpu_seconds(groups)
            rows.append(("Cualify site (queue)", load(lambda: SiteClient(args.site_port), photos, count, args.requests)))
            after = cpu_seconds(groups)
            cpu_per_request[count] = {k: 1000 * (after[k] - before[k]) / rows[-1][1]["n"] for k in groups}
            for name, port in baselines.items():
                load(lambda: BaselineClient(port), photos, 1, 4)
                rows.append((name, load(lambda: BaselineClient(port), photos, count, args.requests)))
        if args.while_generating:
            wait_for(lambda: page_ready(args.site_port, "generator"), "a warm generate worker")
            stop, finished = threading.Event(), []
            generating = threading.Thread(target=keep_generating,
                                          args=(args.site_port, args.while_generating, stop, finished))
            generating.start()
            time.sleep(5)  # the jobs are running (loading done, drawing) before we measure
            try:
                for count in clients:
                    rows.append((f"... while {args.while_generating} jobs run",
                                 load(lambda: SiteClient(args.site_port), photos, count, args.requests)))
            finally:
                stop.set()
                generating.join()
            print(f"generation jobs finished during the loaded measurement: {len(finished)}")
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    print(f"\n{'path':38s} {'clients':>7s} {'n':>5s} {'err':>4s} {'p50 ms':>8s} {'p95 ms':>8s} {'req/s':>7s}")
    for name, row in rows:
        print(f"{name:38s} {row['clients']:7d} {row['n']:5d} {row['errors']:4d} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f} {row['rps']:7.1f}")
    if args.while_generating:
        print("\nunder load / idle (goal: p95 <= 2x idle):")
        for count in clients:
            idle = next(r for n, r in rows if n.startswith("Cualify") and r["clients"] == count)
            busy = next(r for n, r in rows if n.startswith("... while") and r["clients"] == count)
            print(f"  {count} clients: p50 ×{busy['p50_ms'] / idle['p50_ms']:.2f}, p95 ×{busy['p95_ms'] / idle['p95_ms']:.2f}")
    for baseline in ([] if args.no_baseline else [STUDY, TUNED]):
        print(f"\nratios, site / {baseline}:")
        for count in clients:
            site = next(r for n, r in rows if n.startswith("Cualify") and r["clients"] == count)
            base = next(r for n, r in rows if n == baseline and r["clients"] == count)
            print(f"  {count} clients: throughput ×{site['rps'] / base['rps']:.2f}, p50 ×{site['p50_ms'] / base['p50_ms']:.2f}")

    print("\nCPU per site request, by process group (ms; 2 cores = 2000 ms per second):")
    for count, groups_ms in cpu_per_request.items():
        print(f"  {count} clients: " + ", ".join(f"{k} {v:.1f}" for k, v in groups_ms.items()) + f" — total {sum(groups_ms.values()):.1f}")

    # Where the time goes, from the records the worker wrote (seconds → ms).
    breakdown = subprocess.run([PY, "-c", BREAKDOWN], cwd=ROOT, env=env, capture_output=True, text=True)
    print("\nwhere the time goes (median over the site's requests, ms):")
    print(breakdown.stdout or breakdown.stderr[-2000:])
    raw = raw_predict_ms(photos, 60, args.classifier)
    print("raw in-process predict, one 512 px photo, 1 thread (median ms):")
    for name, ms in raw.items():
        print(f"  {name:36s} {ms:6.2f}")


BREAKDOWN = """
import os, statistics, django, json
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cualify.settings")
django.setup()
from inference.models import ClassificationRecord
rows = list(ClassificationRecord.objects.filter(status="done").values_list("timings", flat=True))
keys = ["upload_s", "validation_s", "queue_s", "preprocess_s", "inference_s", "worker_s"]
for key in keys:
    values = [t[key] for t in rows if key in t]
    if values:
        print(f"  {key[:-2]:12s} {1000 * statistics.median(values):7.2f}")
print(f"  (records: {len(rows)})")
"""

if __name__ == "__main__":
    main()
