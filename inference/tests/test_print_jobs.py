"""Print on fabric as queue-worker jobs: the limits said and checked at every door before
anything is queued, the worker's two files (tile at 300 dpi, fabric at 150 dpi) with the
result's metadata, cancel, sweep, failures that leave no file, and privacy. The real queue code
(sync mode), the real database; the results are rows with real PNGs (no model runs)."""
import io
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from core import limits
from inference.generation import images as print_images
from inference.generation import print_pipeline
from inference.generation import services as generation
from inference.generation.images import AI_METADATA, XMP_KEY, png_bytes, read_png_metadata, resize_tile, seam_error
from inference.models import GeneratedImage, GenerationJob, PrintJob, WorkerHeartbeat
from motifs.demo_art import render_motif
from tests.api_fixtures import api_as, client_for  # noqa: F401
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SOURCE_TEXT = {"job": "ab" * 16, "image_seed": "11", "upscale_method": "none",
               "parameters": json.dumps({"mode": "variation", "seed": 11, "tile": True, "refine": False}),
               "inputs": json.dumps({"motif": "kepiting"}), "models": json.dumps({"generator": {"id": 1, "name": "demo"}})}
SMALL = {"tile_cm": 2, "fabric_width_cm": 20, "fabric_height_cm": 10}


def print_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "uploads" / "print"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def result_of(user) -> GeneratedImage:
    """A finished tile job of ``user`` with one result: a seamless demo tile carrying the text
    chunks a generation worker writes."""
    job = GenerationJob.objects.create(mode=GenerationJob.Mode.VARIATION, seed=11, count=1, user=user, tile=True,
                                       status=GenerationJob.Status.SUCCEEDED, progress=1.0)
    image = GeneratedImage(job=job, index=0, seed=11, width=64, height=64, metadata=SOURCE_TEXT)
    image.file.save("image.png", ContentFile(png_bytes(render_motif("kepiting", 1, 64), SOURCE_TEXT)), save=False)
    image.save()
    return image


@pytest.fixture
def owner(db):
    """The owner's own client (not the ``client`` fixture, which ``curator_client`` logs in) and their result."""
    user = UserFactory()
    client = Client()
    client.force_login(user)
    client.cookies["cualify_language"] = "en"
    return client, result_of(user)


def ask(client, image, language="en", **sizes):
    client.cookies["cualify_language"] = language
    return client.post(reverse("generate_image_print", args=[image.job.public_id, image.index]), sizes or SMALL)


def pixels(field) -> np.ndarray:
    with field.open("rb") as handle:
        return np.asarray(Image.open(io.BytesIO(handle.read())).convert("RGB")).astype(int)


# --- the limit, said and checked before anything is queued -----------------------------------


def test_the_print_form_states_both_limits_before_anyone_asks(owner):
    client, image = owner
    url = reverse("generate_image_print", args=[image.job.public_id, 0])
    html = client.get(url).content.decode()
    assert ('the tile at 300 dpi, at most 65.5 × 65.5 cm, and the whole fabric at 150 dpi, at most 100 megapixels '
            '(for example 260 × 110 cm, or 169.3 × 169.3 cm)') in html
    client.cookies["cualify_language"] = "id"
    assert "paling besar 100 megapiksel" in client.get(url).content.decode()
    client.cookies["cualify_language"] = "en"
    job_page = client.get(reverse("generate_job", args=[image.job.public_id])).content.decode()
    assert 'data-testid="print-limit"' in job_page and "at most 100 megapixels" in job_page  # on the results too


def test_the_fabric_limit_covers_a_kain_and_can_never_be_set_below_150_by_110_cm(settings):
    assert round(limits.print_fabric_min_megapixels(), 1) == 57.5  # 8858 x 6496 px
    assert settings.CUALIFY_PRINT_FABRIC_MAX_MEGAPIXELS >= limits.print_fabric_min_megapixels()
    sizes = generation.print_sizes(tile_cm=5, fabric_width_cm=200, fabric_height_cm=110)
    assert (sizes.tile_px, sizes.fabric_width_px, sizes.fabric_height_px, sizes.fabric_tile_px) == (591, 11811, 6496, 295)
    settings.CUALIFY_PRINT_FABRIC_MAX_MEGAPIXELS = limits.print_fabric_min_megapixels()
    generation.print_sizes(tile_cm=5, fabric_width_cm=150, fabric_height_cm=110)


