"""Visitors' uploads are private, they can delete them, and anonymous ones are purged."""
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from inference.privacy import services as privacy
from inference.privacy import tasks
from inference.models import ClassificationRecord, Correction, GeneratedImage, GenerationJob
from inference.classification.services import correction_accept
from tests.factories import MotifFactory, UserFactory, add_image
from tests.visitor_records import make_job, make_record, stored_names

pytestmark = pytest.mark.django_db


def exists(name: str) -> bool:
    return (Path(settings.MEDIA_ROOT) / name).is_file()


def english(client: Client) -> Client:
    client.cookies["cualify_language"] = "en"
    return client


@pytest.fixture
def visitor():
    """An anonymous visitor with a browser session, and one classification and one job of theirs
    (their own client: ``curator_client`` is the ``client`` fixture, logged in)."""
    client = Client()
    key = client.session.session_key
    return english(client), make_record(session_key=key), make_job(session_key=key)


def doors(record, job):
    """Every URL that hands out a visitor's files (or says whether they exist)."""
    return [
        reverse("classify_result", args=[record.public_id]),
        reverse("classify_status", args=[record.public_id]),
        reverse("classify_photo", args=[record.public_id]),
        reverse("classify_saliency_image", args=[record.public_id]),
        reverse("generate_job", args=[job.public_id]),
        reverse("generate_job_status", args=[job.public_id]),
        reverse("generate_image", args=[job.public_id, 0]),
        reverse("generate_image", args=[job.public_id, 1]) + "?download=1",
        reverse("generate_image_repeat", args=[job.public_id, 0]),
        reverse("generate_image_print", args=[job.public_id, 0]),
    ]


def test_every_file_door_serves_uploads_and_results_only_to_their_owner_and_curators(visitor, curator_client):
    client, record, job = visitor
    stranger, registered = Client(), Client()
    registered.force_login(UserFactory())
    for url in doors(record, job):
        assert client.get(url).status_code == 200, url
        assert curator_client.get(url).status_code == 200, url
        assert stranger.get(url).status_code == 404, url
        assert registered.get(url).status_code == 404, url
    admin_image = reverse("generate_admin_image", args=[job.images.first().pk])
    assert client.get(admin_image).status_code == 404 and registered.get(admin_image).status_code == 404
    assert curator_client.get(admin_image).status_code == 200


def test_a_registered_users_records_are_theirs_alone(client):
    owner = UserFactory()
    record, job = make_record(user=owner), make_job(user=owner)
    client.force_login(owner)
    assert all(client.get(url).status_code == 200 for url in doors(record, job))
    client.force_login(UserFactory())
    assert all(client.get(url).status_code == 404 for url in doors(record, job))


def test_media_urls_never_serve_uploads_references_results_or_models_whoever_asks(visitor, curator_client):
    client, record, job = visitor
    (Path(settings.MEDIA_ROOT) / "models/classifier/x").mkdir(parents=True)
    (Path(settings.MEDIA_ROOT) / "models/classifier/x/weights.pt").write_bytes(b"weights")
    private = stored_names(record) + stored_names(job) + ["models/classifier/x/weights.pt"]
    assert {name.split("/")[1] for name in private} >= {"classify", "saliency", "generate", "classifier"}
    for name in private:
        assert exists(name)
        for path in (name, f"./{name}", f"archive/../{name}", f"/{name}", name.upper()):
            for who in (client, curator_client):
                assert who.get(f"/media/{path}").status_code == 404, path
    archive_image = add_image(MotifFactory())
    assert client.get(f"/media/{archive_image.file.name}").status_code == 200


def test_registered_user_deletes_everything_from_the_account_page_after_confirming(client, django_capture_on_commit_callbacks):
    user, other = UserFactory(), UserFactory()
    records, jobs = [make_record(user=user), make_record(user=user, saliency=False)], [make_job(user=user)]
    kept = [make_record(user=other), make_job(user=other), make_record(session_key="someone-else")]
    # What curators took into the archive is a separate copy and stays.
    promoted = jobs[0].images.first()
    motif = MotifFactory()
    promoted.archive_image = add_image(motif)
    promoted.save()
    correction = Correction.objects.create(record=records[0], kind=Correction.Kind.MOTIF, motif=motif)
    records[0].consent_training = True
    records[0].save()
    accepted = correction_accept(correction=correction, reviewer=UserFactory(curator=True)).archive_image
    names = [name for row in records + jobs for name in stored_names(row)]
    assert len(names) == 6 and all(exists(n) for n in names)

    english(client).force_login(user)
    profile = client.get(reverse("accounts:profile")).content.decode()
    assert "Delete my classifications and generations" in profile and f'action="{reverse("privacy")}"' in profile
    confirm = client.post(reverse("privacy"))  # the account page's button: the confirm step, nothing deleted yet
    assert confirm.status_code == 200 and 'name="confirm" value="yes"' in confirm.content.decode()
    assert ClassificationRecord.objects.filter(user=user).count() == 2

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("privacy"), {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:profile")
    assert not ClassificationRecord.objects.filter(user=user).exists() and not GenerationJob.objects.filter(user=user).exists()
    assert not Correction.objects.exists() and not GeneratedImage.objects.filter(pk=promoted.pk).exists()
    assert all(exists(n) for n in names), "files go only after the commit"
    for callback in callbacks:
        callback()
    assert not any(exists(n) for n in names)
    assert not (Path(settings.MEDIA_ROOT) / f"uploads/generate/results/{jobs[0].public_id.hex[:2]}/{jobs[0].public_id.hex}").exists()
    assert exists(promoted.archive_image.file.name) and exists(accepted.file.name)
    for row in kept:
        assert type(row).objects.filter(pk=row.pk).exists() and all(exists(n) for n in stored_names(row))
    assert "Deleted with all their images: classifications 2, generations 1." in client.get(reverse("accounts:profile")).content.decode()


def test_anonymous_visitor_deletes_their_sessions_records_from_a_page_linked_on_classify_and_history(visitor, django_capture_on_commit_callbacks):
    client, record, job = visitor
    other = make_job(session_key="another-browser")
    for page in ("classify", "generate_history"):
        assert f'href="{reverse("privacy")}"' in client.get(reverse(page)).content.decode(), page
    page = client.get(reverse("privacy")).content.decode()
    assert 'data-testid="my-data"' in page and "deleted automatically 30 days after" in page
    names = stored_names(record) + stored_names(job)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("privacy"), {"confirm": "yes"})
    assert response.status_code == 302
    assert not ClassificationRecord.objects.exists() and list(GenerationJob.objects.all()) == [other]
    assert not any(exists(n) for n in names) and all(exists(n) for n in stored_names(other))
    assert "Nothing is stored for you." in client.get(reverse("privacy")).content.decode()


