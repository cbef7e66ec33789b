"""Analytics: every figure of every endpoint over a seeded history, bad parameters, confinement, rollups."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from litestar.testing import TestClient

from roset_local.app import create_app
from roset_local.config import Settings
from roset_local.store import analytics as analytics_store
from roset_local.timeutil import utcnow
from tests.conftest import ADMIN_KEY, auth

TODAY = utcnow().date()


def day(offset: int) -> str:
    return (TODAY - timedelta(days=offset)).isoformat()


def at(offset: int, clock: str) -> str:
    return f"{day(offset)} {clock}"


# (id, space, content_type, size, status, created)
FILES = [
    ("f1", "default", "application/pdf", 1000, "completed", at(2, "10:00:00")),
    ("f2", "default", "application/pdf", 3000, "failed", at(2, "11:00:00")),
    ("f3", "default", "image/png", 500, "completed", at(1, "09:00:00")),
    ("f4", "acme", "audio/mpeg", 10000, "completed", at(1, "12:00:00")),
    ("f5", "acme", "application/pdf", 2000, "failed", at(0, "00:00:01")),
    ("f6", "default", "text/plain", 100, "uploaded", at(0, "00:00:02")),
    ("f7", "default", "application/pdf", 7000, "completed", at(40, "10:00:00")),
]
# (id, file, space, status, provider, created, completed, duration_ms, pages, reason, error)
JOBS = [
    ("j1", "f1", "default", "completed", "reducto", at(2, "10:00:00"), at(2, "10:00:02"), 2000, 3, None, None),
    ("j2", "f2", "default", "failed", "reducto", at(2, "11:00:00"), at(2, "11:00:05"), 5000, 0, "corrupt_file", "File is damaged"),
    ("j3", "f3", "default", "completed", "gemini", at(1, "09:00:00"), at(1, "09:00:01"), 1000, 1, None, None),
    ("j4", "f4", "acme", "completed", "whisper", at(1, "12:00:00"), at(1, "12:01:00"), 60000, 2, None, None),
    ("j5", "f5", "acme", "failed", "reducto", at(0, "00:00:01"), at(0, "00:00:04"), 3000, 0, "provider_timeout", "timed out"),
    ("j6", "f2", "default", "failed", "reducto", at(1, "13:00:00"), at(1, "13:00:04"), 4000, 0, "corrupt_file", "Still damaged"),
    ("j7", "f7", "default", "completed", "reducto", at(40, "10:00:00"), at(40, "10:00:09"), 9000, 10, None, None),
    ("j8", "f1", "default", "cancelled", "reducto", at(0, "00:00:03"), at(0, "00:00:05"), None, 0, None, None),
]
# (file, type, size, created)
VARIANTS = [
    ("f1", "markdown", 400, at(2, "10:00:02")),
    ("f1", "embeddings", 600, at(2, "10:00:02")),
    ("f3", "markdown", 50, at(1, "09:00:01")),
    ("f4", "markdown", 1000, at(1, "12:01:00")),
    ("f7", "markdown", 700, at(40, "10:00:09")),
]


def seed(db) -> None:
    with db.write():
        for fid, space, ctype, size, status, created in FILES:
            db.insert("files", {"id": fid, "space": space, "filename": f"{fid}.bin", "content_type": ctype,
                                "size_bytes": size, "storage_key": f"{space}/{fid}", "status": status,
                                "created_at": created, "updated_at": created})
        for jid, fid, space, status, provider, created, completed, ms, pages, reason, error in JOBS:
            db.insert("jobs", {"id": jid, "file_id": fid, "space": space, "status": status, "provider": provider,
                               "created_at": created, "started_at": created, "completed_at": completed,
                               "duration_ms": ms, "pages": pages, "reason": reason, "error": error,
                               "updated_at": completed})
        for i, (fid, vtype, size, created) in enumerate(VARIANTS):
            db.insert("variants", {"id": f"v{i}", "file_id": fid, "type": vtype, "content_type": "text/plain",
                                   "size_bytes": size, "created_at": created})


@pytest.fixture
def quiet_settings(tmp_path: Path) -> Settings:
    return Settings.from_env({}, data_dir=tmp_path / "data", admin_key=ADMIN_KEY, consumer=False, workers=1)


@pytest.fixture
def seeded(quiet_settings):
    app = create_app(quiet_settings)
    services = app.app.state.services
    seed(services.db)
    with TestClient(app, base_url="http://127.0.0.1:8700") as client:
        client.headers.update(auth())
        yield client, services


def get(client, path, **params):
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_overview(seeded):
    client, _ = seeded
    assert get(client, "/v1/analytics/overview") == {
        "total_files": 7,
        "total_jobs": 8,
        "total_variants": 5,
        "total_connections": 0,
        "success_rate": round(4 / 7, 4),
        "files_by_status": {"uploading": 0, "uploaded": 1, "processing": 0, "completed": 4, "failed": 2},
        "jobs_by_status": {"cancelled": 1, "completed": 4, "failed": 3},
    }


def test_processing_percentiles_and_providers(seeded):
    client, _ = seeded
    body = get(client, "/v1/analytics/processing")  # 30 days: j1 2000, j3 1000, j4 60000
    assert body == {
        "p50_ms": 2000, "p95_ms": 60000, "p99_ms": 60000, "days": 30,
        "by_provider": [
            {"provider": "gemini", "avg_ms": 1000, "count": 1},
            {"provider": "reducto", "avg_ms": 2000, "count": 1},
            {"provider": "whisper", "avg_ms": 60000, "count": 1},
        ],
    }
    wide = get(client, "/v1/analytics/processing", days=60)  # + j7 9000
    assert (wide["p50_ms"], wide["p95_ms"], wide["p99_ms"]) == (2000, 60000, 60000)
    assert {"provider": "reducto", "avg_ms": 5500, "count": 2} in wide["by_provider"]
    one = get(client, "/v1/analytics/processing", days=1)  # today: no completed job
    assert one == {"p50_ms": None, "p95_ms": None, "p99_ms": None, "by_provider": [], "days": 1}


def test_file_types_and_spaces(seeded):
    client, _ = seeded
    assert get(client, "/v1/analytics/file-types") == {"file_types": [
        {"content_type": "application/pdf", "count": 4, "total_bytes": 13000},
        {"content_type": "audio/mpeg", "count": 1, "total_bytes": 10000},
        {"content_type": "image/png", "count": 1, "total_bytes": 500},
        {"content_type": "text/plain", "count": 1, "total_bytes": 100},
    ]}
    assert get(client, "/v1/analytics/spaces") == {"spaces": [
        {"space": "acme", "file_count": 2, "total_bytes": 12000, "completed": 1, "failed": 1, "health_score": 0.5},
        {"space": "default", "file_count": 5, "total_bytes": 11600, "completed": 3, "failed": 2, "health_score": 0.6},
    ]}


def test_failures_and_top_failures(seeded):
    client, _ = seeded
    body = get(client, "/v1/analytics/failures")
    assert body == {"failures": [
        {"job_id": "j5", "file_id": "f5", "filename": "f5.bin", "space": "acme", "provider": "reducto",
         "reason": "provider_timeout", "error": "timed out", "failed_at": at(0, "00:00:04")},
        {"job_id": "j6", "file_id": "f2", "filename": "f2.bin", "space": "default", "provider": "reducto",
         "reason": "corrupt_file", "error": "Still damaged", "failed_at": at(1, "13:00:04")},
        {"job_id": "j2", "file_id": "f2", "filename": "f2.bin", "space": "default", "provider": "reducto",
         "reason": "corrupt_file", "error": "File is damaged", "failed_at": at(2, "11:00:05")},
    ]}
    assert [f["job_id"] for f in get(client, "/v1/analytics/failures", limit=2)["failures"]] == ["j5", "j6"]
    assert get(client, "/v1/analytics/top-failures") == {"failures": [
        {"reason": "corrupt_file", "count": 2, "last_seen": at(1, "13:00:04")},
        {"reason": "provider_timeout", "count": 1, "last_seen": at(0, "00:00:04")},
    ]}
    assert len(get(client, "/v1/analytics/top-failures", limit=1)["failures"]) == 1


def test_volume_trends_storage_growth_include_zero_days(seeded):
    client, _ = seeded
    assert get(client, "/v1/analytics/volume", days=4) == {"data": [
        {"date": day(3), "uploads": 0, "processed": 0},
        {"date": day(2), "uploads": 2, "processed": 2},
        {"date": day(1), "uploads": 2, "processed": 3},
        {"date": day(0), "uploads": 2, "processed": 1},
    ]}
    assert get(client, "/v1/analytics/trends", days=3) == {"data": [
        {"date": day(2), "uploads": 2, "completed": 1, "failed": 1},
        {"date": day(1), "uploads": 2, "completed": 2, "failed": 1},
        {"date": day(0), "uploads": 2, "completed": 0, "failed": 1},
    ]}
    assert get(client, "/v1/analytics/storage-growth", days=3) == {"data": [
        {"date": day(2), "total_bytes": 12700, "delta_bytes": 5000},
        {"date": day(1), "total_bytes": 24250, "delta_bytes": 11550},
        {"date": day(0), "total_bytes": 26350, "delta_bytes": 2100},
    ]}
    default = get(client, "/v1/analytics/volume")["data"]
    assert len(default) == 30 and default[-1]["date"] == day(0) and sum(d["uploads"] for d in default) == 6
    growth = get(client, "/v1/analytics/storage-growth", days=45)["data"]
    assert growth[0]["total_bytes"] == 0 and growth[-1]["total_bytes"] == 26350
    assert [d["delta_bytes"] for d in growth if d["date"] == day(40)] == [7700]


def test_providers(seeded):
    client, _ = seeded
    assert get(client, "/v1/analytics/providers") == {"providers": [
        {"provider": "reducto", "total_jobs": 5, "completed": 1, "failed": 3, "success_rate": 0.25, "avg_ms": 2000},
        {"provider": "gemini", "total_jobs": 1, "completed": 1, "failed": 0, "success_rate": 1.0, "avg_ms": 1000},
        {"provider": "whisper", "total_jobs": 1, "completed": 1, "failed": 0, "success_rate": 1.0, "avg_ms": 60000},
    ]}


@pytest.mark.parametrize(
    "path,params",
    [
        ("/v1/analytics/processing", {"days": "0"}),
        ("/v1/analytics/volume", {"days": "366"}),
        ("/v1/analytics/trends", {"days": "abc"}),
        ("/v1/analytics/storage-growth", {"days": "-3"}),
        ("/v1/analytics/providers", {"days": "1.5"}),
        ("/v1/analytics/failures", {"limit": "0"}),
        ("/v1/analytics/failures", {"limit": "201"}),
        ("/v1/analytics/top-failures", {"limit": "ten"}),
        ("/v1/analytics/overview", {"space": "bad space!"}),
    ],
)
def test_bad_parameters_are_400(seeded, path, params):
    client, _ = seeded
    r = client.get(path, params=params)
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST"
    name = next(iter(params))
    assert name in r.json()["error"]


def test_limits_at_the_edges_are_accepted(seeded):
    client, _ = seeded
    assert len(get(client, "/v1/analytics/trends", days=365)["data"]) == 365
    assert len(get(client, "/v1/analytics/failures", limit=200)["failures"]) == 3


def test_space_confined_key_sees_only_its_spaces(seeded):
    client, _ = seeded
    created = client.post("/v1/org/api-keys", json={"name": "acme", "scopes": ["analytics:read"], "spaces": ["acme"]})
    key = created.json()["key"]
    headers = auth(key)
    overview = client.get("/v1/analytics/overview", headers=headers).json()
    assert (overview["total_files"], overview["total_jobs"], overview["total_variants"]) == (2, 2, 1)
    assert overview["success_rate"] == 0.5
    assert client.get("/v1/analytics/spaces", headers=headers).json()["spaces"] == [
        {"space": "acme", "file_count": 2, "total_bytes": 12000, "completed": 1, "failed": 1, "health_score": 0.5}
    ]
    assert [f["job_id"] for f in client.get("/v1/analytics/failures", headers=headers).json()["failures"]] == ["j5"]
    assert client.get("/v1/analytics/file-types", headers=headers).json()["file_types"] == [
        {"content_type": "application/pdf", "count": 1, "total_bytes": 2000},
        {"content_type": "audio/mpeg", "count": 1, "total_bytes": 10000},
    ]
    processing = client.get("/v1/analytics/processing", headers=headers).json()
    assert (processing["p50_ms"], processing["by_provider"]) == (60000, [{"provider": "whisper", "avg_ms": 60000, "count": 1}])
    growth = client.get("/v1/analytics/storage-growth", params={"days": 2}, headers=headers).json()["data"]
    assert [d["total_bytes"] for d in growth] == [11000, 13000]
    assert client.get("/v1/analytics/top-failures", headers=headers).json()["failures"][0]["reason"] == "provider_timeout"
    assert client.get("/v1/analytics/overview", params={"space": "default"}, headers=headers).status_code == 403
    # an unconfined key may narrow to one space
    assert get(client, "/v1/analytics/overview", space="acme")["total_files"] == 2


def test_analytics_needs_the_scope(seeded):
    client, _ = seeded
    key = client.post("/v1/org/api-keys", json={"name": "files", "scopes": ["files:read"]}).json()["key"]
    r = client.get("/v1/analytics/overview", headers=auth(key))
    assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN"


def test_rollups_follow_every_change_exactly(seeded):
    client, services = seeded
    db = services.db
    with db.write():
        db.execute("UPDATE jobs SET status = 'queued', completed_at = NULL, duration_ms = NULL WHERE id = 'j2'")  # retry
        db.execute("UPDATE jobs SET status = 'processing', progress = 50 WHERE id = 'j2'")
        db.execute("UPDATE jobs SET status = 'completed', completed_at = :t, duration_ms = 777, pages = 4 WHERE id = 'j2'",
                   {"t": at(0, "00:00:09")})
        db.execute("UPDATE jobs SET progress = 99, stage = 'x' WHERE id = 'j3'")  # no rollup change
        db.execute("UPDATE files SET status = 'completed', size_bytes = 3333 WHERE id = 'f2'")
        db.execute("UPDATE variants SET size_bytes = 999 WHERE id = 'v2'")
        db.execute("DELETE FROM variants WHERE id = 'v1'")
        db.execute("DELETE FROM files WHERE id = 'f4'")  # cascades to j4 and its variant
        db.execute("UPDATE files SET space = 'moved' WHERE id = 'f3'")
        db.execute("UPDATE jobs SET space = 'moved' WHERE file_id = 'f3'")
    live = analytics_store.rollup_snapshot(db)
    analytics_store.rebuild_rollups(db)
    assert analytics_store.rollup_snapshot(db) == live
    overview = get(client, "/v1/analytics/overview")
    assert (overview["total_files"], overview["total_jobs"], overview["total_variants"]) == (6, 7, 3)
    assert overview["jobs_by_status"] == {"cancelled": 1, "completed": 4, "failed": 2}
    spaces = {s["space"]: s for s in get(client, "/v1/analytics/spaces")["spaces"]}
    assert spaces["moved"]["file_count"] == 1 and "acme" in spaces and spaces["acme"]["completed"] == 0


def test_large_windows_use_the_histogram_within_one_percent(seeded):
    _, services = seeded
    db = services.db
    durations = [37 * i % 9973 + 50 for i in range(1, analytics_store.EXACT_PERCENTILE_LIMIT + 2001)]
    with db.write():
        db.insert("files", {"id": "bulk", "space": "bulk", "filename": "b", "storage_key": "b", "status": "completed",
                            "created_at": at(0, "00:00:00"), "updated_at": at(0, "00:00:00")})
        db.conn.executemany(
            "INSERT INTO jobs (id, file_id, space, status, provider, created_at, completed_at, duration_ms, updated_at) "
            "VALUES (?, 'bulk', 'bulk', 'completed', 'reducto', ?, ?, ?, ?)",
            [(f"b{i}", at(i % 100, "01:00:00"), at(i % 100, "01:00:00"), ms, at(0, "00:00:00"))
             for i, ms in enumerate(durations)],
        )
    # 100 days of history: whole months come from the monthly histogram, the edges from the daily one
    for days, kept in [(365, durations), (95, [ms for i, ms in enumerate(durations) if i % 100 < 95])]:
        result = analytics_store.latency_percentiles(db, ("bulk",), analytics_store.window(days))
        ordered = sorted(kept)
        for name, q in analytics_store.QUANTILES:
            exact = ordered[max(1, -(-len(ordered) * int(q * 100) // 100)) - 1]
            assert abs(result[name] - exact) <= 0.011 * exact + 1, (days, name, result[name], exact)
    live = analytics_store.rollup_snapshot(db)
    analytics_store.rebuild_rollups(db)
    assert analytics_store.rollup_snapshot(db) == live


METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


def parse_metrics(text: str) -> dict[str, float]:
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            assert line == "" or re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", line), line
            continue
        match = METRIC_LINE.match(line)
        assert match, f"unparsable metrics line: {line!r}"
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def test_metrics_exposition(seeded):
    client, _ = seeded
    client.get("/v1/analytics/overview")
    client.get("/v1/files/3f0e2a4c-no-such-file")
    client.get("/v1/definitely/not/a/route/123")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = parse_metrics(r.text)
    assert samples['roset_jobs{status="completed"}'] == 4
    assert samples['roset_jobs{status="failed"}'] == 3
    assert samples['roset_jobs{status="queued"}'] == 0
    assert samples['roset_files{status="uploaded"}'] == 1
    assert samples["roset_queue_depth"] == 0
    # completed durations: 1 s, 2 s, 9 s, 60 s
    assert samples['roset_job_duration_seconds_bucket{le="1"}'] == 1
    assert samples['roset_job_duration_seconds_bucket{le="2.5"}'] == 2
    assert samples['roset_job_duration_seconds_bucket{le="10"}'] == 3
    assert samples['roset_job_duration_seconds_bucket{le="60"}'] == 4
    assert samples['roset_job_duration_seconds_bucket{le="+Inf"}'] == 4
    assert samples["roset_job_duration_seconds_count"] == 4 and samples["roset_job_duration_seconds_sum"] == 72
    assert samples['roset_http_requests_total{method="GET",route="/v1/analytics/overview",status="200"}'] == 1
    assert any('route="/v1/files/{' in k and 'status="404"' in k for k in samples)
    assert samples['roset_http_requests_total{method="GET",route="unmatched",status="404"}'] == 1
    assert "no-such-file" not in r.text and "/not/a/route" not in r.text


def test_metrics_needs_analytics_read_unless_public(seeded, tmp_path):
    client, _ = seeded
    assert client.get("/metrics", headers={"Authorization": ""}).status_code == 401
    key = client.post("/v1/org/api-keys", json={"name": "f", "scopes": ["files:read"]}).json()["key"]
    assert client.get("/metrics", headers=auth(key)).status_code == 403
    public = Settings.from_env({}, data_dir=tmp_path / "public", admin_key=ADMIN_KEY, consumer=False, metrics_public=True)
    with TestClient(create_app(public)) as anonymous:
        r = anonymous.get("/metrics")
        assert r.status_code == 200 and "roset_queue_depth 0" in r.text
