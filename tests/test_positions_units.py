"""Chunk placement and the structure variant from hand-built elements (finer than the per-page fallback)."""

from __future__ import annotations

import json
import re
import time

from roset_local.index.chunking import Chunk
from roset_local.index.indexer import index_file, reembed_file
from roset_local.positions.chunks import place_chunks, position_fields, position_json
from roset_local.positions.structure import (document_elements, elements_from_structure, page_elements,
                                             structure_document)
from roset_local.providers.base import Extraction, Page
from roset_local.structure.model import Box, Element

HEADING = "# Pump room"
PARA1 = "The hydraulic pumps were serviced in March."
PARA2 = "Zirconium bearings need a quarterly inspection."
MARKDOWN = f"{HEADING}\n\n{PARA1}\n\n{PARA2}"


def elements() -> list[Element]:
    h = MARKDOWN.index(HEADING)
    p1 = MARKDOWN.index(PARA1)
    p2 = MARKDOWN.index(PARA2)
    return [
        Element("page_header", "Site report", page=1, box=Box(72, 20, 300, 32)),  # furniture: no span
        Element("heading", "Pump room", page=1, box=Box(72, 72, 200, 92), level=1, span=(h, h + len(HEADING))),
        Element("paragraph", PARA1, page=1, box=Box(72, 100, 500, 130), span=(p1, p1 + len(PARA1))),
        Element("paragraph", PARA2, page=2, box=Box(80, 400, 520, 416), span=(p2, p2 + len(PARA2))),
    ]


SIZES = {1: (612.0, 792.0), 2: (612.0, 792.0)}


def chunk(start: int, end: int) -> Chunk:
    return Chunk(MARKDOWN[start:end], start, end)


def test_a_chunk_is_boxed_by_the_union_of_the_elements_it_covers_on_its_first_page():
    whole_page_one = chunk(0, MARKDOWN.index(PARA1) + len(PARA1))
    across = chunk(MARKDOWN.index("March"), len(MARKDOWN))
    second = chunk(MARKDOWN.index(PARA2) + 10, len(MARKDOWN))
    place_chunks([whole_page_one, across, second], elements(), SIZES)
    assert whole_page_one.page == 1 and whole_page_one.bbox == [72, 72, 500, 130]
    assert across.page == 1 and across.bbox == [72, 100, 500, 130]  # runs onto page 2: boxed on page 1
    assert second.page == 2 and second.bbox == [80, 400, 520, 416]
    assert (second.page_width, second.page_height) == (612.0, 792.0)


def test_a_chunk_without_positioned_elements_keeps_its_page_and_no_box():
    lone = Chunk("x", 0, 1, page=3)
    place_chunks([lone], [Element("paragraph", "x", page=None, box=None, span=(0, 1))], SIZES)
    assert lone.page == 3 and lone.bbox is None and position_json(lone) is None
    assert position_fields(None, 3) == {"page": 3, "bbox": None, "page_width": None, "page_height": None}


def test_stored_position_round_trips_into_result_fields():
    c = chunk(0, 5)
    place_chunks([c], elements(), SIZES)
    assert position_fields(position_json(c), c.page) == {"page": 1, "bbox": [72, 72, 200, 92], "page_width": 612.0,
                                                         "page_height": 792.0}
    assert position_fields("not json", 2)["bbox"] is None


def test_a_quoted_sentence_is_boxed_by_its_own_element_even_on_the_chunks_next_page():
    whole = chunk(0, len(MARKDOWN))
    place_chunks([whole], elements(), SIZES)
    stored = position_json(whole)
    assert position_fields(stored, whole.page)["bbox"] == [72, 72, 500, 130]  # the chunk: page 1 only
    quoted = (MARKDOWN.index("Zirconium"), MARKDOWN.index("quarterly"))
    assert position_fields(stored, whole.page, quoted) == {"page": 2, "bbox": [80, 400, 520, 416],
                                                           "page_width": 612.0, "page_height": 792.0}
    para1 = (MARKDOWN.index("hydraulic"), MARKDOWN.index("March"))
    assert position_fields(stored, whole.page, para1)["bbox"] == [72, 100, 500, 130]


