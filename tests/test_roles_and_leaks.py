"""Issue 10, the security review: one curator rule (``accounts.roles.is_curator``) at every door,
visitors' session keys nowhere in sight, drafts invisible outside the admin and the curators'
own pages, and a deleted account's work no longer readable by its id."""
import importlib
import io
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.sessions.backends.db import SessionStore
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.crypto import get_random_string

from accounts.roles import is_curator
from compat.app import create_app
from inference.classification.services import classification_summary
from inference.models import ClassificationRecord, GeneratedImage, GenerationJob
from inference.tests.conftest import classifier, generator, sync_queue  # noqa: F401  (fixtures)
from inference.visitors import VISITOR_KEY, visitor_key_hash
from motifs.demo_art import render_motif
from motifs.models import Motif, MotifImage
from tests.api_fixtures import api, api_as, client_for  # noqa: F401  (fixtures)
from tests.factories import MotifFactory, UserFactory, add_image
from tests.test_privacy import doors as privacy_doors
from tests.visitor_records import make_job, make_record

pytestmark = pytest.mark.django_db

PASSWORD = "batik-cual-2026"  # tests.factories.UserFactory's


def english(client: Client) -> Client:
    client.cookies["cualify_language"] = "en"
    return client


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return english(client)


def demo_photo(slug: str = "merak", seed: int = 5000) -> bytes:
    buffer = io.BytesIO()
    render_motif(slug, seed, 512).save(buffer, "JPEG")
    return buffer.getvalue()


def classify_on_the_site(client: Client, slug: str = "merak") -> ClassificationRecord:
    response = client.post(reverse("classify"), {"photo": SimpleUploadedFile("kain.jpg", demo_photo(slug), "image/jpeg")})
    assert response.status_code == 302, response.content[:2000]
    return ClassificationRecord.objects.latest("created")


def classify_through_the_api(client) -> dict:
    response = client.post("/api/v1/classify/", {"file": SimpleUploadedFile("kain.jpg", demo_photo(), "image/jpeg")},
                           format="multipart")
    assert response.status_code == 200, response.content[:2000]
    return response.json()


@pytest.fixture
def staff_user():
    """Staff (the admin lets them log in) but outside the Curator group: not a curator."""
    user = UserFactory(is_staff=True)
    assert not is_curator(user)
    return user


@pytest.fixture
def staff_client(staff_user):
    return signed_in(staff_user)


@pytest.fixture
def compat(db):
    return create_app().test_client()


# --- 1. staff is not curator -----------------------------------------------------------------


def site_doors(record, job) -> list[str]:
    """Every site URL that shows a visitor's record, job or files."""
    return privacy_doors(record, job) + [reverse("generate_admin_image", args=[job.images.get(index=0).pk])]


def api_doors(record, job) -> list[str]:
    return [f"/api/v1/classifications/{record.public_id}/", f"/api/v1/jobs/{job.public_id}/",
            f"/api/v1/jobs/{job.public_id}/images/0.png"]


def test_only_the_curator_group_or_a_superuser_makes_a_curator(staff_user):
    assert is_curator(UserFactory(curator=True)) and is_curator(UserFactory(is_superuser=True))
    assert not is_curator(UserFactory())


def test_staff_outside_the_curator_group_sees_no_visitors_records_on_the_site(staff_client, curator_client):
    visitor = Client()
    key = visitor.session.session_key
    record, job = make_record(session_key=key), make_job(session_key=key)
    for url in site_doors(record, job):
        assert staff_client.get(url).status_code == 404, url
        assert curator_client.get(url).status_code == 200, url
        assert visitor.get(url).status_code == (404 if "admin.png" in url else 200), url


def test_staff_outside_the_curator_group_sees_no_visitors_records_through_the_api(staff_user):
    record, job = make_record(session_key="visitor-a"), make_job(session_key="visitor-a")
    staff, curator = client_for(staff_user), client_for(UserFactory(curator=True))
    for url in api_doors(record, job):
        assert staff.get(url).status_code == 404, url
        assert curator.get(url).status_code == 200, url
    assert staff.get("/api/v1/classifications/").json()["count"] == 0
    assert staff.get("/api/v1/jobs/").json()["count"] == 0


def test_staff_outside_the_curator_group_sees_only_their_own_history(staff_user, staff_client, curator_client):
    own, theirs = make_job(user=staff_user), make_job(session_key="visitor-b")
    html = staff_client.get(reverse("generate_history")).content.decode()
    assert str(own.public_id) in html and str(theirs.public_id) not in html
    assert "As a curator you see every visitor" not in html
    html = curator_client.get(reverse("generate_history")).content.decode()
    assert str(own.public_id) in html and str(theirs.public_id) in html
    assert "As a curator you see every visitor" in html


