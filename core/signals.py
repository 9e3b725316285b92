"""How apps take part in what core runs without core importing them."""
from django.dispatch import Signal

# ``manage.py bootstrap``: after ``migrate``, each receiver makes its app ready (seed rows,
# demo images, shipped models), in INSTALLED_APPS order. Keyword arguments: ``options`` (the
# command's: ``demo``, ``demo_count``, ``no_progress``, ``verbosity``) and ``stdout``.
# A receiver that cannot finish raises ``BootstrapError``.
bootstrap = Signal()


class BootstrapError(Exception):
    """A bootstrap step failed; the message is shown to the operator."""
