import json

import numpy as np
import pytest
from PIL import Image

from inference.engines.classifier import Prediction
from inference.engines.ood import (
    OOD_KINDS,
    OODCalibration,
    decide,
    fit_calibration,
    spherical_kmeans,
    synthetic_ood_images,
)
from inference.engines.training import list_images

pytestmark = pytest.mark.nodb


def _prediction(probabilities, embedding):
    probabilities = np.asarray(probabilities, dtype=np.float32)
    order = np.argsort(-probabilities)
    return Prediction(
        probabilities=probabilities,
        embedding=np.asarray(embedding, dtype=np.float32),
        top=tuple((int(i), float(probabilities[i])) for i in order),
        preprocess_s=0.0,
        inference_s=0.0,
    )


def _hand_calibration():
    return OODCalibration(
        prototypes=np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32),
        prototype_labels=np.array([0, 1]),
        min_confidence=0.6,
        max_distance=0.2,
        metrics={"note": "by hand"},
    )


def test_decide_accepts_a_confident_prediction_near_its_class():
    decision = decide(_hand_calibration(), _prediction([0.9, 0.1], [0.99, 0.1, 0.0]))
    assert decision.recognised and decision.reason == "ok"
    assert decision.class_index == 0
    assert decision.confidence == pytest.approx(0.9)
    assert decision.distance == pytest.approx(1 - 0.99 / np.hypot(0.99, 0.1), abs=1e-6)


def test_decide_rejects_low_confidence_first():
    decision = decide(_hand_calibration(), _prediction([0.55, 0.45], [0.0, 0.0, 1.0]))
    assert not decision.recognised and decision.reason == "low_confidence"


def test_decide_rejects_a_confident_prediction_far_from_its_own_class():
    # Close to class 1's prototype, but predicted class 0: distance is measured to class 0 only.
    decision = decide(_hand_calibration(), _prediction([0.8, 0.2], [0.1, 1.0, 0.0]))
    assert not decision.recognised and decision.reason == "far_from_archive"
    assert decision.class_index == 0


def test_calibration_survives_a_json_round_trip():
    calibration = _hand_calibration()
    restored = OODCalibration.from_json(json.loads(json.dumps(calibration.to_json())))
    np.testing.assert_allclose(restored.prototypes, calibration.prototypes)
    np.testing.assert_array_equal(restored.prototype_labels, calibration.prototype_labels)
    assert (restored.min_confidence, restored.max_distance) == (0.6, 0.2)
    assert restored.metrics == {"note": "by hand"}


def test_spherical_kmeans_gives_k_deterministic_unit_centres():
    rng = np.random.default_rng(0)
    vectors = np.concatenate([rng.normal([5, 0, 0], 0.3, (20, 3)), rng.normal([0, 5, 0], 0.3, (20, 3))])
    centres = spherical_kmeans(vectors, 2, seed=1)
    assert centres.shape == (2, 3)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(centres, spherical_kmeans(vectors, 2, seed=1))
    assert sorted(np.argmax(centres, axis=1).tolist()) == [0, 1]
    assert spherical_kmeans(vectors[:3], 5).shape == (3, 3)


def test_synthetic_ood_images_are_deterministic_varied_rgb_images():
    images = synthetic_ood_images(len(OOD_KINDS) * 2, 48, seed=3)
    again = synthetic_ood_images(len(OOD_KINDS) * 2, 48, seed=3)
    other = synthetic_ood_images(len(OOD_KINDS) * 2, 48, seed=4)
    assert len(images) == len(OOD_KINDS) * 2
    assert all(image.mode == "RGB" and image.size == (48, 48) for image in images)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, again))
    assert not all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, other))
    mean_colours = np.array([np.asarray(image, dtype=float).mean(axis=(0, 1)) for image in images])
    assert len({tuple(np.round(colour / 32)) for colour in mean_colours}) >= 10  # not one palette
    assert synthetic_ood_images(0, 16, 0) == []


def _load_split(engine, root, split):
    images, labels = [], []
    for index, name in enumerate(engine.class_names):
        for path in list_images(root / split / name):
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
            labels.append(index)
    return images, labels


def test_fitted_calibration_rejects_synthetic_ood_more_often_than_motifs(tiny_engine, tiny_model):
    train_images, train_labels = _load_split(tiny_engine, tiny_model.data_dir, "train")
    val_images, val_labels = _load_split(tiny_engine, tiny_model.data_dir, "val")
    test_images, test_labels = _load_split(tiny_engine, tiny_model.data_dir, "test")
    calibration = fit_calibration(
        train_embeddings=tiny_engine.embed(train_images),
        train_labels=train_labels,
        heldout_predictions=tiny_engine.predict(val_images),
        heldout_labels=val_labels,
        ood_predictions=tiny_engine.predict(synthetic_ood_images(24, 64, seed=0)),
        target_acceptance=0.9,
        prototypes_per_class=4,
    )
    metrics = calibration.metrics
    assert calibration.prototypes.shape == (4 * len(tiny_engine.class_names), 1280)
    assert metrics["heldout_acceptance"] >= 0.9
    assert metrics["n_ood"] == 24
    assert 0.0 <= metrics["ood_false_acceptance"] <= metrics["ood_false_acceptance_confidence_only"]

    # Fresh images on both sides: motifs of the test split, OOD images of another seed.
    motif_accepted = np.mean([decide(calibration, p).recognised for p in tiny_engine.predict(test_images)])
    ood_accepted = np.mean(
        [decide(calibration, p).recognised for p in tiny_engine.predict(synthetic_ood_images(24, 64, seed=1))]
    )
    assert ood_accepted < motif_accepted


def test_fit_calibration_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match="differ in length"):
        fit_calibration(
            train_embeddings=np.eye(3), train_labels=[0, 1], heldout_predictions=[], heldout_labels=[],
            ood_predictions=[],
        )