def test_staff_outside_the_curator_group_cannot_promote_a_result_into_the_archive(staff_user, staff_client,
                                                                                   curator_client):
    motif = MotifFactory()
    own, theirs = make_job(user=staff_user, images=1), make_job(session_key="visitor-c", images=1)
    own_promote = reverse("generate_image_promote", args=[own.public_id, 0])
    their_promote = reverse("generate_image_promote", args=[theirs.public_id, 0])
    assert own_promote not in staff_client.get(reverse("generate_job", args=[own.public_id])).content.decode()
    assert staff_client.post(own_promote, {"motif": motif.pk}).status_code == 403
    assert staff_client.post(their_promote, {"motif": motif.pk}).status_code in (403, 404)
    assert not MotifImage.objects.filter(source=MotifImage.Source.GENERATED).exists()

    assert their_promote in curator_client.get(reverse("generate_job", args=[theirs.public_id])).content.decode()
    assert curator_client.post(their_promote, {"motif": motif.pk}).status_code == 302
    archived = theirs.images.get().archive_image
    assert archived is not None and archived.motif == motif and archived.source == MotifImage.Source.GENERATED


def test_the_curate_links_are_for_curators_only(staff_client, curator_client):
    admin_link = f'href="{reverse("admin:index")}"'
    for client, shown in ((staff_client, False), (curator_client, True)):
        home = client.get(reverse("home")).content.decode()
        profile = client.get(reverse("accounts:profile")).content.decode()
        assert (admin_link in home and ">Curate<" in home) is shown
        assert (admin_link in profile and "Open the curation admin" in profile) is shown
    assert admin_link not in english(Client()).get(reverse("home")).content.decode()


# --- 2. visitors' session keys ---------------------------------------------------------------


def test_no_row_holds_the_session_key_of_the_visitor_who_made_it(client, classifier, generator, sync_queue):
    english(client)
    record = classify_on_the_site(client)
    response = client.post(reverse("generate"), {"mode": "variation", "motifs": ["kepiting"], "seed": 3, "count": 1,
                                                 "truncation": 0.7, "distance": 0.5, "refine_strength": 0.3,
                                                 "upscale": 1})
    assert response.status_code == 302, response.content[:2000]
    job = GenerationJob.objects.get()
    assert record.status == "done" and job.status == "succeeded", (record.error, job.error)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    rows = [*ClassificationRecord.objects.values(), *GenerationJob.objects.values(), *GeneratedImage.objects.values()]
    assert len(rows) == 3
    for row in rows:
        assert not any(key in str(value) for value in row.values()), row
    # The rows are still the visitor's: they carry the key's keyed hash.
    assert {record.session_key, GenerationJob.objects.get().session_key} == {visitor_key_hash(key)}
    assert client.get(reverse("classify_result", args=[record.public_id])).status_code == 200
    assert client.get(reverse("generate_job", args=[job.public_id])).status_code == 200


def test_the_admin_shows_neither_a_visitors_key_nor_its_hash(curator_client):
    key = get_random_string(32)
    record, job = make_record(session_key=key), make_job(session_key=key)
    pages = [
        reverse("admin:inference_classificationrecord_change", args=[record.pk]),
        reverse("admin:inference_classificationrecord_changelist"),
        reverse("admin:inference_generationjob_change", args=[job.pk]),
        reverse("admin:inference_generationjob_changelist"),
    ]
    for url in pages:
        response = curator_client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert key not in html and visitor_key_hash(key) not in html, url
        assert "anonymous visitor" in html, url
    for model in (ClassificationRecord, GenerationJob):  # nor can the admin's search find a row by it
        assert "session_key" not in admin.site._registry[model].search_fields


def test_the_migration_replaces_raw_session_keys_with_their_hash_and_visitors_keep_their_rows():
    migration = importlib.import_module("inference.migrations.0003_visitor_hash_leases_task_paths")
    raw = SessionStore()
    raw.create()  # a real 32-character session key, as rows kept it before
    record, job = make_record(), make_job()
    ClassificationRecord.objects.filter(pk=record.pk).update(session_key=raw.session_key)
    GenerationJob.objects.filter(pk=job.pk).update(session_key=raw.session_key)
    hashed, nobody = make_record(session_key="already-hashed"), make_record()

    migration.hash_visitor_keys(apps, schema_editor=None)

    for row in (record, job, hashed, nobody):
        row.refresh_from_db()
    assert len(raw.session_key) == 32
    assert record.session_key == job.session_key == visitor_key_hash(raw.session_key)
    assert hashed.session_key == visitor_key_hash("already-hashed") and nobody.session_key == ""
    # The browser holding that session still sees its records.
    visitor = Client()
    visitor.cookies[settings.SESSION_COOKIE_NAME] = raw.session_key
    assert visitor.get(reverse("classify_result", args=[record.public_id])).status_code == 200
    assert visitor.get(reverse("generate_job", args=[job.public_id])).status_code == 200


