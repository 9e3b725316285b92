"""django-q2 entry point of the retention purge."""


def purge_anonymous_records() -> dict:
    from .services import scheduled_purge

    return scheduled_purge()
