"""Seed the catalogue of the original study (idempotent: only adds what is missing)."""
from django.db import migrations


def seed(apps, schema_editor):
    from motifs.catalogue import seed_catalogue

    seed_catalogue(apps.get_model)


class Migration(migrations.Migration):
    dependencies = [("motifs", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
