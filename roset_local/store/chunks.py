"""Chunks, their FTS5 index and their vectors (one sqlite-vec table per embedding model and dimension)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from roset_local.store.db import Database, Row, in_list
from roset_local.store.migrations import Migrations
from roset_local.timeutil import now_str

index = Migrations("index")
index.add(
    "0001_chunks_fts_vectors",
    """
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: the in-memory vector index relies on it
        file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
        space TEXT NOT NULL,
        seq INTEGER NOT NULL,
        text TEXT NOT NULL,
        char_start INTEGER NOT NULL,
        char_end INTEGER NOT NULL,
        page INTEGER,
        heading TEXT,
        ts_start REAL,
        ts_end REAL,
        vector_table TEXT                      -- vec table holding its vector; NULL when not embedded
    );
    CREATE INDEX chunks_file ON chunks (file_id, seq);
    CREATE VIRTUAL TABLE chunks_fts USING fts5 (
        text, filename, content='', contentless_delete=1, tokenize='porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
        DELETE FROM chunks_fts WHERE rowid = old.id;
    END;
    CREATE TABLE vector_tables (
        name TEXT PRIMARY KEY,                 -- vec_<hash>: float vectors (sqlite-vec vec0)
        model TEXT NOT NULL,
        dimensions INTEGER NOT NULL,
        version INTEGER NOT NULL DEFAULT 0,    -- bumped by every insert batch
        deleted INTEGER NOT NULL DEFAULT 0,    -- vectors removed since creation
        created_at TEXT NOT NULL,
        UNIQUE (model, dimensions)
    );
    """,
)

_NAME_RE = re.compile(r"^vec_[0-9a-f]{12}$")


def _table_name(model: str, dimensions: int) -> str:
    return "vec_" + hashlib.sha256(f"{model}\x00{dimensions}".encode()).hexdigest()[:12]


def _checked(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"not a vector table name: {name!r}")
    return name


def vector_table(db: Database, model: str, dimensions: int) -> str | None:
    return db.value(
        "SELECT name FROM vector_tables WHERE model = :m AND dimensions = :d", {"m": model, "d": dimensions}
    )


def list_vector_tables(db: Database) -> list[Row]:
    return db.all("SELECT * FROM vector_tables ORDER BY created_at, name")


def vector_table_state(db: Database, name: str) -> Row | None:
    return db.one("SELECT name, model, dimensions, version, deleted FROM vector_tables WHERE name = :n", {"n": name})


def ensure_vector_table(db: Database, model: str, dimensions: int) -> str:
    """The vec0 table for this model and size, created on first use (inside the caller's write).

    ``vec_X`` (vec0) holds the float vectors with the space as a metadata column (exact KNN);
    ``vec_X_bits`` holds 1-bit signs for the in-memory coarse pass and a float copy for re-scoring
    by primary key (vec0 has no fast multi-rowid lookup: ``rowid IN (...)`` scans the table,
    ~800 ms at 100k vectors). A trigger on ``chunks`` removes both, so
    deleting chunks (or their file, by cascade) never leaves a searchable vector behind.
    """
    name = vector_table(db, model, dimensions)
    if name is not None:
        return name
    name = _table_name(model, dimensions)
    with db.write():
        db.execute(
            f"CREATE VIRTUAL TABLE {name} USING vec0 ("
            f"embedding float[{int(dimensions)}] distance_metric=cosine, space text)"
        )
        db.execute(
            f"CREATE TABLE {name}_bits (chunk_id INTEGER PRIMARY KEY, file_id TEXT NOT NULL, "
            "space TEXT NOT NULL, bits BLOB NOT NULL, vector BLOB NOT NULL)"
        )
        db.execute(
            f"CREATE TRIGGER {name}_delete AFTER DELETE ON chunks WHEN old.vector_table = '{name}' BEGIN "
            f"DELETE FROM {name} WHERE rowid = old.id; "
            f"DELETE FROM {name}_bits WHERE chunk_id = old.id; "
            f"UPDATE vector_tables SET deleted = deleted + 1 WHERE name = '{name}'; "
            "END"
        )
        db.insert("vector_tables", {"name": name, "model": model, "dimensions": int(dimensions), "created_at": now_str()})
    return name


# -- writing -------------------------------------------------------------------------------------


def delete_file_chunks(db: Database, file_id: str) -> int:
    """Remove a file's chunks; triggers remove their FTS rows and vectors. Inside db.write()."""
    return db.execute("DELETE FROM chunks WHERE file_id = :f", {"f": file_id}).rowcount


def insert_chunk(db: Database, row: dict[str, Any], filename: str) -> int:
    cur = db.execute(
        "INSERT INTO chunks (file_id, space, seq, text, char_start, char_end, page, heading, ts_start, ts_end, "
        "vector_table, bbox) VALUES (:file_id, :space, :seq, :text, :char_start, :char_end, :page, :heading, "
        ":ts_start, :ts_end, :vector_table, :bbox)",
        row,
    )
    chunk_id = int(cur.lastrowid)
    db.execute(
        "INSERT INTO chunks_fts (rowid, text, filename) VALUES (:id, :text, :filename)",
        {"id": chunk_id, "text": row["text"], "filename": filename},
    )
    return chunk_id


def copy_file_chunks(db: Database, source_id: str, target_id: str, filename: str) -> int:
    """Give ``target_id`` a copy of ``source_id``'s chunks, FTS rows and vectors, replacing its own
    (same space: content-addressed reuse). Inside db.write(). Returns the number of chunks."""
    delete_file_chunks(db, target_id)
    moved: dict[str, list[tuple[int, int, str]]] = {}
    rows = file_chunks(db, source_id)
    for row in rows:
        copy = {k: row[k] for k in ("space", "seq", "text", "char_start", "char_end", "page", "heading", "ts_start",
                                    "ts_end", "vector_table", "bbox")}
        new = insert_chunk(db, {**copy, "file_id": target_id}, filename)
        if row["vector_table"]:
            moved.setdefault(row["vector_table"], []).append((row["id"], new, row["space"]))
    for table, pairs in moved.items():
        name = _checked(table)
        old_ids = ",".join(str(int(old)) for old, _, _ in pairs)
        stored = {int(r[0]): (r[1], r[2]) for r in
                  db.execute(f"SELECT chunk_id, vector, bits FROM {name}_bits WHERE chunk_id IN ({old_ids})").fetchall()}
        insert_vectors(db, table, [(new, target_id, space, stored[old][0], stored[old][1])
                                   for old, new, space in pairs if old in stored])
    return len(rows)


def insert_vectors(
    db: Database, table: str, rows: Sequence[tuple[int, str, str, bytes, bytes]]
) -> None:
    """rows: (chunk_id, file_id, space, float32 bytes, sign bits bytes). Inside db.write()."""
    table = _checked(table)
    db.conn.executemany(
        f"INSERT INTO {table} (rowid, embedding, space) VALUES (?, ?, ?)", [(r[0], r[3], r[2]) for r in rows]
    )
    db.conn.executemany(
        f"INSERT INTO {table}_bits (chunk_id, file_id, space, bits, vector) VALUES (?, ?, ?, ?, ?)",
        [(r[0], r[1], r[2], r[4], r[3]) for r in rows],
    )
    db.conn.executemany(
        "INSERT INTO vector_log (vector_table, chunk_id, added) VALUES (?, ?, 1)", [(table, r[0]) for r in rows]
    )
    db.execute("UPDATE vector_tables SET version = version + 1 WHERE name = :n", {"n": table})


# -- reading -------------------------------------------------------------------------------------


def markdown_of(db: Database, file_id: str) -> str | None:
    return db.value("SELECT content FROM variants WHERE file_id = :f AND type = 'markdown'", {"f": file_id})


def structure_of(db: Database, file_id: str) -> str | None:
    return db.value("SELECT content FROM variants WHERE file_id = :f AND type = 'structure'", {"f": file_id})


def file_for_index(db: Database, file_id: str) -> Row | None:
    return db.one("SELECT id, space, filename, content_type, metadata, options FROM files WHERE id = :f", {"f": file_id})


def file_chunks(db: Database, file_id: str) -> list[Row]:
    return db.all("SELECT * FROM chunks WHERE file_id = :f ORDER BY seq", {"f": file_id})


def count_chunks(db: Database, file_id: str | None = None) -> int:
    if file_id is None:
        return int(db.value("SELECT count(*) FROM chunks") or 0)
    return int(db.value("SELECT count(*) FROM chunks WHERE file_id = :f", {"f": file_id}) or 0)


def load_bits(db: Database, table: str, after_id: int) -> list[tuple[int, str, str, bytes]]:
    """(chunk_id, file_id, space, bits) of vectors added after ``after_id``, in id order."""
    table = _checked(table)
    return db.execute(
        f"SELECT chunk_id, file_id, space, bits FROM {table}_bits WHERE chunk_id > :a ORDER BY chunk_id",
        {"a": after_id},
    ).fetchall()


def stored_vectors(db: Database, table: str, ids: Sequence[int]) -> list[tuple[int, bytes]]:
    """(chunk_id, float32 bytes) by primary key, for exact re-scoring of candidates."""
    table = _checked(table)
    out: list[tuple[int, bytes]] = []
    for start in range(0, len(ids), 5000):
        marks = ",".join(str(int(i)) for i in ids[start : start + 5000])
        out.extend(db.execute(f"SELECT chunk_id, vector FROM {table}_bits WHERE chunk_id IN ({marks})").fetchall())
    return [(int(r[0]), r[1]) for r in out]


def vector_log_after(db: Database, table: str, seq: int, limit: int) -> list[tuple[int, int, int]]:
    """(seq, chunk_id, added) of vectors added/removed after ``seq``, in order."""
    return db.execute(
        "SELECT seq, chunk_id, added FROM vector_log WHERE seq > :s AND vector_table = :t ORDER BY seq LIMIT :l",
        {"s": int(seq), "t": table, "l": int(limit)},
    ).fetchall()


def vector_log_last(db: Database) -> int:
    return int(db.value("SELECT max(seq) FROM vector_log") or 0)


def vector_log_tables(db: Database) -> list[str]:
    return [r[0] for r in db.execute("SELECT DISTINCT vector_table FROM vector_log").fetchall()]


def prune_vector_log(db: Database, table: str, upto: int) -> None:
    """Forget log entries a saved index already holds."""
    with db.write():
        db.execute("DELETE FROM vector_log WHERE vector_table = :t AND seq <= :s", {"t": table, "s": int(upto)})


def vectors_after(db: Database, table: str, after_id: int, limit: int) -> list[tuple[int, bytes]]:
    """(chunk_id, float32 bytes) in id order, a page at a time, for building an index."""
    table = _checked(table)
    rows = db.execute(
        f"SELECT chunk_id, vector FROM {table}_bits WHERE chunk_id > :a ORDER BY chunk_id LIMIT :l",
        {"a": int(after_id), "l": int(limit)},
    ).fetchall()
    return [(int(r[0]), r[1]) for r in rows]


def candidate_vectors(db: Database, table: str, ids: Sequence[int]) -> list[tuple[int, str, str, bytes]]:
    """(chunk_id, file_id, space, float32 bytes) by primary key: exact filtering and re-scoring."""
    table = _checked(table)
    marks = ",".join(str(int(i)) for i in ids)
    rows = db.execute(f"SELECT chunk_id, file_id, space, vector FROM {table}_bits WHERE chunk_id IN ({marks})")
    return [(int(r[0]), r[1], r[2], r[3]) for r in rows.fetchall()]


def knn(db: Database, table: str, query: bytes, k: int, spaces: Sequence[str] | None) -> list[tuple[int, float]]:
    """Exact KNN in sqlite-vec (brute force, space filtered inside the scan)."""
    table = _checked(table)
    params: dict[str, Any] = {"q": query, "k": int(k)}
    cond = ""
    if spaces is not None:
        marks = []
        for i, s in enumerate(spaces):
            params[f"s{i}"] = s
            marks.append(f":s{i}")
        cond = f" AND space IN ({', '.join(marks)})"
    rows = db.execute(
        f"SELECT rowid, distance FROM {table} WHERE embedding MATCH :q AND k = :k{cond} ORDER BY distance", params
    ).fetchall()
    return [(int(r[0]), float(r[1])) for r in rows]


def file_filter_sql(
    params: dict[str, Any], spaces: Sequence[str] | None, content_type: str | None, metadata: dict[str, str]
) -> str:
    """WHERE conditions on ``f`` (files) for the search filters; fills ``params``."""
    where = []
    if spaces is not None:
        where.append(in_list("f.space", spaces, params, "fs"))
    if content_type:
        ct = content_type.strip().lower()
        if ct.endswith("/*"):
            params["fct"] = ct[:-1] + "%"
            where.append("lower(f.content_type) LIKE :fct")
        else:
            params["fct"] = ct
            where.append("lower(f.content_type) = :fct")
    for i, (key, value) in enumerate(sorted(metadata.items())):
        params[f"fmk{i}"] = f'$."{key}"'
        params[f"fmv{i}"] = value
        where.append(f"json_extract(f.metadata, :fmk{i}) = :fmv{i}")
    return " AND ".join(where)


def fts_search(
    db: Database,
    match: str,
    *,
    spaces: Sequence[str] | None,
    content_type: str | None,
    metadata: dict[str, str],
    limit: int,
) -> list[tuple[int, float]]:
    """(chunk_id, bm25) best first; bm25 is negative (more negative = better), filename weighs 2x."""
    params: dict[str, Any] = {"match": match, "limit": int(limit)}
    cond = file_filter_sql(params, spaces, content_type, metadata)
    if not cond:
        rows = db.execute(
            "SELECT rowid, bm25(chunks_fts, 1.0, 2.0) AS r FROM chunks_fts WHERE chunks_fts MATCH :match "
            "ORDER BY r LIMIT :limit",
            params,
        ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]
    rows = db.execute(
        "SELECT m.id, m.r FROM (SELECT rowid AS id, bm25(chunks_fts, 1.0, 2.0) AS r FROM chunks_fts "
        "WHERE chunks_fts MATCH :match) m JOIN chunks c ON c.id = m.id JOIN files f ON f.id = c.file_id "
        f"WHERE {cond} ORDER BY m.r LIMIT :limit",
        params,
    ).fetchall()
    return [(int(r[0]), float(r[1])) for r in rows]


def chunks_with_files(
    db: Database,
    ids: Sequence[int],
    *,
    spaces: Sequence[str] | None = None,
    content_type: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[int, Row]:
    """Chunk rows joined with their file, keeping only those that pass the filters."""
    if not ids:
        return {}
    params: dict[str, Any] = {}
    cond = file_filter_sql(params, spaces, content_type, metadata or {})
    marks = ",".join(str(int(i)) for i in ids)
    sql = (
        "SELECT c.id, c.file_id, c.text, c.page, c.heading, c.ts_start, c.ts_end, c.char_start, c.char_end, c.bbox, "
        "f.filename, f.space, f.content_type FROM chunks c JOIN files f ON f.id = c.file_id "
        f"WHERE c.id IN ({marks})"
    )
    if cond:
        sql += " AND " + cond
    return {int(r["id"]): r for r in db.all(sql, params)}


def chunk_texts(db: Database, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    marks = ",".join(str(int(i)) for i in ids)
    return {int(r[0]): r[1] for r in db.execute(f"SELECT id, text FROM chunks WHERE id IN ({marks})").fetchall()}


def file_ids_in(
    db: Database, *, spaces: Sequence[str] | None, content_type: str | None, metadata: dict[str, str]
) -> set[str]:
    params: dict[str, Any] = {}
    cond = file_filter_sql(params, spaces, content_type, metadata)
    sql = "SELECT f.id FROM files f" + (f" WHERE {cond}" if cond else "")
    return {r[0] for r in db.execute(sql, params).fetchall()}
