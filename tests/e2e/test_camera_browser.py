"""The classify page says why the camera cannot be used — no camera, permission refused, not a
secure connection — and points to the photo picker, in both languages, on a desktop and on a
phone. Chromium's camera is replaced by init scripts, as a browser without one would behave."""
import pytest
from playwright.sync_api import expect

from .checks import assert_no_axe_violations, needs_axe
from .test_browser import shot
from .tour import tour_shot

pytestmark = pytest.mark.django_db(transaction=True)

NO_MEDIA_DEVICES = "Object.defineProperty(Navigator.prototype, 'mediaDevices', {get: () => undefined});"
NO_VIDEO_INPUT = """
navigator.mediaDevices.enumerateDevices = async () => [{kind: 'audioinput', deviceId: 'a', label: '', groupId: 'g'}];
"""
PERMISSION_DENIED = """
navigator.mediaDevices.enumerateDevices = async () => [{kind: 'videoinput', deviceId: 'v', label: '', groupId: 'g'}];
navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
"""
NOT_SECURE = "Object.defineProperty(window, 'isSecureContext', {get: () => false});"

TEXTS = {
    "en": {"no-camera": "This browser or device has no camera that the page can use.",
           "denied": "Permission to use the camera was refused.",
           "insecure": "The camera only works over a secure connection (HTTPS)",
           "picker": "Choose a photo instead", "camera": "Use the camera", "photo": "Photo of the cloth"},
    "id": {"no-camera": "Peramban atau perangkat ini tidak memiliki kamera yang dapat dipakai halaman ini.",
           "denied": "Izin memakai kamera ditolak.",
           "insecure": "Kamera hanya berfungsi melalui sambungan aman (HTTPS)",
           "picker": "Pilih foto dari perangkat", "camera": "Gunakan kamera", "photo": "Foto kain"},
}
VIEWPORTS = {"desktop": {"width": 1200, "height": 900}, "phone": {"width": 360, "height": 740}}


def open_classify(browser, live_server, language, viewport, script):
    context = browser.new_context(base_url=live_server.url, locale="en-US" if language == "en" else "id-ID",
                                  viewport=VIEWPORTS[viewport])
    context.add_cookies([{"name": "cualify_language", "value": language, "url": live_server.url}])
    context.set_default_timeout(15_000)
    context.add_init_script(script)
    page = context.new_page()
    page.goto("/classify/")
    return context, page


def assert_points_to_the_picker(page, language, reason):
    status = page.locator("[data-camera-status]")
    assert status.get_attribute("aria-live") == "polite"
    message = status.locator(f'[data-camera-reason="{reason}"]')
    expect(message).to_be_visible()
    expect(message).to_contain_text(TEXTS[language][reason])
    expect(page.locator(".field.highlight-picker input[type=file]")).to_have_count(1)
    expect(page.get_by_role("button", name=TEXTS[language]["camera"])).to_be_hidden()
    message.get_by_role("link", name=TEXTS[language]["picker"]).click()
    expect(page.get_by_label(TEXTS[language]["photo"])).to_be_focused()
    if viewport_width(page) <= 360:
        assert page.evaluate("document.documentElement.scrollWidth") <= 360


def viewport_width(page) -> int:
    return page.viewport_size["width"]


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("language", ["id", "en"])
@pytest.mark.parametrize("script", [NO_MEDIA_DEVICES, NO_VIDEO_INPUT], ids=["no-media-devices", "no-video-input"])
def test_without_a_camera_the_page_says_so_and_points_to_the_photo_picker(browser, live_server, language, viewport, script):
    context, page = open_classify(browser, live_server, language, viewport, script)
    assert_points_to_the_picker(page, language, "no-camera")
    if viewport == "phone" and language == "id" and script == NO_MEDIA_DEVICES:
        shot(page, "classify-camera-message-phone")
        tour_shot(page, "classify-camera-message")
    context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("language", ["id", "en"])
def test_a_refused_camera_permission_is_explained_and_focus_moves_to_the_picker(browser, live_server, language, viewport):
    context, page = open_classify(browser, live_server, language, viewport, PERMISSION_DENIED)
    expect(page.locator("[data-camera-status] .message")).to_have_count(0)  # nothing to say before asking
    page.get_by_role("button", name=TEXTS[language]["camera"]).click()
    expect(page.get_by_label(TEXTS[language]["photo"])).to_be_focused()
    assert_points_to_the_picker(page, language, "denied")
    context.close()


@pytest.mark.parametrize("language", ["id", "en"])
def test_outside_a_secure_context_the_page_says_the_camera_needs_https(browser, live_server, language):
    context, page = open_classify(browser, live_server, language, "phone", NOT_SECURE)
    assert_points_to_the_picker(page, language, "insecure")
    context.close()


@needs_axe
@pytest.mark.parametrize("language", ["id", "en"])
def test_the_classify_page_with_a_camera_message_has_no_accessibility_violation(browser, live_server, language):
    context, page = open_classify(browser, live_server, language, "desktop", NO_MEDIA_DEVICES)
    expect(page.locator("[data-camera-status] .message")).to_be_visible()
    assert_no_axe_violations(page)
    context.close()
