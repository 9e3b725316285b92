"""Hardening: CSRF on every form, headers, upload limits at every layer, generated file names,
EXIF dropped, log-in brute-force protection, the admin for staff only, no tracebacks."""
import io
import os
import re
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from PIL import Image

from inference.models import ClassificationRecord, GenerationJob, ModelKind, ModelVersion, WorkerHeartbeat
from tests.factories import UserFactory, image_bytes

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))


def english(client: Client) -> Client:
    client.cookies["cualify_language"] = "en"
    return client


# --- CSRF ---------------------------------------------------------------------------------------

ANY = uuid.uuid4()
FORM_VIEWS = [
    ("classify", []), ("classify_saliency", [ANY]), ("classify_correct", [ANY]),
    ("generate", []), ("generate_job_cancel", [ANY]), ("generate_image_classify", [ANY, 0]),
    ("generate_image_reference", [ANY, 0]), ("generate_image_promote", [ANY, 0]),
    ("privacy", []), ("set_language", []),
    ("login", []), ("logout", []), ("accounts:signup", []), ("password_change", []), ("password_reset", []),
    ("password_reset_confirm", ["MQ", "set-password"]), ("admin:login", []),
    ("accounts:api_token_create", []), ("accounts:api_token_revoke", []),
]


@pytest.mark.django_db
@pytest.mark.parametrize("name,args", FORM_VIEWS, ids=[name for name, _ in FORM_VIEWS])
def test_every_form_view_refuses_a_post_without_the_csrf_token(name, args):
    try:
        url = reverse(name, args=args)
    except NoReverseMatch:
        pytest.skip(f"{name} is not routed (any more)")
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(curator=True))
    response = client.post(url, {"confirm": "yes", "username": "x", "password": "y"})
    assert response.status_code == 403


@pytest.mark.django_db
def test_the_same_post_with_the_token_goes_through():
    UserFactory(username="budi")
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("login")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(reverse("login"), {"username": "budi", "password": "batik-cual-2026", "csrfmiddlewaretoken": token})
    assert response.status_code == 302


@pytest.mark.nodb
def test_every_post_form_in_the_templates_carries_the_csrf_token():
    forms = 0
    for template in TEMPLATES:
        for form in re.findall(r"<form\b[^>]*>.*?</form>", template.read_text(), re.S | re.I):
            if re.search(r'method="post"', form, re.I):
                forms += 1
                assert "{% csrf_token %}" in form, f"{template.relative_to(ROOT)}: {form[:120]}"
    assert forms >= 10


# --- headers and templates ----------------------------------------------------------------------


@pytest.mark.django_db
def test_pages_carry_the_security_headers_and_a_content_security_policy(client):
    response = client.get(reverse("home"))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'"
    assert policy["style-src"] == "'self' 'unsafe-inline'"  # style attributes of the progress bars
    assert policy["img-src"] == "'self' data: blob:"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'" and policy["form-action"] == "'self'"


@pytest.mark.django_db
def test_the_admin_pages_carry_the_policy_too(curator_client):
    assert "script-src 'self'" in curator_client.get(reverse("admin:index"))["Content-Security-Policy"]


@pytest.mark.nodb
def test_templates_have_no_inline_script_or_event_handler():
    for template in TEMPLATES:
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text, re.I):
            assert "src=" in tag or 'type="application/json"' in tag, f"{template.name}: inline script {tag}"
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", text, re.I), f"{template.name}: event handler attribute"
        assert "javascript:" not in text.lower(), template.name


# --- uploads: limits, names, metadata -------------------------------------------------------------


@pytest.fixture
def accepting(db, settings):
    """The classify and generate doors accept uploads (an active model row, a live worker) while
    no model runs: the work just waits in the queue, and nobody waits for it."""
    for kind in (ModelKind.CLASSIFIER, ModelKind.GENERATOR):
        ModelVersion.objects.create(kind=kind, name="stand-in", sha256=kind.ljust(64, "0"), path="models/none", file_format="pt",
                                    is_active=True)
    WorkerHeartbeat.objects.create(host="test", pid=os.getpid(), models_loaded={"classifier": 0, "generator": 0})
    settings.CUALIFY_CLASSIFY_WAIT_SECONDS = 0


def uploads() -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "uploads"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


GENERATE = {"mode": "variation", "count": "1", "truncation": "0.7", "distance": "0.5", "refine_strength": "0.3", "upscale": "1"}


