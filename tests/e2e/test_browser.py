"""A visitor, a curator and a screen-reader user on the real site, in Chromium."""
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from motifs.models import Motif
from tests.factories import UserFactory, image_bytes

from .checks import assert_no_axe_violations, needs_axe

pytestmark = pytest.mark.django_db(transaction=True)
SCREENSHOTS = Path(os.environ.get("CUALIFY_SCREENSHOTS", "/tmp/cualify-screens"))


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_visitor_goes_from_home_to_gallery_filters_and_opens_a_motif(page, demo_images):
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cualify")
    expect(page.get_by_text("Classify the Motifs, Generate New Pattern")).to_be_visible()
    shot(page, "home")
    page.get_by_role("navigation", name="Utama").get_by_role("link", name="Galeri").click()
    expect(page).to_have_url(re.compile(r"/gallery/$"))
    expect(page.get_by_text("14 motif")).to_be_visible()
    page.get_by_label("Kategori").select_option("fauna")  # submits by itself (JavaScript)
    expect(page).to_have_url(re.compile(r"category=fauna"))
    cards = page.locator(".card")
    expect(cards).to_have_count(Motif.objects.filter(category="fauna").count())
    shot(page, "gallery-fauna")
    page.get_by_role("link", name=re.compile("^Merak")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Merak")
    expect(page.get_by_text("belum terverifikasi").first).to_be_visible()
    expect(page.locator(".image-grid img").first).to_have_attribute("alt", re.compile("Merak"))
    shot(page, "motif-merak")


def test_gallery_search_works_without_javascript(browser, live_server):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/gallery/")  # the browser asks for English (Accept-Language)
    page.get_by_label("Search").fill("kepiting")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator(".card-title")).to_have_text("Kepiting")
    context.close()


def test_language_switch_changes_the_whole_page(page):
    page.goto("/history/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sejarah Batik Cual")
    page.get_by_test_id("lang-en").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("History of Batik Cual")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Gallery")).to_be_visible()
    page.goto("/gallery/")  # the choice sticks
    expect(page.get_by_role("heading", level=1)).to_have_text("Gallery of Batik Cual motifs")
    page.get_by_test_id("lang-id").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Galeri motif Batik Cual")


def test_curator_logs_into_the_admin_and_adds_a_motif_with_an_image(page, tmp_path):
    UserFactory(username="kurator", curator=True)
    picture = tmp_path / "cempaka.jpg"
    picture.write_bytes(image_bytes((180, 40, 40), size=(120, 90), fmt="JPEG"))
    page.goto("/admin/")
    page.locator("#id_username").fill("kurator")
    page.locator("#id_password").fill("batik-cual-2026")
    page.locator("input[type=submit]").click()
    expect(page.get_by_text("Arsip motif")).to_be_visible()
    page.goto("/admin/motifs/motif/add/")
    page.locator("#id_name").press_sequentially("Kembang Cempaka")
    expect(page.locator("#id_slug")).to_have_value("kembang-cempaka")  # filled in from the name
    page.locator("#id_category").select_option("flora")
    page.locator("#id_description_en").fill("Magnolia flowers.")
    page.locator("#id_images-0-upload").set_input_files(str(picture))
    page.locator("#id_images-0-credit").fill("Foto uji")
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist")).to_contain_text("Kembang Cempaka")
    motif = Motif.objects.get(slug="kembang-cempaka")
    image = motif.images.get()
    assert (image.width, image.height, image.credit) == (120, 90, "Foto uji")
    shot(page, "admin-after-add")


def test_keyboard_user_can_skip_to_content_and_reach_the_nav(page):
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Langsung ke isi")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    for _ in range(12):  # the nav links come next in the tab order
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Galeri":
            break
    else:
        pytest.fail("the Gallery link was not reachable by keyboard")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("/gallery/$"))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the skip link
    expect(page).to_have_url(re.compile("#main$"))




@needs_axe
@pytest.mark.parametrize("path", ["/", "/gallery/", "/gallery/merak/", "/history/", "/classify/", "/generate/", "/accounts/login/", "/accounts/signup/"])
@pytest.mark.parametrize("language", ["id", "en"])
def test_main_pages_have_no_serious_accessibility_violations(page, demo_images, path, language):
    page.goto("/")
    page.context.add_cookies([{"name": "cualify_language", "value": language, "url": page.url}])
    page.goto(path)
    assert_no_axe_violations(page, impacts=("serious", "critical"))


@pytest.mark.parametrize("path", ["/", "/gallery/", "/gallery/merak/", "/history/", "/accounts/login/"])
def test_pages_fit_a_phone_screen_without_sideways_scrolling(browser, live_server, demo_images, path):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740}, locale="id-ID")
    phone = context.new_page()
    phone.goto(path)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    expect(phone.get_by_role("navigation", name="Utama").get_by_role("link", name="Galeri")).to_be_visible()
    shot(phone, "phone" + path.replace("/", "_"))
    context.close()
