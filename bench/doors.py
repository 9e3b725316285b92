"""Every door against a running stack (not a test): how fast each refuses a 1 × 60000 PNG, that
nothing is stored, and how many requests each lets through before it answers 429, with the
counts shared by all doors and processes through Redis.

    .venv/bin/python bench/doors.py [--requests 100] [--strips 9]

What runs (all on 127.0.0.1, a throw-away SQLite data dir, Redis db 14):
- the site: gunicorn (1 worker × 4 threads); the Flask-compatible service: gunicorn
  (1 worker × 4 threads); a classify and a generate qcluster (1 worker each) with the shipped
  classifier and generator;
- rates: classify 20/min and generate 10/min (CUALIFY_RATE_*), the same for every door.
Doors: site form, REST API and compat service, for classify and for generate (a variation's
reference image). The loop stops at the first 429 of each door and never sends more than
--requests requests in all.
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
RATES = {"classify": 20, "generate": 10}


def strip_png(width: int = 1, height: int = 60000) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def multipart(files: dict[str, bytes], fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    for name, data in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="strip.png"\r\n'
                     f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Door:
    """One door: ``send(png)`` posts the image where that door takes it; returns the status."""

    def __init__(self, name: str, scope: str, port: int, path: str, field: str, fields: dict, site_form: bool = False):
        self.name, self.scope, self.path, self.field, self.fields = name, scope, path, field, fields
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Accept-Language": "en"}
        if site_form:  # a browser: the page first, for the session and CSRF cookies
            self.connection.request("GET", path)
            response = self.connection.getresponse()
            page = response.read().decode()
            cookies = [c.split(";")[0] for c in response.headers.get_all("Set-Cookie") or []]
            self.headers.update(Cookie="; ".join(cookies), Referer=f"http://127.0.0.1:{port}{path}")
            self.fields = {**fields, "csrfmiddlewaretoken": re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)}

    def send(self, png: bytes) -> tuple[int, float, str]:
        body, content_type = multipart({self.field: png}, self.fields)
        started = time.perf_counter()
        self.connection.request("POST", self.path, body, {**self.headers, "Content-Type": content_type})
        response = self.connection.getresponse()
        text = response.read().decode(errors="replace")
        return response.status, (time.perf_counter() - started) * 1000, text


def wait_for(url_port: int, path: str, process: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args[0]} exited:\n{log.read_text()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", url_port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"no answer on {url_port}{path} in {seconds} s:\n{log.read_text()[-2000:]}")


def stored(data_dir: Path) -> dict[str, int]:
    db = sqlite3.connect(data_dir / "db.sqlite3")
    counts = {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
              for table in ("inference_classificationrecord", "inference_generationjob")}
    uploads = data_dir / "media" / "uploads"
    counts["upload files"] = sum(1 for p in uploads.rglob("*") if p.is_file()) if uploads.exists() else 0
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100, help="at most this many requests in the 429 loop")
    parser.add_argument("--strips", type=int, default=9, help="1 × 60000 PNGs timed per door (fewer than the rates)")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="cualify-bench-doors-"))
    env = {**os.environ, "CUALIFY_DATA_DIR": str(data_dir), "REDIS_URL": "redis://127.0.0.1:6379/14",
           "CUALIFY_QUEUE_WORKERS": "1", "CUALIFY_CLASSIFY_WAIT_SECONDS": "0",
           "CUALIFY_RATE_CLASSIFY": f"{RATES['classify']}/min", "CUALIFY_RATE_GENERATE": f"{RATES['generate']}/min",
           "OMP_NUM_THREADS": "1", "DJANGO_SETTINGS_MODULE": "cualify.settings"}
    env.pop("DATABASE_URL", None)
    subprocess.run([PY, "-c", "import redis; redis.Redis(db=14).flushdb()"], check=True, env=env)
    subprocess.run([PY, "manage.py", "bootstrap", "--no-demo", "--no-progress", "-v", "0"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    site_port, compat_port = free_port(), free_port()
    processes = []
    logs = {name: data_dir / f"{name}.log" for name in ("qcluster", "site", "compat", "qcluster-generate")}
    commands = {
        "qcluster": [PY, "manage.py", "qcluster"],  # the classify cluster (the default one)
        "site": [GUNICORN, "cualify.wsgi", "--bind", f"127.0.0.1:{site_port}", "--workers", "1", "--threads", "4"],
        "compat": [GUNICORN, "compat.wsgi:app", "--bind", f"127.0.0.1:{compat_port}", "--workers", "1", "--threads", "4"],
    }
    try:
        for name, command in commands.items():
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=logs[name].open("w"),
                                              stderr=subprocess.STDOUT, start_new_session=True))
        processes.append(subprocess.Popen([PY, "manage.py", "qcluster"], cwd=ROOT, env={**env, "Q_CLUSTER_NAME": "generate"},
                                          stdout=logs["qcluster-generate"].open("w"), stderr=subprocess.STDOUT,
                                          start_new_session=True))
        wait_for(site_port, "/ready?kind=generator", processes[3], logs["qcluster-generate"], 120)
        wait_for(site_port, "/ready?kind=classifier", processes[0], logs["qcluster"], 120)
        wait_for(site_port, "/ready", processes[1], logs["site"])
        wait_for(compat_port, "/ready", processes[2], logs["compat"])

        def doors():
            variation = {"mode": "variation", "count": "1", "truncation": "0.7", "distance": "0.5",
                         "refine_strength": "0.3", "upscale": "1"}
            return [
                Door("site form", "classify", site_port, "/classify/", "photo", {}, site_form=True),
                Door("REST API", "classify", site_port, "/api/v1/classify/", "file", {}),
                Door("compat", "classify", compat_port, "/predict", "file", {}),
                Door("site form", "generate", site_port, "/generate/", "reference", variation, site_form=True),
                Door("REST API", "generate", site_port, "/api/v1/generate/", "reference", {"mode": "variation"}),
                Door("compat", "generate", compat_port, "/generate", "reference", {"mode": "variation"}),
            ]

        png = strip_png()
        print(f"1 × 60000 PNG ({len(png)} bytes): refusal time per door (up to {args.strips} requests each, fewer than a "
              "third of the scope's rate, so that none is throttled)")
        print(f"{'door':<12} {'scope':<9} {'n':>3} {'status':<8} {'median ms':>10} {'max ms':>8}  message")
        for door in doors():
            answers = [door.send(png) for _ in range(min(args.strips, RATES[door.scope] // 3 - 1))]
            times = [ms for _, ms, _ in answers]
            status = {code for code, _, _ in answers}
            text = answers[-1][2]
            said = json.loads(text)["error"] if text.startswith("{") else (
                "too long and narrow" if "too long and narrow" in text else text[:60])
            print(f"{door.name:<12} {door.scope:<9} {len(times):>3} {','.join(map(str, sorted(status))):<8} "
                  f"{statistics.median(times):>10.1f} {max(times):>8.1f}  {said[:70]}")
        print("stored after the refusals:", stored(data_dir))

        subprocess.run([PY, "-c", "import redis; redis.Redis(db=14).flushdb()"], check=True, env=env)
        print(f"\nBounded loop (≤ {args.requests} requests in all): the same identity, the doors of a scope in turn, "
              f"until each answers 429")
        sent, first_429 = 0, {}
        for scope in ("classify", "generate"):
            scope_doors = [door for door in doors() if door.scope == scope]
            accepted = 0
            while len([d for d in scope_doors if (d.name, scope) in first_429]) < len(scope_doors) and sent < args.requests:
                for door in scope_doors:
                    if (door.name, scope) in first_429 or sent >= args.requests:
                        continue
                    status, _, _ = door.send(png)
                    sent += 1
                    if status == 429:
                        first_429[(door.name, scope)] = sent
                    else:
                        accepted += 1
            print(f"  {scope}: rate {RATES[scope]}/min shared by the doors; {accepted} answered (400: refused at intake) "
                  f"before every door said 429; first 429 at request " +
                  ", ".join(f"{name} #{first_429.get((name, scope), '—')}" for name in ("site form", "REST API", "compat")))
        print(f"  requests sent: {sent}")
        print("stored after the loop:", stored(data_dir))
    finally:
        # The leaders first: a qcluster or a gunicorn master stops its own children in order.
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(process.pid, 9)
            except ProcessLookupError:
                pass

if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
