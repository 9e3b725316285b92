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
    assert "Top-1 accuracy" in html and "Test split: macro F1" in html and "Input size (px)" in html
    assert "Per class (test split)" in html and "<td>merak</td><td>1.0000</td><td>0.5000</td>" in html
    calibration = version.calibration
    assert "Minimum confidence to recognise a motif" in html and f"{calibration['min_confidence']:.4f}" in html
    assert "Maximum distance to the archive" in html and f"{calibration['max_distance']:.4f}" in html
    assert "Held-out acceptance (correct photos accepted)" in html and "False acceptance (strangers accepted)" in html
    assert f"{calibration['metrics']['ood_false_acceptance']:.4f}" in html
    assert '<details class="cualify-raw"><summary>Raw calibration (JSON)</summary>' in html
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
    assert "Akurasi top-1" in html and "Kalibrasi pengenalan" in html


# --- Deleting versions, reviewing from the change page, thumbnails, JSON as tables ----------

def test_curators_cannot_delete_versions_and_superusers_only_inactive_ones(client, curator_client, tmp_path):
    from inference.engines.classifier import export_onnx

    registry.shipped_models_register(kinds=("classifier",))
    active = ModelVersion.objects.get(is_active=True)
    spare = registry.model_version_register(path=export_onnx(SHIPPED_CLASSIFIER, tmp_path / "x.onnx"), kind="classifier").version
    change_page = reverse("admin:inference_modelversion_change", args=[spare.pk])
    changelist = reverse("admin:inference_modelversion_changelist")
    # A curator: no delete link, no delete page, no bulk delete action.
    assert 'class="deletelink"' not in curator_client.get(change_page).content.decode()
    assert curator_client.get(reverse("admin:inference_modelversion_delete", args=[spare.pk])).status_code == 403
    assert 'value="delete_selected"' not in curator_client.get(changelist).content.decode()
    curator_client.post(changelist, {"action": "delete_selected", "_selected_action": [spare.pk], "post": "yes"})
    assert ModelVersion.objects.filter(pk=spare.pk).exists()
    # A superuser: never the active version, by its page or in bulk; an inactive one, yes.
    admin_client = _superuser_client(client)
    assert 'class="deletelink"' not in admin_client.get(reverse("admin:inference_modelversion_change", args=[active.pk])).content.decode()
    assert admin_client.get(reverse("admin:inference_modelversion_delete", args=[active.pk])).status_code == 403
    response = admin_client.post(changelist, {"action": "delete_selected", "_selected_action": [active.pk, spare.pk], "post": "yes"},
                                 follow=True)
    assert "An active version cannot be deleted" in response.content.decode()
    assert ModelVersion.objects.filter(pk__in=[active.pk, spare.pk]).count() == 2
    assert 'class="deletelink"' in admin_client.get(change_page).content.decode()
    admin_client.post(changelist, {"action": "delete_selected", "_selected_action": [spare.pk], "post": "yes"})
    assert list(ModelVersion.objects.all()) == [active]


def _pending_correction():
    from tests.visitor_records import make_record

    from motifs.models import Motif

    record = make_record(consent_training=True)
    return Correction.objects.create(record=record, kind=Correction.Kind.MOTIF, motif=Motif.objects.get(slug="kepiting"))


def test_a_correction_is_accepted_from_its_own_page(curator_client):
    correction = _pending_correction()
    page = reverse("admin:inference_correction_change", args=[correction.pk])
    accept = reverse("admin:inference_correction_accept", args=[correction.pk])
    html = curator_client.get(page).content.decode()
    assert f'action="{accept}"' in html and "Accept this correction" in html and "Reject this correction" in html
    assert curator_client.get(accept).status_code == 405  # a button, never a link
    response = curator_client.post(accept, follow=True)
    correction.refresh_from_db()
    assert correction.status == "accepted" and correction.reviewed_by is not None and correction.archive_image is not None
    assert "Correction accepted." in response.content.decode()
    assert "Accept this correction" not in response.content.decode()  # nothing left to review
    curator_client.post(reverse("admin:inference_correction_reject", args=[correction.pk]))
    correction.refresh_from_db()
    assert correction.status == "accepted"  # a reviewed correction is not reviewed again by a stale button


def test_a_correction_is_rejected_from_its_own_page_with_a_csrf_token_and_permission(client, curator_client):
    correction = _pending_correction()
    reject = reverse("admin:inference_correction_reject", args=[correction.pk])
    # A staff member without the change permission is refused.
    client.force_login(UserFactory(is_staff=True))
    assert client.post(reject).status_code == 403
    # Without the CSRF token, refused.
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(UserFactory(curator=True))
    assert strict.post(reject).status_code == 403
    correction.refresh_from_db()
    assert correction.status == "pending"
    page = reverse("admin:inference_correction_change", args=[correction.pk])
    token = strict.get(page).cookies["csrftoken"].value
    strict.post(reject, {"csrfmiddlewaretoken": token})
    correction.refresh_from_db()
    assert correction.status == "rejected"


def test_correction_and_generation_lists_show_thumbnails_that_load(curator_client):
    from tests.visitor_records import make_job

    correction = _pending_correction()
    photo = reverse("classify_photo", args=[correction.record.public_id])
    html = curator_client.get(reverse("admin:inference_correction_changelist")).content.decode()
    assert f'<img class="cualify-thumb" src="{photo}"' in html and 'width="48" height="48"' in html
    assert curator_client.get(photo).status_code == 200
    job = make_job(images=2)
    first = job.images.get(index=0)
    html = curator_client.get(reverse("admin:inference_generationjob_changelist")).content.decode()
    thumb = reverse("generate_admin_image", args=[first.pk])
    assert f'<img class="cualify-thumb" src="{thumb}"' in html
    assert reverse("generate_admin_image", args=[job.images.get(index=1).pk]) not in html
    assert curator_client.get(thumb).status_code == 200
    html = curator_client.get(reverse("admin:inference_classificationrecord_changelist")).content.decode()
    assert f'<img class="cualify-thumb" src="{photo}"' in html


def test_json_fields_are_shown_as_tables_not_raw_json(curator_client):
    from tests.visitor_records import make_job

    job = make_job(images=1, prompt="bunga merah", prompt_match={"motifs": [{"slug": "merak", "score": 0.8125}], "words": ["bunga"]},
                   timings={"generate": 1.5, "refine": 0.25}, model_versions={"generator": 3})
    html = curator_client.get(reverse("admin:inference_generationjob_change", args=[job.pk])).content.decode()
    assert '<table class="cualify-json"><tr><th scope="row">generate</th><td>1.5000</td></tr>' in html
    assert '<th scope="col">slug</th><th scope="col">score</th>' in html and "<td>merak</td><td>0.8125</td>" in html
    assert '<th scope="row">generator</th><td>3</td>' in html
    assert "{&quot;generate&quot;" not in html and '{"generate"' not in html
    registry.shipped_models_register(kinds=("classifier",))
    version = ModelVersion.objects.get()
    html = curator_client.get(reverse("admin:inference_modelversion_change", args=[version.pk])).content.decode()
    first_class = version.class_names[0]
    assert f'<th scope="row">{first_class}</th><td>{version.class_map[first_class]}</td>' in html


def test_list_pages_of_jobs_and_classifications_show_a_short_id(curator_client):
    from tests.visitor_records import make_job

    job = make_job(images=1)
    html = curator_client.get(reverse("admin:inference_generationjob_changelist")).content.decode()
    assert f">{job.public_id.hex[:8]}</a>" in html and str(job.public_id) not in html
