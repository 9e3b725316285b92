"""Playwright driving Debian's Chromium against pytest-django's live server."""
import os
import shutil

import pytest


# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# around it are still synchronous and safe. (Subprocess tests drop this variable.)
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CUALIFY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="id-ID", viewport={"width": 1200, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def demo_images(settings):
    """A small synthetic image per motif, so cards and detail pages have pictures."""
    from django.core.management import call_command

    call_command("make_demo_dataset", count=1, size=96, no_progress=True, verbosity=0)



@pytest.fixture(autouse=True)
def seed_catalogue(transactional_db):
    """Browser tests run in real transactions (the live server is another thread), so the
    database is flushed after each: seed the catalogue again before each."""
    from django.apps import apps

    from motifs.catalogue import seed_catalogue as seed

    seed(apps.get_model)