def test_a_visitors_records_follow_them_into_their_account_at_log_in(client, classifier, sync_queue):
    english(client)
    record = classify_on_the_site(client)
    visitor_key = client.session[VISITOR_KEY]
    job = make_job(session_key=visitor_key)
    assert record.user is None and record.session_key == visitor_key_hash(visitor_key)
    user = UserFactory()
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:2000]
    record.refresh_from_db()
    job.refresh_from_db()
    assert record.user == user and job.user == user
    assert VISITOR_KEY not in client.session
    assert client.get(reverse("classify_result", args=[record.public_id])).status_code == 200
    assert client.get(reverse("generate_job", args=[job.public_id])).status_code == 200
    # Logged out, the browser is a new visitor: the records stay in the account.
    client.post(reverse("logout"))
    assert client.get(reverse("classify_result", args=[record.public_id])).status_code == 404


# --- 3a. a class whose motif is a draft ------------------------------------------------------


def assert_not_that_motif(summary: dict, motif: Motif) -> None:
    """A summary that names nothing of ``motif`` (its class label is the model's own word)."""
    assert summary["motif"] is None and summary["name"] is None and not summary["recognised"], summary
    assert summary["label"] is None and summary["confidence"] is None and summary["reason"] == "class_without_motif", summary
    assert summary["description"] == "" and summary["meaning"] == "" and summary["owners"] == [], summary
    assert motif.slug not in [guess["motif"] for guess in summary["top"]], summary
    text = str(summary)
    assert motif.name not in text and motif.description_en not in text and motif.meaning_en not in text