@pytest.mark.parametrize("sizes, code, english, indonesian", [
    ({"tile_cm": 5, "fabric_width_cm": 300, "fabric_height_cm": 300}, "too_large_fabric",
     "That cloth is too large: the fabric file (150 dpi) may have at most 100 megapixels, for example 260 × 110 cm",
     "Kain itu terlalu besar"),
    ({"tile_cm": 70, "fabric_width_cm": 100, "fabric_height_cm": 100}, "too_large_tile",
     "at 300 dpi a tile may be at most 65.5 × 65.5 cm (60 megapixels)", "Ubin itu terlalu besar"),
])
def test_a_print_past_its_limit_is_a_translated_400_at_every_door_and_nothing_is_queued(
        owner, api_as, sync_queue, sizes, code, english, indonesian):  # noqa: F811
    client, image = owner
    for language, message in (("en", english), ("id", indonesian)):
        response = ask(client, image, language, **sizes)
        assert response.status_code == 400 and message in response.content.decode()
    api = client_for(image.job.user)
    url = f"/api/v1/jobs/{image.job.public_id}/images/0/print/"
    answer = api.post(url, sizes, format="json")
    body = answer.json()
    assert answer.status_code == 400 and body["detail"]["code"] == code and english in body["error"]
    assert body["detail"]["fabric_max_megapixels"] == 100 and body["detail"]["tile_max_megapixels"] == 60
    assert body["detail"]["fabric_dpi"] == 150 and body["detail"]["tile_dpi"] == 300
    assert indonesian in client_for(image.job.user, "id").post(url, sizes, format="json").json()["error"]
    assert not PrintJob.objects.exists() and not print_files()


def test_the_api_schema_states_the_print_limits(api_as):  # noqa: F811
    client, _user = api_as("user")
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/jobs/{public_id}/images/{index}/print/"]["post"]
    assert "at most 60 megapixels" in operation["description"] and "at most 100 megapixels" in operation["description"]
    assert "260 × 110 cm" in operation["description"]


def test_the_web_door_only_queues_the_job_and_composes_nothing(owner, monkeypatch):
    client, image = owner
    WorkerHeartbeat.objects.create(host="worker", pid=1, cluster="generate", serves=["generator"])
    monkeypatch.setattr(print_images, "png_write", lambda *a, **k: pytest.fail("the web process composed a print file"))
    response = ask(client, image, fabric_width_cm=200, fabric_height_cm=110, tile_cm=5)
    job = PrintJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("generate_print", args=[job.public_id])
    assert job.status == "queued" and not job.tile and not print_files()
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="job-progress"' in page and "11811 × 6496 px" in page and "591 × 591 px" in page


def test_no_live_generate_worker_is_a_503_and_nothing_is_stored(owner):
    client, image = owner
    response = ask(client, image)
    assert response.status_code == 503 and "no queue worker is running" in response.content.decode()
    assert not PrintJob.objects.exists()


# --- the worker's files -----------------------------------------------------------------------


def test_a_print_job_makes_the_tile_and_the_fabric_and_both_keep_the_results_metadata(owner, sync_queue):
    client, image = owner
    response = ask(client, image)
    job = PrintJob.objects.get()
    assert job.status == "succeeded", job.error
    assert job.attempts == 1 and job.progress == 1.0 and job.lease_owner == ""
    assert {"loading_s", "print_tile_s", "print_fabric_s", "saving_s", "total_s"} <= set(job.timings)
    assert job.tile.name.startswith("uploads/print/") and job.fabric.name.startswith("uploads/print/")
    page = client.get(response["Location"]).content.decode()
    tile_url = reverse("generate_print_file", args=[job.public_id, "tile"])
    fabric_url = reverse("generate_print_file", args=[job.public_id, "fabric"])
    assert tile_url in page and fabric_url in page
    downloads = {}
    for which, url, dpi, size in (("tile", tile_url, 300, (236, 236)), ("fabric", fabric_url, 150, (1181, 591))):
        answer = client.get(url)
        assert answer["Content-Disposition"].startswith("attachment;") and f"{dpi}dpi.png" in answer["Content-Disposition"]
        data = b"".join(answer.streaming_content)
        picture = Image.open(io.BytesIO(data))
        assert picture.size == size and round(picture.info["dpi"][0]) == dpi
        text = read_png_metadata(data)
        for key, value in SOURCE_TEXT.items():
            assert text[key] == value, key
        assert {key: text[key] for key in AI_METADATA} == AI_METADATA
        assert "trainedAlgorithmicMedia" in text[XMP_KEY]
        asked = json.loads(text["print"])
        assert asked["file"] == which and asked["dpi"] == dpi and (asked["width_px"], asked["height_px"]) == size
        assert (asked["tile_cm"], asked["fabric_width_cm"], asked["fabric_height_cm"]) == (2.0, 20.0, 10.0)
        downloads[which] = np.asarray(picture.convert("RGB")).astype(int)
    # The tile is the result enlarged (wrapping, so still seamless); the fabric repeats the tile
    # enlarged to 150 dpi from the top-left corner, the last column and row cut at the edge.
    source = Image.open(io.BytesIO(generation.job_png(image))).convert("RGB")
    assert np.abs(downloads["tile"] - np.asarray(resize_tile(source, 236)).astype(int)).max() <= 1
    assert seam_error(downloads["tile"].astype(np.uint8)) < 1.2
    fabric, repeat = downloads["fabric"], np.asarray(resize_tile(source, 118)).astype(int)
    assert np.abs(fabric[:118, :118] - repeat).max() <= 1
    assert (fabric[:, 118:236] == fabric[:, :118]).all() and (fabric[118:236] == fabric[:118]).all()
    assert (fabric[:, 1180] == fabric[:, 0]).all() and (fabric[590] == fabric[590 - 5 * 118]).all()


