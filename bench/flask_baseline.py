"""The original study's design, as a baseline for bench/classify.py (not part of the product):
a plain Flask app that loads the classifier ``.pt`` with Ultralytics when it starts and
predicts inside the request.

    CUALIFY_BASELINE_WEIGHTS=weights/classifier-demo-yolo11n-cls.pt \\
        gunicorn --workers 2 --bind 127.0.0.1:8101 bench.flask_baseline:app
"""
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference.engines.offline import configure_ultralytics_offline  # noqa: E402

configure_ultralytics_offline(os.environ.get("YOLO_CONFIG_DIR", str(Path.home() / ".cache/cualify/ultralytics")))

import torch  # noqa: E402
from flask import Flask, jsonify, request  # noqa: E402
from PIL import Image  # noqa: E402
from ultralytics import YOLO  # noqa: E402

if os.environ.get("CUALIFY_BASELINE_THREADS"):  # unset: torch's default, as the study ran it
    torch.set_num_threads(int(os.environ["CUALIFY_BASELINE_THREADS"]))
model = YOLO(os.environ.get("CUALIFY_BASELINE_WEIGHTS", "weights/classifier-demo-yolo11n-cls.pt"), task="classify")
app = Flask(__name__)


@app.post("/predict")
def predict():
    started = time.perf_counter()
    upload = request.files.get("file")
    if upload is None:
        return jsonify(error="no file"), 400
    image = Image.open(io.BytesIO(upload.read())).convert("RGB")
    result = model.predict(image, verbose=False)[0]
    index = int(result.probs.top1)
    return jsonify(label=result.names[index], confidence=float(result.probs.top1conf),
                   processing_time=time.perf_counter() - started)
