"""Curators activate and roll back versions and review corrections in the admin."""
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from inference import registry
from inference.models import Correction, ModelVersion
from motifs.models import MotifImage
from tests.factories import UserFactory

from .conftest import SHIPPED_CLASSIFIER
from .test_classify_flow import demo_photo, upload

pytestmark = pytest.mark.django_db


def test_curator_activates_and_rolls_back_versions(curator_client, tmp_path):
    from inference.engines.classifier import export_onnx

    registry.shipped_models_register(kinds=("classifier",))
    first = ModelVersion.objects.get(is_active=True)
    second = registry.model_version_register(path=export_onnx(SHIPPED_CLASSIFIER, tmp_path / "x.onnx"), kind="classifier").version
    changelist = reverse("admin:inference_modelversion_changelist")
    curator_client.post(changelist, {"action": "activate", "_selected_action": [second.pk]})
    assert ModelVersion.objects.get(is_active=True) == second
    response = curator_client.post(changelist, {"action": "roll_back", "_selected_action": [second.pk]}, follow=True)
    assert ModelVersion.objects.get(is_active=True) == first and "is active again" in response.content.decode()
    html = curator_client.get(changelist).content.decode()
    assert "top1 0.929" in html


def test_version_page_shows_metrics_and_calibration(curator_client):
    registry.shipped_models_register(kinds=("classifier",))
    version = ModelVersion.objects.get()
    html = curator_client.get(reverse("admin:inference_modelversion_change", args=[version.pk])).content.decode()
    assert "ood_false_acceptance" in html and "heldout_acceptance" in html and "test_macro_f1" in html


def test_curator_accepts_a_consented_correction_from_the_admin(client, classifier, sync_queue):
    upload(client, demo_photo("merak", seed=7200), consent=True)
    from inference.models import ClassificationRecord

    record = ClassificationRecord.objects.get()
    client.post(reverse("classify_correct", args=[record.public_id]), {"choice": "kepiting"})
    client.force_login(UserFactory(curator=True))
    client.post(reverse("admin:inference_correction_changelist"), {"action": "accept", "_selected_action": [Correction.objects.get().pk]})
    assert Correction.objects.get().status == "accepted"
    assert MotifImage.objects.get().source == MotifImage.Source.VISITOR
    assert client.get(reverse("admin:inference_correction_change", args=[Correction.objects.get().pk])).status_code == 200


def test_models_cannot_be_uploaded_through_the_admin(curator_client):
    assert curator_client.get(reverse("admin:inference_modelversion_add")).status_code == 403


def _superuser_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    client.cookies["cualify_language"] = "en"
    return client


def _version_with_plots():
    """The shipped classifier with two real plot images stored beside it, as train_classifier stores them."""
    from io import BytesIO

    from django.core.files.base import ContentFile
    from PIL import Image

    registry.shipped_models_register(kinds=("classifier",))
    version = ModelVersion.objects.get()
    plots = {}
    for label, colour in (("confusion matrix", (20, 40, 160)), ("training curves", (160, 40, 20))):
        buffer = BytesIO()
        Image.new("RGB", (40, 30), colour).save(buffer, "PNG")
        name = f"models/classifier/{version.sha256}/{label.replace(' ', '_')}.png"
        plots[label] = default_storage.save(name, ContentFile(buffer.getvalue()))
    version.plots = plots
    version.save(update_fields=["plots"])
    return version


def test_version_page_shows_the_stored_plots_and_serves_them_to_staff_only(client):
    version = _version_with_plots()
    admin_client = _superuser_client(client)
    html = admin_client.get(reverse("admin:inference_modelversion_change", args=[version.pk])).content.decode()
    for index, label in enumerate(("confusion matrix", "training curves")):
        url = reverse("admin:inference_modelversion_plot", args=[version.pk, index])
        assert f'<img src="{url}" alt="{label}"' in html
        response = admin_client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        with default_storage.open(version.plots[label], "rb") as stored:
            assert b"".join(response.streaming_content) == stored.read()
    assert admin_client.get(reverse("admin:inference_modelversion_plot", args=[version.pk, 2])).status_code == 404
    # The plots lie under models/, which /media/ never serves; nor does the admin to a visitor.
    plot = reverse("admin:inference_modelversion_plot", args=[version.pk, 0])
    assert client.get("/media/" + version.plots["confusion matrix"]).status_code == 404
    client.logout()
    assert client.get(plot).status_code == 302  # to the admin's login
    client.force_login(UserFactory())
    assert client.get(plot).status_code == 302


def test_a_curator_sees_the_plots_too(curator_client):
    version = _version_with_plots()
    assert curator_client.get(reverse("admin:inference_modelversion_plot", args=[version.pk, 1])).status_code == 200


def test_version_page_names_metrics_and_summarises_the_calibration(client):
    registry.shipped_models_register(kinds=("classifier",))
    version = ModelVersion.objects.get()
    version.metrics = {**version.metrics, "per_class": {"merak": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}}}
    version.save(update_fields=["metrics"])
    html = _superuser_client(client).get(reverse("admin:inference_modelversion_change", args=[version.pk])).content.decode()
    assert "top-1 accuracy" in html and "test split: macro F1" in html and "input size (px)" in html
    assert "Per class (test split)" in html and "<td>merak</td><td>1.0000</td><td>0.5000</td>" in html
    calibration = version.calibration
    assert "recognised when the confidence is at least" in html and f"{calibration['min_confidence']:.4f}" in html
    assert "and the distance to the archive at most" in html and f"{calibration['max_distance']:.4f}" in html
    assert "held-out acceptance (correct photos accepted)" in html and "false acceptance (strangers accepted)" in html
    assert f"{calibration['metrics']['ood_false_acceptance']:.4f}" in html
    assert "<details><summary>Raw calibration (JSON)</summary>" in html
    assert f"{len(calibration['prototypes'])} × {len(calibration['prototypes'][0])} numbers" in html
    assert "is off for this version" not in html


def test_version_page_says_when_not_a_known_motif_is_off(client):
    version = registry.model_version_register(path=SHIPPED_CLASSIFIER, kind="classifier").version
    html = _superuser_client(client).get(reverse("admin:inference_modelversion_change", args=[version.pk])).content.decode()
    assert "is off for this version (no calibration)" in html and "--calibrate-on" in html


def test_version_page_in_indonesian(client):
    registry.shipped_models_register(kinds=("classifier",))
    version = ModelVersion.objects.get()
    admin_client = _superuser_client(client)
    admin_client.cookies["cualify_language"] = "id"
    html = admin_client.get(reverse("admin:inference_modelversion_change", args=[version.pk])).content.decode()
    assert "akurasi top-1" in html and "Kalibrasi pengenalan" in html
