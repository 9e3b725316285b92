"""django-q2 entry points: thin, they take ids and call one service."""
from . import services


def classify(record_id: int, enqueued_at: float | None = None) -> None:
    services.classification_run(record_id, enqueued_at)


def saliency(record_id: int) -> None:
    services.classification_saliency(record_id)


def generate(job_id: int) -> None:
    from . import generation

    generation.generation_run(job_id)


def sweep_generation_jobs() -> dict:
    from . import generation

    return generation.generation_sweep()


def purge_anonymous_records() -> dict:
    from . import privacy

    return privacy.scheduled_purge()
