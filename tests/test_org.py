"""Org settings, routing rules, provider keys (encrypted at rest), usage and the page quota."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest
from litestar.testing import TestClient

from roset_local import secrets
from roset_local.app import create_app
from roset_local.config import Settings
from roset_local.errors import QuotaExceeded
from roset_local.pipeline import lifecycle, steps
from roset_local.pipeline.steps import choose_provider
from roset_local.providers.registry import default_routing_rules, route
from roset_local.store import org as org_store
from roset_local.timeutil import now_str, utcnow
from tests.conftest import ADMIN_KEY, auth

RAW_KEY = "sk-live-TOPSECRETvalue-0123456789abcd"


@pytest.fixture
def quiet_settings(tmp_path: Path) -> Settings:
    return Settings.from_env({}, data_dir=tmp_path / "data", admin_key=ADMIN_KEY, consumer=False, workers=1)


@pytest.fixture
def org(quiet_settings):
    app = create_app(quiet_settings)
    with TestClient(app, base_url="http://127.0.0.1:8700") as client:
        client.headers.update(auth())
        yield client, app.app.state.services


DEFAULTS = {
    "default_embedding_model": "all-minilm-l6-v2",
    "default_chunking": {"strategy": "recursive", "chunk_size": 1000, "chunk_overlap": 200},
    "default_variants": ["markdown", "embeddings", "thumbnail", "metadata", "searchable-index", "structure"],
    "chat_model": None,
    "pages_limit": None,
    "default_extraction": "structured",
}


def test_settings_defaults_and_merging_updates(org):
    client, services = org
    assert client.get("/v1/org/settings").json() == DEFAULTS
    r = client.put("/v1/org/settings", json={"default_embedding_model": "text-embedding-3-small"})
    assert r.status_code == 200 and r.json() == {**DEFAULTS, "default_embedding_model": "text-embedding-3-small"}
    r = client.put("/v1/org/settings", json={"default_chunking": {"chunk_size": 500}, "chat_model": "gpt-4o-mini",
                                             "default_variants": ["markdown", "embeddings", "markdown"], "pages_limit": 5000})
    expected = {
        "default_embedding_model": "text-embedding-3-small",
        "default_chunking": {"strategy": "recursive", "chunk_size": 500, "chunk_overlap": 200},
        "default_variants": ["markdown", "embeddings"],
        "chat_model": "gpt-4o-mini",
        "pages_limit": 5000,
        "default_extraction": "structured",
    }
    assert r.json() == expected
    assert client.get("/v1/org/settings").json() == expected
    assert org_store.get_org_settings(services.db) == expected
    assert steps.wanted_variants(services, {}) == ["markdown", "embeddings"]  # what a job without options gets
    assert steps.extraction_mode(services, {}) == "structured"
    assert client.put("/v1/org/settings", json={"chat_model": None, "pages_limit": None}).json()["pages_limit"] is None


@pytest.mark.parametrize(
    "body,field",
    [
        ({"colour": "blue"}, "colour"),
        ({"default_embedding_model": ""}, "default_embedding_model"),
        ({"default_embedding_model": 3}, "default_embedding_model"),
        ({"default_chunking": {"strategy": "sentences"}}, "default_chunking.strategy"),
        ({"default_chunking": {"chunk_size": 99}}, "default_chunking.chunk_size"),
        ({"default_chunking": {"chunk_size": 8001}}, "default_chunking.chunk_size"),
        ({"default_chunking": {"chunk_size": 300}}, "default_chunking.chunk_overlap"),  # 200 > 300/2
        ({"default_chunking": {"chunk_overlap": -1}}, "default_chunking.chunk_overlap"),
        ({"default_chunking": {"size": 300}}, "default_chunking.size"),
        ({"default_chunking": "big"}, "default_chunking"),
        ({"default_variants": ["markdown", "pdf"]}, "default_variants"),
        ({"default_variants": []}, "default_variants"),
        ({"default_extraction": "thorough"}, "default_extraction"),
        ({"chat_model": 7}, "chat_model"),
        ({"pages_limit": 0}, "pages_limit"),
        ({"pages_limit": "100"}, "pages_limit"),
        ({"pages_limit": True}, "pages_limit"),
        ([1, 2], "body"),
    ],
)
def test_bad_settings_are_400_naming_the_field_and_change_nothing(org, body, field):
    client, _ = org
    r = client.put("/v1/org/settings", json={"chat_model": "kept", **body} if isinstance(body, dict) else body)
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST"
    assert r.json()["error"].startswith(field)
    assert client.get("/v1/org/settings").json() == DEFAULTS


def test_settings_body_must_be_json(org):
    client, _ = org
    r = client.put("/v1/org/settings", content=b"not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_org_scopes(org):
    client, _ = org
    key = client.post("/v1/org/api-keys", json={"name": "ro", "scopes": ["org:read"]}).json()["key"]
    assert client.get("/v1/org/settings", headers=auth(key)).status_code == 200
    assert client.get("/v1/org/usage", headers=auth(key)).status_code == 200
    for method, path, body in [
        ("PUT", "/v1/org/settings", {"chat_model": "x"}),
        ("PUT", "/v1/org/routing-rules", {"rules": []}),
        ("PUT", "/v1/org/provider-keys", {"provider": "openai", "key": RAW_KEY}),
        ("DELETE", "/v1/org/provider-keys/openai", None),
    ]:
        r = client.request(method, path, json=body, headers=auth(key))
        assert r.status_code == 403, (method, path)


def test_routing_rules_defaults_override_and_reset(org):
    client, services = org
    defaults = [
        {"content_type": "application/pdf", "provider": "reducto"},
        {"content_type": "image/*", "provider": "gemini"},
        {"content_type": "audio/*", "provider": "whisper"},
        {"content_type": "video/*", "provider": "whisper"},
        {"content_type": "*/*", "provider": "reducto"},
    ]
    assert client.get("/v1/org/routing-rules").json() == {"rules": defaults}
    r = client.put("/v1/org/routing-rules", json={"rules": [
        {"content_type": "*/*", "provider": "gemini"},
        {"content_type": "Application/PDF", "provider": "gemini"},
        {"content_type": "application/vnd.*", "provider": "openai"},
    ]})
    assert r.status_code == 200
    rules = r.json()["rules"]
    assert rules == [
        {"content_type": "application/pdf", "provider": "gemini"},
        {"content_type": "application/vnd.*", "provider": "openai"},
        {"content_type": "image/*", "provider": "gemini"},
        {"content_type": "audio/*", "provider": "whisper"},
        {"content_type": "video/*", "provider": "whisper"},
        {"content_type": "*/*", "provider": "gemini"},
    ]
    assert client.get("/v1/org/routing-rules").json()["rules"] == rules
    db = services.db
    assert org_store.get_routing_rules(db) == rules
    # the pipeline's router, fed the saved rules as the pipeline does
    assert choose_provider(services, "application/pdf; charset=binary", None) == "gemini"
    assert choose_provider(services, "application/vnd.ms-excel", None) == "openai"
    assert choose_provider(services, "audio/wav", None) == "whisper"
    assert choose_provider(services, "text/plain", None) == "gemini"
    assert route("", org_store.get_routing_rules(db)) == "gemini"  # no type: octet-stream
    assert client.put("/v1/org/routing-rules", json={"rules": []}).json() == {"rules": defaults}
    assert choose_provider(services, "text/plain", None) == "reducto"
    assert defaults == default_routing_rules()  # the API shows the router's own defaults


@pytest.mark.parametrize(
    "body,field",
    [
        ({"rules": [{"content_type": "image/*", "provider": "tesseract"}]}, "rules[0].provider"),
        ({"rules": [{"content_type": "pdf", "provider": "reducto"}]}, "rules[0].content_type"),
        ({"rules": [{"content_type": "*/pdf", "provider": "reducto"}]}, "rules[0].content_type"),
        ({"rules": [{"content_type": "image/*"}]}, "rules[0]"),
        ({"rules": [{"content_type": "image/*", "provider": "gemini"}, {"content_type": "image/*", "provider": "gemini"}]}, "rules[1].content_type"),
        ({"rules": "image/*"}, "rules"),
        ({"routes": []}, "rules"),
    ],
)
def test_bad_routing_rules_are_400(org, body, field):
    client, _ = org
    r = client.put("/v1/org/routing-rules", json=body)
    assert r.status_code == 400 and r.json()["error"].startswith(field)


def test_provider_keys_listed_redacted_and_deleted(org):
    client, services = org
    listed = client.get("/v1/org/provider-keys").json()["provider_keys"]
    assert [p["provider"] for p in listed] == ["reducto", "gemini", "whisper", "openai"]
    assert all(p == {"provider": p["provider"], "configured": False, "key_preview": None, "base_url": None,
                     "updated_at": None} for p in listed)
    r = client.put("/v1/org/provider-keys", json={"provider": "openai", "key": RAW_KEY, "base_url": "http://llm.local:8000/v1/"})
    assert r.status_code == 200
    saved = r.json()
    assert saved["configured"] is True and saved["key_preview"] == "sk-…abcd"
    assert saved["base_url"] == "http://llm.local:8000/v1" and saved["updated_at"]
    client.put("/v1/org/provider-keys", json={"provider": "reducto", "key": "rdt_your_key"})
    listed = {p["provider"]: p for p in client.get("/v1/org/provider-keys").json()["provider_keys"]}
    assert listed["openai"]["configured"] and listed["reducto"]["key_preview"] == "rdt…_key"
    assert not listed["gemini"]["configured"]
    assert RAW_KEY not in client.get("/v1/org/provider-keys").text
    assert secrets.get_hosted_keys(services) == {
        "openai": {"key": RAW_KEY, "base_url": "http://llm.local:8000/v1"},
        "reducto": {"key": "rdt_your_key", "base_url": None},
    }
    assert client.delete("/v1/org/provider-keys/openai").json() == {"deleted": True, "provider": "openai"}
    listed = {p["provider"]: p for p in client.get("/v1/org/provider-keys").json()["provider_keys"]}
    assert listed["openai"]["configured"] is False and listed["openai"]["key_preview"] is None
    assert set(secrets.get_hosted_keys(services)) == {"reducto"}
    assert client.delete("/v1/org/provider-keys/openai").status_code == 404
    assert client.delete("/v1/org/provider-keys/azure").status_code == 400


@pytest.mark.parametrize(
    "body,field",
    [
        ({"provider": "azure", "key": "abc"}, "provider"),
        ({"provider": "openai", "key": ""}, "key"),
        ({"provider": "openai", "key": "has space inside"}, "key"),
        ({"provider": "openai", "key": "sk-x", "base_url": "ftp://x"}, "base_url"),
        ({"provider": "openai"}, "key"),
        ({"provider": "openai", "key": "sk-x", "extra": 1}, "extra"),
    ],
)
def test_bad_provider_keys_are_400(org, body, field):
    client, _ = org
    r = client.put("/v1/org/provider-keys", json=body)
    assert r.status_code == 400 and field in r.json()["error"]
    assert RAW_KEY not in r.text


def test_keys_are_encrypted_at_rest(org, quiet_settings):
    client, services = org
    client.put("/v1/org/provider-keys", json={"provider": "gemini", "key": RAW_KEY})
    key_file = quiet_settings.data_dir / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    services.db.execute("PRAGMA wal_checkpoint(FULL)")
    for path in quiet_settings.data_dir.iterdir():
        if path.is_file():
            assert RAW_KEY.encode() not in path.read_bytes(), path
            assert b"TOPSECRET" not in path.read_bytes(), path
    stored = services.db.value("SELECT ciphertext FROM provider_keys WHERE provider = 'gemini'")
    assert stored.startswith("v1.")
    # a ciphertext is bound to its provider: copied to another row it does not decrypt
    services.db.execute("INSERT INTO provider_keys VALUES ('whisper', :c, 'x', NULL, :t)", {"c": stored, "t": now_str()})
    assert set(secrets.get_hosted_keys(services)) == {"gemini"}


def test_secret_key_setting_and_key_change(tmp_path):
    base = Settings.from_env({}, data_dir=tmp_path / "d", admin_key=ADMIN_KEY, consumer=False, secret_key="first-secret")
    app = create_app(base)
    services = app.app.state.services
    secrets.save_provider_key(services, "openai", RAW_KEY, None)
    assert secrets.get_hosted_keys(services)["openai"]["key"] == RAW_KEY
    assert not (base.data_dir / "secret.key").exists()
    services.stop()
    other = create_app(replace(base, secret_key="second-secret")).app.state.services
    assert secrets.get_hosted_keys(other) == {}  # undecryptable keys fall back to local engines
    listed = {p["provider"]: p for p in secrets.list_provider_keys(other)}
    assert listed["openai"]["configured"] is True
    other.stop()


def _completed_job(db, job_id: str, pages: int, completed_at: str | None = None) -> None:
    now = completed_at or now_str()
    with db.write():
        if db.value("SELECT 1 FROM files WHERE id = 'q'") is None:
            db.insert("files", {"id": "q", "space": "default", "filename": "q.pdf", "storage_key": "k",
                                "status": "completed", "created_at": now, "updated_at": now})
        db.insert("jobs", {"id": job_id, "file_id": "q", "space": "default", "status": "completed", "provider": "reducto",
                           "pages": pages, "created_at": now, "completed_at": now, "duration_ms": 10, "updated_at": now})


def test_usage_and_quota(org):
    client, services = org
    db = services.db
    period = utcnow().strftime("%Y-%m")
    assert client.get("/v1/org/usage").json() == {
        "period": period, "pages_used": 0, "pages_limit": None, "plan": "self-hosted", "overage_pages": 0
    }
    lifecycle.check_quota(services)  # unlimited: never raises
    _completed_job(db, "u1", 6)
    _completed_job(db, "u2", 99, completed_at="2001-01-01 00:00:00")  # another month
    with db.write():  # failed jobs are not billed
        db.insert("jobs", {"id": "u3", "file_id": "q", "space": "default", "status": "failed", "pages": 50,
                           "created_at": now_str(), "completed_at": now_str(), "updated_at": now_str()})
    client.put("/v1/org/settings", json={"pages_limit": 10})
    assert client.get("/v1/org/usage").json()["pages_used"] == 6
    org_store.check_quota(services)
    _completed_job(db, "u4", 4)
    with pytest.raises(QuotaExceeded) as raised:
        org_store.check_quota(services)
    assert raised.value.status == 402 and raised.value.code == "QUOTA_EXCEEDED"
    _completed_job(db, "u5", 2)
    assert client.get("/v1/org/usage").json() == {
        "period": period, "pages_used": 12, "pages_limit": 10, "plan": "self-hosted", "overage_pages": 2
    }
    upload = client.post("/v1/upload", files={"file": ("a.txt", b"hello", "text/plain")})
    assert upload.status_code == 402 and upload.json()["code"] == "QUOTA_EXCEEDED"
    client.put("/v1/org/settings", json={"pages_limit": None})
    org_store.check_quota(services)


def test_env_pages_limit_applies_when_the_org_sets_none(tmp_path):
    settings = Settings.from_env({"ROSET_PAGES_LIMIT": "3"}, data_dir=tmp_path / "d", admin_key=ADMIN_KEY, consumer=False)
    app = create_app(settings)
    services = app.app.state.services
    _completed_job(services.db, "e1", 3)
    with TestClient(app) as client:
        client.headers.update(auth())
        assert client.get("/v1/org/usage").json()["pages_limit"] == 3
        with pytest.raises(QuotaExceeded):
            org_store.check_quota(services)
        client.put("/v1/org/settings", json={"pages_limit": 100})
        org_store.check_quota(services)
