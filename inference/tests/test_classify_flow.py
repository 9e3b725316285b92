"""Classify on the site: real model, real images, the real queue code (sync mode)."""
import io
import struct
from html import unescape
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from core import intake
from core.imaging import ImageRejected
from inference.models import ClassificationRecord, Correction
from inference.classification.services import correction_accept
from motifs.demo_art import MOTIF_SLUGS, render_motif
from motifs.models import MotifImage
from tests.factories import UserFactory, image_bytes

pytestmark = pytest.mark.django_db


def demo_photo(slug, seed=5000, size=512, fmt="JPEG") -> bytes:
    buffer = io.BytesIO()
    render_motif(slug, seed, size).save(buffer, fmt)
    return buffer.getvalue()


def upload(client, data, name="photo.jpg", content_type="image/jpeg", consent=False, language="en"):
    client.cookies["cualify_language"] = language
    fields = {"photo": SimpleUploadedFile(name, data, content_type=content_type)}
    if consent:
        fields["consent_training"] = "on"
    return client.post(reverse("classify"), fields)


def stored_uploads() -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "uploads"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_demo_photo_is_classified_and_the_result_card_shows_everything(client, classifier, sync_queue):
    response = upload(client, demo_photo("merak"))
    assert response.status_code == 302
    record = ClassificationRecord.objects.get()
    assert record.status == "done" and record.motif.slug == "merak" and record.recognised
    assert len(record.top) == 5 and 0 < record.confidence <= 1
    assert {"upload_s", "validation_s", "queue_s", "preprocess_s", "inference_s"} <= set(record.timings)
    html = client.get(response["Location"]).content.decode()
    for text in ["Merak", "Peacock", record.motif.meaning_en, "Ishadi Cual Gallery", "unverified", "Top guesses", "Timings"]:
        assert text in html, text
    assert f"{round(record.confidence * 100, 1)}%" in html
    # Each step of the timings has its name in the reader's language, never the record's key.
    for text in ["<dt>Upload</dt>", "<dt>Checking the image</dt>", "<dt>Model inference</dt>", "<dt>Total</dt>"]:
        assert text in html, text
    # Bars are CSS widths: never a decimal comma, whatever the language.
    client.cookies["cualify_language"] = "id"
    html_id = client.get(response["Location"]).content.decode()
    assert f"width: {round(record.top[1]['probability'] * 100, 1)}%" in html_id
    for text in ["<dt>Unggah</dt>", "<dt>Memeriksa gambar</dt>", "<dt>Menunggu model</dt>", "<dt>Inferensi model</dt>"]:
        assert text in html_id, text
    for key in record.timings:
        assert f"<dt>{key.removesuffix('_s')}</dt>" not in html_id, key


@pytest.mark.parametrize("slug", MOTIF_SLUGS)
def test_shipped_model_recognises_every_demo_motif(client, classifier, sync_queue, slug):
    hits = 0
    for seed in (7001, 7002):
        upload(client, demo_photo(slug, seed))
        hits += ClassificationRecord.objects.latest("created").top[0]["slug"] == slug
    assert hits >= 1, f"{slug}: {hits}/2"


