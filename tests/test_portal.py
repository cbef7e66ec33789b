"""Share portal JSON API (tokens, confinement, expiry, revocation) and console sign-in security."""

from __future__ import annotations

import re

import pytest

from roset_local.portal import users
from tests.conftest import ADMIN_KEY


def upload(client, space: str, name: str, text: str = "hello portal") -> dict:
    r = client.post("/v1/upload", params={"space": space}, files={"file": (name, text.encode(), "text/plain")},
                    data={"skip_processing": "true"})
    assert r.status_code == 201, r.text
    return r.json()


def portal(token: str) -> dict[str, str]:
    return {"Authorization": f"PortalToken {token}"}


def make_token(client, space: str = "shared", **extra) -> dict:
    r = client.post("/v1/portal/tokens", json={"space": space, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_token_create_verify_and_confinement(client):
    mine = upload(client, "shared", "a.txt")
    other = upload(client, "private", "b.txt")
    tok = make_token(client)
    assert tok["token"].startswith("ptk_") and len(tok["token"]) >= 4 + 43  # 256 random bits
    assert tok["space"] == "shared" and tok["url"].endswith(f"/portal/{tok['token']}")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", tok["expires_at"])

    anon = {"Authorization": ""}
    v = client.get(f"/v1/portal/tokens/{tok['token']}/verify", headers=anon)
    assert v.status_code == 200 and v.json() == {"valid": True, "space": "shared", "expires_at": tok["expires_at"]}

    files = client.get("/v1/portal/files", headers=portal(tok["token"]))
    assert files.status_code == 200
    assert [f["id"] for f in files.json()["files"]] == [mine["id"]]
    # the space cannot be widened by a query parameter
    again = client.get("/v1/portal/files", params={"space": "private"}, headers=portal(tok["token"]))
    assert [f["id"] for f in again.json()["files"]] == [mine["id"]]
    assert client.get(f"/v1/portal/files/{mine['id']}", headers=portal(tok["token"])).json()["id"] == mine["id"]
    assert client.get(f"/v1/portal/files/{other['id']}", headers=portal(tok["token"])).status_code == 404
    assert client.get(f"/v1/portal/files/{other['id']}/download", headers=portal(tok["token"])).status_code == 404
    dl = client.get(f"/v1/portal/files/{mine['id']}/download", headers=portal(tok["token"]))
    assert dl.status_code == 200 and dl.json()["expires_in"] > 0
    assert client.get(dl.json()["url"], headers=anon).content == b"hello portal"
    # a portal token is not an API key
    assert client.get("/v1/files", headers=portal(tok["token"])).status_code == 401
    assert client.post("/v1/portal/tokens", json={"space": "x"}, headers=portal(tok["token"])).status_code == 401


@pytest.mark.parametrize("body", [{"space": "s", "ttl": 5}, {"space": "s", "ttl": 10**9}, {"space": "../x"}, {}])
def test_token_bad_input(client, body):
    assert client.post("/v1/portal/tokens", json=body).status_code == 400


def test_token_needs_portal_write_scope(client):
    key = client.post("/v1/org/api-keys", json={"name": "ro", "scopes": ["files:read"]}).json()["key"]
    r = client.post("/v1/portal/tokens", json={"space": "s"}, headers={"Authorization": f"ApiKey {key}"})
    assert r.status_code == 403


def test_expired_and_revoked_tokens(client, services):
    upload(client, "shared", "a.txt")
    expired = make_token(client, ttl=60)
    with services.db.write():
        services.db.execute("UPDATE portal_tokens SET expires_at = '2000-01-01 00:00:00' WHERE prefix = :p",
                            {"p": expired["token"][:12]})
    assert client.get(f"/v1/portal/tokens/{expired['token']}/verify").json() == {"valid": False}
    assert client.get("/v1/portal/files", headers=portal(expired["token"])).status_code == 401

    tok = make_token(client)
    assert client.get("/v1/portal/files", headers=portal(tok["token"])).status_code == 200
    listed = client.get("/v1/portal/tokens").json()["tokens"]
    assert any(t["id"] == tok["id"] and "token" not in t for t in listed)
    assert client.delete(f"/v1/portal/tokens/{tok['token']}").status_code == 200
    assert client.get("/v1/portal/files", headers=portal(tok["token"])).status_code == 401
    assert client.get(f"/v1/portal/tokens/{tok['token']}/verify").json() == {"valid": False}
    assert client.delete(f"/v1/portal/tokens/{tok['token']}").status_code == 404
    assert client.get("/v1/portal/tokens/ptk_unknown/verify").json() == {"valid": False}
    # tokens are stored hashed only
    raw = services.db.all("SELECT * FROM portal_tokens")
    assert all(tok["token"] not in str(row) for row in raw)


def test_portal_page_shows_only_its_space(client):
    upload(client, "shared", "visible.txt")
    upload(client, "private", "hidden.txt")
    tok = make_token(client)
    page = client.get(f"/portal/{tok['token']}", headers={"Authorization": ""})
    assert page.status_code == 200 and "visible.txt" in page.text and "hidden.txt" not in page.text
    bad = client.get("/portal/ptk_nope", headers={"Authorization": ""})
    assert bad.status_code == 401 and "not valid" in bad.text


# -- console sign-in --------------------------------------------------------------------------


def login_form(client) -> str:
    r = client.get("/console/login")
    assert r.status_code == 200
    return re.search(r'name="_csrf" value="([^"]+)"', r.text).group(1)


def sign_in(client, username: str, password: str, follow: bool = False):
    token = login_form(client)
    return client.post("/console/login", data={"_csrf": token, "username": username, "password": password,
                                                 "next": "/console"}, follow_redirects=follow)


@pytest.fixture
def console(client, services):
    users.create_user(services.db, "alice", "s3cret-password", is_admin=True)
    client.headers.pop("Authorization", None)
    return client


def test_console_requires_sign_in(console):
    r = console.get("/console/files", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    assert console.get("/console/api/files/status?ids=x").status_code == 401


def test_session_cookie_flags_and_sign_out(console):
    r = sign_in(console, "alice", "s3cret-password")
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "roset_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # plain http here; https adds Secure
    page = console.get("/console")
    assert page.status_code == 200 and "alice" in page.text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    assert console.post("/console/logout", data={"_csrf": csrf}, follow_redirects=False).status_code == 303
    assert console.get("/console", follow_redirects=False).status_code == 303


def test_csrf_is_required_for_unsafe_requests(console):
    sign_in(console, "alice", "s3cret-password")
    page = console.get("/console/keys")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    assert console.post("/console/keys", data={"name": "k1"}).status_code == 403
    assert console.post("/console/keys", data={"name": "k1", "_csrf": "wrong"}).status_code == 403
    upload = console.post("/console/api/upload", files={"file": ("a.txt", b"x", "text/plain")})
    assert upload.status_code == 403
    made = console.post("/console/keys", data={"name": "k1", "_csrf": csrf})
    assert made.status_code == 200 and "rsk_" in made.text
    key = re.search(r'value="(rsk_[^"]+)"', made.text).group(1)
    assert console.get("/v1/files", headers={"Authorization": f"ApiKey {key}"}).status_code == 200
    assert key not in console.get("/console/keys").text  # shown once
    ok = console.post("/console/api/upload", files={"file": ("a.txt", b"x", "text/plain")},
                      headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201 and ok.json()["file"]["filename"] == "a.txt"
    # a login form without its CSRF cookie is refused
    fresh = console.post("/console/login", data={"_csrf": "forged", "username": "alice", "password": "s3cret-password"})
    assert fresh.status_code == 403


def test_lockout_after_five_failures(console):
    for _ in range(4):
        assert sign_in(console, "alice", "wrong-password").status_code == 401
    fifth = sign_in(console, "alice", "wrong-password")
    assert fifth.status_code == 423 and "locked" in fifth.text
    # even the right password is refused during the window
    locked = sign_in(console, "alice", "s3cret-password")
    assert locked.status_code == 423 and "locked" in locked.text
    assert "roset_session" not in locked.headers.get("set-cookie", "")


def test_admin_password_creates_admin_user(make_live_server):
    server = make_live_server(ROSET_ADMIN_PASSWORD="first-start-pw")
    import httpx

    with httpx.Client(base_url=server.url, follow_redirects=False) as c:
        form = c.get("/console/login")
        token = re.search(r'name="_csrf" value="([^"]+)"', form.text).group(1)
        r = c.post("/console/login", data={"_csrf": token, "username": "admin", "password": "first-start-pw"})
        assert r.status_code == 303
        assert c.get("/console/files").status_code == 200
    assert ADMIN_KEY
