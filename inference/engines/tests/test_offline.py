import os

import pytest

from inference.engines.offline import configure_ultralytics_offline, default_config_dir, find_font

pytestmark = pytest.mark.nodb


@pytest.fixture
def scratch_config_dir(tmp_path):
    yield tmp_path
    # Point the persisted Ultralytics settings back at the real folder, not a deleted temp one.
    configure_ultralytics_offline(default_config_dir())


def test_offline_configuration_sets_the_switches_copies_fonts_and_is_idempotent(scratch_config_dir):
    tmp_path = scratch_config_dir
    configure_ultralytics_offline(tmp_path)
    configure_ultralytics_offline(tmp_path)

    import ultralytics.utils as ultralytics_utils

    assert os.environ["YOLO_OFFLINE"] == "true"
    assert os.environ["YOLO_AUTOINSTALL"] == "false"
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert ultralytics_utils.ONLINE is False
    assert ultralytics_utils.SETTINGS["sync"] is False
    assert find_font() is not None
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        assert (tmp_path / name).stat().st_size > 10_000
        assert (ultralytics_utils.USER_CONFIG_DIR / name).is_file()
    assert not list(tmp_path.glob(".*.tmp"))
    assert ultralytics_utils.SETTINGS["weights_dir"] == str(tmp_path.resolve() / "weights")


def test_ultralytics_finds_its_font_locally():
    from ultralytics.utils.checks import check_font

    assert check_font("Arial.ttf").is_file()
    assert check_font("Arial.Unicode.ttf").is_file()
