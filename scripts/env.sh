# Sourced by the run and test scripts: the environment every Cualify process shares.
CACHE=${CUALIFY_CACHE:-$HOME/.cache/cualify}
# Offline by construction: no hub checks, no font or package downloads.
export YOLO_OFFLINE=true YOLO_AUTOINSTALL=false YOLO_CONFIG_DIR="$CACHE/ultralytics"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ORT_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1
export PYTHONUNBUFFERED=1
export CUALIFY_AXE_JS="$CACHE/node/node_modules/axe-core/axe.min.js"
