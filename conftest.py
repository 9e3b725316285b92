"""Shared pytest set-up: media in a temporary folder, quiet model libraries, the MariaDB
pass skipping tests that never touch the database."""
import os

import pytest

# Tests run torch (later issues) on one thread: CI has two cores and runs other work beside.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("CUALIFY_SKIP_NODB") == "1":
        skip = pytest.mark.skip(reason="never touches the database: ran in the SQLite pass")
        for item in items:
            if "nodb" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path_factory):
    """Every test writes media into its own temporary folder."""
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    yield settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _fresh_rate_limits(monkeypatch):
    """Rate limit counts (core.throttles) live in the cache, which outlives a test: every test
    starts with none, so a test's own requests are the only ones counted. The windows are fixed
    (a minute, an hour): the rule's clock stands 10 s into an hour for every test, so no test
    runs across a window's end (a test of the window's end moves it itself)."""
    from django.core.cache import cache

    from core import throttles

    monkeypatch.setattr(throttles, "clock", lambda: 1_000_000 * 3600 + 10.0)
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def curator_client(client):
    """A test client logged in as a curator, reading English pages."""
    from tests.factories import UserFactory

    client.force_login(UserFactory(curator=True))
    client.cookies["cualify_language"] = "en"
    return client


@pytest.fixture
def resize_sizes(monkeypatch):
    """The output size of every Pillow resize made while the test runs: how a test sees that no
    input asked for a huge intermediate image (Pillow's own allocations escape tracemalloc)."""
    from PIL import Image

    sizes = []
    original = Image.Image.resize

    def recording(self, size, *args, **kwargs):
        sizes.append(tuple(size))
        return original(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", recording)
    return sizes


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (as a queue worker runs), the previous count after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
