"""Live sync against running servers: a watched ``local`` folder, S3 event notifications, the reconciliation."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import httpx

from tests.storage.targets import make_target
from tests.test_connections import all_nodes, payload, wait_file, wait_for
from tests.test_console_roles import ADMIN_PASSWORD, Console

SUNDIAL = b"The quartz sundial in the orchard casts a violet shadow at noon.\n"
SUNDIAL_V2 = b"The brass astrolabe on the mantel points toward the northern glacier.\n"
DEADLINE = 60  # generous: the goal is seconds, the machine is shared


def _search_ids(http: httpx.Client, query: str) -> set[str]:
    body = http.post("/v1/search", json={"query": query, "mode": "text"}).json()
    assert "results" in body, body
    return {r["file_id"] for r in body["results"]}


def _history(http: httpx.Client, cid: str) -> list[dict[str, Any]]:
    return http.get(f"/v1/connections/{cid}/sync/history").json()["syncs"]


def _counts(sync: dict[str, Any]) -> tuple[int, int, int]:
    return sync["files_added"], sync["files_updated"], sync["files_deleted"]


def _file_of(http: httpx.Client, cid: str, path: str) -> str | None:
    node = next((n for n in all_nodes(http, connection_id=cid, type="file") if n["path"] == path), None)
    return node["file_id"] if node else None


def test_a_watched_folder_follows_its_files_without_a_sync_call(make_live_server, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "watched").mkdir(parents=True)
    server = make_live_server(ROSET_LOCAL_ROOTS=str(root), ROSET_LIVE_SYNC="1", ROSET_ADMIN_PASSWORD=ADMIN_PASSWORD)
    folder = root / "watched"
    with server.client() as http:
        r = http.post("/v1/connections/verify", json={"provider": "local", "name": "Watched", "bucket": "watched",
                                                       "process_new_files": True})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        assert "event_secret" not in r.json()  # a directory is watched, it sends no events
        assert r.json()["sync_interval_minutes"] == 60 and r.json()["next_sync_at"]

        # A file written in several bursts (as an editor or a copy does) is picked up once, when it settles.
        with open(folder / "notes.txt", "wb") as handle:
            for part in (SUNDIAL[:20], SUNDIAL[20:40], SUNDIAL[40:]):
                handle.write(part)
                handle.flush()
                time.sleep(0.3)
        file_id = wait_for(lambda: _file_of(http, cid, "notes.txt"), timeout=DEADLINE, interval=0.2)
        assert wait_file(http, file_id)["status"] == "completed"
        assert wait_for(lambda: file_id in _search_ids(http, "quartz sundial orchard"), timeout=DEADLINE)
        watched = [s for s in _history(http, cid) if s["trigger"] == "watch"]
        assert [_counts(s) for s in watched] == [(1, 0, 0)], watched  # one run: created, never "changed"

        # A change re-processes the file: new content searchable, old gone.
        (folder / "notes.txt").write_bytes(SUNDIAL_V2)
        assert wait_for(lambda: file_id in _search_ids(http, "brass astrolabe glacier"), timeout=DEADLINE,
                        interval=0.2)
        assert wait_for(lambda: file_id not in _search_ids(http, "quartz sundial orchard"), timeout=DEADLINE)

        # A folder appears with a file inside, then the first file is removed.
        (folder / "sub").mkdir()
        (folder / "sub" / "more.txt").write_bytes(b"Another page about lanterns.\n")
        (folder / "notes.txt").unlink()
        assert wait_for(lambda: http.get(f"/v1/files/{file_id}").status_code == 404, timeout=DEADLINE, interval=0.2)
        assert wait_for(lambda: not _search_ids(http, "brass astrolabe glacier"), timeout=DEADLINE)
        paths = wait_for(lambda: {n["path"] for n in all_nodes(http, connection_id=cid)} == {"sub/", "sub/more.txt"},
                         timeout=DEADLINE, interval=0.2)
        assert paths
        watched = [s for s in _history(http, cid) if s["trigger"] == "watch"]
        assert all(s["status"] == "completed" for s in watched)
        added, updated, deleted = (sum(c) for c in zip(*(_counts(s) for s in watched)))
        assert (added, updated, deleted) == (2, 1, 1), watched

        console = Console(server)  # the connection page shows how changes arrive and each run's counts
        assert console.sign_in("admin", ADMIN_PASSWORD).status_code == 303
        page = console.get(f"/console/connections/{cid}").text
        assert "folder watched" in page and "full sync every 60 min" in page
        rows = re.findall(r'data-label="Trigger">watch</td>.*?data-label="Added">(\d+)</td>'
                          r'.*?data-label="Updated">(\d+)</td>.*?data-label="Deleted">(\d+)</td>', page, re.S)
        assert sorted(rows) == sorted(tuple(str(n) for n in _counts(s)) for s in watched), rows

        # The directory vanishes: nothing is deleted. It comes back with a new file: it is listed again.
        os.rename(folder, root / "away")
        time.sleep(3)  # the watcher sees the directory gone (no deadline: nothing must happen)
        assert {n["path"] for n in all_nodes(http, connection_id=cid)} == {"sub/", "sub/more.txt"}
        (root / "away" / "back.txt").write_bytes(b"Back again.\n")
        os.rename(root / "away", folder)
        assert wait_for(lambda: _file_of(http, cid, "back.txt"), timeout=DEADLINE, interval=0.2)
        assert {n["path"] for n in all_nodes(http, connection_id=cid, type="file")} == {"sub/more.txt", "back.txt"}
        assert all(s["status"] == "completed" for s in _history(http, cid))


def _event(kind: str, bucket: str, key: str, size: int = 0) -> dict[str, Any]:
    """One record as MinIO sends it (AWS writes ``ObjectCreated:Put`` without the ``s3:``)."""
    return {"eventVersion": "2.0", "eventSource": "minio:s3", "eventName": f"s3:{kind}",
            "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": size, "eTag": "abc"}}}


def test_s3_event_notifications_apply_at_once(make_live_server, request, tmp_path: Path) -> None:
    target = make_target("minio", request, tmp_path)
    bucket = target.spec.bucket
    server = make_live_server()
    with server.client() as http:
        r = http.post("/v1/connections/verify", json=payload(target, prefix="inbox/", process_new_files=True))
        assert r.status_code == 201, r.text
        cid, secret = r.json()["id"], r.json()["event_secret"]
        assert secret.startswith("rsevt_") and "event_secret" not in http.get(f"/v1/connections/{cid}").json()
        url = f"{server.url}/v1/connections/{cid}/events"

        def post(records: list[dict[str, Any]], token: str | None = secret) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return httpx.post(url, json={"EventName": "s3:ObjectCreated:Put", "Records": records}, headers=headers,
                              timeout=30)

        target.put("inbox/field notes.txt", SUNDIAL)
        created = [_event("ObjectCreated:Put", bucket, "inbox/field+notes.txt", len(SUNDIAL))]
        for token in (None, "rsevt_wrong", secret + "x"):
            denied = post(created, token)
            assert denied.status_code == 401, denied.text
            assert denied.json()["code"] == "UNAUTHORIZED" and denied.json()["requestId"]
        assert httpx.post(f"{server.url}/v1/connections/conn-unknown/events", json={"Records": []},
                          headers={"Authorization": f"Bearer {secret}"}).status_code == 401
        assert _history(http, cid) == []  # nothing was applied

        r = post(created + [_event("ObjectCreated:Put", "another-bucket", "inbox/x.txt"),
                            _event("ObjectCreated:Put", bucket, "outside/x.txt"),
                            _event("ObjectAccessed:Get", bucket, "inbox/field+notes.txt")])
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["received"], body["accepted"], body["ignored"]) == (4, 1, 3)
        assert (body["status"], _counts(body)) == ("completed", (1, 0, 0)) and body["sync_id"]
        file_id = _file_of(http, cid, "inbox/field notes.txt")  # at once: no sync call, no waiting
        assert file_id
        assert wait_file(http, file_id)["status"] == "completed"
        assert file_id in _search_ids(http, "quartz sundial orchard")

        again = post(created).json()  # a duplicate delivery changes nothing and leaves no history row
        assert (again["status"], _counts(again), again["sync_id"]) == ("completed", (0, 0, 0), None)
        assert [(s["trigger"], _counts(s)) for s in _history(http, cid)] == [("event", (1, 0, 0))]

        target.delete("inbox/field notes.txt")
        gone = post([_event("ObjectRemoved:Delete", bucket, "inbox/field+notes.txt")])
        assert gone.status_code == 200 and _counts(gone.json()) == (0, 0, 1)
        assert http.get(f"/v1/files/{file_id}").status_code == 404
        assert file_id not in _search_ids(http, "quartz sundial orchard")
        assert [_counts(s) for s in _history(http, cid)] == [(0, 0, 1), (1, 0, 0)]

        bad = httpx.post(url, content=b"not json", headers={"Authorization": f"Bearer {secret}"})
        assert bad.status_code == 400 and bad.json()["code"] == "BAD_REQUEST"

        rotated = http.post(f"/v1/connections/{cid}/rotate-event-secret")
        assert rotated.status_code == 200 and rotated.json()["event_secret"] != secret
        assert post([]).status_code == 401  # the old secret stopped working
        assert post([], rotated.json()["event_secret"]).status_code == 200


def test_the_interval_reconciliation_catches_what_nothing_announced(make_live_server, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "quiet").mkdir(parents=True)
    # No watcher; a schedule "minute" of 0.2 s: the 5-minute interval is a 1 s reconciliation.
    server = make_live_server(ROSET_LOCAL_ROOTS=str(root), ROSET_LIVE_SYNC="0", ROSET_SYNC_MINUTE_SECONDS="0.2")
    with server.client() as http:
        assert http.post("/v1/connections", json={"provider": "local", "name": "Q", "bucket": "quiet",
                                                  "sync_interval_minutes": 1}).status_code == 400
        cid = http.post("/v1/connections/verify", json={"provider": "local", "name": "Q", "bucket": "quiet",
                                                        "sync_interval_minutes": 5}).json()["id"]
        (root / "quiet" / "a.txt").write_bytes(b"a\n")

        def reconciled() -> list[dict[str, Any]]:
            return [s for s in _history(http, cid) if s["trigger"] == "scheduled" and s["status"] == "completed"
                    and s["files_added"] == 1]

        assert wait_for(reconciled, timeout=DEADLINE, interval=0.2)
        assert _file_of(http, cid, "a.txt") is None  # listed, not processed (process_new_files is off)
        assert {n["path"] for n in all_nodes(http, connection_id=cid)} == {"a.txt"}
        (root / "quiet" / "a.txt").unlink()
        assert wait_for(lambda: [s for s in _history(http, cid) if s["trigger"] == "scheduled"
                                 and s["files_deleted"] == 1], timeout=DEADLINE, interval=0.2)
        assert all_nodes(http, connection_id=cid) == []
