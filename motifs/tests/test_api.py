"""The archive over the REST API: who reads what, who writes, filters, search, pagination,
the error shape, and images through the intake rules."""
import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from core.api import INVALID_INPUT
from motifs.models import Motif, MotifImage
from core.intake import REJECTION_MESSAGES, rejection_message
from tests.api_fixtures import ROLES, api, api_as, client_for  # noqa: F401
from tests.factories import (CollectionFactory, MotifFactory, OwnerFactory, OwnershipFactory, UserFactory, add_image,
                             image_bytes)

pytestmark = pytest.mark.django_db

WRITERS = {"anonymous": 401, "user": 403, "curator": 201, "admin": 201}


def assert_error(response, status, message=None):
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error", "detail"} and isinstance(body["detail"], dict), body
    if message is not None:
        assert body["error"] == str(message)
    return body


def slugs(response):
    return [m["slug"] for m in response.json()["results"]]


# --- reading the catalogue -------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_everyone_lists_published_motifs_and_only_curators_see_drafts(api_as, role):
    draft = MotifFactory(status=Motif.Status.DRAFT, slug="draft-motif")
    client, _user = api_as(role)
    listed = slugs(client.get("/api/v1/motifs/?page_size=100"))
    curator = role in ("curator", "admin")
    assert ("draft-motif" in listed) == curator
    assert "merak" in listed  # the seeded catalogue is published
    assert client.get(f"/api/v1/motifs/{draft.slug}/").status_code == (200 if curator else 404)
    drafts = client.get("/api/v1/motifs/?status=draft")
    assert slugs(drafts) == (["draft-motif"] if curator else [])


def test_motif_detail_has_image_urls_owners_with_verified_flag_and_texts_in_the_callers_language(api):
    motif = MotifFactory(slug="kembang-uji", description_id="Bunga uji.", description_en="A test flower.")
    image = add_image(motif, caption_en="On silk", caption_id="Di sutra")
    OwnershipFactory(motif=motif, owner=OwnerFactory(slug="galeri-a", name="Galeri A"), verified=True)
    OwnershipFactory(motif=motif, owner=OwnerFactory(slug="galeri-b", name="Galeri B"), verified=False)
    body = api.get("/api/v1/motifs/kembang-uji/").json()
    assert body["description"] == "A test flower." and body["description_id"] == "Bunga uji."
    assert body["images"][0]["url"] == f"http://testserver{settings.MEDIA_URL}{image.file.name}"
    assert body["images"][0]["caption"] == "On silk" and body["cover"] == body["images"][0]["url"]
    assert {(o["slug"], o["verified"]) for o in body["owners"]} == {("galeri-a", True), ("galeri-b", False)}
    assert client_for(language="id").get("/api/v1/motifs/kembang-uji/").json()["description"] == "Bunga uji."
    # The image itself is served (public media) at that address.
    assert api.get(body["images"][0]["url"]).status_code == 200


def test_motifs_filter_by_category_origin_and_owner_slug_or_id(api):
    owner = OwnerFactory(slug="galeri-filter")
    a = MotifFactory(category="fauna", origin="belitung")
    b = MotifFactory(category="fauna", origin="bangka")
    OwnershipFactory(motif=a, owner=owner)
    assert a.slug in slugs(api.get("/api/v1/motifs/?category=fauna&origin=belitung"))
    assert b.slug not in slugs(api.get("/api/v1/motifs/?category=fauna&origin=belitung"))
    assert slugs(api.get("/api/v1/motifs/?owner=galeri-filter")) == [a.slug]
    assert slugs(api.get(f"/api/v1/motifs/?owner={owner.pk}")) == [a.slug]
    assert slugs(api.get("/api/v1/motifs/?owner=nobody")) == []
    for odd in ("9" * 30, "²", "-1"):  # neither an id nor a slug the database could choke on
        assert slugs(api.get(f"/api/v1/motifs/?owner={odd}")) == []


def test_search_looks_in_names_aliases_and_descriptions(api):
    assert "merak" in slugs(api.get("/api/v1/motifs/?search=peacock"))  # English name
    MotifFactory(slug="uji-cari", description_en="Waves of the Bangka strait")
    assert slugs(api.get("/api/v1/motifs/?search=strait")) == ["uji-cari"]
    motif = Motif.objects.get(slug="merak")
    alias = motif.aliases.first()
    if alias is not None:
        assert "merak" in slugs(api.get(f"/api/v1/motifs/?search={alias.name}"))