def test_a_class_whose_motif_is_a_draft_is_not_recognised_at_any_door(compat, api, curator_client, classifier,
                                                                      sync_queue):
    merak = Motif.objects.get(slug="merak")
    merak.status = Motif.Status.DRAFT
    merak.save()

    response = compat.post("/predict", data={"file": (io.BytesIO(demo_photo()), "kain.jpg", "image/jpeg")},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    # The model did see its class: a guess, not an answer.
    assert body["label"] is None and body["top"][0]["label"] == "merak" and body["reason"] == "class_without_motif"
    assert_not_that_motif(response.get_json(), merak)
    record = ClassificationRecord.objects.get()
    assert record.motif is None and not record.recognised and record.reason == "class_without_motif"

    assert_not_that_motif(classify_through_the_api(api), merak)

    visitor = english(Client())
    site_record = classify_on_the_site(visitor)
    html = visitor.get(reverse("classify_result", args=[site_record.public_id])).content.decode()
    assert "Not recognised as a known motif" in html
    assert merak.meaning_en not in html and merak.get_absolute_url() not in html
    # Curators see drafts on the site's own pages: the guess links to the draft for them.
    html = curator_client.get(reverse("classify_result", args=[site_record.public_id])).content.decode()
    assert merak.get_absolute_url() in html


def test_a_motif_unpublished_after_the_record_was_made_no_longer_shows(api, curator_client, classifier, sync_queue):
    merak = Motif.objects.get(slug="merak")
    body = classify_through_the_api(api)
    visitor = english(Client())
    site_record = classify_on_the_site(visitor)
    assert body["motif"] == "merak" and site_record.motif == merak

    merak.status = Motif.Status.DRAFT
    merak.save()

    assert_not_that_motif(api.get(body["status_url"]).json(), merak)
    assert_not_that_motif(classification_summary(ClassificationRecord.objects.get(public_id=body["id"])), merak)
    result = reverse("classify_result", args=[site_record.public_id])
    html = visitor.get(result).content.decode()
    assert "Not recognised as a known motif" in html
    assert merak.meaning_en not in html and merak.get_absolute_url() not in html
    html = curator_client.get(result).content.decode()
    assert merak.meaning_en in html and merak.get_absolute_url() in html
    # The machine doors stay strict for curators too.
    assert_not_that_motif(client_for(UserFactory(curator=True)).get(body["status_url"]).json(), merak)


# --- 3b. draft archive images ----------------------------------------------------------------


def test_the_media_view_serves_a_draft_motifs_images_to_curators_only(staff_client, curator_client):
    draft = MotifFactory(status=Motif.Status.DRAFT)
    hidden, shown = add_image(draft), add_image(MotifFactory())
    anonymous, registered = Client(), signed_in(UserFactory())
    name = hidden.file.name
    for path in (name, f"./{name}", f"archive/../{name}", f"/{name}", f"archive//{name[len('archive/'):]}"):
        for who in (anonymous, registered, staff_client):
            assert who.get(f"{settings.MEDIA_URL}{path}").status_code == 404, path
    assert curator_client.get(settings.MEDIA_URL + name).status_code == 200
    assert anonymous.get(settings.MEDIA_URL + shown.file.name).status_code == 200
    # A file under archive/ that no image row owns is not public either.
    stray = Path(settings.MEDIA_ROOT) / "archive" / "zz" / "stray.png"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(Path(shown.file.path).read_bytes())
    assert anonymous.get(f"{settings.MEDIA_URL}archive/zz/stray.png").status_code == 404
    assert curator_client.get(f"{settings.MEDIA_URL}archive/zz/stray.png").status_code == 200

    draft.status = Motif.Status.PUBLISHED
    draft.save()
    assert anonymous.get(settings.MEDIA_URL + name).status_code == 200


def test_draft_images_are_out_of_the_api_and_the_pages_for_everyone_but_curators(staff_user, staff_client,
                                                                                 curator_client):
    draft = MotifFactory(status=Motif.Status.DRAFT)
    image = add_image(draft)
    for api_client in (client_for(), client_for(staff_user)):
        assert image.pk not in [row["id"] for row in api_client.get("/api/v1/images/").json()["results"]]
        assert api_client.get(f"/api/v1/images/{image.pk}/").status_code == 404
        assert api_client.get(f"/api/v1/motifs/{draft.slug}/").status_code == 404
    curator_api = client_for(UserFactory(curator=True))
    assert curator_api.get(f"/api/v1/images/{image.pk}/").status_code == 200
    for site_client in (english(Client()), staff_client):
        assert image.file.name not in site_client.get(reverse("motifs:gallery")).content.decode()
        assert image.file.name not in site_client.get(reverse("home")).content.decode()
        assert site_client.get(draft.get_absolute_url()).status_code == 404
    assert image.file.name in curator_client.get(draft.get_absolute_url()).content.decode()


# --- 3c. deleted accounts --------------------------------------------------------------------


def test_a_deleted_accounts_api_job_is_not_readable_through_compat_but_curators_still_see_it(
        compat, api_as, generator, sync_queue, curator_client):
    client, user = api_as("user")
    response = client.post("/api/v1/generate/", {"mode": "variation", "motifs": ["kepiting"], "count": 1, "seed": 5},
                           format="json")
    assert response.status_code == 202, response.content[:2000]
    job = GenerationJob.objects.get(public_id=response.json()["job_id"])
    assert job.status == "succeeded" and not job.readable_by_id

    user.delete()
    job.refresh_from_db()
    assert job.user is None and job.session_key == ""
    for path in (f"/generate/{job.public_id}", f"/generate/{job.public_id}/images/0.png"):
        assert compat.get(path).status_code == 404, path
    assert curator_client.get(reverse("generate_job", args=[job.public_id])).status_code == 200
    assert curator_client.get(reverse("generate_image", args=[job.public_id, 0])).status_code == 200
    assert Client().get(reverse("generate_job", args=[job.public_id])).status_code == 404

    made_here = compat.post("/generate", json={"mode": "variation", "motifs": ["kepiting"], "count": 1}).get_json()
    status = compat.get(made_here["status_url"])
    assert status.status_code == 200 and status.get_json()["status"] == "succeeded"
    assert compat.get(status.get_json()["images"][0]["url"]).status_code == 200


def test_a_deleted_accounts_records_are_for_curators_only(classifier, sync_queue, curator_client):
    """Whether made through the API (token) or the site (a browser session), once the account
    is gone its rows belong to no one but the curators — the browser it used included."""
    api_user = UserFactory()
    api_client = client_for(api_user)
    api_record = ClassificationRecord.objects.get(public_id=classify_through_the_api(api_client)["id"])
    site_user = UserFactory()
    client = signed_in(site_user)
    site_record = classify_on_the_site(client)
    site_job = make_job(user=site_user, session_key=client.session.session_key)
    assert site_record.user == site_user

    api_user.delete()
    site_user.delete()
    record_doors = [reverse("classify_result", args=[r.public_id]) for r in (api_record, site_record)]
    record_doors += [reverse("classify_photo", args=[r.public_id]) for r in (api_record, site_record)]
    record_doors += [reverse("generate_job", args=[site_job.public_id]), reverse("generate_image", args=[site_job.public_id, 0])]
    for url in record_doors:
        assert client.get(url).status_code == 404, url  # the deleted user's own browser
        assert Client().get(url).status_code == 404, url
        assert curator_client.get(url).status_code == 200, url
    for r in (api_record, site_record):
        assert client_for().get(f"/api/v1/classifications/{r.public_id}/").status_code == 404
        assert client_for(UserFactory(curator=True)).get(f"/api/v1/classifications/{r.public_id}/").status_code == 200
