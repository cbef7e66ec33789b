"""Files and spaces: records of uploaded bytes, their status and metadata."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from roset_local.pagination import keyset
from roset_local.store.db import Database, Row, in_list
from roset_local.timeutil import now_str

FILE_STATUSES = ("uploading", "uploaded", "processing", "completed", "failed")
SORT_COLUMNS = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "filename": "filename",
    "size_bytes": "coalesce(size_bytes, -1)",
}


def decode_file(row: Row) -> Row:
    row["metadata"] = json.loads(row["metadata"] or "{}")
    row["options"] = json.loads(row["options"] or "{}")
    return row


def insert_file(db: Database, row: dict[str, Any]) -> None:
    data = dict(row)
    data["metadata"] = json.dumps(data.get("metadata") or {})
    data["options"] = json.dumps(data.get("options") or {})
    db.insert("files", data)


def get_file(db: Database, file_id: str) -> Row | None:
    row = db.one("SELECT * FROM files WHERE id = :id", {"id": file_id})
    return decode_file(row) if row else None


def set_file_fields(db: Database, file_id: str, **values: Any) -> None:
    if "metadata" in values:
        values["metadata"] = json.dumps(values["metadata"])
    if "options" in values:
        values["options"] = json.dumps(values["options"])
    values["updated_at"] = now_str()
    db.update("files", {"id": file_id}, values)


def set_latest_job(db: Database, file_id: str, job_id: str) -> None:
    """Point the file at ``job_id`` as its latest job (a retried job becomes the latest again)."""
    db.execute("UPDATE files SET latest_job_id = :j WHERE id = :f", {"j": job_id, "f": file_id})


def _space_clause(spaces: tuple[str, ...] | None, params: dict[str, Any], column: str = "space") -> str:
    return "" if spaces is None else in_list(column, spaces, params, "sp")


def list_files(
    db: Database,
    *,
    spaces: tuple[str, ...] | None,
    status: str | None,
    search: str | None,
    content_ids: list[str] | None,
    metadata: dict[str, str],
    sort_by: str,
    sort_order: str,
    limit: int,
    cursor: list[Any] | None,
) -> list[Row]:
    """One page (limit + 1 rows) ordered by (sort column, id); the cursor holds the last pair."""
    params: dict[str, Any] = {"limit": limit + 1}
    where = []
    clause = _space_clause(spaces, params)
    if clause:
        where.append(clause)
    if status:
        where.append("status = :status")
        params["status"] = status
    if search:
        params["search"] = f"%{search.replace('%', '').replace('_', '')}%"
        cond = "filename LIKE :search"
        if content_ids:
            marks = []
            for i, fid in enumerate(content_ids[:500]):
                params[f"cid{i}"] = fid
                marks.append(f":cid{i}")
            cond = f"({cond} OR id IN ({', '.join(marks)}))"
        where.append(cond)
    for i, (key, value) in enumerate(sorted(metadata.items())):
        params[f"mk{i}"] = f'$."{key}"'
        params[f"mv{i}"] = value
        where.append(f"json_extract(metadata, :mk{i}) = :mv{i}")
    column = SORT_COLUMNS[sort_by]
    cond, order = keyset(column, sort_order, cursor, params)
    if cond:
        where.append(cond)
    sql = f"SELECT *, {column} AS _sort FROM files"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order} LIMIT :limit"
    return [decode_file(r) for r in db.all(sql, params)]


def set_source_deleted(db: Database, file_ids: list[str], value: bool) -> None:
    """Flag (or unflag) files whose bucket object is gone but which were kept. Inside db.write()."""
    db.conn.executemany("UPDATE files SET source_deleted = ?, updated_at = ? WHERE id = ?",
                        [(int(value), now_str(), i) for i in file_ids])


def processed_twins(db: Database, space: str, sha256: str, file_id: str) -> list[Row]:
    """Other completed files of ``space`` with these bytes, newest job first, each with its job's
    id, provider, pages and options (content-addressed reuse of their variants)."""
    return db.all(
        """SELECT f.id, f.filename, j.id AS job_id, j.provider, j.pages, j.options FROM files f
           JOIN jobs j ON j.id = f.latest_job_id
           WHERE f.space = :s AND f.sha256 = :h AND f.id != :f AND f.status = 'completed' AND j.status = 'completed'
           ORDER BY j.completed_at DESC LIMIT 20""",
        {"s": space, "h": sha256, "f": file_id},
    )


def delete_file_rows(db: Database, file_id: str) -> None:
    """Delete the file and (by cascade) its jobs, variants and upload tokens. Inside db.write()."""
    db.execute("DELETE FROM batch_items WHERE file_id = :id", {"id": file_id})
    db.execute("DELETE FROM files WHERE id = :id", {"id": file_id})


def schedule_blob_deletions(db: Database, keys: Sequence[str], prefixes: Sequence[str] = ()) -> list[int]:
    """Record bytes to delete, inside the db.write() that removes the rows pointing at them; their
    ids, for :func:`forget_blob_deletions` once the bytes are gone."""
    now = now_str()
    ids: list[int] = []
    for key, prefix in [(k, 0) for k in keys] + [(p, 1) for p in prefixes]:
        cur = db.execute("INSERT INTO blob_deletions (key, prefix, created_at) VALUES (:k, :p, :now)",
                         {"k": key, "p": prefix, "now": now})
        ids.append(int(cur.lastrowid or 0))
    return ids


def pending_blob_deletions(db: Database, limit: int, ids: Sequence[int] | None = None, after: int = 0) -> list[Row]:
    """The oldest pending deletions after id ``after`` (of ``ids`` only, when given)."""
    params: dict[str, Any] = {"n": limit, "after": after}
    only = f" AND {in_list('id', ids, params, 'd')}" if ids is not None else ""
    return db.all(f"SELECT id, key, prefix FROM blob_deletions WHERE id > :after{only} ORDER BY id LIMIT :n", params)


def forget_blob_deletions(db: Database, ids: list[int]) -> None:
    if not ids:
        return
    with db.write():
        db.execute("DELETE FROM blob_deletions WHERE id IN (SELECT value FROM json_each(:ids))",
                   {"ids": json.dumps(ids)})


def file_ids_in_space(db: Database, space: str) -> list[str]:
    return [r["id"] for r in db.all("SELECT id FROM files WHERE space = :s", {"s": space})]


def list_spaces(db: Database, spaces: tuple[str, ...] | None) -> list[Row]:
    params: dict[str, Any] = {}
    clause = _space_clause(spaces, params)
    where = f"WHERE {clause}" if clause else ""
    return db.all(
        f"SELECT space, count(*) AS file_count FROM files {where} GROUP BY space ORDER BY space", params
    )


def space_stats(db: Database, space: str) -> Row:
    totals = db.one(
        "SELECT count(*) AS total_files, coalesce(sum(size_bytes), 0) AS total_size_bytes FROM files WHERE space = :s",
        {"s": space},
    ) or {"total_files": 0, "total_size_bytes": 0}
    counts = {
        r["status"]: r["n"]
        for r in db.all("SELECT status, count(*) AS n FROM files WHERE space = :s GROUP BY status", {"s": space})
    }
    variant_bytes = db.value(
        "SELECT coalesce(sum(v.size_bytes), 0) FROM variants v JOIN files f ON f.id = v.file_id WHERE f.space = :s",
        {"s": space},
    )
    return {
        "space": space,
        "total_files": totals["total_files"],
        "total_size_bytes": totals["total_size_bytes"],
        "variant_size_bytes": int(variant_bytes or 0),
        "status_counts": counts,
    }


def uploading_files(db: Database) -> list[Row]:
    """Files still waiting for (or receiving) their bytes, with how many upload URLs were issued and used.

    ``tokens`` 0 means a multipart upload (or an object-store presigned PUT, which has no token here).
    """
    rows = db.all(
        "SELECT f.*, (SELECT count(*) FROM upload_tokens t WHERE t.file_id = f.id) AS tokens, "
        "(SELECT count(*) FROM upload_tokens t WHERE t.file_id = f.id AND t.used_at IS NOT NULL) AS tokens_used "
        "FROM files f WHERE f.status = 'uploading' AND f.node_id IS NULL ORDER BY f.created_at"
    )
    return [decode_file(r) for r in rows]
