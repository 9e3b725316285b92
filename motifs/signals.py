"""Keep media in step with rows: a deleted image row takes its file with it."""
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import MotifImage, PageImage


@receiver(post_delete, sender=MotifImage)
def delete_file_with_row(sender, instance, **kwargs):
    name = instance.file.name
    if name:
        storage = instance.file.storage
        # Only after commit: a rolled-back delete must keep its file.
        transaction.on_commit(lambda: storage.delete(name))


@receiver(post_delete, sender=PageImage)
def delete_page_file_with_row(sender, instance, **kwargs):
    name = instance.file.name
    # Page pictures are stored by content hash, so two rows may share one file.
    if name and not PageImage.objects.filter(file=name).exists():
        storage = instance.file.storage
        transaction.on_commit(lambda: storage.delete(name))
