"""Every generation parameter is refused at the door, with the same translated message and a 4xx,
through every door that takes it (site form, REST API, Flask-compatible service, ``generate``
command), and nothing is stored: the probes of the security review, each one a test. The bounds
are core.limits', read through check_request."""
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation

from compat.app import create_app
from core import limits
from inference.generation import messages
from inference.models import GenerationJob
from inference.tests.conftest import generator, sync_queue  # noqa: F401  (fixtures)
from tests.api_fixtures import client_for  # noqa: F401
from tests.factories import image_bytes
from tests.test_security import uploads

pytestmark = pytest.mark.django_db
EN = {"Accept-Language": "en"}
LAST_SEED_FOR_4 = limits.MAX_SEED - 3


def message(code, **context) -> str:
    with translation.override("en"):
        return messages.error_message(code, **context)


@pytest.fixture
def doors(generator, sync_queue, client, tmp_path):
    """(name, send) for each door; ``send(body)`` posts the JSON-like body and returns
    (status, message, code) as that door says them."""
    compat = create_app().test_client()
    api = client_for()

    def site(body):
        fields = {"mode": body["mode"], "count": body.get("count", 1), "truncation": body.get("truncation", 0.7),
                  "distance": body.get("distance", 0.5), "refine_strength": 0.3, "upscale": 1, "tile": "on",
                  "prompt": body.get("prompt", ""), "motifs": [m["slug"] for m in body.get("motifs", [])]}
        if body.get("seed") is not None:
            fields["seed"] = body["seed"]
        for item in body.get("motifs", []):
            fields[f"weight_{item['slug']}"] = item.get("weight", 1.0)
        client.cookies["cualify_language"] = "en"
        response = client.post(reverse("generate"), fields)
        return response.status_code, response.content.decode(), None

    def rest(body):
        response = api.post(reverse("api:generate"), json.dumps(body), content_type="application/json")
        payload = response.json()
        return response.status_code, payload["error"], payload["detail"].get("code")

    def service(body):
        response = compat.post("/generate", data=json.dumps(body), content_type="application/json", headers=EN)
        payload = response.get_json()
        return response.status_code, payload["error"], payload["detail"].get("code")

    def command(body):
        motifs = ",".join(f"{m['slug']}:{m.get('weight', 1.0)!r}" for m in body.get("motifs", []))
        options = {"mode": body["mode"], "motifs": motifs, "count": body.get("count", 1), "outdir": tmp_path,
                   "prompt": body.get("prompt", ""), "stdout": io.StringIO()}
        if body.get("seed") is not None:
            options["seed"] = body["seed"]
        with translation.override("en"):
            try:
                call_command("generate", **options)
            except CommandError as exc:
                return 400, str(exc), None
        return 202, "", None

    return {"site": site, "api": rest, "compat": service, "command": command}


def assert_refused_everywhere(doors, body, code, expected, *, only=None):
    for name, send in doors.items():
        if only and name not in only:
            continue
        status, text, said_code = send(body)
        assert 400 <= status < 500, (name, status, text)
        assert expected in text, (name, text)
        if said_code is not None:
            assert said_code == code, (name, said_code)
    assert not GenerationJob.objects.exists() and not uploads()


FUSION = [{"slug": "merak", "weight": 1.0}, {"slug": "kepiting", "weight": 1.0}]


def test_a_seed_whose_last_image_would_overflow_is_refused_naming_the_real_range(doors):
    assert_refused_everywhere(doors, {"mode": "fusion", "motifs": FUSION, "count": 4, "seed": limits.MAX_SEED - 1},
                              "bad_seed", message("bad_seed", count=4), only=("api", "compat", "command"))
    # The form's own field bound is the seed range; the count-dependent end is check_request's.
    status, html, _ = doors["site"]({"mode": "fusion", "motifs": FUSION, "count": 4, "seed": limits.MAX_SEED - 1})
    assert status == 400 and str(LAST_SEED_FOR_4) in html
    assert str(LAST_SEED_FOR_4) in message("bad_seed", count=4)


@pytest.mark.parametrize("weight", [1e308, 11.0, 1e-300, 1e-9, 0.0, -1.0])
def test_weights_outside_the_bounds_are_refused_at_every_door(doors, weight):
    body = {"mode": "fusion", "motifs": [{"slug": "merak", "weight": weight}, {"slug": "kepiting", "weight": 1.0}]}
    assert_refused_everywhere(doors, body, "bad_weights", message("bad_weights"), only=("api", "compat", "command"))
    status, html, _ = doors["site"](body)
    assert status == 400 and not GenerationJob.objects.exists()


