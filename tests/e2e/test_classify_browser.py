"""A visitor uploads a photo in Chromium and sees the result card (the real model, run by the
real task code in sync mode)."""
import re

import pytest
from playwright.sync_api import expect

from inference import registry, runtime
from motifs.demo_art import render_motif

from .checks import AXE, assert_no_axe_violations
from .test_browser import shot
from .tour import tour_shot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def classifier_ready(monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    registry.shipped_models_register(kinds=("classifier",))
    yield
    runtime.reset_for_tests()


def assert_below(lower, upper) -> None:
    """``lower`` starts where ``upper`` ends, or further down the page."""
    low, up = lower.bounding_box(), upper.bounding_box()
    assert low["y"] >= up["y"] + up["height"] - 1, (low, up)


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_visitor_uploads_a_photo_and_sees_the_result_card(browser, live_server, classifier_ready, tmp_path, javascript):
    photo = tmp_path / "kain.jpg"
    render_motif("kepiting", 9001, 2000).save(photo, "JPEG")
    context = browser.new_context(base_url=live_server.url, locale="en-US", java_script_enabled=javascript)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/classify/")
    page.get_by_label("Photo of the cloth").set_input_files(str(photo))
    if javascript:
        expect(page.locator("[data-photo-preview]")).to_be_visible()  # shrunk and previewed in the browser
        assert_below(page.get_by_role("button", name="Classify", exact=True), page.locator("[data-photo-preview]"))
    page.get_by_role("button", name="Classify", exact=True).click()
    expect(page).to_have_url(re.compile(r"/classify/[0-9a-f-]{36}/$"))
    card = page.get_by_test_id("result-card")
    expect(card.get_by_test_id("motif-name")).to_contain_text("Kepiting")
    expect(card.get_by_test_id("top-guesses").locator("li")).to_have_count(5)
    expect(card.get_by_test_id("timings")).to_contain_text("inference")
    expect(page.get_by_role("img", name="Your photo")).to_be_visible()
    shot(page, f"classify-result-{'js' if javascript else 'nojs'}")
    if javascript:
        tour_shot(page, "classify-result")
    from inference.models import ClassificationRecord

    # The browser shrank the 2000 px photo to 1600 px before upload; without JavaScript it goes as it is.
    assert ClassificationRecord.objects.get().width == (1600 if javascript else 2000)
    context.close()


NOT_RECOGNISED_TEXTS = {
    "id": {"heading": "Tidak dikenali sebagai motif yang dikenal", "guesses": "Tebakan terdekat", "score": "skor model",
           "inference": "Inferensi model", "photo": "Foto Anda", "locale": "id-ID"},
    "en": {"heading": "Not recognised as a known motif", "guesses": "Closest guesses", "score": "model score",
           "inference": "Model inference", "photo": "Your photo", "locale": "en-US"},
}


@pytest.mark.parametrize("language", ["id", "en"])
@pytest.mark.parametrize("viewport", [{"width": 360, "height": 740}, {"width": 1200, "height": 900}], ids=["phone", "desktop"])
def test_a_photo_that_is_no_known_motif_says_so_first_and_shows_the_guesses_as_guesses(
        browser, live_server, classifier_ready, tmp_path, language, viewport):
    from inference.models import ClassificationRecord, ModelKind, ModelVersion

    # Every photo is far from the archive: the model's confident guess must not read as the answer.
    version = ModelVersion.objects.get(kind=ModelKind.CLASSIFIER, is_active=True)
    version.calibration = {**version.calibration, "max_distance": -1.0}
    version.save(update_fields=["calibration"])
    runtime.reset_for_tests()
    photo = tmp_path / "kain.jpg"
    render_motif("merak", 5000, 512).save(photo, "JPEG")
    texts = NOT_RECOGNISED_TEXTS[language]
    context = browser.new_context(base_url=live_server.url, locale=texts["locale"], viewport=viewport)
    context.add_cookies([{"name": "cualify_language", "value": language, "url": live_server.url}])
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/classify/")
    page.locator("input[type=file]").set_input_files(str(photo))
    expect(page.locator("[data-photo-preview]")).to_be_visible()
    assert_below(page.locator("[data-submit]"), page.locator("[data-photo-preview]"))
    page.locator("[data-submit]").click()
    expect(page).to_have_url(re.compile(r"/classify/[0-9a-f-]{36}/$"))
    record = ClassificationRecord.objects.get()
    assert not record.recognised and record.confidence > 0.5
    card = page.get_by_test_id("result-card")
    expect(card.get_by_role("heading", level=1)).to_have_text(texts["heading"])
    expect(card.get_by_role("heading", name=texts["guesses"])).to_be_visible()
    expect(card.get_by_test_id("closest-guesses").locator("li")).to_have_count(5)
    expect(card.get_by_test_id("closest-guesses")).to_contain_text(texts["score"])
    expect(card.locator(".bars, [data-testid=confidence]")).to_have_count(0)
    expect(card.get_by_test_id("timings")).to_contain_text(texts["inference"])
    if viewport["width"] < 600:
        # The answer comes before the images on a phone.
        assert_below(page.get_by_role("img", name=texts["photo"]), card.get_by_role("heading", level=1))
        assert_below(page.get_by_role("img", name=texts["photo"]), card.get_by_test_id("closest-guesses"))
    else:
        expect(page.get_by_role("img", name=texts["photo"])).to_be_visible()
    if AXE.exists():  # installed from npm by scripts/setup.sh
        assert_no_axe_violations(page)
    name = f"classify-not-recognised-{'phone' if viewport['width'] < 600 else 'desktop'}-{language}"
    shot(page, name)
    if name == "classify-not-recognised-phone-id":
        tour_shot(page, "classify-not-recognised-phone")
    context.close()