def test_structure_document_keeps_furniture_and_reads_back():
    doc = structure_document(elements(), SIZES)
    assert doc["version"] == 1 and doc["pages"] == [{"number": 1, "width": 612.0, "height": 792.0},
                                                     {"number": 2, "width": 612.0, "height": 792.0}]
    assert [e["type"] for e in doc["elements"]] == ["page_header", "heading", "paragraph", "paragraph"]
    assert "span" not in doc["elements"][0] and doc["elements"][1]["level"] == 1
    back, sizes = elements_from_structure(json.loads(json.dumps(doc)))
    assert sizes == SIZES
    assert [(e.type, e.page, e.box, e.span) for e in back] == [(e.type, e.page, e.box, e.span) for e in elements()]


def test_pages_with_sizes_but_no_layout_get_one_box_per_page():
    pages = [Page(1, "First page text.", False, 600, 800), Page(2, "", False, 600, 800),
             Page(3, "Third page text.", False, 500, 700)]
    markdown = "First page text.\n\nThird page text."
    found = page_elements(markdown, pages, {1: (600, 800), 3: (500, 700)})
    assert [(e.page, e.box.rounded(), markdown[e.span[0]:e.span[1]]) for e in found] == [
        (1, [0, 0, 600, 800], "First page text."), (3, [0, 0, 500, 700], "Third page text.")]


def test_pages_layout_did_not_cover_get_the_fallback_in_page_order():
    ocr_text = "Scanned page words."
    markdown = f"{MARKDOWN}\n\n{ocr_text}"
    extraction = Extraction(markdown=markdown, elements=elements(), pages=[
        Page(1, MARKDOWN, False, 612, 792), Page(2, "", False, 612, 792), Page(3, ocr_text, True, 500, 700)])
    found, _ = document_elements(extraction, "structured")
    assert [e.type for e in found] == ["page_header", "heading", "paragraph", "paragraph", "paragraph"]
    last = found[-1]
    assert last.page == 3 and last.box.rounded() == [0, 0, 500, 700] and markdown[last.span[0]:last.span[1]] == ocr_text


def test_fast_mode_has_no_elements_and_layout_elements_win_over_the_fallback():
    extraction = Extraction(markdown=MARKDOWN, pages=[Page(1, MARKDOWN, False, 612, 792)], elements=elements())
    assert document_elements(extraction, "fast") == ([], {})
    found, sizes = document_elements(extraction, "structured")
    assert found == elements() and sizes == {1: (612.0, 792.0)}
    # metadata's first-page size stands in for a page whose engine gave none (page 2 here)
    extraction.metadata = {"width": 612.0, "height": 792.0, "size_unit": "pt"}
    assert document_elements(extraction, "structured")[1] == SIZES


