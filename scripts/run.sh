#!/usr/bin/env bash
# Set up (first time only) and run Cualify: the site at http://127.0.0.1:8000 plus the queue
# workers (a classify and a generate cluster), on the embedded SQLite database with the demo
# catalogue. Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
PORT=${PORT:-8000}
.venv/bin/python manage.py bootstrap

pids=()
stop() {
  trap - INT TERM EXIT
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 40); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.25
  done
  # Whatever is stuck in its shutdown (gunicorn hit by Ctrl-C while a worker boots) goes hard.
  for pid in "${pids[@]}"; do pkill -KILL -P "$pid" 2>/dev/null || true; kill -KILL "$pid" 2>/dev/null || true; done
  echo "Cualify stopped."
}
trap stop INT TERM EXIT
# Two queue clusters (inference/queues.py): classification never waits behind a generation job.
# Each gets half the cores by default (CUALIFY_CLASSIFY_WORKERS / CUALIFY_GENERATE_WORKERS).
Q_CLUSTER_NAME=classify .venv/bin/python manage.py qcluster & pids+=($!)
Q_CLUSTER_NAME=generate .venv/bin/python manage.py qcluster & pids+=($!)
.venv/bin/gunicorn cualify.wsgi --bind "127.0.0.1:$PORT" --workers 2 --threads 4 --no-control-socket --access-logfile - & pids+=($!)
echo "Cualify is running at http://127.0.0.1:$PORT (Ctrl-C stops the site and the queue workers)"
wait -n "${pids[@]}"
