"""The committed demo classifier recognises freshly rendered demo motifs."""
from pathlib import Path

import numpy as np
import pytest

from inference.engines.classifier import ClassifierEngine

pytestmark = pytest.mark.nodb

SHIPPED = Path(__file__).resolve().parents[3] / "weights" / "classifier-demo-yolo11n-cls.pt"


@pytest.fixture(scope="module")
def shipped_engine():
    if not SHIPPED.is_file():
        pytest.skip(f"shipped weights {SHIPPED.name} are not in weights/")
    return ClassifierEngine.load(SHIPPED)


def test_shipped_weights_classify_fresh_demo_renders(shipped_engine):
    from motifs.demo_art import render_motif

    images, labels = [], []
    for index, slug in enumerate(shipped_engine.class_names):
        for copy in range(2):
            images.append(render_motif(slug, 10_000 + 2 * index + copy, 512))
            labels.append(index)
    predictions = shipped_engine.predict(images)
    accuracy = np.mean([p.top[0][0] == label for p, label in zip(predictions, labels)])
    assert len(shipped_engine.class_names) == 14
    assert accuracy >= 0.8, f"top-1 {accuracy:.2f} on {len(images)} fresh renders"


def test_shipped_weights_saliency_highlights_something(shipped_engine):
    from motifs.demo_art import render_motif

    from inference.engines.saliency import class_activation_map

    image = render_motif(shipped_engine.class_names[0], 10_500, 256)
    class_index = shipped_engine.predict([image])[0].top[0][0]
    heat = class_activation_map(shipped_engine, image, class_index)
    assert heat.shape == (256, 256) and heat.max() == pytest.approx(1.0, abs=0.05)
