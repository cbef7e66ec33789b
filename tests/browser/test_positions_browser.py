"""A search hit opened in the console shows its page with the cited region marked over the right words."""

from __future__ import annotations

import json
import time

import pytest

from tests.positions_docs import PAGE_H, PAGE_W, make_pdf

pytestmark = pytest.mark.browser

PASSWORD = "positions-browser-password"


def test_a_search_result_opens_its_page_with_the_region_highlighted(chromium, make_live_server, shot, tmp_path):
    server = make_live_server(ROSET_ADMIN_PASSWORD=PASSWORD)
    doc = make_pdf(tmp_path / "maintenance.pdf")
    with server.client() as http:
        r = http.post("/v1/upload", files={"file": ("maintenance.pdf", doc.path.read_bytes(), "application/pdf")},
                      data={"chunking": json.dumps({"chunk_size": 200, "chunk_overlap": 0})})
        file_id = r.json()["id"]
        deadline = time.monotonic() + 120
        while http.get(f"/v1/files/{file_id}").json()["status"] != "completed" and time.monotonic() < deadline:
            time.sleep(0.2)
        hit = http.post("/v1/search", json={"query": "zirconium bearings", "mode": "text"}).json()["results"][0]
    assert hit["page"] == 2 and hit["bbox"]

    page = chromium.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.goto(server.url + "/console/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/console")
    page.goto(server.url + "/console/search?mode=text&q=zirconium+bearings")
    page.locator("ol.results li a").first.click()
    page.wait_for_url(f"**/console/files/{file_id}?page=2**")
    image = page.locator(".pageview img")
    image.wait_for()
    page.wait_for_function("() => { const i = document.querySelector('.pageview img'); "
                           "return i && i.complete && i.naturalWidth > 0; }")
    page.locator("#page-view").scroll_into_view_if_needed()
    mark = page.locator(".pageview rect.highlight")
    assert mark.is_visible()
    assert page.get_by_role("heading", name="Page 2 of 3").is_visible()
    img, box = image.bounding_box(), mark.bounding_box()
    scale_x, scale_y = img["width"] / PAGE_W, img["height"] / PAGE_H
    # the marked region is where the hit's bbox says, over the rendered page
    assert abs(box["x"] - (img["x"] + hit["bbox"][0] * scale_x)) <= 2
    assert abs(box["y"] - (img["y"] + hit["bbox"][1] * scale_y)) <= 2
    assert abs(box["width"] - (hit["bbox"][2] - hit["bbox"][0]) * scale_x) <= 3
    assert img["x"] - 2 <= box["x"] and box["x"] + box["width"] <= img["x"] + img["width"] + 2  # 2 px: the stroke
    # ... and it covers the word the PDF was generated with
    cx, cy = doc.words["Zirconium"].center
    assert box["x"] <= img["x"] + cx * scale_x <= box["x"] + box["width"]
    assert box["y"] <= img["y"] + cy * scale_y <= box["y"] + box["height"]
    shot(page, "positions-page-view")

    # a box as tight as one word (what a finer layout gives) lands on that word, scaled from points
    word = doc.words["Zirconium"]
    page.goto(server.url + f"/console/files/{file_id}?page=2&bbox={','.join(f'{v:.1f}' for v in word.box)}#page-view")
    page.wait_for_function("() => { const i = document.querySelector('.pageview img'); "
                           "return i && i.complete && i.naturalWidth > 0; }")
    img, box = image.bounding_box(), mark.bounding_box()
    scale = img["width"] / PAGE_W
    assert abs(box["x"] - (img["x"] + word.box[0] * scale)) <= 2 and abs(box["y"] - (img["y"] + word.box[1] * scale)) <= 2
    assert abs(box["width"] - (word.box[2] - word.box[0]) * scale) <= 3
    shot(page, "positions-word-box")

    # a Q&A source opens the page with the quoted sentence marked
    page.goto(server.url + "/console/qa")
    page.get_by_label("Question").fill("How often do the zirconium bearings in the turbine need inspection?")
    page.get_by_role("button", name="Ask").click()
    page.locator("#sources a").first.wait_for(timeout=60_000)
    assert "page 2" in page.locator("#sources li").first.inner_text()
    page.locator("#sources a").first.click()
    page.wait_for_url(f"**/console/files/{file_id}?page=2&bbox=**")
    page.wait_for_function("() => { const i = document.querySelector('.pageview img'); "
                           "return i && i.complete && i.naturalWidth > 0; }")
    img, box = image.bounding_box(), mark.bounding_box()
    cx, cy = doc.words["Zirconium"].center
    assert box["x"] <= img["x"] + cx * scale <= box["x"] + box["width"]
    assert box["y"] <= img["y"] + cy * scale <= box["y"] + box["height"]
    shot(page, "positions-qa-source")

    # the upload drop zone passes the extraction mode chosen
    page.goto(server.url + "/console/files")
    page.get_by_label("Extraction").select_option("fast")
    page.set_input_files("#file-input", str(doc.path))
    page.locator("#uploads li .badge.s-completed").wait_for(timeout=120_000)
    fast_id = page.locator("#uploads li").first.get_attribute("data-file-id")
    with server.client() as http:
        assert http.get(f"/v1/files/{fast_id}/variants/metadata").json()["data"]["extraction"] == "fast"
        assert http.get(f"/v1/files/{fast_id}/variants/structure").status_code == 404
    page.context.close()
