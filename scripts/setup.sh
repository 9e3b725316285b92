#!/usr/bin/env bash
# Prepare this machine for Cualify: system packages, the Python virtualenv, the browser-test
# helpers. Idempotent and quick when everything is already in place.
#
# The virtualenv (about 6.6 GB with torch) lives outside the checkout, under
# ~/.cache/cualify/venv-<hash of requirements.txt and requirements/*.txt>, so fresh clones (CI) reuse it; .venv in
# the checkout is a symlink to it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${CUALIFY_CACHE:-$HOME/.cache/cualify}
mkdir -p "$CACHE"

log() { printf '\033[1;33m[setup]\033[0m %s\n' "$*" >&2; }

# --- Debian packages ---------------------------------------------------------------------
need_apt=()
dpkg -s default-libmysqlclient-dev >/dev/null 2>&1 || need_apt+=(default-libmysqlclient-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# gettext: the translation catalogue test compiles the .po files (the .mo are committed).
dpkg -s gettext >/dev/null 2>&1 || need_apt+=(gettext)
if [ "${CUALIFY_BROWSER:-1}" = 1 ]; then
  dpkg -s chromium >/dev/null 2>&1 || need_apt+=(chromium)
  dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need_apt+=(fonts-dejavu-core)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# --- Python virtualenv keyed by the requirements files ---------------------------------------
PY=${PYTHON:-python3}
key=$(cat requirements.txt requirements/*.txt | sha256sum | cut -c1-16)
VENV="$CACHE/venv-$key"
# One build at a time: two set-ups at once (CI in a clone, scripts/run.sh here) share the cache.
mkdir -p "$CACHE"
exec 9>"$CACHE/.venv-build.lock"
flock 9
if [ ! -f "$VENV/.complete" ]; then
  log "building virtualenv $VENV (first time for these requirements: several minutes)"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  # (pip's notes about this machine's empty local index folders are noise: filtered out)
  "$VENV/bin/pip" install -q --upgrade pip wheel setuptools 2> >(grep -v "^WARNING: Location" >&2)
  "$VENV/bin/pip" install -q -r requirements.txt 2> >(grep -v "^WARNING: Location" >&2)
  touch "$VENV/.complete"
  # Older venvs for other requirements are 6 GB each: keep only the newest two.
  ls -dt "$CACHE"/venv-* 2>/dev/null | tail -n +3 | xargs -r rm -rf
fi
ln -sfn "$VENV" "$ROOT/.venv"
flock -u 9

# --- axe-core for the accessibility check in the browser tests (npm, pinned) ---------------
if [ "${CUALIFY_BROWSER:-1}" = 1 ] && [ ! -f "$CACHE/node/node_modules/axe-core/axe.min.js" ]; then
  if command -v npm >/dev/null 2>&1; then
    log "installing axe-core from npm"
    mkdir -p "$CACHE/node"
    (cd "$CACHE/node" && npm install --silent --no-audit --no-fund axe-core@4.14.1 >/dev/null)
  else
    log "npm not found: the accessibility test will be skipped"
  fi
fi

# --- Offline model tooling: Ultralytics needs a writable config dir with a font -------------
mkdir -p "$CACHE/ultralytics"
if [ ! -f "$CACHE/ultralytics/Arial.ttf" ]; then
  for f in /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf "$VENV"/lib/python3*/site-packages/matplotlib/mpl-data/fonts/ttf/DejaVuSans.ttf; do
    if [ -f "$f" ]; then cp "$f" "$CACHE/ultralytics/Arial.ttf"; cp "$f" "$CACHE/ultralytics/Arial.Unicode.ttf"; break; fi
  done
fi

log "ready: $VENV"
