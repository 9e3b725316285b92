"""A visitor runs a fusion job in Chromium against a real qcluster and watches the progress
bar until the result grid appears."""
import re

import pytest
from playwright.sync_api import expect

from inference.tests.test_cluster_integration import run_cluster

from .test_browser import shot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def models_and_a_worker_to_come(transactional_db, tmp_path):
    """The shipped models and a heartbeat that says a worker is coming, so the job is accepted
    and waits, queued, until the test starts the real cluster (a paused worker could hold
    SQLite's write lock)."""
    from inference import registry
    from inference.models import WorkerHeartbeat

    registry.shipped_models_register(kinds=("classifier", "generator"))
    WorkerHeartbeat.objects.create(host="starting", pid=1, models_loaded={"classifier": 0, "generator": 0})
    cluster = run_cluster(tmp_path, ("classifier", "generator"))
    yield cluster
    cluster.close()


def test_visitor_runs_a_fusion_and_watches_the_progress_bar_reach_the_results(browser, live_server, models_and_a_worker_to_come):
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport={"width": 1200, "height": 900})
    context.add_cookies([{"name": "cualify_language", "value": "en", "url": live_server.url}])
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto("/generate/")
    page.get_by_label("Fusion of motifs").check()
    page.get_by_placeholder("Search motifs…").fill("merak")
    expect(page.locator("[data-pick]:visible")).to_have_count(1)
    page.locator("[data-pick]:visible").get_by_role("checkbox").check()
    page.get_by_placeholder("Search motifs…").fill("kepiting")
    page.locator("[data-pick]:visible").get_by_role("checkbox").check()
    page.get_by_placeholder("Search motifs…").fill("")
    page.get_by_label("Weight of Merak").fill("2")
    page.get_by_label("Number of images").fill("8")
    page.get_by_label("Seed", exact=True).fill("21")
    shot(page, "generate-form")
    page.get_by_role("button", name="Generate", exact=True).click()
    expect(page).to_have_url(re.compile(r"/generate/jobs/[0-9a-f-]{36}/$"))
    expect(page.get_by_test_id("job-progress")).to_be_visible()
    expect(page.get_by_test_id("job-progress")).to_contain_text("Queued")
    assert page.get_by_role("progressbar", name="Progress").get_attribute("aria-valuenow") == "0"
    shot(page, "generate-queued")
    next(models_and_a_worker_to_come)  # the real cluster starts; the page polls on by itself
    results = page.get_by_test_id("results")
    expect(results.locator("li")).to_have_count(8, timeout=90_000)
    expect(page.get_by_test_id("job-status")).to_have_text("Succeeded")
    expect(results.get_by_role("link", name="Download PNG").first).to_be_visible()
    shot(page, "generate-results")
    from inference.models import GenerationJob

    job = GenerationJob.objects.get()
    assert sorted(job.motifs, key=lambda m: m["slug"]) == [{"slug": "kepiting", "weight": 1.0}, {"slug": "merak", "weight": 2.0}]
    assert job.seed == 21 and job.status == "succeeded"
    context.close()
