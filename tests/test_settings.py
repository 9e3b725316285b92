"""Settings come from the environment; production refuses to start half-configured."""
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.nodb


# Variables of the test run itself that a real deployment would not have.
NOT_DEPLOYMENT = ("DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "REDIS_URL", "CUALIFY_ENV", "DJANGO_ALLOW_ASYNC_UNSAFE")


def clean_environment() -> dict:
    return {k: v for k, v in os.environ.items() if k not in NOT_DEPLOYMENT}


def load_settings(tmp_path, **env):
    code = "import cualify.settings as s; print(s.DEBUG, s.SECURE_HSTS_SECONDS if hasattr(s, 'SECURE_HSTS_SECONDS') else 0, s.DATABASES['default']['ENGINE'], s.Q_CLUSTER.get('redis', s.Q_CLUSTER.get('orm')))"
    return subprocess.run([sys.executable, "-c", code], env={**clean_environment(), "CUALIFY_DATA_DIR": str(tmp_path), **env},
                          capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))


def test_local_defaults_are_sqlite_orm_broker_debug_off_and_a_kept_secret(tmp_path):
    result = load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "0", "django.db.backends.sqlite3", "default"]
    secret = (tmp_path / "secret_key").read_text()
    load_settings(tmp_path)
    assert (tmp_path / "secret_key").read_text() == secret and len(secret) > 40


@pytest.mark.parametrize("env,missing", [
    ({"ALLOWED_HOSTS": "cualify.example"}, "SECRET_KEY"),
    ({"SECRET_KEY": "x" * 50}, "ALLOWED_HOSTS"),
])
def test_production_refuses_to_start_without_secret_and_hosts(tmp_path, env, missing):
    result = load_settings(tmp_path, CUALIFY_ENV="production", **env)
    assert result.returncode != 0 and missing in result.stderr


def test_production_turns_on_deployment_settings_and_redis_and_mysql_are_read(tmp_path):
    result = load_settings(
        tmp_path, CUALIFY_ENV="production", SECRET_KEY="s" * 50, ALLOWED_HOSTS="cualify.example",
        DATABASE_URL="mysql://u:p@127.0.0.1:3306/cualify", REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "31536000", "django.db.backends.mysql", "redis://127.0.0.1:6379/0"]


def test_deploy_check_is_clean_with_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**clean_environment(), "CUALIFY_DATA_DIR": str(tmp_path), "CUALIFY_ENV": "production",
             "SECRET_KEY": "k" * 64 + "-Unique_and.Long", "ALLOWED_HOSTS": "cualify.example"},
        capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout + result.stderr


def test_production_has_secure_cookies_hsts_security_headers_and_log_in_protection(tmp_path):
    names = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "LANGUAGE_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
             "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
             "SECURE_CONTENT_TYPE_NOSNIFF", "SECURE_REFERRER_POLICY", "SECURE_CROSS_ORIGIN_OPENER_POLICY", "X_FRAME_OPTIONS",
             "DEBUG", "AXES_FAILURE_LIMIT", "AXES_COOLOFF_TIME"]
    code = ("import json, django; from django.conf import settings; django.setup(); "
            f"print(json.dumps({{n: str(getattr(settings, n)) for n in {names!r}}})); "
            "print('axes' in settings.INSTALLED_APPS, settings.MIDDLEWARE[-1], settings.AUTHENTICATION_BACKENDS[0], "
            "'core.security.ContentSecurityPolicyMiddleware' in settings.MIDDLEWARE)")
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean_environment(), "DJANGO_SETTINGS_MODULE": "cualify.settings", "CUALIFY_DATA_DIR": str(tmp_path),
             "CUALIFY_ENV": "production", "SECRET_KEY": "k" * 64, "ALLOWED_HOSTS": "cualify.example"},
        capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert result.returncode == 0, result.stderr
    values, wiring = result.stdout.strip().splitlines()[-2:]
    assert json.loads(values) == {
        "SESSION_COOKIE_SECURE": "True", "CSRF_COOKIE_SECURE": "True", "LANGUAGE_COOKIE_SECURE": "True",
        "SESSION_COOKIE_HTTPONLY": "True", "SECURE_SSL_REDIRECT": "True", "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "True", "SECURE_HSTS_PRELOAD": "True", "SECURE_CONTENT_TYPE_NOSNIFF": "True",
        "SECURE_REFERRER_POLICY": "same-origin", "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin", "X_FRAME_OPTIONS": "DENY",
        "DEBUG": "False", "AXES_FAILURE_LIMIT": "5", "AXES_COOLOFF_TIME": "0:15:00",
    }
    assert wiring.split() == ["True", "axes.middleware.AxesMiddleware", "axes.backends.AxesStandaloneBackend", "True"]


def test_media_on_an_s3_bucket_is_configured_from_the_environment_and_has_no_local_paths(tmp_path):
    code = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'cualify.settings'; django.setup(); "
            "from django.core.files.storage import default_storage as s; from inference.model_cache import storage_has_paths; "
            "print(s.__class__.__name__, s.bucket_name, s.endpoint_url, s.default_acl, s.file_overwrite, storage_has_paths())")
    env = {**clean_environment(), "CUALIFY_DATA_DIR": str(tmp_path), "CUALIFY_MEDIA_STORAGE": "s3",
           "CUALIFY_S3_BUCKET": "cualify-media", "CUALIFY_S3_ENDPOINT_URL": "http://127.0.0.1:9000"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["S3Storage", "cualify-media", "http://127.0.0.1:9000", "private", "False", "False"]
    bad = load_settings(tmp_path, CUALIFY_MEDIA_STORAGE="ftp")
    assert bad.returncode != 0 and "CUALIFY_MEDIA_STORAGE must be 'local' or 's3', not 'ftp'" in bad.stderr
