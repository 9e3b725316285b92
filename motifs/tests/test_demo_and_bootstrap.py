from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from motifs.models import Motif, MotifImage

pytestmark = pytest.mark.django_db


def run(*args, **kwargs) -> str:
    out = StringIO()
    call_command(*args, "--no-progress", stdout=out, **kwargs)
    return out.getvalue()


def test_demo_dataset_gives_every_motif_synthetic_images_once():
    report = run("make_demo_dataset", "--count", "2", "--size", "64")
    assert "demo images created: 28" in report
    assert MotifImage.objects.count() == 28
    for motif in Motif.objects.all():
        images = list(motif.images.all())
        assert len(images) == 2
        assert all(i.source == MotifImage.Source.SYNTHETIC_DEMO and i.training_consent and (i.width, i.height) == (64, 64) for i in images)
    assert "created: 0" in run("make_demo_dataset", "--count", "2", "--size", "64")
    assert MotifImage.objects.count() == 28


def test_demo_dataset_is_deterministic_from_its_seed():
    run("make_demo_dataset", "--count", "1", "--size", "48", "--motif", "merak", "--seed", "5")
    first = set(MotifImage.objects.values_list("sha256", flat=True))
    MotifImage.objects.all().delete()
    run("make_demo_dataset", "--count", "1", "--size", "48", "--motif", "merak", "--seed", "5")
    assert set(MotifImage.objects.values_list("sha256", flat=True)) == first


@pytest.mark.parametrize("args,message", [
    (["--count", "0"], "--count"), (["--size", "8"], "--size"), (["--motif", "tumpal"], "no motif with slug: tumpal"),
])
def test_demo_dataset_arguments_are_checked(args, message):
    with pytest.raises(CommandError, match=message):
        run("make_demo_dataset", *args)
    assert not MotifImage.objects.exists()


def test_bootstrap_runs_twice_without_adding_anything_the_second_time():
    first = run("bootstrap", "--demo-count", "1")
    assert "bootstrap done" in first and MotifImage.objects.count() == 14
    second = run("bootstrap", "--demo-count", "1")
    assert "motifs +0" in second and "created: 0" in second
    assert MotifImage.objects.count() == 14 and Motif.objects.count() == 14
