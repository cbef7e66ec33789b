"""What a new user sees in the pages: highlighted snippets, user-facing metadata, quiet polling, deduped Q&A."""

from __future__ import annotations

import json
import re
import time

from test_search_support import seed_file
from tests.conftest import auth
from tests.test_console_pages import console  # noqa: F401 - the signed-in console client fixture

TERMS = "The <b>payment terms</b> are net 30 days from the invoice date. Late fees apply after that."


def test_search_snippets_are_highlighted_and_escaped_in_console_and_portal(console, services):
    seed_file(services, "terms.md", TERMS, with_embeddings=False)
    api = console.post("/v1/search", json={"query": "payment", "mode": "text"}, headers=auth()).json()
    assert "«payment»" in api["results"][0]["snippet"]  # the API's own markers are unchanged
    token = console.post("/v1/portal/tokens", json={"space": "default"}, headers=auth()).json()["token"]
    pages = {
        "console": console.get("/console/search", params={"q": "payment", "mode": "text"}).text,
        "portal": console.get(f"/portal/{token}", params={"q": "payment"}).text,
    }
    for name, page in pages.items():
        snippet = re.search(r'<p class="snippet">(.*?)</p>', page, re.S)
        assert snippet, name
        assert "<mark>payment</mark>" in snippet.group(1), (name, snippet.group(1))
        assert "«" not in snippet.group(1) and "»" not in snippet.group(1)
        assert "&lt;b&gt;" in snippet.group(1) and "<b>" not in snippet.group(1)  # document text stays escaped


def _processed(client, name: str, body: bytes) -> dict:
    up = client.post("/v1/upload", files={"file": (name, body, "text/markdown")}, headers=auth())
    assert up.status_code == 201, up.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{up.json()['job_id']}", headers=auth()).json()
        if job["status"] in ("completed", "failed"):
            break
        time.sleep(0.1)
    assert job["status"] == "completed", job
    return up.json()


def test_metadata_in_milliseconds_and_portal_shows_only_user_facing_values(console):
    file = _processed(console, "notes.md", b"# Notes\n\nSome words to count in this small document.\n")
    variant = console.get(f"/v1/files/{file['id']}/variants/metadata", headers=auth())
    meta = json.loads(variant.json()["content"]) if "content" in variant.json() else variant.json()
    assert "timings" not in meta  # no second copy of the stages in seconds
    timings = meta["timings_ms"]
    assert "extract_ms" in timings and len(timings) > 1  # the provider's stages come along, converted
    provider_stages = {k: v for k, v in timings.items() if not k.endswith("_ms")}
    assert provider_stages and all(isinstance(v, (int, float)) and v >= 0 for v in provider_stages.values())
    # Same unit as extract_ms, which contains them: in seconds they would be ~1000x smaller.
    assert sum(provider_stages.values()) * 50 >= timings["extract_ms"], timings
    token = console.post("/v1/portal/tokens", json={"space": "default"}, headers=auth()).json()["token"]
    portal_page = console.get(f"/portal/{token}/files/{file['id']}").text
    facts = re.search(r'<dl>(.*?)</dl>', portal_page, re.S).group(1)
    for internal in ("pages_billed", "engine", "timings", "provider", "sha256"):
        assert internal not in facts
    assert "Word count" in facts
    assert not re.search(r">(True|False|None)<", facts)
    console_page = console.get(f"/console/files/{file['id']}").text
    kv = re.search(r'<dl class="kv">(.*?)</dl>', console_page, re.S).group(1)
    assert "pages_billed" in kv and "<dt>engine</dt>" in kv and "&#34;extract_ms&#34;" in kv  # everything, as JSON
    assert not re.search(r">(True|False|None)<", kv)


def test_metadata_values_render_json_style():
    from roset_local.portal.render import metadata_rows

    meta = {"has_audio": True, "has_video": False, "title": None, "word_count": 3, "engine": {"library": "x"},
            "pages_billed": 1}
    assert metadata_rows(meta, public=True) == [("Word count", "3"), ("Has audio", "true"), ("Has video", "false")]
    full = dict(metadata_rows(meta, public=False))
    assert full["has_audio"] == "true" and full["title"] == "null" and full["engine"] == '{"library": "x"}'


def test_console_status_polling_stays_out_of_the_api_log(console, services):
    file = console.post("/v1/upload", files={"file": ("a.txt", b"hello", "text/plain")},
                        data={"skip_processing": "true"}, headers=auth()).json()
    for _ in range(3):
        assert console.get("/console/api/files/status", params={"ids": file["id"]}).status_code == 200
        assert console.get("/console/jobs", params={"partial": "1"}).status_code == 200
    assert console.get("/console/jobs").status_code == 200  # a page view is still logged
    services.log_writer.flush(5)
    paths = [row["path"] for row in console.get("/v1/api-logs", params={"limit": 100}, headers=auth()).json()["logs"]]
    assert "/console/api/files/status" not in paths
    assert paths.count("/console/jobs") == 1


def test_extractive_answer_quotes_a_repeated_sentence_once(client, services):
    seed_file(services, "contract.md", TERMS)
    seed_file(services, "contract-copy.md", TERMS)
    body = client.post("/v1/qa", json={"question": "What are the payment terms?"}).json()
    assert body["answer"].count("are net 30 days from the invoice date") == 1, body["answer"]
    assert "[2]" not in body["answer"]
