"""django-q2 entry points: thin, they take ids and call one service."""
from . import services


def classify(record_id: int) -> None:
    services.classification_run(record_id)


def saliency(record_id: int) -> None:
    services.classification_saliency(record_id)