def test_the_api_makes_a_print_job_answers_its_progress_and_serves_its_files(owner, sync_queue):
    _client, image = owner
    api = client_for(image.job.user)
    answer = api.post(f"/api/v1/jobs/{image.job.public_id}/images/0/print/", SMALL, format="json")
    body = answer.json()
    assert answer.status_code == 202 and body["status"] == "succeeded" and body["progress"] == 1.0
    assert [(f["file"], f["dpi"], f["width"], f["height"]) for f in body["files"]] == [
        ("tile", 300, 236, 236), ("fabric", 150, 1181, 591)]
    assert api.get(body["status_url"]).json()["print_id"] == body["print_id"]
    data = b"".join(api.get(body["files"][1]["url"]).streaming_content)
    assert read_png_metadata(data)["parameters"] == SOURCE_TEXT["parameters"]
    finished = api.delete(body["status_url"])
    assert finished.status_code == 409 and finished.json()["detail"]["code"] == "finished"
    assert client_for(UserFactory()).get(body["status_url"]).status_code == 404
    assert client_for(UserFactory()).get(body["files"][0]["url"]).status_code == 404


def test_print_files_are_private_like_the_result_they_print(owner, sync_queue, curator_client,
                                                            django_capture_on_commit_callbacks):
    client, image = owner
    ask(client, image)
    job = PrintJob.objects.get()
    urls = [reverse("generate_print", args=[job.public_id]), reverse("generate_print_status", args=[job.public_id]),
            reverse("generate_print_file", args=[job.public_id, "tile"]),
            reverse("generate_print_file", args=[job.public_id, "fabric"])]
    stranger = Client()
    stranger.force_login(UserFactory())
    for url in urls:
        assert client.get(url).status_code == 200, url
        assert curator_client.get(url).status_code == 200, url
        assert stranger.get(url).status_code == 404 and Client().get(url).status_code == 404, url
    assert stranger.post(reverse("generate_image_print", args=[image.job.public_id, 0]), SMALL).status_code == 404
    for field in (job.tile, job.fabric):
        assert curator_client.get(settings.MEDIA_URL + field.name).status_code == 404  # never from /media/
    with django_capture_on_commit_callbacks(execute=True):
        image.job.delete()  # the result's job goes, and its print files with it
    assert not PrintJob.objects.exists() and not print_files()


# --- cancel, sweep, failures ------------------------------------------------------------------


def queued_print(image, **fields) -> PrintJob:
    sizes = generation.print_sizes(**SMALL)
    return PrintJob.objects.create(image=image, **SMALL, tile_px=sizes.tile_px, fabric_width_px=sizes.fabric_width_px,
                                   fabric_height_px=sizes.fabric_height_px, **fields)


