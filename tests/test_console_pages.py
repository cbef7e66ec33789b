"""Console connections, files-table refresh and the settings forms, through HTTP as a signed-in user."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from roset_local.config import Settings
from roset_local.portal import users
from tests.conftest import ADMIN_KEY

PASSWORD = "console-pages-password"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    root = tmp_path / "root"
    (root / "docs" / "sub").mkdir(parents=True)
    (root / "docs" / "a.txt").write_text("alpha")
    (root / "docs" / "sub" / "b.txt").write_text("bravo bravo")
    return Settings.from_env({}, data_dir=tmp_path / "data", admin_key=ADMIN_KEY, workers=2,
                             local_roots=(str(root),))


@pytest.fixture
def console(client, services):
    users.create_user(services.db, "alice", PASSWORD, is_admin=True)
    client.headers.pop("Authorization", None)
    form = client.get("/console/login")
    token = re.search(r'name="_csrf" value="([^"]+)"', form.text).group(1)
    r = client.post("/console/login", data={"_csrf": token, "username": "alice", "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303
    return client


def csrf_of(console, path: str = "/console") -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', console.get(path).text).group(1)


def wait_for(fn, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (value := fn()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
    return value


def local_form(csrf: str, **extra) -> dict:
    return {"_csrf": csrf, "provider": "local", "name": "Docs", "bucket": "docs", "space": "docs",
            "sync_interval_minutes": "", **extra}


def test_pages_and_json_need_a_session(client):
    client.headers.pop("Authorization", None)
    for path in ("/console/connections", "/console/connections?provider=s3", "/console/connections/conn-x",
                 "/console/connections/conn-x/browse", "/console/settings", "/console/files?partial=1",
                 "/console/nodes/node-x/download"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login"), path
    assert client.get("/console/api/connections/conn-x/progress").status_code == 401
    # an API key is not a console session
    assert client.get("/console/api/connections/conn-x/progress", headers={"Authorization": f"ApiKey {ADMIN_KEY}"}
                      ).status_code == 401


def test_forms_need_csrf(console):
    csrf = csrf_of(console)
    for path, data in (("/console/connections", local_form("")), ("/console/settings/org", {}),
                       ("/console/settings/routing", {"reset": "1"}), ("/console/connections/conn-x/sync", {})):
        assert console.post(path, data={**data, "_csrf": "wrong"}).status_code == 403, path
        assert console.post(path, data={k: v for k, v in data.items() if k != "_csrf"}).status_code == 403, path
    assert csrf  # the right token works: see the tests below


def test_provider_setup_shows_instructions_and_policy(console):
    page = console.get("/console/connections?provider=s3")
    assert page.status_code == 200
    text = page.text
    assert "Amazon S3" in text and "Least-privilege policy" in text and "s3:ListBucket" in text
    assert 'name="cred_access_key_id"' in text and 'name="cred_secret_access_key"' in text
    assert 'type="password"' in text and 'name="region"' in text
    azure = console.get("/console/connections?provider=azure_blob").text
    assert 'name="cred_connection_string"' in azure and 'name="cred_account_name"' in azure
    gcs = console.get("/console/connections?provider=gcs").text
    assert 'name="cred_service_account_json"' in gcs and 'value="anonymous"' in gcs
    local = console.get("/console/connections?provider=local").text
    assert "ROSET_LOCAL_ROOTS" in local and "cred_" not in local
    assert console.get("/console/connections?provider=nope").status_code == 404


def test_failed_verification_shows_reason_and_never_echoes_secrets(console, services):
    csrf = csrf_of(console)
    secret = "SuperSecretValue-1234567890"
    r = console.post("/console/connections", data={
        "_csrf": csrf, "provider": "minio", "name": "Broken", "bucket": "my-bucket", "auth_method": "keys",
        "endpoint_url": "http://127.0.0.1:9", "cred_access_key_id": "AKIAEXAMPLE", "cred_secret_access_key": secret,
        "space": "default"})
    assert r.status_code == 400
    assert "Could not connect" in r.text and secret not in r.text
    assert 'value="AKIAEXAMPLE"' in r.text and 'value="Broken"' in r.text  # non-secret values kept
    assert services.db.value("SELECT count(*) FROM connections") == 0
    # a config error (local path outside the roots) names the problem
    bad = console.post("/console/connections", data=local_form(csrf, bucket="/etc"))
    assert bad.status_code == 400 and "not inside an allowed local root" in bad.text


def test_local_connection_sync_browse_and_download(console, services):
    csrf = csrf_of(console)
    r = console.post("/console/connections", data=local_form(csrf), follow_redirects=False)
    assert r.status_code == 303, r.text
    detail = r.headers["location"].split("?")[0]
    cid = detail.rsplit("/", 1)[1]
    assert cid.startswith("conn-")
    listing = console.get("/console/connections").text
    assert f'href="/console/connections/{cid}"' in listing and "Docs" in listing
    assert console.get(f"/console/api/connections/{cid}/progress").json()["status"] == "idle"

    # test and sync through the forms
    tested = console.post(f"/console/connections/{cid}/test", data={"_csrf": csrf, "back": "/console/connections"},
                          follow_redirects=False)
    assert tested.status_code == 303 and "the+connection+works" in tested.headers["location"].replace("%20", "+")
    synced = console.post(f"/console/connections/{cid}/sync", data={"_csrf": csrf}, follow_redirects=False)
    assert synced.status_code == 303 and synced.headers["location"].startswith(detail)
    done = wait_for(lambda: (p := console.get(f"/console/api/connections/{cid}/progress").json())["status"]
                    in ("completed", "failed") and p)
    assert done["status"] == "completed" and done["percent"] == 100 and done["total"] == 2

    page = console.get(detail).text
    assert "a.txt" in page and "sub/" in page and "Sync history" in page and "completed" in page
    node_id = re.search(r'href="/console/nodes/([^/]+)/download"[^>]*>a\.txt<', page).group(1)
    folder = re.search(rf'href="/console/connections/{cid}\?node=([^"]+)">sub/<', page).group(1)
    inner = console.get(f"{detail}?node={folder}").text
    assert "b.txt" in inner and "a.txt" not in inner
    dl = console.get(f"/console/nodes/{node_id}/download", follow_redirects=False)
    assert dl.status_code == 303 and "/v1/nodes/" in dl.headers["location"]
    assert console.get(dl.headers["location"]).content == b"alpha"

    browse = console.get(f"{detail}/browse").text
    assert "a.txt" in browse and "sub/" in browse
    deeper = console.get(f"{detail}/browse", params={"prefix": "sub/"}).text
    assert "b.txt" in deeper and "a.txt" not in deeper

    gone = console.post(f"/console/connections/{cid}/delete", data={"_csrf": csrf}, follow_redirects=False)
    assert gone.status_code == 303
    assert console.get(detail).status_code == 404
    assert console.get(f"/console/api/connections/{cid}/progress").status_code == 404


def test_files_rows_partial(console):
    csrf = csrf_of(console, "/console/files")
    up = console.post("/console/api/upload", params={"space": "s1"}, headers={"X-CSRF-Token": csrf},
                      files={"file": ("fresh.txt", b"fresh file", "text/plain")})
    assert up.status_code == 201
    rows = console.get("/console/files", params={"partial": "1", "space": "s1"})
    assert rows.status_code == 200 and "fresh.txt" in rows.text
    assert "<html" not in rows.text and "<tr" in rows.text
    assert "fresh.txt" not in console.get("/console/files", params={"partial": "1", "space": "other"}).text


def test_settings_form_saves_and_reports_errors(console, client):
    csrf = csrf_of(console, "/console/settings")
    page = console.get("/console/settings").text
    assert 'name="default_chunking.chunk_size"' in page and 'name="rule_content_type"' in page
    form = {"_csrf": csrf, "default_embedding_model": "all-minilm-l6-v2", "default_chunking.strategy": "markdown",
            "default_chunking.chunk_size": "1200", "default_chunking.chunk_overlap": "100",
            "default_variants": ["markdown", "embeddings"], "chat_model": "", "pages_limit": "5000"}
    ok = console.post("/console/settings/org", data=form, follow_redirects=False)
    assert ok.status_code == 303 and "Settings+saved" in ok.headers["location"].replace("%20", "+")
    saved = client.get("/v1/org/settings", headers={"Authorization": f"ApiKey {ADMIN_KEY}"}).json()
    assert saved["default_chunking"] == {"strategy": "markdown", "chunk_size": 1200, "chunk_overlap": 100}
    assert saved["default_variants"] == ["markdown", "embeddings"] and saved["pages_limit"] == 5000
    assert saved["chat_model"] is None

    bad = console.post("/console/settings/org", data={**form, "default_chunking.chunk_size": "50"})
    assert bad.status_code == 400 and "chunk_size" in bad.text and 'aria-invalid="true"' in bad.text
    assert 'value="50"' in bad.text  # the typed value stays in the form
    again = client.get("/v1/org/settings", headers={"Authorization": f"ApiKey {ADMIN_KEY}"}).json()
    assert again["default_chunking"]["chunk_size"] == 1200
    assert console.post("/console/settings/org", data={**form, "pages_limit": "lots"}).status_code == 400
    assert 'name="default_extraction"' in page and saved["default_extraction"] == "structured"
    console.post("/console/settings/org", data={**form, "default_extraction": "fast"}, follow_redirects=False)
    assert client.get("/v1/org/settings", headers={"Authorization": f"ApiKey {ADMIN_KEY}"}).json()[
        "default_extraction"] == "fast"
    assert console.post("/console/settings/org", data={**form, "default_extraction": "slow"}).status_code == 400

    rules = {"_csrf": csrf, "rule_content_type": ["text/*", "application/pdf", ""],
             "rule_provider": ["openai", "gemini", ""]}
    r = console.post("/console/settings/routing", data=rules, follow_redirects=False)
    assert r.status_code == 303
    got = client.get("/v1/org/routing-rules", headers={"Authorization": f"ApiKey {ADMIN_KEY}"}).json()["rules"]
    assert {"content_type": "text/*", "provider": "openai"} in got
    assert {"content_type": "application/pdf", "provider": "gemini"} in got
    removed = console.post("/console/settings/routing", data={**rules, "rule_remove": "0"}, follow_redirects=False)
    assert removed.status_code == 303
    got = client.get("/v1/org/routing-rules", headers={"Authorization": f"ApiKey {ADMIN_KEY}"}).json()["rules"]
    assert all(r["content_type"] != "text/*" for r in got)
    wrong = console.post("/console/settings/routing", data={"_csrf": csrf, "rule_content_type": ["image/*", "bad type"],
                                                            "rule_provider": ["gemini", "gemini"]})
    assert wrong.status_code == 400 and "Rule 2" in wrong.text and 'class="invalid"' in wrong.text
    reset = console.post("/console/settings/routing", data={"_csrf": csrf, "reset": "1"}, follow_redirects=False)
    assert reset.status_code == 303


def test_connection_page_reads_one_snapshot(console, services, monkeypatch):
    """A sync finishing while the page is being built must not show as completed in the progress
    box while the history on the same page, read a moment earlier, still says syncing."""
    from roset_local.connections import sync as sync_module

    csrf = csrf_of(console)
    detail = console.post("/console/connections", data=local_form(csrf), follow_redirects=False
                          ).headers["location"].split("?")[0]
    cid = detail.rsplit("/", 1)[1]
    console.post(f"/console/connections/{cid}/sync", data={"_csrf": csrf}, follow_redirects=False)
    wait_for(lambda: console.get(f"/console/api/connections/{cid}/progress").json()["status"] == "completed")
    sync_id = services.db.value("SELECT id FROM syncs WHERE connection_id = ?", [cid])
    with services.db.write():
        services.db.execute("UPDATE syncs SET status = 'syncing', completed_at = NULL WHERE id = ?", [sync_id])

    real_progress = sync_module.progress

    def finish_meanwhile(svc, row):
        # another thread (its own connection) completes the sync between the page's reads
        worker = threading.Thread(target=lambda: _complete(services, sync_id))
        worker.start()
        worker.join()
        return real_progress(svc, row)

    monkeypatch.setattr(sync_module, "progress", finish_meanwhile)
    page = console.get(detail).text
    state = re.search(r'data-state="([a-z]+)"', page).group(1)
    history = page[page.index('id="sync-history"'):]
    assert state == "syncing" and "syncing" in history and "completed" not in history
    monkeypatch.setattr(sync_module, "progress", real_progress)
    after = console.get(detail).text
    assert re.search(r'data-state="([a-z]+)"', after).group(1) == "completed"
    assert "completed" in after[after.index('id="sync-history"'):]


def _complete(services, sync_id: str) -> None:
    with services.db.write():
        services.db.execute("UPDATE syncs SET status = 'completed', completed_at = '2026-01-01 00:00:00' "
                            "WHERE id = ?", [sync_id])


def test_a_write_inside_a_read_snapshot_is_refused(services):
    with services.db.read():
        services.db.value("SELECT count(*) FROM syncs")
        with pytest.raises(RuntimeError, match="read snapshot"):
            with services.db.write():
                pass
    with services.db.write():  # the refusal left no transaction behind
        services.db.execute("SELECT 1")
