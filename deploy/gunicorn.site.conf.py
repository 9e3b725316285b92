"""gunicorn settings for the site (Django):

    gunicorn cualify.wsgi -c deploy/gunicorn.site.conf.py

Behind a reverse proxy (nginx, Caddy) that terminates HTTPS, serves /static/ and /media/ and
limits request bodies (e.g. nginx ``client_max_body_size 21m``; the site itself refuses images
over CUALIFY_MAX_IMAGE_BYTES). Flags on the command line win over these values.
"""
import os

_cores = os.cpu_count() or 1

bind = os.environ.get("CUALIFY_WEB_BIND", "127.0.0.1:8000")
proc_name = "cualify-site"
# Threads, because a classify request spends up to CUALIFY_CLASSIFY_WAIT_SECONDS waiting for the
# queue worker: a waiting thread costs no CPU and must not hold a whole process. The web never
# loads a model, so a process is small (~100 MB).
worker_class = "gthread"
workers = int(os.environ.get("CUALIFY_WEB_WORKERS", _cores + 1))
threads = int(os.environ.get("CUALIFY_WEB_THREADS", 4))
# Each worker sets Django up itself: no database connection is shared across a fork.
preload_app = False
# A worker silent this long is restarted; longer than the classify wait plus an upload.
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, so a slow leak never grows into an outage.
max_requests = 1000
max_requests_jitter = 100
# The request line and headers stay within gunicorn's defaults; bodies are limited by the app.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# The proxy's address; it sets X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER trusts it).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Access and error logs on stdout/stderr for the service manager (journald, docker logs).
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
access_log_format = '%(h)s "%({x-forwarded-for}i)s" "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# Heartbeat files in memory, not on a possibly slow disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn's control socket lives at one path per user: two services on a host would clash.
control_socket_disable = True
