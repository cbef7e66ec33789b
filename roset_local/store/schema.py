"""The schema of the application database, as migration sets. Add steps; never edit applied ones."""

from __future__ import annotations

from roset_local.store.migrations import Migrations

core = Migrations("core")
core.add(
    "0001_keys_logs_settings",
    """
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        scopes TEXT NOT NULL,            -- JSON array
        spaces TEXT,                     -- JSON array or NULL (all spaces)
        mode TEXT NOT NULL DEFAULT 'live',
        expires_at TEXT,
        last_used_at TEXT,
        revoked_at TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE api_logs (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status INTEGER NOT NULL,
        auth_type TEXT,
        key_id TEXT,
        key_name TEXT,
        duration_ms INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX api_logs_created ON api_logs (created_at, id);
    CREATE TABLE org_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL              -- JSON
    );
    """,
)

files = Migrations("files")
files.add(
    "0001_files_jobs_variants",
    """
    CREATE TABLE files (
        id TEXT PRIMARY KEY,
        space TEXT NOT NULL,
        filename TEXT NOT NULL,
        content_type TEXT,
        size_bytes INTEGER,
        sha256 TEXT,
        storage_key TEXT NOT NULL,
        status TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',   -- JSON object of strings
        options TEXT NOT NULL DEFAULT '{}',    -- provider, embedding_model, chunking, variants
        error TEXT,
        reason TEXT,
        latest_job_id TEXT,
        batch_id TEXT,
        connection_id TEXT,
        node_id TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX files_space_created ON files (space, created_at, id);
    CREATE INDEX files_space_updated ON files (space, updated_at, id);
    CREATE INDEX files_space_filename ON files (space, filename, id);
    CREATE INDEX files_space_size ON files (space, size_bytes, id);
    CREATE INDEX files_status ON files (status);
    CREATE INDEX files_batch ON files (batch_id);
    CREATE INDEX files_connection ON files (connection_id);
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
        space TEXT NOT NULL,
        status TEXT NOT NULL,
        provider TEXT,
        engine TEXT,
        stage TEXT,
        progress INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        options TEXT NOT NULL DEFAULT '{}',
        reason TEXT,
        error TEXT,
        pages INTEGER NOT NULL DEFAULT 0,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_expires_at REAL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        completed_at TEXT,
        duration_ms INTEGER,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX jobs_file ON jobs (file_id, created_at);
    CREATE INDEX jobs_created ON jobs (created_at, id);
    CREATE INDEX jobs_status ON jobs (status, created_at);
    CREATE INDEX jobs_space_created ON jobs (space, created_at, id);
    CREATE TABLE variants (
        id TEXT PRIMARY KEY,
        file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
        job_id TEXT,
        type TEXT NOT NULL,
        provider TEXT,
        content TEXT,
        blob_key TEXT,
        content_type TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (file_id, type)
    );
    CREATE TABLE batches (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,              -- upload | process
        created_at TEXT NOT NULL
    );
    CREATE TABLE batch_items (
        batch_id TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
        file_id TEXT NOT NULL,
        job_id TEXT,
        PRIMARY KEY (batch_id, file_id)
    );
    CREATE TABLE upload_tokens (
        id TEXT PRIMARY KEY,             -- nonce carried in the signed URL
        file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
        expires_at REAL NOT NULL,
        used_at TEXT
    );
    CREATE TABLE events (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        space TEXT,
        data TEXT NOT NULL,              -- JSON
        created_at TEXT NOT NULL
    );
    CREATE INDEX events_created ON events (created_at, id);
    CREATE INDEX events_seq ON events (seq);
    """,
)

from roset_local.store.webhooks import webhooks as webhooks_schema  # noqa: E402

from roset_local.store.analytics import analytics as analytics_schema  # noqa: E402
from roset_local.store.org import org as org_schema  # noqa: E402

from roset_local.store.console import console as console_schema  # noqa: E402

from roset_local.store.connections import connections as connections_schema  # noqa: E402

from roset_local.store.chunks import index as index_schema  # noqa: E402

# Where a chunk's text sits on its page: {"box": [x0, y0, x1, y1], "page_size": [w, h]} in points.
index_schema.add("0002_positions_chunk_bbox", "ALTER TABLE chunks ADD COLUMN bbox TEXT;")
# Every vector added or removed, in order: the persisted ANN index replays what it has not saved yet.
index_schema.add(
    "0003_ann_vector_log",
    """
    CREATE TABLE vector_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        vector_table TEXT NOT NULL,
        chunk_id INTEGER NOT NULL,
        added INTEGER NOT NULL              -- 1: vector inserted, 0: its chunk deleted
    );
    CREATE TRIGGER chunks_vector_log AFTER DELETE ON chunks WHEN old.vector_table IS NOT NULL BEGIN
        INSERT INTO vector_log (vector_table, chunk_id, added) VALUES (old.vector_table, old.id, 0);
    END;
    """,
)

# Content-addressed reuse (issue 18) looks files up by their bytes within a space at every job.
files.add("0002_mirror_files_space_sha256", "CREATE INDEX files_space_sha256 ON files (space, sha256);")

# Tenant confinement (issue 14): objects spanning spaces carry their spaces; logs hold no secret.
confine = Migrations("confine")
confine.add(
    "0001_confine_scope_webhook_and_log_spaces",
    """
    ALTER TABLE webhooks ADD COLUMN spaces TEXT;     -- JSON array, or NULL: every space
    ALTER TABLE api_logs ADD COLUMN spaces TEXT;     -- the caller's confinement, NULL: unconfined
    -- Paths used to be logged raw: rows carrying a share-link token are dropped.
    DELETE FROM api_logs WHERE instr(path, 'ptk_') > 0;
    """,
)

from roset_local.store.audit import audit as audit_schema  # noqa: E402

ALL = [core, files, webhooks_schema, org_schema, analytics_schema, console_schema, connections_schema, index_schema,
       confine, audit_schema]


# Worker hosts (issue 17): which host ran a job, for the console and operators.
files.add("0003_scaleout_job_worker_host", "ALTER TABLE jobs ADD COLUMN worker_host TEXT;")

# Stored bytes whose rows are gone, written in the transaction that removes the rows: a crash before
# the bytes are deleted leaves the deletion to the next start instead of a blob of no file.
files.add(
    "0004_blob_deletions",
    """
    CREATE TABLE blob_deletions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        prefix INTEGER NOT NULL DEFAULT 0,  -- 1: everything under key/
        created_at TEXT NOT NULL
    );
    """,
)
