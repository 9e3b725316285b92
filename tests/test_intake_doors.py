"""An image whose aspect ratio or short side is unreasonable is refused at intake, at every
door that takes an image, with the same translated message and nothing stored. (A 196-byte
1 × 60000 PNG passed the pixel limit and then tied a worker for 11–23 s and ~1 GB, because a model
scales the short side up before cropping.)"""
import io
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from PIL import Image

from compat.app import create_app
from core import intake
from core.imaging import ImageRejected, normalize_image
from inference.models import ClassificationRecord, GenerationJob
from motifs.models import MotifImage
from tests.api_fixtures import client_for  # noqa: F401
from tests.factories import MotifFactory
from tests.test_security import GENERATE, accepting, uploads  # noqa: F401  (fixture)

EN = {"Accept-Language": "en"}


def strip(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def english(code: str) -> str:
    with translation.override("en"):
        return intake.rejection_message(code)


@pytest.mark.nodb
@pytest.mark.parametrize("size, code", [((1, 60000), "bad_aspect"), ((60000, 1), "bad_aspect"), ((21, 1000), "bad_aspect"),
                                        ((15, 200), "too_small"), ((10, 10), "too_small")])
def test_the_intake_rule_refuses_from_the_header_before_decoding(size, code):
    data = strip(*size)
    with pytest.raises(ImageRejected) as caught:
        normalize_image(data, max_bytes=10**6, max_pixels=10**8)
    assert caught.value.code == code


@pytest.mark.nodb
@pytest.mark.parametrize("size", [(16, 16), (20, 400), (400, 20), (512, 512)])
def test_reasonable_shapes_pass(size):
    assert normalize_image(strip(*size), max_bytes=10**6, max_pixels=10**8).width == size[0]


@pytest.mark.nodb
def test_the_probe_is_the_196_byte_strip_of_the_review():
    assert len(strip(1, 60000)) < 400


def test_a_1x60000_png_is_refused_at_every_door_with_nothing_stored(accepting, client, curator_client, tmp_path):
    data = strip(1, 60000)
    message = english("bad_aspect")
    client.cookies["cualify_language"] = "en"
    # Site: classify and a variation's reference.
    for url, field, extra in ((reverse("classify"), "photo", {}), (reverse("generate"), "reference", GENERATE)):
        response = client.post(url, {**extra, field: SimpleUploadedFile("strip.png", data, content_type="image/png")})
        assert response.status_code == 400 and message in response.content.decode(), url
    # REST API: classify, a variation's reference, an archive image (curator).
    api = client_for()
    for url, field, extra in ((reverse("api:classify"), "file", {}), (reverse("api:generate"), "reference", {"mode": "variation"})):
        response = api.post(url, {**extra, field: io.BytesIO(data)}, format="multipart")
        body = response.json()
        assert response.status_code == 400 and body["error"] == message and body["detail"]["code"] == "bad_aspect", url
        assert field in body["detail"] and body["detail"]["max_aspect"] == 20.0
    motif = MotifFactory()
    from tests.api_fixtures import user_for

    response = client_for(user_for("curator")).post(reverse("api:image-list"), {"motif": motif.slug, "file": io.BytesIO(data)},
                                                     format="multipart")
    assert response.status_code == 400 and response.json()["detail"]["code"] == "bad_aspect"
    # Flask-compatible service: /predict and a /generate reference.
    compat = create_app().test_client()
    response = compat.post("/predict", data={"file": (io.BytesIO(data), "strip.png")}, headers=EN)
    assert response.status_code == 400 and response.get_json()["error"] == message
    response = compat.post("/generate", data={"mode": "variation", "reference": (io.BytesIO(data), "strip.png")}, headers=EN)
    assert response.status_code == 400 and response.get_json()["detail"]["code"] == "bad_aspect"
    # Commands: classify, generate --reference, import_images.
    path = tmp_path / "strip.png"
    path.write_bytes(data)
    out = io.StringIO()
    with translation.override("en"):
        call_command("classify", str(path), stdout=out)
    assert json.loads(out.getvalue())["error"] == "bad_aspect" and json.loads(out.getvalue())["message"] == message
    from django.core.management import CommandError

    with translation.override("en"), pytest.raises(CommandError, match="too long and narrow"):
        call_command("generate", mode="variation", reference=path, outdir=tmp_path / "out", stdout=io.StringIO())
    folder = tmp_path / "import" / motif.slug
    folder.mkdir(parents=True)
    (folder / "strip.png").write_bytes(data)
    call_command("import_images", str(tmp_path / "import"), no_progress=True, stdout=io.StringIO())
    # The admin's image upload.
    response = curator_client.post(reverse("admin:motifs_motifimage_add"),
                                   {"motif": motif.pk, "upload": SimpleUploadedFile("strip.png", data), "source": "gallery_photo",
                                    "split": "unassigned", "position": 0})
    assert response.status_code == 200 and "narrow" in response.content.decode()

    assert not uploads() and not ClassificationRecord.objects.exists() and not GenerationJob.objects.exists()
    assert not MotifImage.objects.exists()
    assert not [p for p in Path(__import__("django.conf").conf.settings.MEDIA_ROOT).rglob("*") if p.is_file()]
