"""Analytics: rollup tables kept exact by triggers on files/jobs/variants, and the queries over them.

Every figure is derived from the rows that exist now (a deleted file leaves the history with its
jobs and variants). The rollups are per UTC day; triggers apply ``-1 × old row`` and
``+1 × new row`` on every relevant change, so a rollup always equals the GROUP BY it replaces
(:func:`rebuild_rollups` recomputes them from scratch; the tests compare both).

Day of a job: ``date(completed_at)`` once it has finished, else ``date(created_at)``.
Latency percentiles are exact while the window holds at most :data:`EXACT_PERCENTILE_LIMIT`
completed jobs (all spaces: that is the index range read); beyond that they come from log
histograms per day and per month (bucket width 2 %: within 1 % of the exact value).

Writers must not use ``INSERT OR REPLACE`` on files/jobs/variants: SQLite runs no delete
trigger for the replaced row (recursive_triggers is off), so the rollups would drift.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from roset_local.store.db import Database, Row
from roset_local.store.migrations import Migrations
from roset_local.timeutil import utcnow

EXACT_PERCENTILE_LIMIT = 20_000
BUCKETS_PER_E = 50  # log-histogram resolution: bucket = round(ln(ms) * 50)
# Upper bounds (ms) of the Prometheus job-duration histogram; -1 stands for +Inf.
DURATION_BOUNDS_MS = (100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 300000, 600000)

_DAY_JOB = "coalesce(date(coalesce({a}.completed_at, {a}.created_at)), '0000-00-00')"
_DAY = "coalesce(date({a}.created_at), '0000-00-00')"


def _bucket(a: str) -> str:
    return f"CAST(round(ln(max({a}.duration_ms, 1)) * {BUCKETS_PER_E}) AS INTEGER)"


def _le(a: str) -> str:
    cases = " ".join(f"WHEN {a}.duration_ms <= {b} THEN {b}" for b in DURATION_BOUNDS_MS)
    return f"CASE {cases} ELSE -1 END"


def _apply_job(a: str, s: int) -> str:
    return f"""
    INSERT INTO an_jobs_daily (day, space, provider, status, jobs, ms_sum, ms_count, pages)
    VALUES ({_DAY_JOB.format(a=a)}, {a}.space, coalesce({a}.provider, ''), {a}.status, {s},
            {s} * coalesce({a}.duration_ms, 0), {s} * ({a}.duration_ms IS NOT NULL), {s} * coalesce({a}.pages, 0))
    ON CONFLICT (day, space, provider, status) DO UPDATE SET jobs = jobs + excluded.jobs,
        ms_sum = ms_sum + excluded.ms_sum, ms_count = ms_count + excluded.ms_count, pages = pages + excluded.pages;
    INSERT INTO an_latency_daily (day, space, bucket, n)
    SELECT {_DAY_JOB.format(a=a)}, {a}.space, {_bucket(a)}, {s}
    WHERE {a}.status = 'completed' AND {a}.duration_ms IS NOT NULL
    ON CONFLICT (day, space, bucket) DO UPDATE SET n = n + excluded.n;
    INSERT INTO an_latency_monthly (month, space, bucket, n)
    SELECT substr({_DAY_JOB.format(a=a)}, 1, 7), {a}.space, {_bucket(a)}, {s}
    WHERE {a}.status = 'completed' AND {a}.duration_ms IS NOT NULL
    ON CONFLICT (month, space, bucket) DO UPDATE SET n = n + excluded.n;
    INSERT INTO an_failures (space, reason, n)
    SELECT {a}.space, coalesce({a}.reason, ''), {s} WHERE {a}.status = 'failed'
    ON CONFLICT (space, reason) DO UPDATE SET n = n + excluded.n;
    INSERT INTO an_duration_le (le_ms, n, ms_sum)
    SELECT {_le(a)}, {s}, {s} * {a}.duration_ms
    WHERE {a}.status = 'completed' AND {a}.duration_ms IS NOT NULL
    ON CONFLICT (le_ms) DO UPDATE SET n = n + excluded.n, ms_sum = ms_sum + excluded.ms_sum;
    """


def _apply_file(a: str, s: int) -> str:
    return f"""
    INSERT INTO an_files_daily (day, space, content_type, files, bytes)
    VALUES ({_DAY.format(a=a)}, {a}.space, coalesce({a}.content_type, ''), {s}, {s} * coalesce({a}.size_bytes, 0))
    ON CONFLICT (day, space, content_type) DO UPDATE SET files = files + excluded.files, bytes = bytes + excluded.bytes;
    INSERT INTO an_file_status (space, status, files) VALUES ({a}.space, {a}.status, {s})
    ON CONFLICT (space, status) DO UPDATE SET files = files + excluded.files;
    """


def _apply_variant(a: str, s: int) -> str:
    # The space comes from the parent file; when the parent is already gone (cascade), the
    # file's BEFORE DELETE trigger has accounted for its variants.
    return f"""
    INSERT INTO an_variants_daily (day, space, variants, bytes)
    SELECT {_DAY.format(a=a)}, f.space, {s}, {s} * coalesce({a}.size_bytes, 0) FROM files f WHERE f.id = {a}.file_id
    ON CONFLICT (day, space) DO UPDATE SET variants = variants + excluded.variants, bytes = bytes + excluded.bytes;
    """


def _move_variants(file_id: str, space: str, s: int) -> str:
    return f"""
    INSERT INTO an_variants_daily (day, space, variants, bytes)
    SELECT {_DAY.format(a='v')}, {space}, {s} * count(*), {s} * coalesce(sum(v.size_bytes), 0)
    FROM variants v WHERE v.file_id = {file_id} GROUP BY 1
    ON CONFLICT (day, space) DO UPDATE SET variants = variants + excluded.variants, bytes = bytes + excluded.bytes;
    """


def _changed(cols: tuple[str, ...]) -> str:
    return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in cols)


_JOB_COLS = ("status", "provider", "space", "completed_at", "created_at", "duration_ms", "pages", "reason")
_FILE_COLS = ("space", "content_type", "size_bytes", "created_at", "status")
_VARIANT_COLS = ("file_id", "size_bytes", "created_at")

ROLLUP_TABLES = """
CREATE TABLE an_jobs_daily (
    day TEXT NOT NULL, space TEXT NOT NULL, provider TEXT NOT NULL, status TEXT NOT NULL,
    jobs INTEGER NOT NULL DEFAULT 0, ms_sum INTEGER NOT NULL DEFAULT 0,
    ms_count INTEGER NOT NULL DEFAULT 0, pages INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, space, provider, status)
) WITHOUT ROWID;
CREATE TABLE an_latency_daily (
    day TEXT NOT NULL, space TEXT NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, space, bucket)
) WITHOUT ROWID;
-- the same histogram per month: long windows read whole months here and only their edge days above
CREATE TABLE an_latency_monthly (
    month TEXT NOT NULL, space TEXT NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (month, space, bucket)
) WITHOUT ROWID;
CREATE TABLE an_failures (
    space TEXT NOT NULL, reason TEXT NOT NULL, n INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (space, reason)
) WITHOUT ROWID;
CREATE TABLE an_duration_le (
    le_ms INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0, ms_sum INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE an_files_daily (
    day TEXT NOT NULL, space TEXT NOT NULL, content_type TEXT NOT NULL,
    files INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, space, content_type)
) WITHOUT ROWID;
CREATE TABLE an_file_status (
    space TEXT NOT NULL, status TEXT NOT NULL, files INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (space, status)
) WITHOUT ROWID;
CREATE TABLE an_variants_daily (
    day TEXT NOT NULL, space TEXT NOT NULL, variants INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, space)
) WITHOUT ROWID;
-- exact percentiles of small windows, recent failures, top failure reasons
CREATE INDEX an_jobs_completed ON jobs (completed_at, space, duration_ms) WHERE status = 'completed';
CREATE INDEX an_jobs_failed ON jobs (completed_at, space) WHERE status = 'failed';
CREATE INDEX an_jobs_failed_reason ON jobs (reason, space, completed_at) WHERE status = 'failed';
"""


def _triggers() -> str:
    return f"""
