"""API request logs: batched inserts, filtered keyset listing, retention purge."""

from __future__ import annotations

from typing import Any

from roset_local.pagination import keyset
from roset_local.store.db import Database, Row, within_spaces


def insert_logs(db: Database, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    sql = f"INSERT INTO api_logs ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
    db.conn.executemany(sql, rows)


def list_logs(
    db: Database,
    *,
    method: str | None,
    status: int | None,
    path: str | None,
    auth_type: str | None,
    limit: int,
    cursor: list[Any] | None,
    within: tuple[str, ...] | None = None,
) -> list[Row]:
    """Newest first; ``within``: only rows of callers confined within those spaces (None: every row)."""
    params: dict[str, Any] = {"limit": limit + 1}
    where = []
    if within is not None:
        where.append(within_spaces("spaces", within, params))
    if method:
        where.append("method = :method")
        params["method"] = method.upper()
    if status is not None:
        where.append("status = :status")
        params["status"] = status
    if path:
        where.append("substr(path, 1, length(:path)) = :path")
        params["path"] = path
    if auth_type:
        where.append("auth_type = :auth_type")
        params["auth_type"] = auth_type
    cond, order = keyset("seq", "desc", cursor, params)
    if cond:
        where.append(cond)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    return db.all(
        "SELECT id, seq, method, path, status, auth_type, key_name, duration_ms, request_id, created_at "
        f"FROM api_logs {clause} ORDER BY {order} LIMIT :limit",
        params,
    )


def purge_logs(db: Database, older_than: str) -> int:
    with db.write():
        return db.execute("DELETE FROM api_logs WHERE created_at < :t", {"t": older_than}).rowcount


def max_seq(db: Database) -> int:
    return int(db.value("SELECT coalesce(max(seq), 0) FROM api_logs") or 0)
