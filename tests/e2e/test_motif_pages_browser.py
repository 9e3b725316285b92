"""The motif page, the gallery and the history page in Chromium, in both languages, on a desktop
and a phone: images load, the large view (lightbox) works by mouse, keyboard and touch, each
image says where it comes from, demo images are marked, and axe-core finds no violation.

``CUALIFY_TOUR_SCREENSHOTS=1`` also writes the README tour's pictures to docs/tour/."""
import os
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from motifs import services
from motifs.models import Motif, Page, PageSource
from tests.factories import add_image, image_bytes

from .checks import assert_every_image_loads, assert_no_axe_violations, needs_axe
from .tour import TOUR, save_tour_png, taking_tour_shots

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(os.environ.get("CUALIFY_SCREENSHOTS", "/tmp/cualify-screens"))

VIEWPORTS = {
    "desktop": dict(viewport={"width": 1200, "height": 900}),
    "phone": dict(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True, device_scale_factor=2),
}
TEXT = {
    "id": dict(viewer="Penampil gambar", counter="Gambar {n} dari {total}", credit="Kredit", licence="Lisensi",
               demo="demo sintetis", close="Tutup", zoom_in="Perbesar", zoom_out="Perkecil", filters="Saring motif",
               sources="Sumber", source="Sumber", photo="Foto galeri"),
    "en": dict(viewer="Image viewer", counter="Image {n} of {total}", credit="Credit", licence="Licence",
               demo="synthetic demo", close="Close", zoom_in="Zoom in", zoom_out="Zoom out", filters="Filter motifs",
               sources="Sources", source="Source", photo="Gallery photo"),
}


@pytest.fixture
def archive(demo_images):
    """Merak with three synthetic demo images and one gallery photo with a credit and licence;
    the history page with a picture and a source."""
    call_command("make_demo_dataset", count=3, size=160, motif=["merak"], no_progress=True, verbosity=0)
    merak = Motif.objects.get(slug="merak")
    photo = add_image(merak, data=image_bytes((170, 120, 40), size=(200, 150), fmt="JPEG"),
                      credit="Foto uji Galeri", licence="CC-BY-4.0")
    history = Page.objects.get(slug="history")
    services.page_image_create(page=history, data=image_bytes((120, 30, 30), size=(240, 160)),
                               alt_id="Kain Cual dari Muntok", alt_en="A Cual cloth from Muntok", credit="Arsip uji")
    PageSource.objects.create(page=history, title="Kain Cual Bangka", url="https://example.org/cual")
    return merak, photo


def new_page(browser, live_server, language, viewport):
    context = browser.new_context(base_url=live_server.url, locale="id-ID", **VIEWPORTS[viewport])
    context.set_default_timeout(15_000)
    context.add_cookies([{"name": "cualify_language", "value": language, "url": live_server.url}])
    return context, context.new_page()


def provenance(scope, label):
    """The value shown next to ``label`` in an image's provenance list."""
    return scope.locator(f"xpath=.//dl[contains(@class, 'provenance')]//dt[normalize-space()='{label}']/following-sibling::dd[1]")


def pointer(page, kind, x, y, pointer_id=1):
    """A touch pointer event on the lightbox's stage (Playwright has no multi-touch)."""
    page.locator("[data-lightbox-stage]").dispatch_event(kind, {
        "pointerId": pointer_id, "pointerType": "touch", "isPrimary": pointer_id == 1,
        "clientX": x, "clientY": y, "bubbles": True, "button": 0, "buttons": 1,
    })


