"""Checks the browser tests share: axe-core on a page, and every image of a page loading."""
import json
import os
from pathlib import Path

import pytest

AXE = Path(os.environ.get("CUALIFY_AXE_JS", str(Path.home() / ".cache/cualify/node/node_modules/axe-core/axe.min.js")))
needs_axe = pytest.mark.skipif(not AXE.exists(), reason="axe-core is installed from npm by scripts/setup.sh")


def axe_violations(page, *, impacts=None, ignore=()) -> list[dict]:
    """axe-core's violations on ``page`` (only those of ``impacts`` when given), leaving out the
    nodes matched by ``ignore``: (rule id, a piece of the node's selector) pairs."""
    page.evaluate(AXE.read_text())  # not add_script_tag: the site's CSP refuses inline scripts
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    found = []
    for violation in result["violations"]:
        if impacts and violation["impact"] not in impacts:
            continue
        nodes = [node["target"] for node in violation["nodes"]
                 if not any(violation["id"] == rule and place in str(node["target"][0]) for rule, place in ignore)]
        if nodes:
            found.append({"id": violation["id"], "impact": violation["impact"], "nodes": nodes[:3]})
    return found


def assert_no_axe_violations(page, **options) -> None:
    violations = axe_violations(page, **options)
    assert not violations, json.dumps(violations, indent=1)


def assert_every_image_loads(page) -> list[str]:
    """Each <img> with a source: fetched again with the page's cookies (HTTP 200) and decoded,
    lazy ones below the fold included. Returns their addresses."""
    page.wait_for_load_state("load")
    page.eval_on_selector_all("img[loading=lazy]", "els => els.forEach(e => { e.loading = 'eager'; })")
    page.wait_for_function("() => [...document.images].every(e => e.complete)")
    images = page.eval_on_selector_all(
        "img[src]", "els => els.map(e => [e.currentSrc || e.src, e.complete && e.naturalWidth > 0])")
    assert images
    for src, decoded in images:
        assert page.request.get(src).status == 200, src
        assert decoded, f"{src} did not decode"
    return [src for src, _ in images]
