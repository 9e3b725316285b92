"""A visitor's generation history in Chromium: each job names its input motifs (linked), shows
its reference image when it had one and every output, and every picture on the page loads."""
import pytest
from playwright.sync_api import expect

from tests.factories import UserFactory

from .checks import assert_every_image_loads, assert_no_axe_violations, needs_axe
from .test_browser import shot
from .tour import tour_shot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def jobs_of_a_visitor(monkeypatch, settings):
    """A fusion of two motifs (three outputs) and a variation of one of its results used as a
    reference (two outputs), run by the real worker code in sync mode, owned by an account."""
    from django_q.conf import Conf

    from core import intake
    from inference import registry, runtime
    from inference.generation import services as generation
    from inference.models import GenerationJob

    monkeypatch.setattr(Conf, "SYNC", True)
    settings.CUALIFY_PROJECTION_STEPS = 2
    registry.shipped_models_register(kinds=("generator",))
    user = UserFactory(username="penenun")
    fusion = generation.generation_job_create(request=generation.generation_request(
        mode=GenerationJob.Mode.FUSION, motifs=(("merak", 2.0), ("kepiting", 1.0)), seed=7, count=3), user=user)
    assert fusion.status == "succeeded", fusion.error
    png = generation.job_png(fusion.images.get(index=1))
    variation = generation.generation_job_create(request=generation.generation_request(
        mode=GenerationJob.Mode.VARIATION, reference=intake.image_normalize(png), seed=9, count=2), user=user)
    assert variation.status == "succeeded", variation.error
    yield user, fusion, variation
    runtime.reset_for_tests()


def logged_in_page(browser, live_server, language, viewport=None):
    context = browser.new_context(base_url=live_server.url, locale="en-US" if language == "en" else "id-ID",
                                  viewport=viewport or {"width": 1200, "height": 900})
    context.add_cookies([{"name": "cualify_language", "value": language, "url": live_server.url}])
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.locator("#id_username").fill("penenun")
    page.locator("#id_password").fill("batik-cual-2026")
    page.locator("form [type=submit]").last.click()
    page.wait_for_load_state()
    return context, page


@pytest.mark.parametrize("language,crumb,motifs_label", [("id", "Riwayat", "Motif"), ("en", "History", "Motifs")])
def test_history_entries_show_the_input_motifs_every_output_and_the_reference(
        browser, live_server, jobs_of_a_visitor, language, crumb, motifs_label):
    from motifs.models import Motif

    _user, fusion, variation = jobs_of_a_visitor
    context, page = logged_in_page(browser, live_server, language)
    page.goto("/generate/history/")
    expect(page.locator(".breadcrumb")).to_contain_text(crumb)
    entries = page.get_by_test_id("history-entry")
    expect(entries).to_have_count(2)
    newest, oldest = entries.nth(0), entries.nth(1)  # newest first: the variation, then the fusion
    expect(oldest.get_by_test_id("history-motifs")).to_contain_text(motifs_label)
    for slug in ("merak", "kepiting"):
        motif = Motif.objects.get(slug=slug)
        link = oldest.get_by_test_id("history-motifs").get_by_role("link", name=motif.name)
        expect(link).to_have_attribute("href", motif.get_absolute_url())
    expect(oldest.get_by_test_id("history-output")).to_have_count(3)
    expect(oldest.get_by_test_id("history-reference")).to_have_count(0)
    expect(newest.get_by_test_id("history-output")).to_have_count(2)
    reference = newest.get_by_test_id("history-reference").get_by_role("img")
    expect(reference).to_have_attribute("src", f"/generate/jobs/{variation.public_id}/reference/")
    assert_every_image_loads(page)
    if language == "en":
        shot(page, "generation-history")
        tour_shot(page, "generation-history")
    # the history's motif links lead to the motif's page
    oldest.get_by_test_id("history-motifs").get_by_role("link").first.click()
    expect(page).to_have_url(f"{live_server.url}{Motif.objects.get(slug=fusion.motifs[0]['slug']).get_absolute_url()}")
    context.close()


def test_a_stranger_gets_none_of_the_pictures(browser, live_server, jobs_of_a_visitor):
    _user, fusion, variation = jobs_of_a_visitor
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.goto("/generate/history/")
    expect(page.get_by_test_id("history-entry")).to_have_count(0)
    assert page.request.get(f"/generate/jobs/{variation.public_id}/reference/").status == 404
    assert page.request.get(f"/generate/jobs/{fusion.public_id}/0.png").status == 404
    context.close()


def test_the_reference_job_page_shows_the_reference_and_the_motif_it_started_from(browser, live_server, jobs_of_a_visitor):
    _user, _fusion, variation = jobs_of_a_visitor
    context, page = logged_in_page(browser, live_server, "en")
    page.goto(f"/generate/jobs/{variation.public_id}/")
    expect(page.get_by_test_id("job-reference").get_by_role("img", name="Your reference image")).to_be_visible()
    expect(page.get_by_test_id("job-started-from").get_by_role("link")).to_have_count(1)
    assert_every_image_loads(page)
    context.close()


@needs_axe
@pytest.mark.parametrize("viewport", [{"width": 1200, "height": 900}, {"width": 360, "height": 740}], ids=["desktop", "phone"])
@pytest.mark.parametrize("language", ["id", "en"])
def test_the_history_page_has_no_accessibility_violation(browser, live_server, jobs_of_a_visitor, language, viewport):
    context, page = logged_in_page(browser, live_server, language, viewport)
    page.goto("/generate/history/")
    expect(page.get_by_test_id("history-entry")).to_have_count(2)
    if viewport["width"] == 360:
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert_no_axe_violations(page)
    context.close()