@needs_axe
@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("language", ["id", "en"])
def test_motif_page_lightbox_provenance_and_accessibility(browser, live_server, archive, language, viewport):
    merak, photo = archive
    text = TEXT[language]
    context, page = new_page(browser, live_server, language, viewport)
    page.goto(merak.get_absolute_url())
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["viewport"]["width"]
    assert_every_image_loads(page)
    links = page.locator(".image-grid a[data-lightbox-item]")
    total = merak.images.count()  # the demo images, then the photo
    assert total >= 4
    expect(links).to_have_count(total)
    hrefs = [link.get_attribute("href") for link in links.all()]
    counter = page.locator("[data-lightbox-counter]")
    dialog = page.get_by_role("dialog", name=text["viewer"])

    # Provenance under each image; the demo badge sits on the demo pictures only.
    photo_figure = page.locator("figure", has=page.locator(f'a[href="{photo.file.url}"]'))
    expect(provenance(photo_figure, text["credit"])).to_have_text("Foto uji Galeri")
    expect(provenance(photo_figure, text["licence"])).to_have_text("CC-BY-4.0")
    expect(provenance(photo_figure, text["source"])).to_have_text(text["photo"])
    expect(photo_figure.locator(".badge-demo")).to_have_count(0)
    demo_link = links.first
    badge = demo_link.locator(".badge-demo")
    expect(badge).to_have_text(text["demo"])
    expect(badge).to_be_visible()
    picture, mark = demo_link.locator("img").bounding_box(), badge.bounding_box()
    assert picture["x"] <= mark["x"] and mark["x"] + mark["width"] <= picture["x"] + picture["width"]
    assert picture["y"] <= mark["y"] and mark["y"] + mark["height"] <= picture["y"] + picture["height"]
    expect(provenance(page.locator(".image-grid figure").first, text["licence"])).to_have_text("CC0-1.0")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"motif-{viewport}-{language}.png"), full_page=True)
    # Axe on the page as a visitor first sees it.
    assert_no_axe_violations(page)

    # Open by click (a tap on the phone).
    if viewport == "phone":
        links.first.tap()
    else:
        links.first.click()
    expect(dialog).to_be_visible()
    expect(dialog).to_have_attribute("aria-modal", "true")
    expect(counter).to_have_text(text["counter"].format(n=1, total=total))
    big = dialog.locator("[data-lightbox-image]")
    expect(big).to_have_attribute("src", hrefs[0])
    expect(big).to_have_js_property("complete", True)
    assert big.evaluate("i => i.naturalWidth") > 0 and page.request.get(hrefs[0]).status == 200
    expect(dialog.locator("[data-lightbox-demo]")).to_be_visible()
    expect(dialog.get_by_role("button", name=text["close"])).to_be_focused()
    assert_no_axe_violations(page)

    # Arrow keys move (and wrap); the provenance follows the picture.
    page.keyboard.press("ArrowRight")
    expect(counter).to_have_text(text["counter"].format(n=2, total=total))
    expect(big).to_have_attribute("src", hrefs[1])
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(counter).to_have_text(text["counter"].format(n=total, total=total))
    expect(big).to_have_attribute("src", photo.file.url)
    expect(dialog.locator("[data-lightbox-caption]")).to_contain_text("CC-BY-4.0")
    expect(dialog.locator("[data-lightbox-demo]")).to_be_hidden()

    # Tab stays inside the dialog, both ways.
    for key in ["Tab"] * 6 + ["Shift+Tab"] * 6:
        page.keyboard.press(key)
        assert page.evaluate("document.querySelector('[data-lightbox-dialog]').contains(document.activeElement)"), key

    # Zoom: the button, then a double click (double tap on the phone) zooms back out.
    zoom = dialog.locator("[data-lightbox-zoom]")
    zoom.click()
    expect(zoom).to_have_attribute("aria-pressed", "true")
    expect(zoom).to_have_text(text["zoom_out"])
    stage = dialog.locator("[data-lightbox-stage]").bounding_box()
    cx, cy = stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2
    if viewport == "phone":
        for _ in range(2):
            pointer(page, "pointerdown", cx, cy)
            pointer(page, "pointerup", cx, cy)
    else:
        big.dblclick()
    expect(zoom).to_have_attribute("aria-pressed", "false")
    expect(zoom).to_have_text(text["zoom_in"])

    # Escape closes and focus goes back to the thumbnail of the picture shown.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator(f'.image-grid a[href="{photo.file.url}"]')).to_be_focused()

    # Keyboard only: Enter on a thumbnail opens it.
    links.nth(1).focus()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    expect(counter).to_have_text(text["counter"].format(n=2, total=total))

    # A swipe to the left shows the next picture; a pinch zooms.
    if viewport == "phone":
        pointer(page, "pointerdown", cx + 100, cy)
        pointer(page, "pointermove", cx - 20, cy)
        pointer(page, "pointerup", cx - 100, cy)
        expect(counter).to_have_text(text["counter"].format(n=3, total=total))
        pointer(page, "pointerdown", cx - 20, cy, 1)
        pointer(page, "pointerdown", cx + 20, cy, 2)
        pointer(page, "pointermove", cx - 80, cy, 1)
        pointer(page, "pointermove", cx + 80, cy, 2)
        pointer(page, "pointerup", cx - 80, cy, 1)
        pointer(page, "pointerup", cx + 80, cy, 2)
        expect(zoom).to_have_attribute("aria-pressed", "true")
        assert "scale(4)" in big.evaluate("i => i.style.transform")
    else:
        page.mouse.move(cx + 100, cy)
        page.mouse.down()
        page.mouse.move(cx, cy, steps=4)
        page.mouse.move(cx - 100, cy, steps=4)
        page.mouse.up()
        expect(counter).to_have_text(text["counter"].format(n=3, total=total))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(links.nth(2)).to_be_focused()

    # Related motifs: cards of other published motifs.
    related = page.locator(".related .card")
    expect(related).to_have_count(4)
    expect(page.locator(".related").get_by_role("link", name=re.compile("^Merak"))).to_have_count(0)

    # The gallery: demo badges on the cards, the filter box folded away on a phone.
    page.goto("/gallery/")
    assert_every_image_loads(page)
    expect(page.locator(".card .badge-demo").first).to_have_text(text["demo"])
    box = page.locator("details.filters-box")
    search = page.locator("form.filters input[name=q]")
    if viewport == "phone":
        expect(box).not_to_have_attribute("open", "")
        expect(search).to_be_hidden()
        box.locator("summary").tap()
        expect(search).to_be_visible()
    else:
        expect(box).to_have_attribute("open", "")
        expect(search).to_be_visible()
    expect(box.locator("summary")).to_have_text(text["filters"])
    page.screenshot(path=str(SCREENSHOTS / f"gallery-{viewport}-{language}.png"))
    assert_no_axe_violations(page)

    # The history page: its picture, its sources, motif names as links.
    page.goto("/history/")
    assert_every_image_loads(page)
    expect(page.get_by_role("heading", name=text["sources"], exact=True)).to_be_visible()
    expect(page.locator(".sources a")).to_have_attribute("href", "https://example.org/cual")
    mention = page.locator("a.motif-mention", has_text=re.compile("^(merak|peacock)$", re.I)).first
    expect(mention).to_have_attribute("href", "/gallery/merak/")
    page.screenshot(path=str(SCREENSHOTS / f"history-{viewport}-{language}.png"), full_page=True)
    assert_no_axe_violations(page)
    page.goto("/about/")
    assert_no_axe_violations(page)
    context.close()