def test_indexed_chunks_keep_their_boxes_through_search_and_a_reembed(client, services):
    r = client.post("/v1/upload", files={"file": ("pumps.md", MARKDOWN.encode(), "text/markdown")},
                    data={"variants": '["markdown", "searchable-index"]'})
    file_id = r.json()["id"]
    deadline = time.monotonic() + 60
    while client.get(f"/v1/files/{file_id}").json()["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.1)
    common = dict(file_id=file_id, space="default", filename="pumps.md", content_type="text/markdown", metadata={},
                  markdown=MARKDOWN, pages=[], segments=[], chunking={"chunk_size": 100, "chunk_overlap": 0},
                  embedding_model=None, with_embeddings=False, cancelled=lambda: False)
    index_file(services, **common, elements=elements(), page_sizes=SIZES)
    hit = client.post("/v1/search", json={"query": "zirconium", "mode": "text"}).json()["results"][0]
    assert hit["page"] == 2 and hit["bbox"] == [80, 400, 520, 416] and hit["page_width"] == 612.0
    # a re-embed re-chunks from the markdown (org default: one chunk here); the structure variant
    # brings the boxes back
    with services.db.write():
        services.db.insert("variants", {"id": "var_structure_test", "file_id": file_id, "job_id": None,
                                        "type": "structure", "provider": None,
                                        "content": json.dumps(structure_document(elements(), SIZES)),
                                        "blob_key": None, "content_type": "application/json", "size_bytes": 1,
                                        "created_at": "2026-01-01 00:00:00"})
    reembed_file(services, file_id=file_id, embedding_model=None)
    hits = client.post("/v1/search", json={"query": "zirconium", "mode": "text"}).json()["results"]
    assert len(hits) == 1 and hits[0]["page"] == 1 and hits[0]["bbox"] == [72, 72, 500, 130]


def _processed_pdfs(client, tmp_path, spaces: tuple[str, ...], **fields: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The positions test PDF uploaded to each space and processed; space -> file id."""
    from tests.positions_docs import make_pdf

    doc = make_pdf(tmp_path / "m.pdf")
    ids = {}
    for space in spaces:
        r = client.post("/v1/upload", files={"file": ("m.pdf", doc.path.read_bytes(), "application/pdf")},
                        data={"space": space, **fields})
        ids[space] = r.json()["id"]
    deadline = time.monotonic() + 60
    while any(client.get(f"/v1/files/{i}").json()["status"] != "completed" for i in ids.values()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return ids


def _console_session(app, username: str, password: str):  # type: ignore[no-untyped-def]
    from litestar.testing import TestClient

    session = TestClient(app, base_url="http://127.0.0.1:8700")
    session.__enter__()
    token = re.search(r'name="_csrf" value="([^"]+)"', session.get("/console/login").text).group(1)
    r = session.post("/console/login", data={"_csrf": token, "username": username, "password": password},
                     follow_redirects=False)
    assert r.status_code == 303
    return session


def test_console_page_images_follow_the_users_spaces(app, client, services, tmp_path):
    from roset_local.portal import users

    ids = _processed_pdfs(client, tmp_path, ("plant", "office"), variants='["markdown", "metadata"]')
    password = "member-password-123"
    users.create_user(services.db, "mia", password, role="member", spaces=["plant"])
    member = _console_session(app, "mia", password)
    try:
        own = member.get(f"/console/files/{ids['plant']}/pages/2")
        assert own.status_code == 200 and own.headers["content-type"] == "image/png" and own.content[:4] == b"\x89PNG"
        assert member.get(f"/console/files/{ids['office']}/pages/2").status_code == 404
        view = member.get(f"/console/files/{ids['plant']}", params={"page": 2, "bbox": "72,420,450,434"}).text
        assert f'/console/files/{ids["plant"]}/pages/2' in view and 'class="highlight"' in view
        assert 'x="72.0" y="420.0" width="378.0" height="14.0"' in view  # points, in a page-sized viewBox
        odd = member.get(f"/console/files/{ids['plant']}", params={"page": 9, "bbox": "junk"}).text
        assert "Page 3 of 3" in odd and 'class="highlight"' not in odd  # clamped page, bad box ignored
    finally:
        member.__exit__(None, None, None)


def test_the_share_portal_shows_a_hits_page_with_its_region(client, tmp_path):
    ids = _processed_pdfs(client, tmp_path, ("shared", "private"), chunking='{"chunk_size": 200, "chunk_overlap": 0}')
    token = client.post("/v1/portal/tokens", json={"space": "shared"}).json()["token"]
    anon = {"Authorization": ""}
    home = client.get(f"/portal/{token}", params={"q": "zirconium bearings"}, headers=anon).text
    link = re.search(rf'href="(/portal/{token}/files/{ids["shared"]}\?page=2&amp;bbox=[^"]+)"', home)
    assert link, home
    page = client.get(link.group(1).replace("&amp;", "&"), headers=anon)
    assert page.status_code == 200 and "Page 2 of 3" in page.text and 'class="highlight"' in page.text
    image = client.get(f"/portal/{token}/files/{ids['shared']}/pages/2", headers=anon)
    assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
    assert client.get(f"/portal/{token}/files/{ids['private']}/pages/2", headers=anon).status_code == 404
    assert client.get(f"/portal/ptk_wrong/files/{ids['shared']}/pages/2", headers=anon).status_code == 401
