#!/usr/bin/env bash
# Run the whole test suite (arguments go to pytest). DATABASE_URL picks the database:
# unset for SQLite, mysql://... for MariaDB/MySQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# A throw-away data dir, so tests never touch the site's own database, media or secret.
export CUALIFY_DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cualify-test.XXXXXX")
trap 'rm -rf "$CUALIFY_DATA_DIR"' EXIT
# Tests that start a server or worker in a subprocess need a test database on disk.
export CUALIFY_TEST_DB_FILE="$CUALIFY_DATA_DIR/test.sqlite3"
.venv/bin/python -m pytest "$@"
