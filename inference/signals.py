from django.conf import settings
from django.db import transaction
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver
from django_q.signals import post_spawn

from .models import ClassificationRecord, GeneratedImage, GenerationJob, PrintJob


@receiver(post_spawn)
def warm_worker(sender, proc_name, **kwargs):
    """A new django-q2 worker process: load the active models once, start the heartbeat."""
    from .runtime import start_worker_runtime

    start_worker_runtime()


@receiver(post_delete, sender=ClassificationRecord)
def delete_upload_files(sender, instance, **kwargs):
    names = [f.name for f in (instance.image, instance.saliency) if f]
    storage = instance.image.storage
    transaction.on_commit(lambda: [storage.delete(name) for name in names])


@receiver(post_delete, sender=GeneratedImage)
def delete_generated_file(sender, instance, **kwargs):
    name, storage = instance.file.name, instance.file.storage
    if name:
        transaction.on_commit(lambda: storage.delete(name))


@receiver(post_delete, sender=GenerationJob)
def delete_reference_file(sender, instance, **kwargs):
    name, storage = instance.reference.name, instance.reference.storage
    if name:
        transaction.on_commit(lambda: storage.delete(name))


@receiver(post_delete, sender=PrintJob)
def delete_print_files(sender, instance, **kwargs):
    names = [f.name for f in (instance.tile, instance.fabric) if f]
    storage = instance.tile.storage
    transaction.on_commit(lambda: [storage.delete(name) for name in names])


@receiver(user_logged_in)
def adopt_visitor_records(sender, request, user, **kwargs):
    """What a visitor classified or generated before logging in (or signing up) joins their account."""
    from .visitors import VISITOR_KEY, visitor_key_hash

    key = request.session.get(VISITOR_KEY) if request is not None and hasattr(request, "session") else None
    if key:
        for model in (ClassificationRecord, GenerationJob):
            model.objects.filter(user__isnull=True, session_key=visitor_key_hash(key)).update(user=user)
        del request.session[VISITOR_KEY]


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL)
def detach_records_of_deleted_account(sender, instance, **kwargs):
    """A deleted account's records stay (curators may still need them) but belong to no one:
    rows made on the site also carry the browser session's hash, which would otherwise hand them
    to whoever holds that browser once the account is gone."""
    for model in (ClassificationRecord, GenerationJob):
        model.objects.filter(user=instance).exclude(session_key="").update(session_key="")
