import pytest
from django.apps import apps

from motifs.catalogue import MOTIF_SLUGS, seed_catalogue
from motifs.models import Motif, MotifAlias, Owner, Ownership, Page
from motifs.selectors import motif_by_name

EXPECTED_SLUGS = {
    "kembang-kenanga", "kembang-setaman", "kembang-rukem", "kembang-setangkai", "bebek-kembang-sumping",
    "bebek-setaman", "ubur-ubur", "merak", "kucing-tidur", "burung-hong", "naga-betarung", "kepiting",
    "kuda-laut", "pucuk-rebung",
}


@pytest.mark.django_db
def test_migration_seeds_the_fourteen_motifs_and_three_galleries():
    assert set(Motif.objects.values_list("slug", flat=True)) == EXPECTED_SLUGS == set(MOTIF_SLUGS)
    counts = {o.slug: o.ownerships.count() for o in Owner.objects.all()}
    assert counts == {"ishadi-cual-gallery": 9, "santhi-cual-gallery": 3, "destiani-gallery": 2}
    assert not Ownership.objects.filter(verified=True).exists()
    assert Page.objects.filter(slug="history").exists()
    for motif in Motif.objects.all():
        assert motif.description_id and motif.description_en and motif.meaning_id and motif.meaning_en
        assert motif.is_published


@pytest.mark.django_db
def test_seeding_again_adds_nothing_and_keeps_curator_edits():
    Motif.objects.filter(slug="merak").update(description_en="Edited by a curator")
    before = (Motif.objects.count(), MotifAlias.objects.count(), Ownership.objects.count(), Page.objects.count())
    added = seed_catalogue(apps.get_model)
    assert set(added.values()) == {0}
    assert before == (Motif.objects.count(), MotifAlias.objects.count(), Ownership.objects.count(), Page.objects.count())
    assert Motif.objects.get(slug="merak").description_en == "Edited by a curator"


@pytest.mark.django_db
def test_seeding_restores_a_deleted_motif():
    Motif.objects.filter(slug="kepiting").delete()
    added = seed_catalogue(apps.get_model)
    assert added["motifs"] == 1 and Motif.objects.filter(slug="kepiting").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("name,slug", [
    ("Kembang_Kenanga", "kembang-kenanga"),
    ("BUNGA KENANGA", "kembang-kenanga"),
    ("Bebek dan Kembang Sumping", "bebek-kembang-sumping"),
    ("phoenix", "burung-hong"),
    ("Naga Bertarung", "naga-betarung"),
])
def test_class_and_folder_names_match_motifs_through_slugs_and_aliases(name, slug):
    assert motif_by_name(name).slug == slug


@pytest.mark.django_db
def test_unknown_name_matches_nothing():
    assert motif_by_name("tumpal-jawa") is None
    assert motif_by_name("!!!") is None


@pytest.mark.django_db(transaction=True)
def test_seed_migration_runs_twice_without_duplicating_anything():
    from django.core.management import call_command

    for _ in range(2):
        call_command("migrate", "motifs", "0001", verbosity=0)  # also unapplies apps that depend on it
        call_command("migrate", verbosity=0)
        assert Motif.objects.count() == 14 and Owner.objects.count() == 3
        assert Ownership.objects.count() == 14 and Page.objects.count() == 2