def test_a_visitor_without_a_session_has_nothing_to_delete_and_deletes_nothing(client):
    make_record(session_key="")  # a row without a session key is nobody's to delete from a browser
    response = english(client).post(reverse("privacy"), {"confirm": "yes"})
    assert response.status_code == 302 and ClassificationRecord.objects.count() == 1


def test_a_curator_deletes_only_their_own_records(curator_client):
    visitors = [make_record(session_key="abc"), make_job(user=UserFactory())]
    curator_client.post(reverse("privacy"), {"confirm": "yes"})
    assert all(type(row).objects.filter(pk=row.pk).exists() for row in visitors)


def test_a_deletion_that_rolls_back_keeps_every_row_and_file(django_capture_on_commit_callbacks):
    user = UserFactory()
    record, job = make_record(user=user), make_job(user=user)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            privacy.visitor_records_delete(user=user)
            raise RuntimeError("the database failed")
    assert callbacks == []
    assert ClassificationRecord.objects.filter(pk=record.pk).exists() and GenerationJob.objects.filter(pk=job.pk).exists()
    assert all(exists(n) for n in stored_names(record) + stored_names(job))


def age(row, days):
    type(row).objects.filter(pk=row.pk).update(created=timezone.now() - timedelta(days=days))


def test_anonymous_records_are_purged_after_the_retention_period_and_users_records_are_kept(django_capture_on_commit_callbacks):
    old_record, old_job = make_record(session_key="a"), make_job(session_key="a")
    recent = make_record(session_key="b")
    users_old = [make_record(user=UserFactory()), make_job(user=UserFactory())]
    for row in (old_record, old_job, *users_old):
        age(row, 31)
    age(recent, 29)

    call_command("purge_anonymous", "--dry-run")
    assert ClassificationRecord.objects.count() == 3 and GenerationJob.objects.count() == 2

    old_names = stored_names(old_record) + stored_names(old_job)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_anonymous")
    assert not ClassificationRecord.objects.filter(pk=old_record.pk).exists()
    assert not GenerationJob.objects.filter(pk=old_job.pk).exists() and not any(exists(n) for n in old_names)
    assert ClassificationRecord.objects.filter(pk=recent.pk).exists()
    assert all(type(row).objects.filter(pk=row.pk).exists() for row in users_old)

    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_anonymous", "--days", "28")
    assert not ClassificationRecord.objects.filter(pk=recent.pk).exists()


def test_the_scheduled_task_uses_the_retention_setting(settings, django_capture_on_commit_callbacks):
    record = make_record(session_key="a")
    age(record, 10)
    settings.CUALIFY_ANONYMOUS_RETENTION_DAYS = 0  # keep for ever
    assert tasks.purge_anonymous_records()["classifications"] == 0
    settings.CUALIFY_ANONYMOUS_RETENTION_DAYS = 7
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.purge_anonymous_records() == {"classifications": 1, "generations": 0, "files": 2}


def test_the_purge_schedule_is_kept_in_step_with_the_setting(settings):
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func=privacy.PURGE_TASK)  # made by post_migrate
    assert schedule.schedule_type == Schedule.HOURLY and schedule.repeats == -1
    settings.CUALIFY_ANONYMOUS_RETENTION_DAYS = 0
    privacy.ensure_purge_schedule()
    assert not Schedule.objects.filter(func=privacy.PURGE_TASK).exists()
    settings.CUALIFY_ANONYMOUS_RETENTION_DAYS = 30
    privacy.ensure_purge_schedule()
    privacy.ensure_purge_schedule()
    assert Schedule.objects.filter(func=privacy.PURGE_TASK).count() == 1


def test_the_deleted_file_count_includes_the_print_files_of_the_results(django_capture_on_commit_callbacks):
    from django.core.files.base import ContentFile

    from inference.models import PrintJob

    user = UserFactory()
    job = make_job(user=user)
    counted_without_prints = len(stored_names(job))
    printed = PrintJob(image=job.images.first(), tile_cm=2, fabric_width_cm=20, fabric_height_cm=10,
                       status=PrintJob.Status.SUCCEEDED)
    printed.tile.save("tile.png", ContentFile(b"tile"), save=False)
    printed.fabric.save("fabric.png", ContentFile(b"fabric"), save=False)
    printed.save()
    names = [printed.tile.name, printed.fabric.name]
    with django_capture_on_commit_callbacks(execute=True):
        deleted = privacy.records_delete(classification_ids=[], job_ids=[job.pk])
    assert deleted.files == counted_without_prints + 2 and deleted.generations == 1
    assert not PrintJob.objects.exists() and not any(exists(name) for name in names)
