"""Cualify on four hosts, as production runs it: a "db" host with MariaDB, Redis and an S3
object store (moto's server), a "web" host with gunicorn, and two worker hosts, each running a
classify and a generate cluster with its own model cache and no disk shared with any other
host (media and models live in the bucket). Jobs and classifications are sent from the web
host; one worker host is killed (every process, SIGKILL) while it generates; its job completes
on the other host, nothing is lost and no file is left behind.

The hosts are network namespaces made by the test (tests/multihost.py) and torn down after;
no packet leaves them. Runs once, in the SQLite pass (it brings its own database)."""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from motifs.demo_art import render_motif
from tests.multihost import Lan, namespaces_available

pytestmark = [pytest.mark.multihost, pytest.mark.nodb]

DB, WEB, WORKERS = "10.77.0.1", "10.77.0.2", {"w1": "10.77.0.3", "w2": "10.77.0.4"}
SITE = f"http://{WEB}:8000"
S3 = f"http://{DB}:9000"
BUCKET = "cualify-media"
PYTHON = sys.executable


@pytest.fixture(scope="module")
def lan(tmp_path_factory):
    why = namespaces_available()
    if why:
        pytest.skip(why)
    for program in ("mariadb-install-db", "mariadbd", "redis-server"):
        if not shutil.which(program):
            pytest.skip(f"needs {program} on this machine")
    lan = Lan({"db": DB, "web": WEB, **WORKERS})
    lan.root = tmp_path_factory.mktemp("hosts")
    lan.up()
    try:
        yield lan
    finally:
        lan.down()


def host_env(lan, host: str, **extra) -> dict:
    """What every host's Django reads: the db host's services, the bucket, a data dir of its own
    (its own disk: secret, logs, model cache)."""
    keep = {name: value for name, value in os.environ.items()
            if not name.startswith(("CUALIFY_", "DATABASE_", "REDIS_", "Q_CLUSTER", "DJANGO_", "PYTEST"))}
    data_dir = lan.root / host
    data_dir.mkdir(exist_ok=True)
    return {
        **keep, "DATABASE_URL": f"mysql://cualify:cualify@{DB}:3306/cualify", "REDIS_URL": f"redis://{DB}:6379/0",
        "CUALIFY_MEDIA_STORAGE": "s3", "CUALIFY_S3_BUCKET": BUCKET, "CUALIFY_S3_ENDPOINT_URL": S3,
        "CUALIFY_S3_REGION": "us-east-1", "CUALIFY_S3_ACCESS_KEY_ID": "cualify", "CUALIFY_S3_SECRET_ACCESS_KEY": "cualify",
        "CUALIFY_DATA_DIR": str(data_dir), "SECRET_KEY": "multi-host-test-secret", "ALLOWED_HOSTS": WEB,
        "CUALIFY_HEARTBEAT_SECONDS": "1", "CUALIFY_GENERATION_LEASE_SECONDS": "4",
        "CUALIFY_GENERATION_SWEEP_MINUTES": "1", "OMP_NUM_THREADS": "1",
        # Long enough a projection that the test catches the job while it runs.
        "CUALIFY_PROJECTION_STEPS": "300", **extra,
    }


