#!/usr/bin/env python3
"""A Flask-era client of Cualify's Flask-compatible service (``gunicorn compat.wsgi:app``).

Standard library only (urllib), so it runs anywhere a Python 3.9+ does. It prints the service's
JSON; an error answer ({"error", "detail"}) is printed too and the exit status is 1.

    python scripts/compat_client.py predict photo.jpg --url http://127.0.0.1:8001
    python scripts/compat_client.py generate --mode prompt --prompt "bunga kenanga merah" --wait
    python scripts/compat_client.py generate --mode fusion --motif merak --motif kepiting --seed 7 --wait --download out/
    python scripts/compat_client.py status <job_id>
    python scripts/compat_client.py health | ready

``--url`` defaults to $CUALIFY_COMPAT_URL or http://127.0.0.1:8001; ``--lang id|en`` picks the
language of the messages.
"""
from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
import time
import uuid
from pathlib import Path
from urllib import error, request


class ServiceError(Exception):
    def __init__(self, status: int, body: dict):
        self.status, self.body = status, body
        super().__init__(f"HTTP {status}: {body.get('error', body)}")


class Client:
    def __init__(self, url: str, language: str = "", timeout: float = 60.0):
        self.url, self.language, self.timeout = url.rstrip("/"), language, timeout

    def _send(self, method: str, path_or_url: str, body: bytes | None = None, content_type: str = "") -> tuple[bytes, str]:
        url = path_or_url if "://" in path_or_url else self.url + path_or_url
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.language:
            headers["Accept-Language"] = self.language
        try:
            with request.urlopen(request.Request(url, data=body, headers=headers, method=method), timeout=self.timeout) as answer:
                return answer.read(), answer.headers.get("Content-Type", "")
        except error.HTTPError as exc:
            raw = exc.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = {"error": raw.decode("utf-8", "replace")[:500], "detail": {}}
            raise ServiceError(exc.code, payload) from None

    def _json(self, method: str, path: str, body: bytes | None = None, content_type: str = "") -> dict:
        return json.loads(self._send(method, path, body, content_type)[0])

    def predict(self, photo: Path, field: str = "file") -> dict:
        body, content_type = multipart(field, photo.name, photo.read_bytes())
        return self._json("POST", "/predict", body, content_type)

    def generate(self, **fields) -> dict:
        body = json.dumps({k: v for k, v in fields.items() if v is not None}).encode()
        return self._json("POST", "/generate", body, "application/json")

    def status(self, job_id_or_url: str) -> dict:
        return self._json("GET", job_id_or_url if "://" in job_id_or_url else f"/generate/{job_id_or_url}")

    def wait(self, status_url: str, timeout: float, every: float = 0.5) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.status(status_url)
            if job.get("finished") or time.monotonic() >= deadline:
                return job
            print(f"{job.get('status')} {round(100 * job.get('progress', 0))}% {job.get('stage', '')}", file=sys.stderr)
            time.sleep(every)

    def download(self, job: dict, folder: Path) -> list[str]:
        folder.mkdir(parents=True, exist_ok=True)
        saved = []
        for image in job.get("images", []):
            path = folder / f"{job['job_id'][:8]}-{image['index']}-seed{image['seed']}.png"
            path.write_bytes(self._send("GET", image["url"])[0])
            saved.append(str(path))
        return saved

    def get(self, path: str) -> dict:
        return self._json("GET", path)


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    kind = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: {kind}\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("CUALIFY_COMPAT_URL", "http://127.0.0.1:8001"))
    parser.add_argument("--lang", default="", help="language of the messages: id or en")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per HTTP request")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="classify a photo of a cloth")
    predict.add_argument("photo", type=Path)
    predict.add_argument("--field", default="file", help="multipart field name (file or image)")
    generate = commands.add_parser("generate", help="start a generation job")
    generate.add_argument("--mode", required=True, choices=["fusion", "variation", "prompt"])
    generate.add_argument("--motif", action="append", dest="motifs", help="a motif slug (repeat for a fusion)")
    generate.add_argument("--prompt")
    generate.add_argument("--seed", type=int)
    generate.add_argument("--count", type=int)
    generate.add_argument("--truncation", type=float)
    generate.add_argument("--distance", type=float)
    generate.add_argument("--upscale", type=int)
    generate.add_argument("--refine", action="store_true", default=None)
    generate.add_argument("--refine-strength", type=float)
    generate.add_argument("--no-tile", dest="tile", action="store_false", default=None)
    generate.add_argument("--wait", action="store_true", help="poll until the job is finished and print it")
    generate.add_argument("--wait-seconds", type=float, default=600.0)
    generate.add_argument("--download", type=Path, help="with --wait: save the images into this folder")
    status = commands.add_parser("status", help="a job's status")
    status.add_argument("job")
    commands.add_parser("health", help="is the service up, which models are active")
    commands.add_parser("ready", help="can it answer now (database and a worker with the models)")
    args = parser.parse_args(argv)

    client = Client(args.url, args.lang, args.timeout)
    try:
        if args.command == "predict":
            result = client.predict(args.photo, args.field)
        elif args.command == "generate":
            result = client.generate(mode=args.mode, motifs=args.motifs, prompt=args.prompt, seed=args.seed,
                                     count=args.count, truncation=args.truncation, distance=args.distance,
                                     upscale=args.upscale, refine=args.refine, refine_strength=args.refine_strength,
                                     tile=args.tile)
            if args.wait or args.download:
                result = client.wait(result["status_url"], args.wait_seconds)
                if args.download:
                    result["downloaded"] = client.download(result, args.download)
        elif args.command == "status":
            result = client.status(args.job)
        else:
            result = client.get(f"/{args.command}")
    except ServiceError as exc:
        print(json.dumps(exc.body, ensure_ascii=False, indent=2))
        return 1
    except error.URLError as exc:
        print(json.dumps({"error": f"cannot reach {args.url}: {exc.reason}", "detail": {}}, indent=2))
        return 2
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if result.get("status") not in ("failed", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