def test_a_bad_filter_value_is_a_400_in_the_error_shape(api):
    body = assert_error(api.get("/api/v1/motifs/?category=dragons"), 400, INVALID_INPUT)
    assert "category" in body["detail"]


def test_pagination_caps_the_page_size_and_a_missing_page_is_a_404(api):
    for n in range(3):
        MotifFactory()
    first = api.get("/api/v1/motifs/?page_size=2").json()
    assert len(first["results"]) == 2 and first["next"] and first["count"] >= 17
    assert len(api.get("/api/v1/motifs/?page_size=100000").json()["results"]) == first["count"]  # capped at 100
    assert_error(api.get("/api/v1/motifs/?page=999"), 404)


def test_owners_hide_contact_details_from_everyone_but_curators(api_as):
    owner = OwnerFactory(slug="galeri-kontak", phone="+62 812", email="galeri@example.org", address="Jl. Uji 1")
    published, draft = MotifFactory(), MotifFactory(status=Motif.Status.DRAFT)
    OwnershipFactory(owner=owner, motif=published)
    OwnershipFactory(owner=owner, motif=draft)
    public = api_as("user")[0].get("/api/v1/owners/galeri-kontak/").json()
    assert "phone" not in public and "email" not in public
    assert [m["slug"] for m in public["motifs"]] == [published.slug]
    curated = api_as("curator")[0].get("/api/v1/owners/galeri-kontak/").json()
    assert curated["phone"] == "+62 812" and {m["slug"] for m in curated["motifs"]} == {published.slug, draft.slug}
    assert "ishadi-cual-gallery" in [o["slug"] for o in api_as("anonymous")[0].get("/api/v1/owners/").json()["results"]]


def test_collections_are_public_ones_in_order_and_curators_see_all(api_as):
    first, second, hidden = MotifFactory(), MotifFactory(), MotifFactory(status=Motif.Status.DRAFT)
    public = CollectionFactory(slug="pameran")
    for position, motif in enumerate([second, hidden, first]):
        public.items.create(motif=motif, position=position)
    CollectionFactory(slug="rahasia", is_public=False)
    anonymous = api_as("anonymous")[0]
    body = anonymous.get("/api/v1/collections/pameran/").json()
    assert [m["slug"] for m in body["motifs"]] == [second.slug, first.slug]
    assert anonymous.get("/api/v1/collections/rahasia/").status_code == 404
    curator = api_as("curator")[0]
    assert curator.get("/api/v1/collections/rahasia/").status_code == 200
    assert [m["slug"] for m in curator.get("/api/v1/collections/pameran/").json()["motifs"]] == [
        second.slug, hidden.slug, first.slug]


def test_images_list_shows_images_of_published_motifs_only(api_as):
    shown = add_image(MotifFactory())
    hidden = add_image(MotifFactory(status=Motif.Status.DRAFT))
    anonymous = api_as("anonymous")[0]
    ids = [i["id"] for i in anonymous.get("/api/v1/images/?page_size=100").json()["results"]]
    assert shown.pk in ids and hidden.pk not in ids
    assert anonymous.get(f"/api/v1/images/{hidden.pk}/").status_code == 404
    assert api_as("curator")[0].get(f"/api/v1/images/{hidden.pk}/").status_code == 200
    by_motif = anonymous.get(f"/api/v1/images/?motif={shown.motif.slug}").json()["results"]
    assert [i["id"] for i in by_motif] == [shown.pk]


# --- writing the catalogue -------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_only_curators_create_motifs(api_as, role):
    client, _user = api_as(role)
    response = client.post("/api/v1/motifs/", {"slug": "bunga-baru", "name": "Bunga Baru", "category": "flora"},
                           format="json")
    assert response.status_code == WRITERS[role], response.content
    if response.status_code == 201:
        assert response.json()["slug"] == "bunga-baru" and response.json()["status"] == "draft"
    else:
        assert_error(response, WRITERS[role])
        assert not Motif.objects.filter(slug="bunga-baru").exists()
    if role == "anonymous":
        assert response["WWW-Authenticate"] == "Token"