def wait_until(what: str, check, timeout: float, logs=(), alive=(), every: float = 0.5) -> object:
    """``check()``'s first true value within ``timeout``; fails at once if one of the ``alive``
    processes has exited."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        value = check()
        if value:
            print(f"[multihost] {what}: {time.monotonic() - started:.1f} s")
            return value
        if time.monotonic() > deadline or any(process.poll() is not None for process in alive):
            tails = "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-2500:]}" for path in logs if path.exists())
            raise AssertionError(f"{what}: not within {timeout:.0f} s\n{tails}")
        time.sleep(every)


def start_db_host(lan) -> None:
    root = lan.root / "db"
    root.mkdir()
    data, socket = root / "mysql", root / "mysqld.sock"
    lan.run("db", ["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                   "--auth-root-authentication-method=normal", "--skip-test-db"], timeout=120)
    # Its own socket and pid file: the machine's own MariaDB keeps the default ones.
    lan.start("db", ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={socket}", "--user=root",
                     f"--pid-file={root / 'mysqld.pid'}", f"--bind-address={DB}", "--port=3306",
                     "--innodb-buffer-pool-size=64M", "--skip-log-bin"], log=root / "mariadb.log")
    # Protected mode would refuse the other hosts (no password): the network is the test's own.
    lan.start("db", ["redis-server", "--bind", DB, "--port", "6379", "--protected-mode", "no", "--save", "",
                     "--appendonly", "no", "--dir", str(root)], log=root / "redis.log")
    lan.start("db", [PYTHON, "-m", "moto.server", "-H", DB, "-p", "9000"], log=root / "s3.log")

    def mariadb_answers():
        return subprocess.run(lan.command("db", ["mariadb", "--no-defaults", f"--socket={socket}", "-uroot", "-e", "SELECT 1"]),
                              capture_output=True).returncode == 0

    wait_until("MariaDB on the db host", mariadb_answers, 60, [root / "mariadb.log"])
    lan.run("db", ["mariadb", "--no-defaults", f"--socket={socket}", "-uroot"], input=(
        "CREATE DATABASE cualify CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
        "CREATE USER 'cualify'@'%' IDENTIFIED BY 'cualify'; GRANT ALL ON cualify.* TO 'cualify'@'%';"))
    make_bucket = ("import boto3; boto3.client('s3', endpoint_url=%r, region_name='us-east-1', aws_access_key_id='cualify',"
                   " aws_secret_access_key='cualify').create_bucket(Bucket=%r)" % (S3, BUCKET))
    wait_until("the object store on the db host", lambda: subprocess.run(
        lan.command("db", [PYTHON, "-c", make_bucket]), capture_output=True).returncode == 0, 60, [root / "s3.log"])


class WebClient:
    """HTTP from the web host (tests/multihost_client.py), one session for all requests."""

    def __init__(self, lan):
        self.process = subprocess.Popen(lan.command("web", [PYTHON, str(Path(__file__).with_name("multihost_client.py"))]),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
        lan.processes.append(self.process)

    def call(self, method: str, path: str, **request) -> dict:
        self.process.stdin.write(json.dumps({"method": method, "url": SITE + path, **request}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def get(self, path: str) -> dict:
        return self.call("GET", path)


def photo(slug: str, seed: int) -> dict:
    buffer = io.BytesIO()
    render_motif(slug, seed, 256).save(buffer, "JPEG")
    return {"file": ["photo.jpg", "image/jpeg", base64.b64encode(buffer.getvalue()).decode()]}


def classify(client, slug: str, seed: int) -> dict:
    answer = client.call("POST", "/api/v1/classify/", files=photo(slug, seed), timeout=60)
    assert answer["status"] in (200, 202), answer
    if answer["status"] == 202:
        answer = wait_until("the classification", lambda: (polled := client.get(
            answer["json"]["status_url"].removeprefix(SITE)))["json"]["status"] in ("done", "failed") and polled, 60)
    assert answer["json"]["status"] == "done", answer
    return answer["json"]


def site_state(lan) -> dict:
    """What the database and the bucket hold, read on the web host."""
    script = """
import json
from django.core.files.storage import default_storage, storages
from inference.models import ClassificationRecord, GeneratedImage, GenerationJob, WorkerHeartbeat

def walk(folder):
    folders, files = default_storage.listdir(folder)
    for name in files:
        yield f"{folder}/{name}"
    for name in folders:
        yield from walk(f"{folder}/{name}")

