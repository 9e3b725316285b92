"""Keep Ultralytics off the network, set up in one place.

Ultralytics reads most of its switches from the environment once, when ``ultralytics`` is first
imported (``ONLINE``, ``AUTOINSTALL``, ``USER_CONFIG_DIR``), so
:func:`configure_ultralytics_offline` must run before the first ``import ultralytics``. Called
again (or after the import) it still fixes what can be fixed at run time: the fonts in the
config folder actually in use and the persisted settings.
"""
from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path

__all__ = [
    "configure_huggingface_offline",
    "configure_ultralytics_offline",
    "default_config_dir",
    "ensure_offline",
    "find_font",
]

# Ultralytics plots need Arial.ttf / Arial.Unicode.ttf and downloads them when missing; any TTF
# with Latin glyphs renders the labels, so a local DejaVu copy stands in for both.
_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)
# Ultralytics keeps settings and fonts in a sub-folder of YOLO_CONFIG_DIR.
_ULTRALYTICS_SUBDIR = "Ultralytics"

_ENVIRONMENT = {
    "YOLO_OFFLINE": "true",  # is_online() answers False without a DNS probe
    "YOLO_AUTOINSTALL": "false",  # never pip-install a "missing" requirement
    "ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "WANDB_MODE": "disabled",
    "COMET_MODE": "disabled",
    "MLFLOW_TRACKING_URI": "",
}

# The Hugging Face subset, for engines that load transformers models without Ultralytics.
_HUGGINGFACE_KEYS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
_HUGGINGFACE_EXTRA = {"HF_HUB_DISABLE_TELEMETRY": "1"}

# Integrations that phone home (or import heavy optional packages) when enabled in settings.
_SETTINGS_OFF = {
    "sync": False,
    "hub": False,
    "clearml": False,
    "comet": False,
    "dvc": False,
    "mlflow": False,
    "raytune": False,
    "tensorboard": False,
    "wandb": False,
    "vscode_msg": False,
    "openvino_msg": False,
}

_lock = threading.RLock()
_configured_dir: Path | None = None  # the folder of the last explicit configuration


def default_config_dir() -> Path:
    """The writable Ultralytics config folder: ``$YOLO_CONFIG_DIR`` or ``~/.cache/cualify/ultralytics``."""
    return Path(os.environ.get("YOLO_CONFIG_DIR") or Path.home() / ".cache" / "cualify" / "ultralytics")


def find_font() -> Path | None:
    """A local TrueType font to stand in for Arial: system DejaVu first, then matplotlib's copy."""
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    try:
        import matplotlib

        bundled = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        if bundled.is_file():
            return bundled
    except ImportError:  # matplotlib is optional for inference
        pass
    return None


def _install_fonts(folder: Path, font: Path | None) -> None:
    if font is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for name in _FONT_NAMES:
        target = folder / name
        if target.is_file() and target.stat().st_size > 0:
            continue
        # Copy beside then rename: a concurrent worker never sees half a font.
        partial = folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        shutil.copyfile(font, partial)
        os.replace(partial, target)


def configure_ultralytics_offline(config_dir: str | Path) -> None:
    """Make every Ultralytics code path work without the network. Idempotent and thread-safe.

    Sets the offline environment variables and ``YOLO_CONFIG_DIR`` (only if Ultralytics is not
    imported yet: its config folder is fixed at import), copies a local TTF as ``Arial.ttf`` and
    ``Arial.Unicode.ttf`` into the config folder (and the ``Ultralytics`` sub-folder Ultralytics
    really reads), imports Ultralytics and switches off sync, hub and every logging integration
    in its settings; settings paths (weights, runs, datasets) point inside the config folder so
    Ultralytics never looks for assets in the project's own ``weights/``.
    """
    global _configured_dir
    config_dir = Path(config_dir).expanduser().resolve()
    with _lock:
        _configured_dir = config_dir
        config_dir.mkdir(parents=True, exist_ok=True)
        already_imported = "ultralytics" in sys.modules
        for key, value in _ENVIRONMENT.items():
            os.environ[key] = value
        if not already_imported:
            os.environ["YOLO_CONFIG_DIR"] = str(config_dir)

        font = find_font()
        _install_fonts(config_dir, font)
        _install_fonts(config_dir / _ULTRALYTICS_SUBDIR, font)

        import ultralytics.utils as ultralytics_utils

        # Imported before us (by someone else): fix what is fixable at run time.
        ultralytics_utils.ONLINE = False
        ultralytics_utils.AUTOINSTALL = False
        _install_fonts(Path(ultralytics_utils.USER_CONFIG_DIR), font)

        settings = ultralytics_utils.SETTINGS
        wanted = {key: value for key, value in _SETTINGS_OFF.items() if key in settings}
        wanted.update(
            {
                "weights_dir": str(config_dir / "weights"),
                "runs_dir": str(config_dir / "runs"),
                "datasets_dir": str(config_dir / "datasets"),
            }
        )
        if any(settings.get(key) != value for key, value in wanted.items()):
            settings.update(wanted)


def configure_huggingface_offline() -> None:
    """Keep ``huggingface_hub``, ``transformers`` and ``sentence_transformers`` off the network.

    Sets the same Hugging Face offline switches as :func:`configure_ultralytics_offline` (without
    importing Ultralytics). ``huggingface_hub`` reads ``HF_HUB_OFFLINE`` once, at import, and
    ``transformers`` asks it, so when the hub is already imported its constant is switched too.
    Idempotent and thread-safe.
    """
    with _lock:
        for key in _HUGGINGFACE_KEYS:
            os.environ[key] = _ENVIRONMENT[key]
        os.environ.update(_HUGGINGFACE_EXTRA)
        constants = sys.modules.get("huggingface_hub.constants")
        if constants is not None:
            constants.HF_HUB_OFFLINE = True
            constants.HF_HUB_DISABLE_TELEMETRY = True


def ensure_offline() -> None:
    """Configure with :func:`default_config_dir` unless this process already configured a folder.

    The engines call this before touching Ultralytics, so a caller's own folder (set earlier
    with :func:`configure_ultralytics_offline`) is kept rather than switched back and forth.
    """
    with _lock:
        if _configured_dir is None:
            configure_ultralytics_offline(default_config_dir())