def test_cancel_a_queued_print_and_a_running_one_stops_at_its_next_band_and_leaves_no_file(owner, sync_queue, monkeypatch):
    client, image = owner
    job = queued_print(image)
    assert Client().post(reverse("generate_print_cancel", args=[job.public_id])).status_code == 404  # not theirs
    assert client.post(reverse("generate_print_cancel", args=[job.public_id])).status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert "This print job was cancelled." in client.get(reverse("generate_print", args=[job.public_id])).content.decode()

    running = queued_print(image)
    enlarge = print_pipeline.enlarge

    def cancelled_midway(source, size):
        generation.job_cancel(job=running)  # the visitor presses Cancel while the worker works
        return enlarge(source, size)

    monkeypatch.setattr(print_pipeline, "enlarge", cancelled_midway)
    generation.print_job_enqueue(running)
    running.refresh_from_db()
    assert running.status == "cancelled" and not running.tile and not print_files()


def test_a_lost_print_job_is_run_again_by_the_sweeper_and_fails_after_max_attempts(owner, sync_queue, settings):
    _client, image = owner
    expired = timezone.now() - timedelta(seconds=5)
    job = queued_print(image)
    PrintJob.objects.filter(pk=job.pk).update(status="running", lease_owner="dead:1", lease_expires=expired, attempts=1)
    assert generation.generation_sweep() == {"failed": 0, "resent": 1}  # sync mode: it runs again at once
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 2 and job.tile and job.fabric
    other = queued_print(image)
    PrintJob.objects.filter(pk=other.pk).update(status="running", lease_owner="dead:1", lease_expires=expired,
                                                attempts=settings.CUALIFY_GENERATION_MAX_ATTEMPTS)
    assert generation.generation_sweep()["failed"] == 1
    other.refresh_from_db()
    assert other.status == "failed" and other.error == "lost"


def test_a_print_job_that_fails_while_saving_is_retried_and_leaves_no_file(owner, sync_queue, monkeypatch):
    _client, image = owner
    from django.db.models.fields.files import FieldFile

    original = FieldFile.save

    def second_file_fails(self, name, content, save=True):
        if self.field.name == "fabric":
            raise OSError("disk full")
        return original(self, name, content, save=save)

    monkeypatch.setattr(FieldFile, "save", second_file_fails)
    job = queued_print(image)
    generation.print_job_enqueue(job)
    job.refresh_from_db()
    assert job.status == "failed" and job.attempts == 3 and "disk full" in job.error
    assert not print_files()


def test_a_print_job_past_a_limit_lowered_after_it_was_queued_fails_at_once_with_its_reason(owner, sync_queue, settings):
    client, image = owner
    job = queued_print(image)
    settings.CUALIFY_PRINT_MAX_MEGAPIXELS = 0.01
    generation.print_job_enqueue(job)
    job.refresh_from_db()
    assert job.status == "failed" and job.attempts == 1 and job.error == "too_large_tile" and not print_files()
    assert "That tile is too large to print" in client.get(reverse("generate_print", args=[job.public_id])).content.decode()


def test_curators_see_print_jobs_in_the_admin_and_may_cancel_them(owner, curator_client):
    _, image = owner
    job = queued_print(image, error="")
    html = curator_client.get(reverse("admin:inference_printjob_changelist")).content.decode()
    assert job.public_id.hex[:8] in html and "tile 2 cm, cloth 20 × 10 cm" in html
    assert curator_client.get(reverse("admin:inference_printjob_change", args=[job.pk])).status_code == 200
    assert curator_client.get(reverse("admin:inference_printjob_add")).status_code == 403
    response = curator_client.post(reverse("admin:inference_printjob_changelist"),
                                   {"action": "cancel", "_selected_action": [job.pk]})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_with_the_super_resolution_refiner_the_worker_draws_the_print_from_detail(owner, sync_queue, refiner):
    """An unrefined 64 px result is drawn again at 512 px by the refiner in the worker, then
    resized to the print: the files say so, keep the result's metadata and stay seamless."""
    client, image = owner
    ask(client, image, tile_cm=5, fabric_width_cm=20, fabric_height_cm=10)
    job = PrintJob.objects.get()
    assert job.status == "succeeded", job.error
    with job.tile.open("rb") as handle:
        data = handle.read()
    text = read_png_metadata(data)
    asked = json.loads(text["print"])
    assert asked["enlarged"].startswith("diffusion super-resolution x8 (") and "Lanczos" in asked["enlarged"]
    assert all(text[key] == value for key, value in SOURCE_TEXT.items())
    tile = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    source = Image.open(io.BytesIO(generation.job_png(image))).convert("RGB")
    assert tile.shape == (591, 591, 3) and seam_error(tile) <= 1.0
    # Not the Lanczos enlargement of the 64 px result.
    assert np.abs(tile.astype(int) - np.asarray(resize_tile(source, 591)).astype(int)).mean() > 1.0
