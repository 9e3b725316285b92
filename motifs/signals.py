"""Keep media in step with rows: a deleted image row takes its file with it."""
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import MotifImage


@receiver(post_delete, sender=MotifImage)
def delete_file_with_row(sender, instance, **kwargs):
    name = instance.file.name
    if name:
        storage = instance.file.storage
        # Only after commit: a rolled-back delete must keep its file.
        transaction.on_commit(lambda: storage.delete(name))