print(json.dumps({
    "jobs": list(GenerationJob.objects.values("public_id", "status", "attempts", "error", "lease_owner")),
    "image_files": sorted(GeneratedImage.objects.values_list("file", flat=True)),
    "result_files": sorted(walk("uploads/generate/results")),
    "records": list(ClassificationRecord.objects.values("status", "image")),
    "beats": list(WorkerHeartbeat.objects.values("host", "cluster", "serves", "models_loaded")),
    "storage": type(storages["default"]).__name__,
}, default=str))
"""
    done = lan.run("web", [PYTHON, "manage.py", "shell", "-c", script], env=host_env(lan, "web"), cwd=settings.BASE_DIR)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_worker_host_killed_mid_job_loses_nothing(lan):
    start_db_host(lan)
    base = settings.BASE_DIR
    logs = [lan.root / name for name in ("web.log", "w1-generate.log", "w2-generate.log", "w1-classify.log",
                                         "w2-classify.log", "db/s3.log")]
    # The web host makes the site ready (migrations, catalogue, the shipped models stored in the
    # bucket) and serves it with the deployment's gunicorn settings.
    lan.run("web", [PYTHON, "manage.py", "bootstrap", "--no-demo", "--no-progress"], env=host_env(lan, "web"),
            cwd=base, timeout=300)
    lan.start("web", [PYTHON, "-m", "gunicorn", "cualify.wsgi", "-c", "deploy/gunicorn.site.conf.py", "--workers", "2"],
              log=lan.root / "web.log", env=host_env(lan, "web", CUALIFY_WEB_BIND=f"{WEB}:8000"), cwd=base)
    clusters = {}
    for host in WORKERS:
        for cluster in ("classify", "generate"):
            clusters[host, cluster] = lan.start(host, [PYTHON, "manage.py", "qcluster"], log=lan.root / f"{host}-{cluster}.log", cwd=base,
                      env=host_env(lan, host, Q_CLUSTER_NAME=cluster, CUALIFY_CLASSIFY_WORKERS="1",
                                   CUALIFY_GENERATE_WORKERS="1"))
    client = WebClient(lan)
    wait_until("the site on the web host", lambda: client.get("/health")["status"] == 200, 60, logs)

    def every_worker_warm():
        beats = {(beat["host"], beat["cluster"]): beat for beat in site_state(lan)["beats"]}
        return all((host, cluster) in beats and set(beats[(host, cluster)]["serves"]) <= set(beats[(host, cluster)]["models_loaded"])
                   for host in WORKERS for cluster in ("classify", "generate"))

    wait_until("all four clusters warm, each with its models", every_worker_warm, 180, logs, clusters.values())
    # Each worker host fetched the models from the bucket into its own cache; the web host has none.
    for host in WORKERS:
        assert any((lan.root / host / "model-cache").iterdir()), f"{host} has no model cache"
    assert not (lan.root / "web" / "model-cache").exists()

    before = classify(client, "kuda-laut", 8123)
    assert before["top"][0]["label"] == "kuda-laut", before

    # Variations of a reference photo: the projection takes long enough to kill a host mid-job.
    jobs = []
    for seed in (5, 6):
        answer = client.call("POST", "/api/v1/generate/", files={"reference": photo("merak", 4242 + seed)["file"]},
                             data={"mode": "variation", "count": 4, "seed": seed, "distance": 0.4})
        assert answer["status"] == 202, answer
        jobs.append(answer["json"]["status_url"].removeprefix(SITE))

    def running_job():
        # One cluster may have taken both tasks (its pusher fetches the next while it works): the
        # host running the first job to start is the one killed, whatever else it holds.
        return next((job for job in site_state(lan)["jobs"] if job["status"] == "running"), None)

    victim_job = wait_until("a job running on a worker host", running_job, 120, logs, clusters.values())
    victim_host = victim_job["lease_owner"].split(":")[0]
    survivor = next(host for host in WORKERS if host != victim_host)
    killed = lan.kill_host(victim_host)
    assert killed and not lan.pids(victim_host)

    # Quick work goes on: the classify cluster of the surviving host answers.
    after = classify(client, "merak", 8124)
    assert after["top"][0]["label"] == "merak", after

    def finished():
        answers = [client.get(path) for path in jobs]
        return all(answer["json"]["finished"] for answer in answers) and answers

    survivors = [process for (host, _), process in clusters.items() if host == survivor]
    # Polled every 2 s, as a client would: the site's anonymous API rate limit counts these too.
    answers = wait_until("both jobs finished after the kill", finished, 400, logs, survivors, every=2)
    assert [answer["json"]["status"] for answer in answers] == ["succeeded", "succeeded"], answers
    state = site_state(lan)
    victim = next(job for job in state["jobs"] if job["public_id"] == victim_job["public_id"])
    assert victim["attempts"] == 2, victim  # the second attempt, on the other host
    assert all(len(answer["json"]["images"]) == 4 for answer in answers)
    # Nothing lost, nothing left behind: every result in the bucket belongs to a row and back.
    assert state["image_files"] == state["result_files"] and len(state["image_files"]) == 8, state
    assert state["storage"] == "S3Storage" and len(state["records"]) == 2, state
    image = client.get(answers[0]["json"]["images"][0]["url"].removeprefix(SITE))
    assert image["status"] == 200, image
