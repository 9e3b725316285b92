import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from motifs.models import Motif, MotifAlias
from motifs.text import normalize_name
from tests.factories import MotifFactory


@pytest.mark.nodb
@pytest.mark.parametrize("raw,expected", [
    ("Kembang Kenanga", "kembang-kenanga"),
    ("  bebek_dan__Kembang Sumping ", "bebek-dan-kembang-sumping"),
    ("Ubur-Ubur", "ubur-ubur"),
    ("Café Motif", "cafe-motif"),
    ("***", ""),
])
def test_normalize_name(raw, expected):
    assert normalize_name(raw) == expected


@pytest.mark.django_db
def test_texts_follow_the_active_language_and_fall_back_when_empty():
    motif = MotifFactory(description_id="Bunga", description_en="Flower", meaning_id="Makna", meaning_en="")
    with translation.override("en"):
        assert motif.description == "Flower"
        assert motif.meaning == "Makna"
    with translation.override("id"):
        assert motif.description == "Bunga"


@pytest.mark.django_db
def test_alias_that_names_another_motif_is_refused():
    motif = MotifFactory()
    alias = MotifAlias(motif=motif, name="Kenanga")  # already an alias of kembang-kenanga
    with pytest.raises(ValidationError, match="Kembang Kenanga"):
        alias.full_clean()
    with pytest.raises(ValidationError):
        MotifAlias(motif=motif, name="Merak").full_clean()  # the slug of another motif


@pytest.mark.django_db
def test_published_queryset():
    draft = MotifFactory(status=Motif.Status.DRAFT)
    assert draft not in Motif.objects.published()
    assert Motif.objects.published().count() == 14
