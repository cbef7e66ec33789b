"""Many clients doing random things to the same files at once, then every invariant checked (used by
scripts/chaos.py and tests/test_chaos.py)."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import LiveServer
from tests.samplegen import PdfPage, docx_bytes, pdf_bytes

TERMINAL = {"completed", "failed", "cancelled"}


def sample(rng: random.Random, n: int) -> tuple[str, bytes, str, str]:
    """(filename, bytes, content type, marker word) of one small file of a random kind."""
    marker = f"chaos{n}x{rng.randrange(10**6)}"
    words = f"{marker} ledger quarter {n} harbour freight timber orchard"
    kind = rng.randrange(6)
    if kind == 0:
        return f"c{n}.md", f"# Note {n}\n\n{words}.\n\n## More\n\n{words} again.\n".encode(), "text/markdown", marker
    if kind == 1:
        return f"c{n}.txt", f"{words}.\n".encode() * rng.randint(1, 40), "text/plain", marker
    if kind == 2:
        return f"c{n}.csv", f"a,b,c\n{n},{marker},x\n".encode(), "text/csv", marker
    if kind == 3:
        return f"c{n}.html", f"<h1>T{n}</h1><p>{words}</p>".encode(), "text/html", marker
    if kind == 4:
        pages = [PdfPage(lines=[f"Page {p}", words]) for p in range(rng.randint(1, 4))]
        return f"c{n}.pdf", pdf_bytes(pages, title=f"Chaos {n}"), "application/pdf", marker
    return (f"c{n}.docx", docx_bytes(f"Doc {n}", [words], [("k", "v"), (marker, "1")]),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document", marker)


class Chaos:
    def __init__(self, server: LiveServer, seed: int) -> None:
        self.server = server
        self.seed = seed
        self.lock = threading.Lock()
        self.files: dict[str, str] = {}  # live file id -> marker
        self.deleted: dict[str, str] = {}  # deleted file id -> marker
        self.counter = 0
        self.ops: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.violations: list[str] = []
        self.unanswered: set[str] = set()  # files whose delete got no answer (the server died meanwhile)
        self.restarting = threading.Event()  # transport errors are expected while the server is down

    def note(self, what: str, response: httpx.Response) -> httpx.Response:
        with self.lock:
            self.ops[what] += 1
            self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.violations.append(f"{what}: {response.status_code} {response.text[:300]}")
        elif response.status_code >= 400:
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            if not {"error", "code", "requestId"} <= set(body):
                self.violations.append(f"{what}: {response.status_code} without the error shape: {response.text[:200]}")
        return response

    def pick(self, rng: random.Random) -> str | None:
        with self.lock:
            return rng.choice(list(self.files)) if self.files else None

    def client_loop(self, index: int, until: float) -> None:
        rng = random.Random(self.seed * 1000 + index)
        with self.server.client() as http:
            while time.monotonic() < until:
                action = rng.choices(["upload", "delete", "cancel", "process", "retry", "search", "list", "variants"],
                                     weights=[30, 10, 8, 10, 4, 10, 6, 10])[0]
                try:
                    self.act(http, rng, action)
                except httpx.HTTPError as exc:
                    if self.restarting.is_set():
                        time.sleep(0.2)
                    else:
                        self.violations.append(f"{action}: transport error {exc!r}")

    def act(self, http: httpx.Client, rng: random.Random, action: str) -> None:
        if action == "upload":
            with self.lock:
                self.counter += 1
                n = self.counter
            name, data, ctype, marker = sample(rng, n)
            r = self.note(action, http.post("/v1/upload", files={"file": (name, data, ctype)}))
            if r.status_code == 201:
                with self.lock:
                    self.files[r.json()["id"]] = marker
            return
        if action in ("search", "list"):
            if action == "search":
                self.note(action, http.post("/v1/search", json={"query": "ledger harbour", "mode": rng.choice(
                    ["text", "vector", "hybrid"]), "limit": 5}))
            else:
                self.note(action, http.get("/v1/files", params={"limit": 20, "search": "chaos"}))
            return
        file_id = self.pick(rng)
        if file_id is None:
            return
        if action == "delete":
            with self.lock:
                self.unanswered.add(file_id)
            r = self.note(action, http.delete(f"/v1/files/{file_id}"))
            with self.lock:
                self.unanswered.discard(file_id)
            if r.status_code == 200:
                with self.lock:
                    marker = self.files.pop(file_id, None)
                    if marker is not None:
                        self.deleted[file_id] = marker
        elif action == "process":
            self.note(action, http.post(f"/v1/files/{file_id}/process", json={}))
        elif action == "variants":
            self.note(action, http.get(f"/v1/files/{file_id}/variants"))
        else:  # cancel / retry the file's latest job
            jobs = self.note("jobs", http.get("/v1/jobs", params={"file_id": file_id})).json().get("jobs") or []
            if jobs:
                self.note(action, http.post(f"/v1/jobs/{jobs[0]['id']}/{action}"))

    def storm(self, seconds: float, clients: int, *, kill: bool = False) -> None:
        """``clients`` threads at random for ``seconds``; with ``kill``, SIGKILL and restart halfway."""
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=self.client_loop, args=(i, until)) for i in range(clients)]
        for t in threads:
            t.start()
        if kill:
            time.sleep(seconds / 2)
            self.restarting.set()
            self.server.stop(signal.SIGKILL)
            self.server.start(timeout=120)
            time.sleep(2)  # requests already in flight when it died may still fail
            self.restarting.clear()
        for t in threads:
            t.join()

    def check(self, settle: float) -> None:
        """Wait for every job to end, then check every invariant (``violations`` lists what broke)."""
        with self.server.client() as http:
            self.settle(http, settle)
            self.check_api(http)
            self.check_deleted(http)
        self.check_store(self.server.data_dir)

    def log_errors(self) -> list[str]:
        return [line for line in self.server.logs().splitlines() if " ERROR " in line or "Traceback" in line]

    # -- after the storm ---------------------------------------------------------------------------
    def settle(self, http: httpx.Client, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = [j for j in self.all_jobs(http) if j["status"] not in TERMINAL]
            if not busy:
                return
            time.sleep(0.5)
        self.violations.append(f"{len(busy)} jobs still not ended after {timeout:.0f} s: {busy[:3]}")

    @staticmethod
    def all_jobs(http: httpx.Client) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = http.get("/v1/jobs", params={"limit": 100, **({"cursor": cursor} if cursor else {})}).json()
            jobs += page["jobs"]
            cursor = page.get("next_cursor")
            if not cursor:
                return jobs

    def check_api(self, http: httpx.Client) -> None:
        for file_id in list(self.files):
            r = http.get(f"/v1/files/{file_id}")
            if r.status_code == 404 and file_id in self.unanswered:  # deleted; the answer was lost
                self.deleted[file_id] = self.files.pop(file_id)
                continue
            if r.status_code != 200:
                self.violations.append(f"file {file_id} (upload answered 201) now answers {r.status_code}")
                continue
            file = r.json()
            jobs = http.get("/v1/jobs", params={"file_id": file_id}).json()["jobs"]
            latest = jobs[0]["status"] if jobs else None
            variants = http.get(f"/v1/files/{file_id}/variants").json()["variants"]
            # a cancelled job leaves the file as its last result left it (no result yet: uploaded)
            expected = {"cancelled": "completed" if variants else "uploaded"}.get(latest or "", latest)
            if latest and file["status"] != expected:
                self.violations.append(f"file {file_id} is {file['status']} but its latest job is {latest}")
            if file["status"] != "completed":
                continue
            for v in variants:
                r = http.get(f"/v1/files/{file_id}/variants/{v['type']}")
                if r.status_code != 200:
                    self.violations.append(f"file {file_id} variant {v['type']} answers {r.status_code}")

    def check_deleted(self, http: httpx.Client) -> None:
        for file_id, marker in self.deleted.items():
            if (r := http.get(f"/v1/files/{file_id}")).status_code != 404:
                self.violations.append(f"deleted file {file_id} answers {r.status_code}")
            hits = http.post("/v1/search", json={"query": marker, "mode": "text", "limit": 5}).json()["results"]
            if any(h["file_id"] == file_id for h in hits):
                self.violations.append(f"deleted file {file_id} still found by search")

    def check_store(self, data_dir: Path) -> None:
        from roset_local.store.db import open_database

        db = open_database(data_dir / "roset.db")
        try:
            gone = list(self.deleted)
            for table in ("jobs", "variants", "chunks"):
                left = db.value(f"SELECT count(*) FROM {table} WHERE file_id IN (SELECT value FROM json_each(:ids))",
                                {"ids": json.dumps(gone)})
                if left:
                    self.violations.append(f"{left} {table} rows of deleted files remain")
            orphans = db.value("SELECT count(*) FROM chunks WHERE file_id NOT IN (SELECT id FROM files)")
            if orphans:
                self.violations.append(f"{orphans} chunks without a file")
            fts = db.value("SELECT count(*) FROM chunks_fts")
            chunks = db.value("SELECT count(*) FROM chunks")
            if fts != chunks:
                self.violations.append(f"FTS has {fts} rows for {chunks} chunks")
            for name in [row["name"] for row in db.all("SELECT name FROM vector_tables")]:
                missing = db.value(f"SELECT count(*) FROM chunks WHERE vector_table = :n AND id NOT IN "
                                   f"(SELECT rowid FROM {name})", {"n": name})
                extra = db.value(f"SELECT count(*) FROM {name} WHERE rowid NOT IN (SELECT id FROM chunks)")
                if missing or extra:
                    self.violations.append(f"{name}: {missing} chunks without a vector, {extra} vectors without a chunk")
            live = {row["id"] for row in db.all("SELECT id FROM files")}
        finally:
            db.close()
        blobs = data_dir / "blobs"
        for path in blobs.rglob("*") if blobs.exists() else ():
            if path.is_file() and not any(part in live for part in path.relative_to(blobs).parts):
                self.violations.append(f"blob of no file: {path.relative_to(blobs)}")