def test_curators_update_motifs_but_never_their_slug(api_as):
    client, _user = api_as("curator")
    motif = MotifFactory(status=Motif.Status.DRAFT)
    response = client.patch(f"/api/v1/motifs/{motif.slug}/", {"status": "published", "slug": "other"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "published"
    motif.refresh_from_db()
    assert motif.is_published and motif.slug != "other"
    put = client.put(f"/api/v1/motifs/{motif.slug}/", {"name": "Nama Baru", "category": "fauna"}, format="json")
    assert put.status_code == 200 and put.json()["name"] == "Nama Baru"
    assert api_as("user")[0].patch(f"/api/v1/motifs/{motif.slug}/", {"name": "x"}, format="json").status_code == 403


def test_motif_write_errors_come_in_the_error_shape(api_as):
    client, _user = api_as("curator")
    body = assert_error(client.post("/api/v1/motifs/", {"slug": "merak", "name": "", "category": "dragons"},
                                    format="json"), 400, INVALID_INPUT)
    assert set(body["detail"]) == {"slug", "name", "category"}
    assert_error(client.post("/api/v1/motifs/", "{not json", content_type="application/json"), 400)
    assert_error(client.post("/api/v1/motifs/", "x", content_type="text/plain"), 415)
    assert_error(client.delete("/api/v1/motifs/merak/"), 405)  # motifs are retired to draft, not deleted


@pytest.mark.parametrize("role", ROLES)
def test_only_curators_create_and_update_owners(api_as, role):
    client, _user = api_as(role)
    created = client.post("/api/v1/owners/", {"slug": "galeri-baru", "name": "Galeri Baru", "email": "x@example.org"},
                          format="json")
    assert created.status_code == WRITERS[role]
    changed = client.patch("/api/v1/owners/ishadi-cual-gallery/", {"place": "Muntok"}, format="json")
    assert changed.status_code == {201: 200}.get(WRITERS[role], WRITERS[role])
    if created.status_code == 201:
        assert created.json()["motifs"] == [] and created.json()["email"] == "x@example.org"
        assert changed.json()["place"] == "Muntok" and len(changed.json()["motifs"]) == 9
        assert_error(client.patch("/api/v1/owners/galeri-baru/", {"website": "not a url"}, format="json"), 400)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", ["/api/v1/motifs/", "/api/v1/owners/", "/api/v1/collections/", "/api/v1/images/",
                                  "/api/v1/models/", "/api/v1/motifs/merak/", "/api/v1/owners/ishadi-cual-gallery/",
                                  "/api/v1/collections/flora-bangka/"])
def test_every_role_reads_the_public_catalogue(api_as, role, path):
    response = api_as(role)[0].get(path)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"


def stored_archive_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "archive"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def upload_image(client, data, name="photo.png", content_type="image/png", motif="merak", **fields):
    return client.post("/api/v1/images/", {"motif": motif, "file": SimpleUploadedFile(name, data, content_type),
                                           **fields}, format="multipart")


@pytest.mark.parametrize("role", ROLES)
def test_only_curators_add_images(api_as, role):
    client, _user = api_as(role)
    response = upload_image(client, image_bytes(color=(1, 2, 3)), credit="Galeri Uji")
    assert response.status_code == WRITERS[role], response.content
    assert len(stored_archive_files()) == (1 if response.status_code == 201 else 0)
    if response.status_code == 201:
        assert response.json()["credit"] == "Galeri Uji" and response.json()["motif"] == "merak"


def test_an_image_already_archived_is_a_409_and_nothing_new_is_stored(api_as):
    client, _user = api_as("curator")
    data = image_bytes(color=(9, 9, 9))
    first = upload_image(client, data)
    assert first.status_code == 201
    body = assert_error(upload_image(client, data), 409)
    assert body["detail"] == {"code": "duplicate", "existing": first.json()["id"]}
    assert len(stored_archive_files()) == 1


def test_a_client_file_name_never_becomes_the_stored_name(api_as):
    client, _user = api_as("curator")
    response = upload_image(client, image_bytes(color=(4, 5, 6)), name="../../../etc/passwd.png")
    assert response.status_code == 201
    image = MotifImage.objects.get(pk=response.json()["id"])
    assert image.file.name == f"archive/{image.sha256[:2]}/{image.sha256}.png"
    assert "passwd" not in response.json()["url"]


