"""django-q2 entry points of classification: thin, they take ids and call one service."""
from . import services


def classify(record_id: int, enqueued_at: float | None = None) -> None:
    services.classification_run(record_id, enqueued_at)


def saliency(record_id: int) -> None:
    services.classification_saliency(record_id)