def test_two_huge_weights_never_reach_a_worker(doors):
    body = {"mode": "fusion", "motifs": [{"slug": "merak", "weight": 1e308}, {"slug": "kepiting", "weight": 1e308}]}
    assert_refused_everywhere(doors, body, "bad_weights", message("bad_weights"), only=("api", "compat", "command"))


def test_infinity_is_refused_as_json_does_not_allow_it(doors):
    raw = '{"mode": "fusion", "motifs": [{"slug": "merak", "weight": Infinity}, {"slug": "kepiting"}]}'
    api, compat = client_for(), create_app().test_client()
    response = api.post(reverse("api:generate"), raw, content_type="application/json")
    assert response.status_code == 400
    response = compat.post("/generate", data=raw, content_type="application/json", headers=EN)
    assert response.status_code == 400 and response.get_json()["detail"]["code"] == "bad_constant"
    # As a form (the API's "slug:weight"), it is a weight out of bounds.
    response = api.post(reverse("api:generate"), {"mode": "fusion", "motifs": ["merak:Infinity", "kepiting"]}, format="multipart")
    assert response.status_code == 400 and response.json()["detail"]["code"] == "bad_weights"
    assert not GenerationJob.objects.exists()


def test_json_nested_100000_deep_is_a_400_not_a_500(doors):
    raw = "[" * 100_000 + "]" * 100_000
    api, compat = client_for(), create_app().test_client()
    response = api.post(reverse("api:generate"), raw, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    response = compat.post("/generate", data=raw, content_type="application/json", headers=EN)
    assert response.status_code == 400 and response.get_json()["detail"]["code"] == "too_deep"
    assert not GenerationJob.objects.exists()


def test_a_nul_byte_in_a_prompt_is_refused_at_every_door(doors):
    body = {"mode": "prompt", "prompt": "bunga\x00kenanga"}
    for name in ("compat", "command"):
        status, text, code = doors[name](body)
        assert status == 400 and message("bad_characters") in text, (name, text)
    status, text, _ = doors["api"](body)
    assert status == 400  # DRF's CharField refuses a NUL itself
    status, html, _ = doors["site"](body)
    assert status == 400
    assert not GenerationJob.objects.exists()


def test_a_motif_chosen_twice_says_so(doors):
    body = {"mode": "fusion", "motifs": [{"slug": "merak"}, {"slug": "merak"}]}
    assert_refused_everywhere(doors, body, "duplicate_motif", message("duplicate_motif"), only=("api", "compat", "command"))


def test_compat_never_stores_a_reference_for_a_job_that_does_not_use_one(generator, sync_queue, monkeypatch):
    from inference.generation import services

    monkeypatch.setattr(services, "generation_job_enqueue", lambda job: None)  # keep the job queued: no synthesis
    compat = create_app().test_client()
    for mode, extra in (("fusion", {"motifs": "merak,kepiting"}), ("prompt", {"prompt": "merak"})):
        response = compat.post("/generate", data={"mode": mode, **extra, "count": "1",
                                                  "reference": (io.BytesIO(image_bytes()), "ref.png")})
        assert response.status_code == 202, response.get_json()
        assert not GenerationJob.objects.get(public_id=response.get_json()["job_id"]).reference
    assert not uploads()


def test_api_errors_for_a_bad_reference_name_the_reference_field(generator, sync_queue):
    response = client_for().post(reverse("api:generate"), {"mode": "variation", "reference": io.BytesIO(b"not an image")},
                                 format="multipart")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["code"] == "not_an_image" and "reference" in detail and "file" not in detail
    assert not GenerationJob.objects.exists() and not uploads()


@pytest.mark.nodb
def test_form_and_serializer_bounds_are_the_limits_module():
    from inference.api import GenerateRequestSerializer
    from inference.generation.forms import GenerateForm

    form, serializer = GenerateForm(), GenerateRequestSerializer()
    for name, bound in (("count", limits.COUNT), ("truncation", limits.TRUNCATION), ("distance", limits.DISTANCE),
                        ("refine_strength", limits.REFINE_STRENGTH)):
        assert (form.fields[name].min_value, form.fields[name].max_value) == (bound.low, bound.high), name
        assert (serializer.fields[name].min_value, serializer.fields[name].max_value) == (bound.low, bound.high), name
        assert form.fields[name].initial == serializer.fields[name].default == getattr(limits.GENERATION_DEFAULTS, name)
    assert serializer.fields["prompt"].max_length == form.fields["prompt"].max_length == limits.PROMPT_MAX_CHARS
    assert GenerationJob._meta.get_field("distance").default == limits.GENERATION_DEFAULTS.distance