CREATE TRIGGER an_jobs_ins AFTER INSERT ON jobs BEGIN {_apply_job('NEW', 1)} END;
CREATE TRIGGER an_jobs_del AFTER DELETE ON jobs BEGIN {_apply_job('OLD', -1)} END;
CREATE TRIGGER an_jobs_upd AFTER UPDATE OF {', '.join(_JOB_COLS)} ON jobs WHEN {_changed(_JOB_COLS)}
BEGIN {_apply_job('OLD', -1)} {_apply_job('NEW', 1)} END;
CREATE TRIGGER an_files_ins AFTER INSERT ON files BEGIN {_apply_file('NEW', 1)} END;
CREATE TRIGGER an_files_del AFTER DELETE ON files BEGIN {_apply_file('OLD', -1)} END;
CREATE TRIGGER an_files_del_variants BEFORE DELETE ON files BEGIN {_move_variants('OLD.id', 'OLD.space', -1)} END;
CREATE TRIGGER an_files_upd AFTER UPDATE OF {', '.join(_FILE_COLS)} ON files WHEN {_changed(_FILE_COLS)}
BEGIN {_apply_file('OLD', -1)} {_apply_file('NEW', 1)} END;
CREATE TRIGGER an_files_move AFTER UPDATE OF space ON files WHEN OLD.space IS NOT NEW.space
BEGIN {_move_variants('NEW.id', 'OLD.space', -1)} {_move_variants('NEW.id', 'NEW.space', 1)} END;
CREATE TRIGGER an_variants_ins AFTER INSERT ON variants BEGIN {_apply_variant('NEW', 1)} END;
CREATE TRIGGER an_variants_del AFTER DELETE ON variants BEGIN {_apply_variant('OLD', -1)} END;
CREATE TRIGGER an_variants_upd AFTER UPDATE OF {', '.join(_VARIANT_COLS)} ON variants WHEN {_changed(_VARIANT_COLS)}
BEGIN {_apply_variant('OLD', -1)} {_apply_variant('NEW', 1)} END;
"""


ROLLUPS = ("an_jobs_daily", "an_latency_daily", "an_latency_monthly", "an_failures", "an_duration_le", "an_files_daily", "an_file_status", "an_variants_daily")


def rebuild_rollups(db: Database) -> None:
    """Recompute every rollup from files/jobs/variants (after a bulk load or a suspected drift)."""
    with db.write():
        for table in ROLLUPS:
            db.execute(f"DELETE FROM {table}")
        db.execute(
            f"""INSERT INTO an_jobs_daily SELECT {_DAY_JOB.format(a='j')}, j.space, coalesce(j.provider, ''), j.status,
                count(*), coalesce(sum(j.duration_ms), 0), count(j.duration_ms), coalesce(sum(j.pages), 0)
                FROM jobs j GROUP BY 1, 2, 3, 4"""
        )
        db.execute(
            f"""INSERT INTO an_latency_daily SELECT {_DAY_JOB.format(a='j')}, j.space, {_bucket('j')}, count(*)
                FROM jobs j WHERE j.status = 'completed' AND j.duration_ms IS NOT NULL GROUP BY 1, 2, 3"""
        )
        db.execute(
            "INSERT INTO an_latency_monthly SELECT substr(day, 1, 7), space, bucket, sum(n) FROM an_latency_daily GROUP BY 1, 2, 3"
        )
        db.execute(
            "INSERT INTO an_failures SELECT space, coalesce(reason, ''), count(*) FROM jobs WHERE status = 'failed' GROUP BY 1, 2"
        )
        db.execute(
            f"""INSERT INTO an_duration_le SELECT {_le('j')}, count(*), sum(j.duration_ms)
                FROM jobs j WHERE j.status = 'completed' AND j.duration_ms IS NOT NULL GROUP BY 1"""
        )
        db.execute(
            f"""INSERT INTO an_files_daily SELECT {_DAY.format(a='f')}, f.space, coalesce(f.content_type, ''),
                count(*), coalesce(sum(f.size_bytes), 0) FROM files f GROUP BY 1, 2, 3"""
        )
        db.execute("INSERT INTO an_file_status SELECT space, status, count(*) FROM files GROUP BY 1, 2")
        db.execute(
            f"""INSERT INTO an_variants_daily SELECT {_DAY.format(a='v')}, f.space, count(*), coalesce(sum(v.size_bytes), 0)
                FROM variants v JOIN files f ON f.id = v.file_id GROUP BY 1, 2"""
        )


def rollup_snapshot(db: Database) -> dict[str, set[tuple[Any, ...]]]:
    """Non-empty rollup rows, for comparing the trigger-maintained state with a rebuild."""
    snapshot: dict[str, set[tuple[Any, ...]]] = {}
    for table in ROLLUPS:
        rows = db.all(f"SELECT * FROM {table}")
        snapshot[table] = {tuple(r.values()) for r in rows if any(v for k, v in r.items() if k in _COUNT_COLS)}
    return snapshot


_COUNT_COLS = {"jobs", "n", "files", "variants", "bytes", "ms_sum", "ms_count", "pages"}

@contextmanager
def suspended_rollups(db: Database) -> Iterator[None]:
    """Bulk loads: drop the triggers, load, then recreate them and rebuild the rollups."""
    with db.write():
        for name in [r["name"] for r in db.all("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'an\\_%' ESCAPE '\\'")]:
            db.execute(f"DROP TRIGGER {name}")
    try:
        yield
    finally:
        from roset_local.store.migrations import split_sql

        with db.write():
            for statement in split_sql(_triggers()):
                db.execute(statement)
            rebuild_rollups(db)


analytics = Migrations("analytics")


@analytics("0001_rollups")
def _create_rollups(db: Database) -> None:
    from roset_local.store.migrations import split_sql

    for statement in split_sql(ROLLUP_TABLES + _triggers()):
        db.execute(statement)
    rebuild_rollups(db)  # joins the migration's transaction


# -- queries -----------------------------------------------------------------------------------

Spaces = tuple[str, ...] | None


def _where_space(spaces: Spaces, params: dict[str, Any], column: str = "space") -> str:
    if spaces is None:
        return ""
    params["spaces"] = json.dumps(list(spaces))
    return f" AND {column} IN (SELECT value FROM json_each(:spaces))"


def window(days: int, today: date | None = None) -> list[str]:
    """The ``days`` UTC dates ending today, oldest first."""
    today = today or utcnow().date()
    return [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def connection_count(db: Database, spaces: Spaces = None) -> int:
    # The connections table belongs to another module and may not exist in every build.
    if db.value("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'connections'") is None:
        return 0
    params: dict[str, Any] = {}
    where = _where_space(spaces, params)
    return int(db.value(f"SELECT count(*) FROM connections WHERE 1{where}", params) or 0)


def rate(completed: int, failed: int) -> float:
    """completed / (completed + failed); 1.0 when nothing has finished."""
    total = completed + failed
    return round(completed / total, 4) if total else 1.0


def overview(db: Database, spaces: Spaces) -> dict[str, Any]:
    params: dict[str, Any] = {}
    where = _where_space(spaces, params)
    by_status = {
        r["status"]: r["n"]
        for r in db.all(f"SELECT status, sum(files) AS n FROM an_file_status WHERE 1{where} GROUP BY status", params)
    }
    files_by_status = {s: 0 for s in ("uploading", "uploaded", "processing", "completed", "failed")}
    files_by_status.update({k: v for k, v in by_status.items() if v})
    jobs = {
        r["status"]: r["n"]
        for r in db.all(f"SELECT status, sum(jobs) AS n FROM an_jobs_daily WHERE 1{where} GROUP BY status", params)
    }
    variants = db.value(f"SELECT coalesce(sum(variants), 0) FROM an_variants_daily WHERE 1{where}", params)
    return {
        "total_files": sum(files_by_status.values()),
        "total_jobs": sum(jobs.values()),
        "total_variants": int(variants),
        "total_connections": connection_count(db, spaces),
        "success_rate": rate(jobs.get("completed", 0), jobs.get("failed", 0)),
        "files_by_status": files_by_status,
        "jobs_by_status": {k: v for k, v in sorted(jobs.items()) if v},
    }


def _nearest_rank(count: int, q: float) -> int:
    """1-based rank of the q-quantile by the nearest-rank method."""
    return max(1, math.ceil(q * count))


QUANTILES = (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99))


def latency_percentiles(db: Database, spaces: Spaces, days: list[str]) -> dict[str, int | None]:
    params: dict[str, Any] = {"start": days[0], "end": days[-1], "stop": _next_day(days[-1])}
    where = _where_space(spaces, params)
    n = db.value(
        f"SELECT coalesce(sum(ms_count), 0) FROM an_jobs_daily WHERE status = 'completed' "
        f"AND day BETWEEN :start AND :end{where}",
        params,
    )
    if not n:
        return {name: None for name, _ in QUANTILES}
    scanned = n if spaces is None else db.value(
        "SELECT coalesce(sum(ms_count), 0) FROM an_jobs_daily WHERE status = 'completed' AND day BETWEEN :start AND :end",
        params,
    )
    if scanned <= EXACT_PERCENTILE_LIMIT:
        values = [
            r[0]
            for r in db.execute(
                f"SELECT duration_ms FROM jobs INDEXED BY an_jobs_completed WHERE status = 'completed' AND duration_ms IS NOT NULL "
                f"AND completed_at >= :start AND completed_at < :stop{where} ORDER BY duration_ms",
                params,
            ).fetchall()
        ]
        if not values:
            return {name: None for name, _ in QUANTILES}
        return {name: int(values[_nearest_rank(len(values), q) - 1]) for name, q in QUANTILES}
    rows = _histogram(db, days, where, params)
    total = sum(r[1] for r in rows)
    result: dict[str, int | None] = {}
    for name, q in QUANTILES:
        rank, seen, value = _nearest_rank(total, q), 0, None
        for bucket, count in rows:
            seen += count
            if seen >= rank:
                value = int(round(math.exp(bucket / BUCKETS_PER_E)))
                break
        result[name] = value
    return result


def _histogram(db: Database, days: list[str], where: str, params: dict[str, Any]) -> list[tuple[int, int]]:
    """(bucket, count) over the window: whole calendar months from the monthly table, edge days daily."""
    months = sorted({d[:7] for d in days})
    full = [m for m in months if sum(1 for d in days if d.startswith(m)) == _days_in_month(m)]
    edge = [d for d in days if d[:7] not in full]
    parts, p = [], dict(params)
    if full:
        p["m0"], p["m1"] = full[0], full[-1]
        parts.append(f"SELECT bucket, n FROM an_latency_monthly WHERE month BETWEEN :m0 AND :m1{where}")
    for i, (lo, hi) in enumerate(_runs(edge)):
        p[f"lo{i}"], p[f"hi{i}"] = lo, hi
        parts.append(f"SELECT bucket, n FROM an_latency_daily WHERE day BETWEEN :lo{i} AND :hi{i}{where}")
    sql = f"SELECT bucket, sum(n) FROM ({' UNION ALL '.join(parts)}) GROUP BY bucket ORDER BY bucket"
    return [(r[0], r[1]) for r in db.execute(sql, p).fetchall()]


def _days_in_month(month: str) -> int:
    first = date.fromisoformat(month + "-01")
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return (following - first).days


def _runs(days: list[str]) -> list[tuple[str, str]]:
    """Consecutive dates grouped into (first, last) ranges."""
    runs: list[tuple[str, str]] = []
    for d in days:
        if runs and _next_day(runs[-1][1]) == d:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


def _jobs_by_provider(db: Database, spaces: Spaces, days: list[str]) -> list[Row]:
    params: dict[str, Any] = {"start": days[0], "end": days[-1]}
    where = _where_space(spaces, params)
    return db.all(
        f"""SELECT provider,
                   sum(jobs) AS total_jobs,
                   sum(CASE WHEN status = 'completed' THEN jobs ELSE 0 END) AS completed,
                   sum(CASE WHEN status = 'failed' THEN jobs ELSE 0 END) AS failed,
                   sum(CASE WHEN status = 'completed' THEN ms_sum ELSE 0 END) AS ms_sum,
                   sum(CASE WHEN status = 'completed' THEN ms_count ELSE 0 END) AS ms_count
            FROM an_jobs_daily WHERE provider != '' AND day BETWEEN :start AND :end{where}
            GROUP BY provider""",
        params,
    )


def processing(db: Database, spaces: Spaces, days: list[str]) -> dict[str, Any]:
    by_provider = [
        {"provider": r["provider"], "avg_ms": round(r["ms_sum"] / r["ms_count"]), "count": r["ms_count"]}
        for r in _jobs_by_provider(db, spaces, days)
        if r["ms_count"]
    ]
    by_provider.sort(key=lambda p: (-p["count"], p["provider"]))
    return {**latency_percentiles(db, spaces, days), "by_provider": by_provider, "days": len(days)}


def providers(db: Database, spaces: Spaces, days: list[str]) -> dict[str, Any]:
    out = [
        {
            "provider": r["provider"],
            "total_jobs": r["total_jobs"],
            "completed": r["completed"],
            "failed": r["failed"],
            "success_rate": rate(r["completed"], r["failed"]),
            "avg_ms": round(r["ms_sum"] / r["ms_count"]) if r["ms_count"] else None,
        }
        for r in _jobs_by_provider(db, spaces, days)
        if r["total_jobs"]
    ]
    out.sort(key=lambda p: (-p["total_jobs"], p["provider"]))
    return {"providers": out}


def file_types(db: Database, spaces: Spaces) -> dict[str, Any]:
    params: dict[str, Any] = {}
    where = _where_space(spaces, params)
    rows = db.all(
        f"""SELECT CASE content_type WHEN '' THEN 'application/octet-stream' ELSE content_type END AS content_type,
                   sum(files) AS count, sum(bytes) AS total_bytes
            FROM an_files_daily WHERE 1{where} GROUP BY 1 HAVING sum(files) > 0
            ORDER BY count DESC, content_type""",
        params,
    )
    return {"file_types": rows}


def space_health(db: Database, spaces: Spaces) -> dict[str, Any]:
    params: dict[str, Any] = {}
    where = _where_space(spaces, params)
    stats: dict[str, dict[str, Any]] = {}

    def entry(space: str) -> dict[str, Any]:
        return stats.setdefault(
            space, {"space": space, "file_count": 0, "total_bytes": 0, "completed": 0, "failed": 0, "health_score": 1.0}
        )

    for r in db.all(f"SELECT space, sum(files) AS n, sum(bytes) AS b FROM an_files_daily WHERE 1{where} GROUP BY space", params):
        e = entry(r["space"])
        e["file_count"], e["total_bytes"] = r["n"], r["b"]
    for r in db.all(
        f"""SELECT space, sum(CASE WHEN status = 'completed' THEN jobs ELSE 0 END) AS c,
                   sum(CASE WHEN status = 'failed' THEN jobs ELSE 0 END) AS f
            FROM an_jobs_daily WHERE status IN ('completed', 'failed'){where} GROUP BY space""",
        params,
    ):
        e = entry(r["space"])
        e["completed"], e["failed"] = r["c"], r["f"]
    result = []
    for space in sorted(stats):
        e = stats[space]
        if not (e["file_count"] or e["completed"] or e["failed"]):
            continue
        e["health_score"] = rate(e["completed"], e["failed"])
        result.append(e)
    return {"spaces": result}


def recent_failures(db: Database, spaces: Spaces, limit: int) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    where = _where_space(spaces, params, "j.space")
    rows = db.all(
        f"""SELECT j.id AS job_id, j.file_id, f.filename, j.space, j.provider, j.reason, j.error,
                   coalesce(j.completed_at, j.updated_at) AS failed_at
            FROM jobs j INDEXED BY an_jobs_failed LEFT JOIN files f ON f.id = j.file_id
            WHERE j.status = 'failed'{where}
            ORDER BY j.completed_at DESC LIMIT :limit""",
        params,
    )
    return {"failures": rows}


def top_failures(db: Database, spaces: Spaces, limit: int) -> dict[str, Any]:
    """Counts from the rollup; ``last_seen`` is an index lookup per (reason, space) pair."""
    params: dict[str, Any] = {}
    where = _where_space(spaces, params)
    merged: dict[str, dict[str, Any]] = {}
    pairs: dict[str, list[tuple[str, str | None]]] = {}
    for r in db.all(f"SELECT reason, space, n FROM an_failures WHERE n > 0{where}", params):
        name = r["reason"] or "unknown"
        merged.setdefault(name, {"reason": name, "count": 0, "last_seen": None})["count"] += r["n"]
        pairs.setdefault(name, []).append((r["space"], r["reason"] or None))
    ranked = sorted(merged.values(), key=lambda e: (-e["count"], e["reason"]))[:limit]
    for entry in ranked:
        for space, reason in pairs[entry["reason"]]:
            seen = db.value(
                "SELECT max(completed_at) FROM jobs INDEXED BY an_jobs_failed_reason "
                "WHERE status = 'failed' AND reason IS :r AND space = :s",
                {"r": reason, "s": space},
            )
            if seen and (entry["last_seen"] is None or seen > entry["last_seen"]):
                entry["last_seen"] = seen
    return {"failures": ranked}


def _per_day(db: Database, sql: str, spaces: Spaces, days: list[str]) -> dict[str, Row]:
    params: dict[str, Any] = {"start": days[0], "end": days[-1]}
    where = _where_space(spaces, params)
    return {r["day"]: r for r in db.all(sql.format(where=where), params)}


_UPLOADS = "SELECT day, sum(files) AS uploads, sum(bytes) AS bytes FROM an_files_daily WHERE day BETWEEN :start AND :end{where} GROUP BY day"
_FINISHED = """SELECT day, sum(CASE WHEN status = 'completed' THEN jobs ELSE 0 END) AS completed,
                      sum(CASE WHEN status = 'failed' THEN jobs ELSE 0 END) AS failed
               FROM an_jobs_daily WHERE status IN ('completed', 'failed') AND day BETWEEN :start AND :end{where}
               GROUP BY day"""
_VARIANT_BYTES = "SELECT day, sum(bytes) AS bytes FROM an_variants_daily WHERE day BETWEEN :start AND :end{where} GROUP BY day"


def volume(db: Database, spaces: Spaces, days: list[str]) -> dict[str, Any]:
    """uploads = files created that day; processed = jobs that finished (completed or failed) that day."""
    uploads = _per_day(db, _UPLOADS, spaces, days)
    finished = _per_day(db, _FINISHED, spaces, days)
    data = []
    for day in days:
        f = finished.get(day)
        data.append(
            {
                "date": day,
                "uploads": uploads[day]["uploads"] if day in uploads else 0,
                "processed": (f["completed"] + f["failed"]) if f else 0,
            }
        )
    return {"data": data}


def trends(db: Database, spaces: Spaces, days: list[str]) -> dict[str, Any]:
    uploads = _per_day(db, _UPLOADS, spaces, days)
    finished = _per_day(db, _FINISHED, spaces, days)
    return {
        "data": [
            {
                "date": day,
                "uploads": uploads[day]["uploads"] if day in uploads else 0,
                "completed": finished[day]["completed"] if day in finished else 0,
                "failed": finished[day]["failed"] if day in finished else 0,
            }
            for day in days
        ]
    }


def storage_growth(db: Database, spaces: Spaces, days: list[str]) -> dict[str, Any]:
    """Bytes of files (size_bytes, by upload day) plus variants (by creation day)."""
    params: dict[str, Any] = {"start": days[0]}
    where = _where_space(spaces, params)
    total = int(
        db.value(f"SELECT coalesce(sum(bytes), 0) FROM an_files_daily WHERE day < :start{where}", params)
        + db.value(f"SELECT coalesce(sum(bytes), 0) FROM an_variants_daily WHERE day < :start{where}", params)
    )
    files = _per_day(db, _UPLOADS, spaces, days)
    variants = _per_day(db, _VARIANT_BYTES, spaces, days)
    data = []
    for day in days:
        delta = (files[day]["bytes"] if day in files else 0) + (variants[day]["bytes"] if day in variants else 0)
        total += delta
        data.append({"date": day, "total_bytes": total, "delta_bytes": delta})
    return {"data": data}


# -- figures for /metrics and the usage meter ---------------------------------------------------


def jobs_by_status(db: Database) -> dict[str, int]:
    return {r["status"]: r["n"] for r in db.all("SELECT status, sum(jobs) AS n FROM an_jobs_daily GROUP BY status")}


def files_by_status(db: Database) -> dict[str, int]:
    return {r["status"]: r["n"] for r in db.all("SELECT status, sum(files) AS n FROM an_file_status GROUP BY status")}


def duration_histogram(db: Database) -> tuple[list[tuple[float, int]], int, int]:
    """Cumulative (upper bound ms, count) pairs ending with +Inf, the count and the sum of ms."""
    rows = {r["le_ms"]: r for r in db.all("SELECT le_ms, n, ms_sum FROM an_duration_le")}
    cumulative, buckets = 0, []
    for bound in DURATION_BOUNDS_MS:
        cumulative += rows[bound]["n"] if bound in rows else 0
        buckets.append((float(bound), cumulative))
    cumulative += rows[-1]["n"] if -1 in rows else 0
    buckets.append((math.inf, cumulative))
    return buckets, cumulative, int(sum(r["ms_sum"] for r in rows.values()))


def pages_completed(db: Database, first_day: str, last_day: str) -> int:
    """Pages of jobs that completed between two UTC dates (inclusive)."""
    return int(
        db.value(
            "SELECT coalesce(sum(pages), 0) FROM an_jobs_daily WHERE status = 'completed' AND day BETWEEN :a AND :b",
            {"a": first_day, "b": last_day},
        )
    )
