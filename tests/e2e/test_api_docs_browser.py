"""The API documentation pages work in a browser under the site's Content-Security-Policy,
with nothing loaded from another host."""
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


# ReDoc's bundle has its "by Redocly" logo on a CDN: the policy refuses it (nothing is fetched).
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def watch(page, live_server):
    """Collect CSP violations, script errors and requests to other hosts."""
    problems = []
    page.on("console", lambda message: message.type == "error" and REDOCLY_LOGO not in message.text
            and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    # A response, not a request: Chromium announces the logo's request, then the policy blocks it.
    page.on("response", lambda response: response.url.startswith(("http://", "https://"))
            and not response.url.startswith(live_server.url) and problems.append(f"external: {response.url}"))
    return problems


def test_swagger_ui_lists_the_operations_and_the_schema_loads(page, live_server):
    problems = watch(page, live_server)
    page.goto("/api/docs/")
    expect(page.get_by_text("Cualify API").first).to_be_visible()
    expect(page.get_by_text("Classify a photo of a cloth")).to_be_visible()
    expect(page.get_by_text("Start a generation job")).to_be_visible()
    assert problems == []


def test_redoc_renders_the_schema(page, live_server):
    problems = watch(page, live_server)
    page.goto("/api/redoc/")
    expect(page.get_by_role("heading", name="Cualify API (1.0.0)")).to_be_visible()
    expect(page.get_by_role("heading", name="Classify a photo of a cloth")).to_be_visible()
    assert problems == []
