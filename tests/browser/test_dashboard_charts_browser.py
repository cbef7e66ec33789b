"""Dashboard charts in a real browser: axis labels readable at ordinary window sizes."""

from __future__ import annotations

import pytest

from tests.browser.test_console_browser import PASSWORD, sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1280, 800])
def test_chart_labels_are_readable(chromium, make_live_server, shot, width):
    server = make_live_server(ROSET_ADMIN_PASSWORD=PASSWORD)
    with server.client() as http:  # some data, so the bars and the storage line have something to show
        for name in ("a.txt", "b.txt"):
            up = http.post("/v1/upload", files={"file": (name, b"chart data " * 400, "text/plain")},
                           data={"skip_processing": "true"})
            assert up.status_code == 201, up.text
    ctx = chromium.new_context(viewport={"width": width, "height": 900})
    page = ctx.new_page()
    sign_in(page, server.url)
    page.wait_for_url(server.url + "/console")
    page.locator("svg.chart text.tick").first.wait_for()
    shot(page, f"dashboard-charts-{width}")
    # Rendered size of each label: font-size scaled by how much the SVG's viewBox is shrunk or grown.
    sizes = page.eval_on_selector_all(
        "svg.chart text.tick",
        """els => els.map(t => {
             const svg = t.ownerSVGElement;
             const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
             return parseFloat(getComputedStyle(t).fontSize) * scale;
           })""",
    )
    ctx.close()
    assert sizes and min(sizes) >= 11, sizes
    assert max(sizes) <= 16, sizes  # and not shouting on a wide window