@pytest.mark.nodb
def test_limits_are_set_at_every_layer():
    assert settings.FILE_UPLOAD_HANDLERS[0] == "core.uploads.UploadSizeLimitHandler"
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE <= settings.CUALIFY_MAX_IMAGE_BYTES
    assert settings.CUALIFY_MAX_IMAGE_BYTES < settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= settings.CUALIFY_MAX_IMAGE_BYTES + 2**20
    assert Image.MAX_IMAGE_PIXELS == settings.CUALIFY_MAX_IMAGE_PIXELS


@pytest.mark.nodb
def test_pillows_own_pixel_limit_follows_the_environment(tmp_path):
    code = "import cualify.settings; from PIL import Image; print(Image.MAX_IMAGE_PIXELS)"
    env = {k: v for k, v in os.environ.items() if k != "CUALIFY_ENV"}
    result = subprocess.run([sys.executable, "-c", code], env={**env, "CUALIFY_DATA_DIR": str(tmp_path), "CUALIFY_MAX_IMAGE_PIXELS": "12345"},
                            capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "12345", result.stderr


def test_a_file_over_the_byte_limit_is_kept_only_to_one_byte_over_and_refused(accepting, client, settings):
    settings.CUALIFY_MAX_IMAGE_BYTES = 10_000
    big = image_bytes(size=(400, 400), fmt="BMP")  # ~480 kB
    request = RequestFactory().post("/classify/", {"photo": SimpleUploadedFile("big.bmp", big)})
    upload = request.FILES["photo"]
    assert upload.size == 10_001 and len(upload.read()) == 10_001
    for url, field, data in ((reverse("classify"), "photo", {}), (reverse("generate"), "reference", GENERATE)):
        response = english(client).post(url, {**data, field: SimpleUploadedFile("big.bmp", big)})
        assert response.status_code == 400 and "too large" in response.content.decode(), url
    assert not uploads() and not ClassificationRecord.objects.exists() and not GenerationJob.objects.exists()


def test_form_fields_over_the_memory_limit_are_refused(accepting, client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    response = client.post(reverse("classify"), {"consent_training": "x" * 5_000, "photo": SimpleUploadedFile("p.png", image_bytes())})
    assert response.status_code == 400 and not uploads()


def test_an_image_over_the_pixel_limit_is_refused_at_every_door(accepting, client, settings):
    settings.CUALIFY_MAX_IMAGE_PIXELS = 100 * 100
    big = image_bytes(size=(101, 100))
    for url, field, data in ((reverse("classify"), "photo", {}), (reverse("generate"), "reference", GENERATE)):
        response = english(client).post(url, {**data, field: SimpleUploadedFile("p.png", big)})
        assert response.status_code == 400 and "too many pixels" in response.content.decode(), url
    assert not uploads()


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    """A body built by hand, so the file names reach the server exactly as written (the test
    client would strip the folders itself)."""
    boundary = "cualifyboundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    for name, (filename, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: image/png\r\n\r\n".encode("utf-8") + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


HOSTILE_NAMES = ["../../etc/passwd.png", "..\\..\\windows\\win.ini.png", "foto\u202egnp.exe\u0000.png", "/tmp/absolute.png",
                 "kain batik ✓ 😀.png"]


@pytest.mark.parametrize("filename", HOSTILE_NAMES)
def test_stored_names_are_made_by_the_server_never_taken_from_the_client(accepting, client, filename):
    body, content_type = multipart({}, {"photo": (filename, image_bytes())})
    assert client.post(reverse("classify"), body, content_type=content_type).status_code == 302
    body, content_type = multipart(GENERATE, {"reference": (filename, image_bytes((1, 2, 3)))})
    assert client.post(reverse("generate"), body, content_type=content_type).status_code == 302
    record, job = ClassificationRecord.objects.get(), GenerationJob.objects.get()
    assert re.fullmatch(rf"uploads/classify/{record.public_id.hex[:2]}/{record.public_id.hex}\.png", record.image.name)
    assert re.fullmatch(rf"uploads/generate/references/{job.public_id.hex[:2]}/{job.public_id.hex}\.png", job.reference.name)
    assert [p.relative_to(settings.MEDIA_ROOT).as_posix() for p in uploads()] == sorted([record.image.name, job.reference.name])
    assert not Path("/tmp/absolute.png").exists()


def gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "KameraKu"                                              # Make
    exif[0x8825] = {1: "S", 2: (2.0, 7.0, 30.0), 3: "E", 4: (106.0, 6.0, 0.0)}  # GPS: Pangkalpinang
    buffer = io.BytesIO()
    Image.open(io.BytesIO(image_bytes(size=(96, 96)))).save(buffer, "JPEG", exif=exif.tobytes())
    data = buffer.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)
    return data


def test_exif_and_gps_are_dropped_from_every_stored_upload(accepting, client):
    assert client.post(reverse("classify"), {"photo": SimpleUploadedFile("gps.jpg", gps_jpeg())}).status_code == 302
    assert client.post(reverse("generate"), {**GENERATE, "reference": SimpleUploadedFile("gps.jpg", gps_jpeg())}).status_code == 302
    stored = [ClassificationRecord.objects.get().image, GenerationJob.objects.get().reference]
    for field in stored:
        data = field.read()
        assert b"Exif" not in data and b"KameraKu" not in data and not Image.open(io.BytesIO(data)).getexif(), field.name


# --- log-in brute-force protection ---------------------------------------------------------------


def login(client, username, password, **extra):
    return english(client).post(reverse("login"), {"username": username, "password": password}, **extra)


def fail_five_times(client, username="budi"):
    for attempt in range(1, 5):
        assert login(client, username, "salah").status_code == 200, attempt
    return login(client, username, "salah")


@pytest.mark.django_db
def test_five_failures_lock_the_user_out_even_with_the_right_password_and_on_the_admin_log_in(client):
    UserFactory(username="budi", is_staff=True)
    fifth = fail_five_times(client)
    assert fifth.status_code == 429
    page = fifth.content.decode()
    assert 'data-testid="lockout"' in page and "after 5 failed attempts" in page and "try again in 15 minutes" in page
    assert login(client, "budi", "batik-cual-2026").status_code == 429
    assert client.get(reverse("accounts:profile")).status_code == 302  # not logged in
    admin = client.post(reverse("admin:login"), {"username": "budi", "password": "batik-cual-2026"})
    assert admin.status_code == 429 and "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_lock_holds_one_user_name_from_one_address_only(client):
    UserFactory(username="budi")
    UserFactory(username="sari")
    fail_five_times(client)
    assert login(Client(), "sari", "batik-cual-2026").status_code == 302
    assert login(Client(), "budi", "batik-cual-2026", REMOTE_ADDR="10.1.2.3").status_code == 302


@pytest.mark.django_db
def test_behind_the_proxy_the_lock_follows_the_address_the_proxy_saw_not_a_forged_one(client, settings):
    settings.CUALIFY_PROXY_COUNT = 1
    UserFactory(username="budi")
    for attempt in range(5):  # the client forges a new address each time; the proxy appends the real one
        login(client, "budi", "salah", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"6.6.6.{attempt}, 203.0.113.9")
    right = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "1.1.1.1, 203.0.113.9"}
    assert login(client, "budi", "batik-cual-2026", **right).status_code == 429
    other_visitor = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    assert login(Client(), "budi", "batik-cual-2026", **other_visitor).status_code == 302


