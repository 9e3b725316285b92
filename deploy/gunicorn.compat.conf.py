"""gunicorn settings for the Flask-compatible service:

    gunicorn compat.wsgi:app -c deploy/gunicorn.compat.conf.py

The site's settings (deploy/gunicorn.site.conf.py: limits, logs, recycling, proxy) with the
service's own bind, size and timeouts: /predict waits for the queue worker up to
CUALIFY_COMPAT_PREDICT_WAIT_SECONDS, so the timeout follows it. Flags on the command line win.
"""
import os
import runpy
from pathlib import Path

globals().update({name: value for name, value in runpy.run_path(str(Path(__file__).with_name("gunicorn.site.conf.py"))).items()
                  if not name.startswith("_")})

_cores = os.cpu_count() or 1
_predict_wait = float(os.environ.get("CUALIFY_COMPAT_PREDICT_WAIT_SECONDS", 30))

bind = os.environ.get("CUALIFY_COMPAT_BIND", "127.0.0.1:8001")
proc_name = "cualify-compat"
# Threads: a /predict request mostly waits for the queue worker (no CPU), and the models run in
# the qcluster, never here.
workers = int(os.environ.get("CUALIFY_COMPAT_WORKERS", max(2, _cores // 2)))
threads = int(os.environ.get("CUALIFY_COMPAT_THREADS", 8))
timeout = int(_predict_wait) + 30
graceful_timeout = int(_predict_wait) + 5
