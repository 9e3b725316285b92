"""The files an operator installs (deploy/): every setting listed in env.example, which starts
the production settings as it is; systemd units that systemd accepts; nginx's media rules."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_settings import clean_environment

pytestmark = pytest.mark.nodb
ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
# Read by the code but not an operator's setting: the test database, and the variables the
# settings module sets itself (offline model libraries, threads).
NOT_SETTINGS = {"CUALIFY_TEST_DB_FILE", "DJANGO_SETTINGS_MODULE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                "YOLO_AUTOINSTALL", "YOLO_OFFLINE", "OMP_NUM_THREADS"}


def names_read_by_the_code() -> set[str]:
    settings = (ROOT / "cualify" / "settings.py").read_text()
    names = set(re.findall(r'env(?:\.[a-z_]+)?\(\s*"([A-Z][A-Z0-9_]+)"', settings))
    for config in DEPLOY.glob("gunicorn.*.conf.py"):
        names |= set(re.findall(r'os\.environ(?:\.get)?[\[(]\s*"([A-Z][A-Z0-9_]+)"', config.read_text()))
    return names - NOT_SETTINGS


def names_in_env_example() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (DEPLOY / "env.example").read_text(), re.M))


def test_env_example_lists_every_setting_and_nothing_else():
    code, listed = names_read_by_the_code(), names_in_env_example()
    assert len(code) > 50
    assert not code - listed, f"settings missing from deploy/env.example: {sorted(code - listed)}"
    assert not listed - code, f"deploy/env.example lists what nothing reads: {sorted(listed - code)}"


def test_env_example_as_it_is_starts_the_production_settings_with_smtp_mail(tmp_path):
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", (DEPLOY / "env.example").read_text(), re.M))
    values["CUALIFY_DATA_DIR"] = str(tmp_path)
    values["MEDIA_ROOT"] = str(tmp_path / "media")
    code = ("import cualify.settings as s; print(s.CUALIFY_ENV, s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, "
            "s.EMAIL_USE_TLS, s.EMAIL_HOST_USER, s.Q_CLUSTER['name'], sorted(s.Q_CLUSTER['ALT_CLUSTERS']))")
    result = subprocess.run([sys.executable, "-c", code], env={**clean_environment(), **values}, capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["production", "django.core.mail.backends.smtp.EmailBackend", "smtp.example.org",
                                     "587", "True", "cualify@example.org", "classify", "['generate']"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_the_systemd_units_are_valid_for_systemd(tmp_path):
    """``systemd-analyze verify`` on the units as installed in this checkout (paths, user and
    environment file replaced by ones that exist here): unknown keys, a missing ExecStart
    program or a bad value fail."""
    (tmp_path / "env").write_text("")
    units = []
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        text = (unit.read_text().replace("/srv/cualify/app", str(ROOT)).replace("/etc/cualify/env", str(tmp_path / "env"))
                .replace("User=cualify", "User=root").replace("Group=cualify", "Group=root"))
        name = unit.name.replace("@.service", "@classify.service")
        (tmp_path / name).write_text(text)
        units.append(str(tmp_path / name))
    assert len(units) == 3
    result = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    assert result.returncode == 0 and "Unknown" not in result.stderr, result.stderr


def test_nginx_never_serves_private_media_and_limits_bodies_a_little_above_the_image_limit():
    from core.limits import MAX_IMAGE_BYTES

    site = (DEPLOY / "nginx" / "cualify.conf").read_text()
    assert re.search(r"location \^~ /media/uploads/\s*\{\s*return 404;", site)
    assert re.search(r"location \^~ /media/models/\s*\{\s*return 404;", site)
    limits = {int(size) for size in re.findall(r"client_max_body_size (\d+)m;", site)}
    assert limits and all(MAX_IMAGE_BYTES < size * 1024 * 1024 <= MAX_IMAGE_BYTES + 2 * 1024 * 1024 for size in limits)
    assert re.search(r"alias \S+/;", site)  # alias with its slash, or /media/x maps to MEDIA_ROOTx
    assert "X-Forwarded-Proto $scheme" in site