@pytest.mark.django_db
def test_a_locked_out_user_gets_in_after_a_reset(client):
    UserFactory(username="budi")
    fail_five_times(client)
    call_command("axes_reset_username", "budi", stdout=io.StringIO())
    assert login(client, "budi", "batik-cual-2026").status_code == 302


@pytest.mark.django_db
def test_a_locked_out_user_gets_in_after_the_cool_off(client):
    from axes.models import AccessAttempt

    UserFactory(username="budi")
    fail_five_times(client)
    assert login(client, "budi", "batik-cual-2026").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert login(client, "budi", "batik-cual-2026").status_code == 302


@pytest.mark.django_db
def test_a_success_before_the_limit_starts_the_count_again(client):
    UserFactory(username="budi")
    for _ in range(4):
        login(client, "budi", "salah")
    assert login(client, "budi", "batik-cual-2026").status_code == 302
    client.logout()
    for _ in range(4):
        assert login(client, "budi", "salah").status_code == 200


@pytest.mark.django_db
def test_staff_log_in_to_the_admin_through_its_own_form(client):
    UserFactory(username="kurator", curator=True)
    response = client.post(reverse("admin:login"), {"username": "kurator", "password": "batik-cual-2026", "next": "/admin/"})
    assert response.status_code == 302 and client.get(reverse("admin:index")).status_code == 200


# --- the admin, errors ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_is_for_staff_only(client):
    assert client.get(reverse("admin:index")).status_code == 302
    client.force_login(UserFactory())
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    client.force_login(UserFactory(curator=True))
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.django_db
@pytest.mark.urls("tests.urls_raising")
def test_a_server_error_shows_a_bilingual_page_without_any_detail():
    assert not settings.DEBUG
    response = Client(raise_request_exception=False).get("/fail/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Sorry, something went wrong on our side" in page and "terjadi kesalahan di server" in page
    for leak in ("Traceback", "RuntimeError", "hunter2", "settings.py", "secret detail"):
        assert leak not in page


@pytest.mark.django_db
def test_a_missing_page_is_our_own_404(client):
    response = english(client).get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode() and "Content-Security-Policy" in response
