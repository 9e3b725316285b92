"""Curation in the admin: curators edit the archive, not the users."""

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.roles import CURATOR_GROUP
from motifs.models import Motif, MotifImage
from tests.factories import MotifFactory, UserFactory, add_image, image_bytes

pytestmark = pytest.mark.django_db


def motif_form(**overrides):
    data = {
        "name": "Kembang Cempaka", "name_en": "Magnolia", "slug": "kembang-cempaka", "category": "flora",
        "origin": "bangka", "status": "draft", "description_id": "Bunga cempaka.", "description_en": "Magnolia flowers.",
        "meaning_id": "", "meaning_en": "",
    }
    for prefix, total in [("aliases", 0), ("ownerships", 0), ("images", 1)]:
        data.update({f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": "0",
                     f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})
    data.update({"images-0-source": "gallery_photo", "images-0-training_consent": "on", "images-0-split": "unassigned",
                 "images-0-position": "0", "images-0-credit": "Galeri Uji"})
    data.update(overrides)
    return data


def test_curator_group_has_archive_permissions_but_not_user_management():
    group = Group.objects.get(name=CURATOR_GROUP)
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert {"add_motif", "change_motifimage", "delete_ownership", "change_page", "add_collection"} <= codenames
    assert not {c for c in codenames if c.endswith("_user") or c.endswith("_group")}


def test_curator_adds_a_motif_with_an_image(curator_client):
    upload = SimpleUploadedFile("anything.jpg", image_bytes((200, 30, 30), fmt="JPEG"), content_type="image/jpeg")
    response = curator_client.post(reverse("admin:motifs_motif_add"), motif_form(**{"images-0-upload": upload}))
    assert response.status_code == 302, response.content.decode()[:3000]
    motif = Motif.objects.get(slug="kembang-cempaka")
    image = motif.images.get()
    assert image.credit == "Galeri Uji" and image.width == 64 and len(image.sha256) == 64
    assert image.file.name.startswith(f"archive/{image.sha256[:2]}/") and "anything" not in image.file.name


def test_admin_upload_of_a_non_image_is_a_form_error_and_nothing_is_saved(curator_client):
    upload = SimpleUploadedFile("motif.jpg", b"%PDF-1.4 not an image", content_type="image/jpeg")
    response = curator_client.post(reverse("admin:motifs_motif_add"), motif_form(**{"images-0-upload": upload}))
    assert response.status_code == 200
    assert "The file is not an image." in response.content.decode()
    assert not Motif.objects.filter(slug="kembang-cempaka").exists()
    assert not MotifImage.objects.exists()


def test_admin_refuses_a_duplicate_image_naming_the_existing_one(curator_client):
    data = image_bytes((1, 99, 1), fmt="PNG")
    existing = add_image(Motif.objects.get(slug="merak"), data=data)
    upload = SimpleUploadedFile("again.png", data, content_type="image/png")
    response = curator_client.post(
        reverse("admin:motifs_motifimage_add"),
        {"motif": Motif.objects.get(slug="kepiting").pk, "upload": upload, "source": "online", "split": "unassigned", "position": 0},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f"image #{existing.pk} of Merak" in html
    assert MotifImage.objects.count() == 1


def test_publish_and_unpublish_actions(curator_client):
    drafts = [MotifFactory(status=Motif.Status.DRAFT) for _ in range(2)]
    curator_client.post(reverse("admin:motifs_motif_changelist"), {"action": "publish", "_selected_action": [m.pk for m in drafts]})
    assert all(m.status == "published" for m in Motif.objects.filter(pk__in=[m.pk for m in drafts]))
    curator_client.post(reverse("admin:motifs_motif_changelist"), {"action": "unpublish", "_selected_action": [drafts[0].pk]})
    assert Motif.objects.get(pk=drafts[0].pk).status == "draft"


def test_assign_split_action(curator_client):
    images = [add_image(Motif.objects.get(slug="merak")) for _ in range(3)]
    curator_client.post(reverse("admin:motifs_motifimage_changelist"), {"action": "assign_split_test", "_selected_action": [i.pk for i in images[:2]]})
    assert sorted(MotifImage.objects.values_list("split", flat=True)) == ["test", "test", "unassigned"]


def test_motif_list_has_thumbnails_and_filters(curator_client):
    image = add_image(Motif.objects.get(slug="merak"))
    html = curator_client.get(reverse("admin:motifs_motif_changelist"), {"verified": "no", "category__exact": "fauna"}).content.decode()
    assert image.file.url in html and "Merak" in html and "Kembang Kenanga" not in html


def test_curator_cannot_manage_users(curator_client):
    assert curator_client.get(reverse("admin:auth_user_changelist")).status_code == 403


def test_visitor_and_registered_users_cannot_open_the_admin(client):
    assert client.get(reverse("admin:index")).status_code == 302
    client.force_login(UserFactory())
    response = client.get(reverse("admin:motifs_motif_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_is_bilingual(curator_client):
    curator_client.cookies["cualify_language"] = "id"
    html = curator_client.get(reverse("admin:index")).content.decode()
    assert "Arsip motif" in html and "Kurasi Cualify" in html
