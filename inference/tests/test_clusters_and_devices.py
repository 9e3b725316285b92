"""Two queue clusters whose workers load only their own kinds, announced in their heartbeats;
old heartbeat rows pruned; CUALIFY_DEVICE resolved per backend, refused when impossible."""
from datetime import timedelta

import pytest
from django.utils import timezone

from inference import queues, registry, runtime
from inference.engines import devices
from inference.models import ModelKind, WorkerHeartbeat
from tests.test_settings import load_settings


@pytest.fixture
def in_cluster(monkeypatch, db):
    """Pretend this process is a worker of the given cluster (django-q2 reads Q_CLUSTER_NAME at import)."""
    from django_q.conf import Conf

    registry.shipped_models_register(kinds=("classifier", "generator"))

    def enter(name):
        runtime.reset_for_tests()
        monkeypatch.setattr(Conf, "CLUSTER_NAME", name)

    yield enter
    runtime.reset_for_tests()


def test_the_default_cluster_is_classify_and_each_kind_has_one_cluster(settings):
    from django_q.conf import Conf

    assert settings.Q_CLUSTER["name"] == queues.CLASSIFY == Conf.PREFIX  # the one that runs the schedules
    assert set(settings.Q_CLUSTER["ALT_CLUSTERS"]) == {queues.GENERATE}
    assert settings.Q_CLUSTER["timeout"] < settings.Q_CLUSTER["ALT_CLUSTERS"]["generate"]["timeout"]
    assert queues.CLUSTER_OF_KIND == {"classifier": "classify", "generator": "generate", "refiner": "generate"}
    with pytest.raises(ValueError, match="unknown cluster"):
        queues.enqueue("everything", "inference.classification.tasks.classify", 1, task_name="x")


def test_a_classify_worker_loads_only_the_classifier_and_a_generate_worker_only_the_generator(in_cluster):
    in_cluster("classify")
    runtime.warm_up()
    beat = WorkerHeartbeat.objects.get()
    assert set(runtime.loaded_versions()) == {"classifier"}
    assert (beat.cluster, beat.serves, set(beat.models_loaded), beat.device) == ("classify", ["classifier"], {"classifier"}, "cpu")

    WorkerHeartbeat.objects.all().delete()
    in_cluster("generate")
    runtime.warm_up()
    beat = WorkerHeartbeat.objects.get()
    assert set(runtime.loaded_versions()) == {"generator"}  # no refiner is registered here
    assert beat.cluster == "generate" and beat.serves == ["generator", "refiner"] and "classifier" not in beat.models_loaded
    # A job that needs the classifier loads it on demand; the heartbeat then keeps it current.
    runtime.get_model(ModelKind.CLASSIFIER)
    runtime.warm_up()
    assert set(WorkerHeartbeat.objects.get().models_loaded) == {"generator", "classifier"}


def test_an_unknown_cluster_name_serves_every_kind():
    assert set(queues.served_kinds("my-own-cluster")) == set(ModelKind.values)


def test_heartbeats_prune_rows_of_workers_long_gone(db, settings):
    settings.CUALIFY_HEARTBEAT_KEEP_SECONDS = 600
    old = WorkerHeartbeat.objects.create(host="gone", pid=1, last_seen=timezone.now() - timedelta(seconds=601))
    recent = WorkerHeartbeat.objects.create(host="late", pid=2, last_seen=timezone.now() - timedelta(seconds=300))
    runtime.heartbeat()
    hosts = set(WorkerHeartbeat.objects.values_list("host", flat=True))
    assert old.host not in hosts and recent.host in hosts and len(hosts) == 2


def test_device_auto_is_cuda_only_where_there_is_one_and_cuda_without_one_is_an_error():
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert devices.resolve_device("auto", backend="torch") == expected
    assert devices.resolve_device(" CPU ", backend="onnx") == "cpu"
    if expected == "cpu":
        with pytest.raises(devices.DeviceUnavailable, match="CUALIFY_DEVICE=cuda, but torch sees no CUDA device"):
            devices.resolve_device("cuda", backend="torch")
    if not devices._cuda_in_onnxruntime():
        assert devices.resolve_device("auto", backend="onnx") == "cpu"
        with pytest.raises(devices.DeviceUnavailable, match="ONNX Runtime has no CUDA"):
            devices.resolve_device("cuda:1", backend="onnx")
    assert devices.onnx_providers("cpu") == ["CPUExecutionProvider"]
    assert devices.onnx_providers("cuda:1") == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    with pytest.raises(ValueError, match="auto, cpu, cuda or cuda:N"):
        devices.check_choice("gpu")


def test_a_bad_device_setting_stops_the_process_at_start(tmp_path):
    result = load_settings(tmp_path, CUALIFY_DEVICE="gpu")
    assert result.returncode != 0 and "CUALIFY_DEVICE must be one of auto, cpu, cuda or cuda:N, not 'gpu'" in result.stderr
    assert load_settings(tmp_path, CUALIFY_DEVICE="cuda:0").returncode == 0  # checked here, resolved by the workers