def _animated_gif():
    frames = [Image.new("P", (64, 64), i) for i in (1, 2, 3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def _sixteen_bit_png():
    buffer = io.BytesIO()
    Image.new("I;16", (64, 64), 40000).save(buffer, "PNG")
    return buffer.getvalue()


def _bomb_header(width=40_000, height=40_000):
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("data,expected", [
    (b"%PDF-1.4 a document", "The file is not an image."),
    (image_bytes(fmt="JPEG", size=(300, 300))[:600], "damaged or truncated"),
    (b"", "The submitted file is empty."),
    (_bomb_header(), "too many pixels"),
], ids=["not-an-image", "truncated", "zero-bytes", "pixel-bomb"])
def test_bad_uploads_get_a_clear_message_and_nothing_is_stored(client, classifier, sync_queue, data, expected):
    response = upload(client, data)
    assert response.status_code == 400
    assert expected in response.content.decode()
    assert not ClassificationRecord.objects.exists() and not stored_uploads()


def test_file_over_the_byte_limit_is_refused(client, classifier, sync_queue, settings):
    settings.CUALIFY_MAX_IMAGE_BYTES = 1000
    response = upload(client, demo_photo("kepiting"))
    assert response.status_code == 400 and "too large" in response.content.decode()
    assert not stored_uploads()


def test_bad_input_message_is_translated(client, classifier, sync_queue):
    response = upload(client, b"bukan gambar", language="id")
    assert "Berkas ini bukan gambar." in response.content.decode()


def test_missing_file_field_says_so(client, classifier, sync_queue):
    client.cookies["cualify_language"] = "en"
    response = client.post(reverse("classify"), {})
    assert response.status_code == 400 and "This field is required." in response.content.decode()


@pytest.mark.parametrize("data,content_type", [
    (_animated_gif(), "image/gif"),
    (image_bytes((10, 20, 30, 0), mode="CMYK", fmt="TIFF"), "image/tiff"),
    (image_bytes((10, 20, 30, 128), mode="RGBA", fmt="PNG"), "image/png"),
    (_sixteen_bit_png(), "image/png"),
    (demo_photo("ubur-ubur", fmt="PNG"), "application/octet-stream"),  # a wrong content type: the bytes decide
], ids=["animated-gif", "cmyk", "rgba", "16-bit-png", "wrong-content-type"])
def test_unusual_but_valid_images_are_classified(client, classifier, sync_queue, data, content_type):
    response = upload(client, data, name="x.bin", content_type=content_type)
    assert response.status_code == 302
    assert ClassificationRecord.objects.get().status == "done"


def test_huge_but_valid_photo_is_classified_and_stored_without_exif(client, classifier, sync_queue):
    picture = render_motif("kepiting", 9, 512).resize((3000, 3000))
    exif = Image.Exif()
    exif[0x8825] = {2: (6.0, 7.0, 8.0)}  # GPS
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=80, exif=exif.tobytes())
    assert upload(client, buffer.getvalue()).status_code == 302
    record = ClassificationRecord.objects.get()
    assert (record.width, record.height) == (3000, 3000)
    stored = record.image.read()
    assert b"Exif" not in stored and not Image.open(io.BytesIO(stored)).getexif()


def test_without_an_active_classifier_the_page_says_unavailable_and_stores_nothing(client, sync_queue):
    client.cookies["cualify_language"] = "en"
    assert "unavailable right now" in client.get(reverse("classify")).content.decode()
    response = upload(client, demo_photo("merak"))
    assert response.status_code == 503 and "unavailable right now" in response.content.decode()
    assert not ClassificationRecord.objects.exists() and not stored_uploads()


def test_cluster_down_means_unavailable(client, classifier):
    # No sync queue and no worker heartbeat: nobody would answer.
    response = upload(client, demo_photo("merak"))
    assert response.status_code == 503 and "model service is not running" in response.content.decode()


def test_results_and_photos_are_private_to_their_owner(client, classifier, sync_queue):
    location = upload(client, demo_photo("merak"))["Location"]
    record = ClassificationRecord.objects.get()
    photo = reverse("classify_photo", args=[record.public_id])
    assert client.get(photo).status_code == 200
    from django.test import Client

    stranger = Client()
    assert stranger.get(location).status_code == 404 and stranger.get(photo).status_code == 404
    assert stranger.get(f"/media/{record.image.name}").status_code == 404
    curator = Client()
    curator.force_login(UserFactory(curator=True))
    assert curator.get(location).status_code == 200


def test_signed_in_users_own_their_records(client, classifier, sync_queue):
    user = UserFactory()
    client.force_login(user)
    upload(client, demo_photo("kepiting"))
    assert ClassificationRecord.objects.get().user == user


def test_unrecognised_photo_says_not_a_known_motif_and_shows_guesses(client, classifier, sync_queue):
    from inference.engines.ood import synthetic_ood_images

    buffer = io.BytesIO()
    synthetic_ood_images(1, 256, seed=3)[0].save(buffer, "PNG")
    location = upload(client, buffer.getvalue(), name="x.png", content_type="image/png")["Location"]
    record = ClassificationRecord.objects.get()
    if record.recognised:
        pytest.skip("this generated image happened to pass the calibrated thresholds")
    html = client.get(location).content.decode()
    assert "Not recognised as a known motif" in html and "Closest guesses" in html and record.motif is None


def test_a_confident_guess_that_is_not_a_known_motif_reads_as_a_guess_not_as_the_answer(
        client, nothing_is_near_the_archive, sync_queue):
    location = upload(client, demo_photo("merak"))["Location"]
    record = ClassificationRecord.objects.get()
    # The reported case: the model is sure of its class, the photo is still no known motif.
    assert not record.recognised and record.reason == "far_from_archive" and record.motif is None
    assert record.top[0]["slug"] == "merak" and record.confidence > 0.5
    html = unescape(client.get(location).content.decode())
    card = html[html.index('data-testid="result-card"'):]
    # The answer leads, before the photo; the guesses are called guesses, with no confidence or bars.
    assert card.index("Not recognised as a known motif") < card.index("Closest guesses") < card.index(
        reverse("classify_photo", args=[record.public_id]))
    assert "It looks too unlike the archive's photos of the closest motif." in card
    assert "Confidence" not in html and 'data-testid="confidence"' not in html
    assert 'class="bars"' not in html and "bar-fill" not in html and "Top guesses" not in html
    assert f"model score {round(record.top[0]['probability'] * 100, 1)}%" in card
    assert "Merak" in card and "Do you know which motif it is?" in card
    client.cookies["cualify_language"] = "id"
    html_id = client.get(location).content.decode()
    for text in ["Tidak dikenali sebagai motif yang dikenal", "Tebakan terdekat", "skor model", "<dt>Inferensi model</dt>"]:
        assert text in html_id, text


def test_correction_with_consent_becomes_an_archive_image_when_accepted(client, classifier, sync_queue):
    location = upload(client, demo_photo("merak", seed=7100), consent=True)["Location"]
    record = ClassificationRecord.objects.get()
    client.post(reverse("classify_correct", args=[record.public_id]), {"choice": "kepiting", "comment": "capitnya"})
    correction = Correction.objects.get()
    assert (correction.kind, correction.motif.slug, correction.status) == ("motif", "kepiting", "pending")
    correction_accept(correction=correction, reviewer=UserFactory(curator=True))
    image = MotifImage.objects.get(source=MotifImage.Source.VISITOR)
    assert image.motif.slug == "kepiting" and image.training_consent
    assert "Thank you" in client.get(location).content.decode()


def test_correction_without_consent_does_not_touch_the_archive(client, classifier, sync_queue):
    upload(client, demo_photo("merak", seed=7101))
    record = ClassificationRecord.objects.get()
    client.post(reverse("classify_correct", args=[record.public_id]), {"choice": "not_batik"})
    correction_accept(correction=Correction.objects.get(), reviewer=UserFactory(curator=True))
    assert not MotifImage.objects.exists()


def test_saliency_heat_map_is_made_on_request(client, classifier, sync_queue, django_capture_on_commit_callbacks):
    upload(client, demo_photo("kuda-laut"))
    record = ClassificationRecord.objects.get()
    with django_capture_on_commit_callbacks(execute=True):  # the task is queued after commit
        client.post(reverse("classify_saliency", args=[record.public_id]))
    record.refresh_from_db()
    assert record.saliency
    response = client.get(reverse("classify_saliency_image", args=[record.public_id]))
    assert response.status_code == 200 and Image.open(io.BytesIO(b"".join(response.streaming_content))).size == (512, 512)


def test_classification_submit_and_summary_serve_every_door(classifier, sync_queue):
    from inference.classification import services

    record = services.classification_submit(data=demo_photo("merak"), wait_seconds=5)
    summary = services.classification_summary(record)
    assert summary["motif"] == "merak" and summary["status"] == "done" and 0 < summary["confidence"] <= 1
    assert len(summary["top"]) == 5 and summary["processing_time"] > 0 and summary["owners"]
    assert (summary["label"], summary["recognised"], summary["reason"]) == ("merak", True, "ok")
    assert summary["confidence"] == record.confidence == pytest.approx(summary["top"][0]["confidence"], abs=1e-6)
    with pytest.raises(ImageRejected):
        services.classification_submit(data=b"GIF89a not really", wait_seconds=1)
    assert ClassificationRecord.objects.count() == 1


def test_the_summary_of_a_photo_that_is_no_known_motif_names_no_answer_only_guesses(nothing_is_near_the_archive,
                                                                                  sync_queue):
    from inference.classification import services

    record = services.classification_submit(data=demo_photo("merak"), wait_seconds=5)
    summary = services.classification_summary(record)
    assert record.confidence > 0.5 and not record.recognised  # the model's score is high all the same
    assert {key: summary[key] for key in ("label", "motif", "name", "confidence", "recognised", "reason")} == {
        "label": None, "motif": None, "name": None, "confidence": None, "recognised": False, "reason": "far_from_archive"}
    assert summary["description"] == summary["meaning"] == "" and summary["owners"] == []
    assert summary["top"][0] == {"label": "merak", "motif": "merak", "confidence": record.top[0]["probability"]}
    assert len(summary["top"]) == 5 and summary["status"] == "done" and summary["processing_time"] > 0


def test_the_summary_s_reasons_are_the_words_the_worker_writes():
    from inference.classification import services
    from inference.engines import ood

    assert set(services.REASONS) == {ood.REASON_OK, ood.REASON_LOW_CONFIDENCE, ood.REASON_FAR, "class_without_motif"}
    assert set(services.NOT_RECOGNISED_MESSAGES) == set(services.REASONS) - {services.REASON_OK}


def test_a_queued_record_has_no_answer_yet(classifier):
    from inference.classification import services

    record = services.classification_create(normalized=intake.image_normalize(demo_photo("merak")))
    summary = services.classification_summary(record)
    assert summary["status"] == "queued" and summary["top"] == [] and not summary["recognised"]
    assert summary["label"] is summary["confidence"] is summary["reason"] is summary["motif"] is None


def test_classification_submit_refuses_at_once_without_a_classifier(db):
    from inference.classification import services

    with pytest.raises(services.ClassificationUnavailable, match="no_active_classifier"):
        services.classification_submit(data=demo_photo("kepiting"), wait_seconds=1)
    assert not ClassificationRecord.objects.exists() and not stored_uploads()