def test_lightbox_is_not_needed_to_see_an_image(browser, live_server, archive):
    merak, photo = archive
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.goto(merak.get_absolute_url())
    page.locator(f'a[href="{photo.file.url}"]').click()
    assert page.url.endswith(photo.file.url)
    page.goto("/gallery/")
    expect(page.locator("form.filters input[name=q]")).to_be_visible()  # open without JavaScript
    context.close()


@pytest.mark.parametrize("viewport", [{"width": 390, "height": 844}, {"width": 800, "height": 900}, {"width": 1200, "height": 900}])
def test_card_grids_have_no_half_empty_rows(browser, live_server, demo_images, viewport):
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    page = context.new_page()
    for path in ("/", "/gallery/"):
        page.goto(path)
        tops = page.locator(".cards > .card").evaluate_all("cards => cards.map(c => Math.round(c.getBoundingClientRect().top))")
        columns = tops.count(tops[0])
        assert columns >= 2 and len(tops) % columns == 0, (path, viewport, len(tops), columns)
    context.close()


@pytest.mark.skipif(not taking_tour_shots(), reason="set CUALIFY_TOUR_SCREENSHOTS=1 to remake docs/tour/")
def test_tour_screenshots_of_the_motif_page(browser, live_server, settings):
    call_command("make_demo_dataset", count=4, size=256, no_progress=True, verbosity=0)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1200, "height": 1000})
    context.add_cookies([{"name": "cualify_language", "value": "en", "url": live_server.url}])
    page = context.new_page()
    page.goto("/gallery/merak/")
    for img in page.locator("img[src]").all():
        img.scroll_into_view_if_needed()
        expect(img).to_have_js_property("complete", True)
    page.evaluate("window.scrollTo(0, 0)")
    save_tour_png(page.screenshot(), "motif-page", colors=64, dither=False)
    page.set_viewport_size({"width": 1000, "height": 750})
    page.locator(".image-grid a[data-lightbox-item]").first.click()
    expect(page.locator("[data-lightbox-image]")).to_have_js_property("complete", True)
    save_tour_png(page.screenshot(), "motif-lightbox", colors=64, dither=False)
    context.close()
    for name in ("motif-page.png", "motif-lightbox.png"):
        assert (TOUR / name).stat().st_size < 200_000
