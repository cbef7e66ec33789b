"""Staged indexing: a file answers text search before its embeddings exist; stages run in order; a
kill -9 between stages loses nothing and leaves no duplicate chunks."""

from __future__ import annotations

import time
from typing import Any

from roset_local.pipeline.process import STAGES

PARAGRAPHS = [
    f"## Section {i}\n\nThe quarzelline ledger for region {i} lists shipments of copper wire, timber and "
    f"grain. Inspectors counted {i * 7} crates, weighed every sack twice, checked the seals on the "
    f"wagons, recorded the names of the drivers and noted the weather as fair and the roads as dry." for i in range(40)
]
DOC = ("# Quarzelline report\n\n" + "\n\n".join(PARAGRAPHS)).encode()
WORD = "quarzelline"


def upload_held(http: Any) -> dict[str, Any]:
    """Upload with the default variants; the job parks before its embedding stage."""
    resp = http.post("/v1/upload", files={"file": ("report.md", DOC, "text/markdown")},
                     data={"_test_fault": "hold-embedding"})
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def watch_stages(http: Any, job_id: str, until: Any, timeout: float = 90) -> tuple[list[str], dict[str, Any]]:
    """Poll the job, recording each stage the first time it is seen, until ``until(job)`` holds."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1/jobs/{job_id}").json()
        if not seen or seen[-1] != job["stage"]:
            seen.append(job["stage"])
        if until(job):
            return seen, job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never got there; stages seen: {seen}")


def file_hits(http: Any, file_id: str, mode: str) -> list[dict[str, Any]]:
    body = http.post("/v1/search", json={"query": WORD, "mode": mode, "limit": 100}).json()
    return [r for r in body["results"] if r["file_id"] == file_id]


def test_text_search_answers_before_embeddings_and_stages_run_in_order(make_live_server):
    server = make_live_server(ROSET_TEST_FAULTS="1")
    with server.client() as http:
        up = upload_held(http)
        seen, job = watch_stages(http, up["job_id"], lambda j: j["stage"] == "embedding")
        assert job["status"] == "processing" and 65 <= job["progress"] < 95
        assert http.get(f"/v1/files/{up['id']}").json()["status"] == "processing"
        # text search, the file list's content search and hybrid all find it; no vectors exist yet
        text = file_hits(http, up["id"], "text")
        assert text and all(WORD in r["chunk_text"].lower() for r in text)
        listed = http.get("/v1/files", params={"search": WORD}).json()
        assert [f["id"] for f in listed["files"]] == [up["id"]]
        assert file_hits(http, up["id"], "hybrid")
        assert file_hits(http, up["id"], "vector") == []
        (server.data_dir / "release-embedding").touch()
        more, job = watch_stages(http, up["job_id"], lambda j: j["status"] in ("completed", "failed"))
        assert job["status"] == "completed", job
        stages = seen + [s for s in more if s != seen[-1]]
        known = [s for s in stages if s in STAGES]
        assert known == sorted(known, key=STAGES.index), stages  # never goes backwards
        assert {"embedding", "completed"} <= set(known)
        assert http.get(f"/v1/files/{up['id']}").json()["status"] == "completed"
        assert file_hits(http, up["id"], "vector")
        assert len(file_hits(http, up["id"], "text")) == len(text)


def test_kill_9_between_stages_recovers_without_duplicate_chunks(make_live_server):
    server = make_live_server(ROSET_TEST_FAULTS="1")
    with server.client() as http:
        up = upload_held(http)
        watch_stages(http, up["job_id"], lambda j: j["stage"] == "embedding")
        before = len(file_hits(http, up["id"], "text"))
        assert before >= 2
    server.kill()
    (server.data_dir / "release-embedding").touch()
    server.start()
    with server.client() as http:
        _, job = watch_stages(http, up["job_id"], lambda j: j["status"] in ("completed", "failed"))
        assert job["status"] == "completed" and job["attempts"] == 2, job
        text = file_hits(http, up["id"], "text")
        assert len(text) == before  # the re-run replaced the chunks, it did not add to them
        assert len({(r["char_start"], r["char_end"]) for r in text}) == len(text)
        assert 0 < len(file_hits(http, up["id"], "vector")) <= before
        assert http.get("/v1/files", params={"search": WORD}).json()["files"][0]["id"] == up["id"]


def test_cancel_after_text_stage_leaves_the_file_unsearchable(make_live_server):
    server = make_live_server(ROSET_TEST_FAULTS="1")
    with server.client() as http:
        up = upload_held(http)
        watch_stages(http, up["job_id"], lambda j: j["stage"] == "embedding")
        assert file_hits(http, up["id"], "text")
        assert http.post(f"/v1/jobs/{up['job_id']}/cancel").json()["status"] == "cancelled"
        deadline = time.monotonic() + 30
        while file_hits(http, up["id"], "text") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert file_hits(http, up["id"], "text") == []
        assert http.get(f"/v1/files/{up['id']}/variants").json()["variants"] == []
