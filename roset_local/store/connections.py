"""Storage connections, their nodes (bucket objects and folders) and sync sessions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from roset_local.pagination import keyset
from roset_local.store.db import Database, Row, in_list
from roset_local.store.files import decode_file
from roset_local.store.migrations import Migrations
from roset_local.timeutil import now_str

connections = Migrations("connections")
connections.add(
    "0001_connections_nodes_syncs",
    """
    CREATE TABLE connections (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        provider TEXT NOT NULL,
        bucket TEXT NOT NULL,
        region TEXT,
        prefix TEXT NOT NULL DEFAULT '',
        endpoint_url TEXT,
        credentials TEXT,                 -- AES-GCM ciphertext of the credentials JSON
        credential_fields TEXT NOT NULL DEFAULT '[]',  -- JSON array of the credential names (no values)
        space TEXT NOT NULL DEFAULT 'default',
        status TEXT NOT NULL,             -- pending | active | error
        verified INTEGER NOT NULL DEFAULT 0,
        sync_interval_minutes INTEGER,
        process_new_files INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        last_synced_at TEXT,
        next_sync_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX connections_created ON connections (created_at, id);
    CREATE INDEX connections_next_sync ON connections (next_sync_at) WHERE sync_interval_minutes IS NOT NULL;
    CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
        parent_id TEXT,
        type TEXT NOT NULL,               -- file | folder
        name TEXT NOT NULL,
        path TEXT NOT NULL,               -- full object key; folders end with '/'
        size_bytes INTEGER,
        etag TEXT,
        content_type TEXT,
        last_modified TEXT,
        file_id TEXT,
        status TEXT NOT NULL DEFAULT 'present',  -- present | pending (upload initiated, not committed)
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (connection_id, path)
    );
    CREATE INDEX nodes_parent ON nodes (connection_id, parent_id, path);
    CREATE INDEX nodes_path ON nodes (path, id);
    CREATE INDEX nodes_file ON nodes (file_id);
    CREATE TABLE syncs (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,             -- creation order (timestamps tie within a second)
        connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
        status TEXT NOT NULL,             -- queued | syncing | completed | failed
        trigger TEXT NOT NULL DEFAULT 'manual',
        synced INTEGER NOT NULL DEFAULT 0,
        total INTEGER NOT NULL DEFAULT 0,
        files_added INTEGER NOT NULL DEFAULT 0,
        files_updated INTEGER NOT NULL DEFAULT 0,
        files_deleted INTEGER NOT NULL DEFAULT 0,
        folders INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at TEXT NOT NULL,
        started_at TEXT,
        completed_at TEXT
    );
    CREATE INDEX syncs_connection ON syncs (connection_id, seq);
    -- at most one queued or running sync per connection
    CREATE UNIQUE INDEX syncs_active ON syncs (connection_id) WHERE status IN ('queued', 'syncing');
    """,
)

connections.add(
    "0002_mirror_on_delete",
    """
    -- what a sync does to the files of objects gone from the bucket: remove | keep (flagged source_deleted)
    ALTER TABLE connections ADD COLUMN on_delete TEXT NOT NULL DEFAULT 'remove';
    ALTER TABLE files ADD COLUMN source_deleted INTEGER NOT NULL DEFAULT 0;
    """,
)

connections.add(
    "0003_livesync_event_secret",
    """
    -- the secret bucket event notifications carry (S3-compatible connections), sealed with the instance key
    ALTER TABLE connections ADD COLUMN event_secret TEXT;
    """,
)

ACTIVE_SYNC = ("queued", "syncing")
NODE_COLUMNS = ("id", "connection_id", "parent_id", "type", "name", "path", "size_bytes", "etag", "content_type",
                "last_modified", "file_id", "status", "created_at", "updated_at")


# -- connections ----------------------------------------------------------------------------------

def _decode_connection(row: Row) -> Row:
    row["credential_fields"] = json.loads(row["credential_fields"] or "[]")
    row["verified"] = bool(row["verified"])
    row["process_new_files"] = bool(row["process_new_files"])
    return row


def insert_connection(db: Database, row: Mapping[str, Any]) -> None:
    data = dict(row)
    data["credential_fields"] = json.dumps(list(data.get("credential_fields") or []))
    data["verified"] = int(bool(data.get("verified")))
    data["process_new_files"] = int(bool(data.get("process_new_files")))
    db.insert("connections", data)


def get_connection(db: Database, connection_id: str) -> Row | None:
    row = db.one("SELECT * FROM connections WHERE id = :id", {"id": connection_id})
    return _decode_connection(row) if row else None


def list_connections(db: Database, spaces: tuple[str, ...] | None, limit: int,
                     cursor: list[Any] | None) -> list[Row]:
    params: dict[str, Any] = {"limit": limit + 1}
    where, order = keyset("created_at", "asc", cursor, params)
    clauses = [where] if where else []
    if spaces is not None:
        clauses.append(in_list("space", spaces, params, "sp"))
    sql = "SELECT * FROM connections"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    rows = db.all(f"{sql} ORDER BY {order} LIMIT :limit", params)
    return [_decode_connection(r) for r in rows]


def set_connection_fields(db: Database, connection_id: str, **values: Any) -> None:
    values["updated_at"] = now_str()
    db.update("connections", {"id": connection_id}, values)


def delete_connection(db: Database, connection_id: str) -> int:
    """Remove the connection, its nodes and sync history (inside db.write())."""
    db.execute("DELETE FROM nodes WHERE connection_id = :c", {"c": connection_id})
    db.execute("DELETE FROM syncs WHERE connection_id = :c", {"c": connection_id})
    return int(db.execute("DELETE FROM connections WHERE id = :c", {"c": connection_id}).rowcount)


def local_connections_outside(db: Database, space: str) -> list[Row]:
    """``local`` connections of every space but ``space`` (to keep one space off another's directories)."""
    rows = db.all("SELECT * FROM connections WHERE provider = 'local' AND space != :s", {"s": space})
    return [_decode_connection(r) for r in rows]


def local_connections(db: Database) -> list[Row]:
    """Every ``local`` connection (the live-sync thread watches their directories)."""
    rows = db.all("SELECT * FROM connections WHERE provider = 'local' ORDER BY created_at, id")
    return [_decode_connection(r) for r in rows]


def due_connections(db: Database, now: str) -> list[Row]:
    """Connections with a schedule whose next sync time has come and no sync under way."""
    rows = db.all(
        """SELECT c.* FROM connections c
           WHERE c.sync_interval_minutes IS NOT NULL AND (c.next_sync_at IS NULL OR c.next_sync_at <= :now)
             AND NOT EXISTS (SELECT 1 FROM syncs s WHERE s.connection_id = c.id AND s.status IN ('queued', 'syncing'))
           ORDER BY c.next_sync_at""",
        {"now": now},
    )
    return [_decode_connection(r) for r in rows]


def connection_files(db: Database, connection_id: str) -> list[Row]:
    """The files created from the connection's objects (their bytes live in its bucket)."""
    rows = db.all("SELECT * FROM files WHERE connection_id = :c ORDER BY created_at, id", {"c": connection_id})
    return [decode_file(r) for r in rows]


def count_connection_files(db: Database, connection_id: str) -> int:
    return int(db.value("SELECT count(*) FROM files WHERE connection_id = :c", {"c": connection_id}) or 0)


# -- nodes ----------------------------------------------------------------------------------------

def get_node(db: Database, node_id: str) -> Row | None:
    return db.one("SELECT * FROM nodes WHERE id = :id", {"id": node_id})


def get_node_by_path(db: Database, connection_id: str, path: str) -> Row | None:
    return db.one("SELECT * FROM nodes WHERE connection_id = :c AND path = :p", {"c": connection_id, "p": path})


def node_state(db: Database, connection_id: str) -> dict[str, Mapping[str, Any]]:
    """path → {id, type, etag, size_bytes, last_modified, file_id} of every present node.

    The rows stay the driver's read-only rows (indexed by column name): a re-sync of a large bucket
    reads every node, and copying each into a dict was a tenth of a no-change re-sync's time.
    """
    cursor = db.conn.execute(
        """SELECT id, type, path, etag, size_bytes, last_modified, file_id FROM nodes
           WHERE connection_id = :c AND status = 'present'""",
        {"c": connection_id},
    )
    return {r["path"]: r for r in cursor}


def absent_paths(db: Database, connection_id: str) -> dict[str, str]:
    """path → id of nodes with no object behind them: uploads not committed, and deleted objects whose
    file was kept (a reappearing object takes its node back)."""
    rows = db.all("SELECT path, id FROM nodes WHERE connection_id = :c AND status IN ('pending', 'deleted')",
                  {"c": connection_id})
    return {r["path"]: r["id"] for r in rows}


def mark_nodes_deleted(db: Database, node_ids: Iterable[str], now: str) -> None:
    """Objects gone from the bucket whose files are kept: the node stays, linked, as ``deleted``."""
    db.conn.executemany("UPDATE nodes SET status = 'deleted', updated_at = ? WHERE id = ?",
                        [(now, i) for i in node_ids])


def insert_nodes(db: Database, rows: Iterable[Mapping[str, Any]]) -> None:
    cols = ", ".join(NODE_COLUMNS)
    marks = ", ".join(f":{c}" for c in NODE_COLUMNS)
    db.conn.executemany(f"INSERT INTO nodes ({cols}) VALUES ({marks})", [dict(r) for r in rows])


def update_node_objects(db: Database, rows: Iterable[Mapping[str, Any]]) -> None:
    """Refresh object metadata (and parent) of existing nodes, marking them present."""
    db.conn.executemany(
        """UPDATE nodes SET size_bytes = :size_bytes, etag = :etag, content_type = :content_type,
               last_modified = :last_modified, parent_id = :parent_id, status = 'present', updated_at = :updated_at
           WHERE id = :id""",
        [dict(r) for r in rows],
    )


def delete_nodes(db: Database, node_ids: Iterable[str]) -> None:
    db.conn.executemany("DELETE FROM nodes WHERE id = ?", [(i,) for i in node_ids])


def delete_node_tree(db: Database, node: Mapping[str, Any]) -> int:
    """Delete a node record; a folder takes the records below it along."""
    if node["type"] == "folder":
        db.execute(
            "DELETE FROM nodes WHERE connection_id = :c AND substr(path, 1, length(:p)) = :p",
            {"c": node["connection_id"], "p": node["path"]},
        )
    return int(db.execute("DELETE FROM nodes WHERE id = :id", {"id": node["id"]}).rowcount)


def set_node_fields(db: Database, node_id: str, **values: Any) -> None:
    values["updated_at"] = now_str()
    db.update("nodes", {"id": node_id}, values)


def list_nodes(db: Database, *, connection_ids: tuple[str, ...] | None, connection_id: str | None = None,
               parent_id: str | None = None, root_only: bool = False, type_: str | None = None,
               limit: int = 50, cursor: list[Any] | None = None) -> list[Row]:
    """Present nodes ordered by path. ``connection_ids`` (None: all) confines to visible connections."""
    params: dict[str, Any] = {"limit": limit + 1}
    where, order = keyset("path", "asc", cursor, params)
    clauses = ["status = 'present'"] + ([where] if where else [])
    if connection_id is not None:
        clauses.append("connection_id = :conn")
        params["conn"] = connection_id
    if connection_ids is not None:
        clauses.append(in_list("connection_id", connection_ids, params, "c"))
    if parent_id is not None:
        clauses.append("parent_id = :parent")
        params["parent"] = parent_id
    elif root_only:
        clauses.append("parent_id IS NULL")
    if type_ is not None:
        clauses.append("type = :type")
        params["type"] = type_
    sql = f"SELECT * FROM nodes WHERE {' AND '.join(clauses)} ORDER BY {order} LIMIT :limit"
    return db.all(sql, params)


def connection_ids_in_spaces(db: Database, spaces: tuple[str, ...]) -> tuple[str, ...]:
    marks = ", ".join(f":s{i}" for i in range(len(spaces))) or "NULL"
    rows = db.all(f"SELECT id FROM connections WHERE space IN ({marks})", {f"s{i}": s for i, s in enumerate(spaces)})
    return tuple(r["id"] for r in rows)


def file_nodes(db: Database, connection_id: str) -> list[Row]:
    return db.all(
        "SELECT * FROM nodes WHERE connection_id = :c AND type = 'file' AND status = 'present' ORDER BY path",
        {"c": connection_id},
    )


def nodes_by_paths(db: Database, connection_id: str, paths: Iterable[str]) -> list[Row]:
    wanted = set(paths)
    if not wanted:
        return []
    return [r for r in file_nodes(db, connection_id) if r["path"] in wanted]


def linked_file_ids(db: Database, node_ids: list[str]) -> list[str]:
    if not node_ids:
        return []
    params: dict[str, Any] = {}
    rows = db.all(f"SELECT file_id FROM nodes WHERE {in_list('id', node_ids, params, 'n')} AND file_id IS NOT NULL",
                  params)
    return [r["file_id"] for r in rows]


def link_file(db: Database, node_id: str, file_id: str) -> None:
    set_node_fields(db, node_id, file_id=file_id)


# -- syncs ----------------------------------------------------------------------------------------

def active_sync(db: Database, connection_id: str) -> Row | None:
    return db.one("SELECT * FROM syncs WHERE connection_id = :c AND status IN ('queued', 'syncing')",
                  {"c": connection_id})


def insert_sync(db: Database, row: Mapping[str, Any]) -> None:
    """Insert a sync (inside db.write(): the write lock makes max(seq) + 1 unique)."""
    seq = int(db.value("SELECT coalesce(max(seq), 0) + 1 FROM syncs") or 1)
    db.insert("syncs", {**row, "seq": seq})


def get_sync(db: Database, sync_id: str) -> Row | None:
    return db.one("SELECT * FROM syncs WHERE id = :id", {"id": sync_id})


def latest_sync(db: Database, connection_id: str) -> Row | None:
    return db.one("SELECT * FROM syncs WHERE connection_id = :c ORDER BY seq DESC LIMIT 1",
                  {"c": connection_id})


def delete_sync(db: Database, sync_id: str) -> None:
    db.execute("DELETE FROM syncs WHERE id = :id", {"id": sync_id})


def set_sync_fields(db: Database, sync_id: str, **values: Any) -> None:
    db.update("syncs", {"id": sync_id}, values)


def list_syncs(db: Database, connection_id: str, limit: int, cursor: list[Any] | None) -> list[Row]:
    params: dict[str, Any] = {"c": connection_id, "limit": limit + 1}
    where, order = keyset("seq", "desc", cursor, params)
    extra = f" AND {where}" if where else ""
    return db.all(f"SELECT * FROM syncs WHERE connection_id = :c{extra} ORDER BY {order} LIMIT :limit", params)


def fail_interrupted_syncs(db: Database, message: str) -> int:
    """Syncs left ``syncing`` by a process that died can never finish: mark them failed."""
    return int(db.execute(
        "UPDATE syncs SET status = 'failed', error = :e, completed_at = :now WHERE status = 'syncing'",
        {"e": message, "now": now_str()},
    ).rowcount)
