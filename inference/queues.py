"""Which cluster runs which task, and which models a cluster's workers keep loaded.

Two django-q2 clusters (``Q_CLUSTER`` and its ``ALT_CLUSTERS`` in the settings): quick work
(classification, saliency) never waits behind a generation job, and each worker loads only the
models of its own work. Every task is sent through :func:`enqueue`.
"""
from __future__ import annotations

from .models import ModelKind

CLASSIFY = "classify"  # the default cluster (it also runs the schedules)
GENERATE = "generate"
CLUSTERS = (CLASSIFY, GENERATE)

# What a worker of each cluster loads when it starts (and reloads when the active version
# changes). A generate worker loads the classifier too, on demand, only when a job needs it.
KINDS_BY_CLUSTER = {
    CLASSIFY: (ModelKind.CLASSIFIER,),
    GENERATE: (ModelKind.GENERATOR, ModelKind.REFINER),
}
# The cluster whose workers answer work that needs a model of this kind.
CLUSTER_OF_KIND = {kind: cluster for cluster, kinds in KINDS_BY_CLUSTER.items() for kind in kinds}


def this_cluster() -> str:
    """The cluster this process belongs to (``Q_CLUSTER_NAME``; the default cluster otherwise)."""
    from django_q.conf import Conf

    return Conf.CLUSTER_NAME


def served_kinds(cluster: str | None = None) -> tuple[str, ...]:
    """The model kinds a worker of ``cluster`` (default: this process's) loads at start. A
    cluster name this project does not know (a custom deployment) serves every kind."""
    cluster = cluster or this_cluster()
    return KINDS_BY_CLUSTER.get(cluster, tuple(ModelKind.values))


def enqueue(cluster: str, func: str, *args, task_name: str) -> None:
    """Put ``func(*args)`` on ``cluster``'s queue (in sync mode it runs here and now)."""
    from django_q.tasks import async_task

    if cluster not in CLUSTERS:
        raise ValueError(f"unknown cluster {cluster!r}")
    async_task(func, *args, task_name=task_name, cluster=cluster)
