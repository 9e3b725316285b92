"""The motif admin says when the active classifier or generator does not know a motif yet."""
import pytest
from django.urls import reverse

from inference import registry
from inference.models import ModelVersion
from motifs.models import Motif
from tests.factories import MotifFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def new_motif():
    return MotifFactory(slug="kembang-cempaka", name="Kembang Cempaka")


def test_a_new_motif_is_flagged_as_unknown_to_the_active_classifier_with_what_to_do(curator_client, new_motif):
    registry.shipped_models_register(kinds=("classifier",))
    classifier = ModelVersion.objects.get(is_active=True)
    known = next(slug for slug in classifier.class_map.values() if slug)
    html = curator_client.get(reverse("admin:motifs_motif_change", args=[new_motif.pk])).content.decode()
    assert "The active classifier does not know this motif yet" in html
    assert "add images of it here (with consent for training), retrain" in html
    assert reverse("admin:inference_modelversion_changelist") in html
    assert "The active generator does not know" not in html  # none is active: nothing to know
    html = curator_client.get(reverse("admin:motifs_motif_change", args=[Motif.objects.get(slug=known).pk])).content.decode()
    assert "does not know this motif yet" not in html and "both know this motif" in html


def test_the_motif_list_says_which_motifs_the_models_do_not_know_and_filters_them(curator_client, new_motif):
    registry.shipped_models_register(kinds=("classifier",))
    changelist = reverse("admin:motifs_motif_changelist")
    html = curator_client.get(changelist).content.decode()
    assert "Known to the models" in html and html.count("not yet to the classifier") == 1
    unknown = curator_client.get(changelist, {"known": "no"}).context["cl"].result_list
    assert [m.slug for m in unknown] == ["kembang-cempaka"]
    known = curator_client.get(changelist, {"known": "yes"}).context["cl"].result_list
    assert "kembang-cempaka" not in {m.slug for m in known} and len(known) == Motif.objects.count() - 1


def test_without_any_active_model_nothing_is_flagged(curator_client, new_motif):
    html = curator_client.get(reverse("admin:motifs_motif_changelist")).content.decode()
    assert "not yet to the" not in html


def test_the_notice_is_in_indonesian(curator_client, new_motif):
    registry.shipped_models_register(kinds=("classifier",))
    curator_client.cookies["cualify_language"] = "id"
    html = curator_client.get(reverse("admin:motifs_motif_change", args=[new_motif.pk])).content.decode()
    assert "The active classifier does not know" not in html
    assert "Pengklasifikasi aktif belum mengenal motif ini" in html


def test_the_image_inline_is_stacked_with_two_fields_a_row(curator_client):
    html = curator_client.get(reverse("admin:motifs_motif_add")).content.decode()
    assert 'id="images-group"' in html and "inline-related" in html and "tabular" not in html.split('id="images-group"')[1][:400]
    assert "field-source" in html and "field-split" in html
