"""Curators activate and roll back versions and review corrections in the admin."""
import pytest
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
