"""The OpenAPI schema: valid, served with its documentation pages from local files, and true
to the API — Schemathesis calls every operation through the WSGI app (in-process, shipped
models, sync queue) as a curator and checks for server errors and schema conformance."""
import re

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from schemathesis import GenerationMode

from tests.api_fixtures import client_for  # noqa: F401
from tests.factories import UserFactory


@pytest.mark.django_db
def test_the_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    assert "/api/v1/classify/" in text and "format: binary" in text
    import yaml

    schemas = yaml.safe_load(text)["components"]["schemas"]
    job = schemas["Job"]["properties"]
    stage_enum = next(schemas[ref["$ref"].rsplit("/", 1)[-1]] for ref in job["stage"]["oneOf"]
                      if schemas[ref["$ref"].rsplit("/", 1)[-1]]["enum"] != [""])
    assert stage_enum["enum"] == ["loading", "encoding_prompt", "projecting", "drawing", "refining", "saving"]
    assert job["stage_label"]["type"] == "string" and "stage_label" in schemas["Job"]["required"]


@pytest.mark.django_db
def test_documentation_pages_load_everything_from_this_site():
    client = Client()
    for path in ("/api/docs/", "/api/redoc/"):
        response = client.get(path)
        assert response.status_code == 200
        html = response.content.decode()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), html  # no CDN, no web fonts
        for asset in re.findall(r"""(?:src|href)=["']([^"']+)["']""", html):
            assert client.get(asset).status_code == 200, asset
    assert "<script>" not in client.get("/api/docs/").content.decode()  # the page's policy forbids inline script
    assert "worker-src 'self' blob:" in client.get("/api/redoc/")["Content-Security-Policy"]
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "Cualify API"


MAX_EXAMPLES = 10  # per operation and generation mode (valid and invalid data), plus the schema's own examples
CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.response_schema_conformance]


@pytest.fixture
def api_schema(db, classifier, generator, sync_queue, settings):
    from cualify.wsgi import application

    settings.CUALIFY_PROJECTION_STEPS = 2
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        name: "100000/min" for name in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]}}
    settings.CUALIFY_RATE_LIMITS = {name: "100000/min" for name in settings.CUALIFY_RATE_LIMITS}
    curator = client_for(UserFactory(curator=True))
    headers = {"Authorization": curator._credentials["HTTP_AUTHORIZATION"], "Accept-Language": "en"}
    config = schemathesis.Config.from_dict({"headers": headers, "generation": {"database": "none"}})
    # The WSGI app closes "old" connections around each request, which inside the test's
    # transaction means this one (on MySQL): as Django's test client does, keep it open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=config)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_every_operation_answers_without_server_errors_and_as_documented(api_schema):
    """Schemathesis' own pytest loader (``from_fixture``) does not run under pytest 9 (it sets
    ``node._nodeid``), so its public pieces are driven here: for each operation, its examples
    and Hypothesis cases of valid and invalid data, derandomised."""
    calls, failures = [], {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        strategy = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
            *operation.get_strategies_from_examples(),
        )

        @hypothesis.settings(max_examples=2 * MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck), print_blob=False)
        @hypothesis.given(case=strategy)
        def call(case):
            calls.append(operation.label)
            case.call_and_validate(checks=CHECKS)

        try:
            call()
        except (Exception, BaseExceptionGroup) as exc:  # every operation is tried; all failures are reported
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]
    operations = set(calls)
    print(f"schemathesis: {len(calls)} calls over {len(operations)} operations")
    assert len(operations) >= 25, sorted(operations)
    assert not failures, "\n\n".join(f"{label}\n{error}" for label, error in failures.items())
