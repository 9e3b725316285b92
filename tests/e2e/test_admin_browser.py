"""A curator in the admin on a 1366 px desktop: a trained version's plots and figures, the
motif form's width, and axe-core on both pages, in Indonesian and English.

``CUALIFY_TOUR_SCREENSHOTS=1`` also writes docs/tour/admin-model-version.png."""
import json

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from inference.models import Correction, ModelVersion
from motifs.models import Motif
from tests.factories import UserFactory
from tests.visitor_records import make_job, make_record

from .checks import assert_every_image_loads, axe_violations, needs_axe
from .tour import tour_shot

pytestmark = pytest.mark.django_db(transaction=True)
DESKTOP = {"width": 1366, "height": 768}
# Violations in the stock Django admin's own markup (Django 5.2), excluded by rule *and* place
# (a piece of the node's selector):
# - "link-in-text-block" on the breadcrumbs: its links differ from the "›" text by colour only;
# - "label" and "empty-table-header" in the one-column tabular alias inline: Django's tabular
#   inlines name their inputs by the column heading only and leave the first heading empty.
# Nothing else is excluded: a violation in our fields, tables, plots or notices fails the test.
STOCK_ADMIN_VIOLATIONS = {("link-in-text-block", ".breadcrumbs"), ("label", "#id_aliases-"),
                          ("empty-table-header", "> .original")}


@pytest.fixture
def trained_version():
    """A real version from train_classifier (a tiny demo archive, one epoch): its plots are the
    command's own PNGs, stored under models/."""
    call_command("make_demo_dataset", count=4, size=96, no_progress=True, verbosity=0)
    call_command("train_classifier", "--epochs", "1", "--imgsz", "64", "--activate", "--verbosity", "0")
    return ModelVersion.objects.get(is_active=True)


@pytest.fixture
def curator_page(browser, live_server):
    UserFactory(username="kurator", curator=True)

    def log_in(language):
        context = browser.new_context(base_url=live_server.url, viewport=DESKTOP, locale="id-ID")
        context.set_default_timeout(15_000)
        context.add_cookies([{"name": "cualify_language", "value": language, "url": live_server.url}])
        page = context.new_page()
        page.goto("/admin/")
        page.locator("#id_username").fill("kurator")
        page.locator("#id_password").fill("batik-cual-2026")
        page.locator("input[type=submit]").click()
        expect(page.locator("#user-tools")).to_contain_text("kurator")
        return page

    return log_in


@needs_axe
@pytest.mark.parametrize("language,per_class,raw", [("id", "Per kelas (bagian uji)", "Kalibrasi mentah (JSON)"),
                                                    ("en", "Per class (test split)", "Raw calibration (JSON)")])
def test_curator_reads_a_trained_version_with_its_plots_figures_and_folded_calibration(
        curator_page, trained_version, language, per_class, raw):
    page = curator_page(language)
    page.goto(f"/admin/inference/modelversion/{trained_version.pk}/change/")
    sources = assert_every_image_loads(page)
    assert sum("/plot/" in src for src in sources) == 2  # confusion matrix and training curves
    expect(page.get_by_role("heading", name=per_class)).to_be_visible()
    rows = page.locator("table.cualify-per-class tbody tr")
    expect(rows).to_have_count(len(trained_version.metrics["per_class"]))
    expect(rows.first.locator("td")).to_have_count(5)
    raw_json = page.locator("details.cualify-raw")
    expect(raw_json.locator("summary")).to_have_text(raw)
    assert raw_json.get_attribute("open") is None
    expect(raw_json.locator("pre")).to_be_hidden()
    raw_json.locator("summary").click()
    expect(raw_json.locator("pre")).to_contain_text('"min_confidence"')
    raw_json.locator("summary").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    # No delete for a curator, and the active version has none anyway.
    expect(page.locator("a.deletelink")).to_have_count(0)
    violations = axe_violations(page, ignore=STOCK_ADMIN_VIOLATIONS)
    assert not violations, json.dumps(violations, indent=1)
    if language == "en":
        page.set_viewport_size({"width": 1366, "height": 1300})
        page.locator("fieldset").nth(1).evaluate("e => e.scrollIntoView({block: 'start'})")  # the evaluation
        tour_shot(page, "admin-model-version", full_page=False)


@needs_axe
@pytest.mark.parametrize("language", ["id", "en"])
def test_the_motif_form_and_the_lists_fit_a_1366_px_screen(curator_page, demo_images, language):
    from inference import registry

    registry.shipped_models_register(kinds=("classifier",))  # a version in its list, and a classifier to know motifs
    page = curator_page(language)
    merak = Motif.objects.get(slug="merak")
    for path in ("/admin/motifs/motif/add/", f"/admin/motifs/motif/{merak.pk}/change/"):
        page.goto(path)
        expect(page.locator("#images-group")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"], path
    assert_every_image_loads(page)
    violations = axe_violations(page, ignore=STOCK_ADMIN_VIOLATIONS)
    assert not violations, json.dumps(violations, indent=1)
    # Rows in every list, thumbnails included.
    record = make_record(consent_training=True)
    correction = Correction.objects.create(record=record, kind=Correction.Kind.MOTIF, motif=merak)
    make_job(images=2)
    # A correction is accepted from its own page (a POST button, no JavaScript needed).
    page.goto(f"/admin/inference/correction/{correction.pk}/change/")
    assert_every_image_loads(page)
    violations = axe_violations(page, ignore=STOCK_ADMIN_VIOLATIONS)
    assert not violations, json.dumps(violations, indent=1)
    page.get_by_role("button", name={"id": "Terima koreksi ini", "en": "Accept this correction"}[language]).click()
    expect(page.locator(".messagelist")).to_contain_text({"id": "Koreksi diterima.", "en": "Correction accepted."}[language])
    correction.refresh_from_db()
    assert correction.status == Correction.Status.ACCEPTED
    for path in ("/admin/motifs/motif/", "/admin/motifs/motifimage/", "/admin/inference/correction/",
                 "/admin/inference/generationjob/", "/admin/inference/classificationrecord/", "/admin/inference/modelversion/"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"], path
        # The results table is not cut inside its own scrolling box either.
        assert page.evaluate("(() => { const r = document.querySelector('#changelist .results');"
                             " return r.scrollWidth <= r.clientWidth; })()"), path
        assert_every_image_loads(page)