def test_polyglot_files_are_stored_only_as_the_re_encoded_image(api_as):
    client, _user = api_as("curator")
    gif_html = image_bytes(color=(200, 10, 10), fmt="GIF") + b"<html><script>alert(1)</script></html>"
    zip_buffer = io.BytesIO()
    with zipfile.ZipFile(zip_buffer, "w") as archive:
        archive.writestr("payload.txt", "secret")
    png_zip = image_bytes(color=(10, 200, 10)) + zip_buffer.getvalue()
    for data, name in [(gif_html, "x.gif"), (png_zip, "x.png")]:
        response = upload_image(client, data, name=name)
        if response.status_code == 201:
            stored = MotifImage.objects.get(pk=response.json()["id"]).file.read()
            assert b"<html" not in stored.lower() and b"<script" not in stored.lower()
            assert b"PK\x03\x04" not in stored and b"payload.txt" not in stored
        else:
            assert_error(response, 400)


def test_svg_with_script_is_rejected_and_nothing_is_stored(api_as):
    client, _user = api_as("curator")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><rect width="9" height="9"/></svg>'
    body = assert_error(upload_image(client, svg, name="x.svg", content_type="image/svg+xml"), 400)
    assert body["error"] in {rejection_message(code) for code in REJECTION_MESSAGES}
    assert body["detail"]["code"] in {"not_an_image", "unsupported_format"}
    assert stored_archive_files() == []


def test_an_image_over_the_byte_limit_is_a_413(api_as, settings):
    settings.CUALIFY_MAX_IMAGE_BYTES = 2000
    client, _user = api_as("curator")
    body = assert_error(upload_image(client, image_bytes(size=(400, 400), color=(1, 1, 1)) + b"\0" * 3000), 413,
                        rejection_message("too_large"))
    assert body["detail"]["code"] == "too_large"
    assert stored_archive_files() == []


def test_a_body_over_data_upload_max_memory_size_is_a_413_in_the_error_shape(api_as, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 5000
    client, _user = api_as("curator")
    assert_error(upload_image(client, b"\x89PNG" + b"\0" * 10_000), 413)
    huge = '{"slug": "x", "name": "' + "a" * 10_000 + '", "category": "flora"}'
    assert_error(client.post("/api/v1/motifs/", huge, content_type="application/json"), 413)


# --- the error shape and languages -----------------------------------------------------------


def test_unknown_addresses_under_api_answer_404_in_the_error_shape(api):
    for path in ["/api/v1/nothing/", "/api/v1/motifs/no-such-motif/", "/api/v2/motifs/", "/api/v1/images/99999/",
                 "/api/v1/motifs"]:
        assert_error(api.get(path), 404)


def test_error_messages_are_translated_for_the_callers_language(db):
    """The messages come from gettext in the language of Accept-Language (English here; the
    Indonesian catalogue answers once it has the message)."""
    english = client_for(language="en").get("/api/v1/motifs/?category=dragons").json()
    assert english["error"] == "Invalid input."
    assert english["detail"]["category"][0].startswith("Select a valid choice.")
    indonesian = client_for(language="id").get("/api/v1/motifs/?category=dragons").json()
    with translation.override("id"):
        assert indonesian["error"] == str(INVALID_INPUT)
    not_found = client_for(language="id").get("/api/v1/motifs/no-such-motif/").json()["error"]
    with translation.override("id"):
        assert not_found == translation.gettext("Not found.") != "Not found."  # DRF's own Indonesian


def test_an_unexpected_error_is_a_500_in_the_error_shape(api, monkeypatch):
    from motifs import api as motif_api

    def broken(self):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(motif_api.MotifViewSet, "get_queryset", broken)
    body = assert_error(api.get("/api/v1/motifs/"), 500)
    assert "fire" not in body["error"] and body["detail"] == {"code": "server_error"}


def test_a_session_user_writing_without_a_csrf_token_is_refused(db):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(UserFactory(curator=True))
    response = client.post("/api/v1/motifs/", {"slug": "csrf-uji", "name": "X", "category": "flora"}, format="json")
    assert_error(response, 403)
    assert "CSRF" in response.json()["error"]
