"""Console roles through the running server: admins manage users, members stay inside their spaces,
read-only users change nothing, disabled users cannot sign in, and the lockout holds under concurrency."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import sqlite3
import subprocess
import sys
import threading
from collections import Counter

import httpx
import pytest

from roset_local.config import Settings
from roset_local.errors import Forbidden
from roset_local.portal import roles, users, web
from roset_local.portal import routes as html_routes
from roset_local.store import console as console_store
from roset_local.store.db import open_database
from roset_local.store.migrations import Migrations, apply_migrations
from tests.conftest import ADMIN_KEY, LiveServer, auth, server_env

ADMIN_PASSWORD = "roles-admin-password"
PASSWORD = "roles-user-password"


class Console:
    """One browser: an httpx client with its own cookies, signed in as one console user."""

    def __init__(self, server: LiveServer) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        form = self.http.get("/console/login")
        token = re.search(r'name="_csrf" value="([^"]+)"', form.text).group(1)
        return self.http.post("/console/login", data={"_csrf": token, "username": username, "password": password})

    def csrf(self) -> str:
        return re.search(r'name="csrf-token" content="([^"]+)"', self.http.get("/console").text).group(1)

    def get(self, path: str, **kw) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, data: dict | None = None, **kw) -> httpx.Response:
        return self.http.post(path, data={"_csrf": self.csrf(), **(data or {})}, **kw)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("roles") / "data"
    live = LiveServer(data_dir=data, env=server_env(ROSET_ADMIN_PASSWORD=ADMIN_PASSWORD)).start()
    with live.client() as api:
        for space, text in (("alpha", b"alpha apples"), ("beta", b"beta bananas")):
            r = api.post("/v1/upload", params={"space": space}, files={"file": (f"{space}.txt", text, "text/plain")})
            assert r.status_code == 201, r.text
            live.env[f"FILE_{space}"] = r.json()["file"]["id"]
    yield live
    live.stop()


@pytest.fixture(scope="module")
def admin(server) -> Console:
    console = Console(server)
    assert console.sign_in("admin", ADMIN_PASSWORD).status_code == 303
    return console


def make_user(admin: Console, username: str, role: str, spaces: str = "") -> None:
    r = admin.post("/console/users", {"username": username, "password": PASSWORD, "role": role, "spaces": spaces})
    assert r.status_code == 303 and "error=" not in r.headers["location"], r.headers["location"]


def signed_in(server: LiveServer, admin: Console, username: str, role: str, spaces: str = "") -> Console:
    make_user(admin, username, role, spaces)
    console = Console(server)
    assert console.sign_in(username).status_code == 303
    return console


def user_id(admin: Console, username: str) -> str:
    page = admin.get("/console/users").text
    return re.search(rf'data-user="{re.escape(username)}">.*?/console/users/(usr[^/]+)/access', page, re.S).group(1)


def console_routes(unsafe: bool) -> list[tuple[str, str]]:
    """(path with sample parameters, access) of every console route, from the app's route table."""
    out = []
    for route in html_routes.ROUTES[0].routes:
        if not route.path.startswith("/console"):
            continue
        for handler in route.route_handlers:
            methods = set(handler.http_methods) - {"HEAD", "OPTIONS"}
            if methods and bool(methods - roles.SAFE_METHODS) == unsafe:
                path = re.sub(r"\{verb:str\}", "delete", route.path)
                out.append((re.sub(r"\{(\w+):\w+\}", r"x-\1", path), handler.opt.get(web.CONSOLE_OPT)))
    return out


# -- the rule table ---------------------------------------------------------------------------------


def test_every_console_route_declares_access_and_the_menu_matches():
    routes = console_routes(unsafe=False) + console_routes(unsafe=True)
    assert len(routes) > 30
    assert all(access in roles.ACCESS for _, access in routes), [r for r in routes if r[1] not in roles.ACCESS]
    pages = dict(console_routes(unsafe=False))
    for _, href, _, access in web.NAV:
        assert pages[href] == access, href  # the menu shows a link exactly to those the page admits


def _run(coro):
    # In a thread of its own: a browser test earlier in the session may leave this thread's loop running.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_a_console_route_without_an_access_rule_is_refused():
    class Handler:
        opt: dict = {"public": True}

    class Connection:
        scope = {"path": "/console/new-page", "method": "GET"}

    with pytest.raises(Forbidden):
        _run(web.console_guard(Connection(), Handler()))  # type: ignore[arg-type]
    Connection.scope = {"path": "/portal/ptk_x", "method": "GET"}
    assert _run(web.console_guard(Connection(), Handler())) is None  # not a console route


def test_users_cli_sets_roles_and_spaces(tmp_path):
    data = str(tmp_path / "data")

    def cli(*args: str, password: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "roset_local", "users", *args, "--data-dir", data],
                              input=password, capture_output=True, text=True, env=server_env(), timeout=60)

    assert subprocess.run([sys.executable, "-m", "roset_local", "init", "--data-dir", data], env=server_env(),
                          capture_output=True, timeout=60).returncode == 0
    made = cli("create", "--username", "ana", "--role", "member", "--spaces", "acme,beta", "--password-stdin",
               password=PASSWORD + "\n")
    assert made.returncode == 0 and "ana  member (acme, beta)" in made.stdout, made.stderr
    refused = cli("create", "--username", "bo", "--role", "member", "--password-stdin", password=PASSWORD + "\n")
    assert refused.returncode == 1 and "at least one space" in refused.stderr
    changed = cli("set-role", "--username", "ana", "--role", "read-only")
    assert changed.returncode == 0 and "ana  read-only (all spaces)" in changed.stdout
    db = open_database(tmp_path / "data" / "roset.db")
    assert [(u["username"], u["role"], u["spaces"]) for u in console_store.list_users(db)] == [
        ("ana", "read-only", None)]
    db.close()


def test_roles_allow_table():
    assert roles.allows(roles.ADMIN, roles.ADMIN_ONLY, "POST")
    assert not roles.allows(roles.MEMBER, roles.ADMIN_ONLY, "GET")
    assert roles.allows(roles.MEMBER, roles.WORK, "POST") and roles.allows(roles.MEMBER, roles.VIEW, "GET")
    assert roles.allows(roles.READ_ONLY, roles.VIEW, "GET")
    assert not roles.allows(roles.READ_ONLY, roles.VIEW, "POST") and not roles.allows(roles.READ_ONLY, roles.WORK, "GET")
    assert roles.allows(roles.READ_ONLY, roles.SIGNED_IN, "POST")  # signing out
    assert "org:write" not in roles.MEMBER_SCOPES and "org:read" not in roles.MEMBER_SCOPES
    with pytest.raises(ValueError):
        roles.check_access(roles.MEMBER, [])
    assert roles.check_access(roles.ADMIN, ["a"]) == (roles.ADMIN, None)


def test_existing_users_migrate_to_roles(tmp_path):
    """Admins stay admins; other users become read-only over every space (they change nothing)."""
    db = open_database(tmp_path / "old.db")
    first = Migrations("console")
    first.add(*console_store.console.steps[0])
    apply_migrations(db, [first])
    for name, flag in (("old-admin", 1), ("old-user", 0)):
        db.execute("INSERT INTO console_users (id, username, password_hash, is_admin, created_at, updated_at) "
                   "VALUES (:i, :n, 'x', :a, 't', 't')", {"i": f"usr-{name}", "n": name, "a": flag})
    db.conn.commit()
    apply_migrations(db, [console_store.console])
    got = {r["username"]: (r["role"], r["spaces"]) for r in console_store.list_users(db)}
    assert got == {"old-admin": ("admin", None), "old-user": ("read-only", None)}
    db.close()


# -- admins ------------------------------------------------------------------------------------------


def test_admin_manages_users(server, admin):
    make_user(admin, "mgr-target", "member", "alpha, gamma")
    page = admin.get("/console/users").text
    row = re.search(r'data-user="mgr-target">.*?</tr>', page, re.S).group(0)
    assert "alpha, gamma" in row and 'value="member" selected' in row and "never" in row
    uid = user_id(admin, "mgr-target")
    target = Console(server)
    assert target.sign_in("mgr-target").status_code == 303
    assert re.search(r'data-user="mgr-target">.*?</tr>', admin.get("/console/users").text, re.S).group(0).count(
        "never") == 0  # last sign-in recorded

    # role and spaces change at once, for the signed-in user too
    r = admin.post(f"/console/users/{uid}/access", {"role": "read-only", "spaces": "gamma"})
    assert r.status_code == 303 and "read-only" in httpx.URL(r.headers["location"]).params["notice"]
    assert target.post("/console/spaces/share", {"space": "gamma"}).status_code == 403
    bad = admin.post(f"/console/users/{uid}/access", {"role": "member", "spaces": ""})
    assert "error=" in bad.headers["location"] and "at least one space" in httpx.URL(bad.headers["location"]).params["error"]
    assert admin.post(f"/console/users/{uid}/access", {"role": "owner"}).headers["location"].count("error=") == 1

    # a password reset signs the user out; the new password works
    assert admin.post(f"/console/users/{uid}/password", {"password": "a-new-password"}).status_code == 303
    assert target.get("/console", follow_redirects=False).status_code == 303
    assert target.sign_in("mgr-target", PASSWORD).status_code == 401
    assert target.sign_in("mgr-target", "a-new-password").status_code == 303
    short = admin.post(f"/console/users/{uid}/password", {"password": "short"})
    assert "error=" in short.headers["location"]

    # duplicates, bad names and unknown users are refused with a reason, never a 500
    dup = admin.post("/console/users", {"username": "mgr-target", "password": PASSWORD, "role": "read-only"})
    assert "already+exists" in dup.headers["location"] or "already%20exists" in dup.headers["location"]
    assert "error=" in admin.post("/console/users", {"username": "a b", "password": PASSWORD,
                                                     "role": "read-only"}).headers["location"]
    missing = admin.post("/console/users/usr-missing/disable").headers["location"]
    assert "User+not+found" in missing.replace("%20", "+")
    assert "Unknown+action" in admin.post(f"/console/users/{uid}/explode").headers["location"].replace("%20", "+")
    # the CSRF token is required, as on every console form
    assert admin.http.post("/console/users", data={"username": "x1", "password": PASSWORD}).status_code == 403


def test_last_admin_cannot_be_demoted_or_disabled(server, admin):
    uid = user_id(admin, "admin")
    r = admin.post(f"/console/users/{uid}/access", {"role": "member", "spaces": "alpha"})
    assert "last+enabled+admin" in r.headers["location"].replace("%20", "+")
    assert "error=" in admin.post(f"/console/users/{uid}/disable").headers["location"]
    assert admin.get("/console/users").status_code == 200


def test_disabled_user_cannot_sign_in(server, admin):
    user = signed_in(server, admin, "to-disable", "member", "alpha")
    uid = user_id(admin, "to-disable")
    assert admin.post(f"/console/users/{uid}/disable").status_code == 303
    assert user.get("/console").status_code == 303  # the session ended
    refused = user.sign_in("to-disable")
    assert refused.status_code == 401 and "disabled" in refused.text and "roset_session" not in refused.headers.get(
        "set-cookie", "")
    assert "disabled" in re.search(r'data-user="to-disable">.*?</tr>', admin.get("/console/users").text, re.S).group(0)
    assert admin.post(f"/console/users/{uid}/enable").status_code == 303
    assert user.sign_in("to-disable").status_code == 303


# -- members -----------------------------------------------------------------------------------------

ADMIN_PAGES = ("/console/settings", "/console/provider-keys", "/console/users", "/console/logs", "/console/webhooks")


def test_member_cannot_reach_org_pages_or_actions(server, admin):
    member = signed_in(server, admin, "mem-org", "member", "alpha")
    for path in ADMIN_PAGES:
        r = member.get(path)
        assert r.status_code == 403 and "role does not allow" in r.text, path
    before = httpx.get(server.url + "/v1/org/settings", headers=auth()).json()
    for path, data in (("/console/settings/org", {"pages_limit": "7"}), ("/console/settings/routing", {"reset": "1"}),
                       ("/console/provider-keys", {"provider": "openai", "key": "sk-x", "base_url": "http://evil"}),
                       ("/console/users", {"username": "sneaky", "password": PASSWORD, "role": "admin"}),
                       ("/console/webhooks", {"url": "http://127.0.0.1:9/x"})):
        assert member.post(path, data).status_code == 403, path
    assert httpx.get(server.url + "/v1/org/settings", headers=auth()).json() == before
    assert "sneaky" not in admin.get("/console/users").text
    nav = re.search(r'<nav class="menu".*?</nav>', member.get("/console").text, re.S).group(0)
    assert "/console/files" in nav and "/console/keys" in nav
    assert not any(f'href="{p}"' in nav for p in ADMIN_PAGES)


def test_member_sees_only_its_spaces(server, admin):
    member = signed_in(server, admin, "mem-files", "member", "alpha")
    alpha, beta = server.env["FILE_alpha"], server.env["FILE_beta"]
    files = member.get("/console/files").text
    assert "alpha.txt" in files and "beta.txt" not in files
    assert 'id="upload-space" value="alpha"' in files  # uploads default to one of its spaces
    assert member.get("/console/files", params={"space": "beta"}).status_code == 403
    assert member.get(f"/console/files/{alpha}").status_code == 200
    assert member.get(f"/console/files/{beta}").status_code == 404
    status = member.get("/console/api/files/status", params={"ids": f"{alpha},{beta}"}).json()["files"]
    assert status[beta] == {"status": "deleted"} and status[alpha]["status"] != "deleted"
    assert "beta" not in member.get("/console/jobs").text
    dash = member.get("/console")
    assert dash.status_code == 200 and "Dashboard" in dash.text and "beta" not in dash.text
    assert member.get("/console/api/qa/stream", params={"question": "what?", "space": "beta"}).status_code == 403
    spaces = member.get("/console/spaces").text
    assert "alpha" in spaces and "beta" not in spaces
    assert "beta.txt" not in member.get("/console/search", params={"q": "bananas", "mode": "text"}).text
    # acting on the other space is refused; its file survives
    assert member.post(f"/console/files/{beta}/delete").status_code == 404
    assert member.post(f"/console/files/{beta}/reprocess", follow_redirects=False).headers["location"].count("error=")
    assert member.post("/console/spaces/beta/delete").headers["location"].count("error=") == 1
    assert member.post("/console/spaces/share", {"space": "beta"}).headers["location"].count("error=") == 1
    assert httpx.get(server.url + f"/v1/files/{beta}", headers=auth()).status_code == 200
    csrf = member.csrf()
    up = member.http.post("/console/api/upload", params={"space": "beta"}, headers={"X-CSRF-Token": csrf},
                          files={"file": ("x.txt", b"x", "text/plain")})
    assert up.status_code == 403
    ok = member.http.post("/console/api/upload", params={"space": "alpha"}, headers={"X-CSRF-Token": csrf},
                          files={"file": ("mine.txt", b"mine", "text/plain")})
    assert ok.status_code == 201 and ok.json()["file"]["space"] == "alpha"
    shared = member.post("/console/spaces/share", {"space": "alpha"})
    assert shared.status_code == 303 and "share=" in shared.headers["location"]


def test_member_keys_are_confined(server, admin):
    admin_made = admin.post("/console/keys", {"name": "admin-only-key"})
    assert admin_made.status_code == 200
    member = signed_in(server, admin, "mem-keys", "member", "alpha")
    page = member.get("/console/keys").text
    assert "admin-only-key" not in page and 'value="org:write"' not in page and "all of yours: alpha" in page
    for data in ({"name": "k", "scopes": "org:write"}, {"name": "k", "spaces": "beta"},
                 {"name": "k", "spaces": "alpha,beta"}, {"name": "k", "scopes": "logs:read"}):
        assert member.post("/console/keys", data).status_code == 403, data
    made = member.post("/console/keys", {"name": "member-key"})
    assert made.status_code == 200
    raw = re.search(r'value="(rsk_[^"]+)"', made.text).group(1)
    keys = httpx.get(server.url + "/v1/org/api-keys", headers=auth()).json()["api_keys"]
    row = next(k for k in keys if k["name"] == "member-key")
    assert row["spaces"] == ["alpha"] and "org:write" not in row["scopes"] and "files:read" in row["scopes"]
    with httpx.Client(base_url=server.url, headers=auth(raw)) as api:
        assert api.get("/v1/files", params={"space": "alpha"}).status_code == 200
        assert api.get("/v1/files", params={"space": "beta"}).status_code == 403
        assert api.put("/v1/org/settings", json={"pages_limit": 3}).status_code == 403
    admin_key_id = next(k["id"] for k in keys if k["name"] == "admin-only-key")
    refused = member.post(f"/console/keys/{admin_key_id}/revoke")
    assert refused.status_code == 303 and "error=" in refused.headers["location"]
    still = httpx.get(server.url + "/v1/org/api-keys", headers=auth()).json()["api_keys"]
    assert any(k["id"] == admin_key_id for k in still)
    member_key_id = row["id"]
    assert "error=" not in member.post(f"/console/keys/{member_key_id}/revoke").headers["location"]
    with httpx.Client(base_url=server.url, headers=auth(raw)) as api:
        assert api.get("/v1/files", params={"space": "alpha"}).status_code == 401


# -- read-only ---------------------------------------------------------------------------------------


def test_read_only_user_cannot_post_any_action(server, admin):
    viewer = signed_in(server, admin, "viewer", "read-only")
    assert "beta.txt" in viewer.get("/console/files").text  # no spaces listed: every space, to look at
    detail = viewer.get(f"/console/files/{server.env['FILE_alpha']}")
    assert detail.status_code == 200 and "alpha.txt" in detail.text
    assert "/delete" not in detail.text and "/reprocess" not in detail.text  # no buttons it cannot use
    assert 'id="dropzone"' not in viewer.get("/console/files").text
    assert "Create share link" not in viewer.get("/console/spaces").text
    assert viewer.get("/console/keys").status_code == 403 and viewer.get("/console/settings").status_code == 403
    checked = 0
    for path, access in console_routes(unsafe=True):
        if access in (roles.ANYONE, roles.SIGNED_IN):
            continue
        r = viewer.post(path, {"name": "x", "space": "alpha", "username": "x", "password": PASSWORD})
        assert r.status_code == 403, (path, r.status_code)
        assert "read-only" in r.text or "does not allow" in r.text, path
        checked += 1
    assert checked >= 15
    assert httpx.get(server.url + f"/v1/files/{server.env['FILE_alpha']}", headers=auth()).status_code == 200
    nav = re.search(r'<nav class="menu".*?</nav>', viewer.get("/console").text, re.S).group(0)
    assert "/console/files" in nav and "/console/keys" not in nav and "/console/users" not in nav
    assert viewer.post("/console/logout").status_code == 303  # signing out is not a change


# -- the lockout -------------------------------------------------------------------------------------


def test_lockout_counts_before_the_password_check_under_concurrency(server, admin):
    make_user(admin, "lock-target", "read-only")
    tries = 10
    forms = []
    for _ in range(tries):
        console = Console(server)
        token = re.search(r'name="_csrf" value="([^"]+)"', console.get("/console/login").text).group(1)
        forms.append((console, token))
    barrier = threading.Barrier(tries)
    answers: list[int] = []

    def attempt(console: Console, token: str) -> None:
        barrier.wait()
        r = console.http.post("/console/login", data={"_csrf": token, "username": "lock-target",
                                                      "password": "wrong-password"})
        answers.append(r.status_code)

    threads = [threading.Thread(target=attempt, args=pair) for pair in forms]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(answers)
    assert set(counts) <= {401, 423} and sum(counts.values()) == tries, counts
    assert counts[401] == users.MAX_FAILURES - 1 and counts[423] == tries - users.MAX_FAILURES + 1, counts
    db = sqlite3.connect(server.data_dir / "roset.db")
    checked = db.execute("SELECT count(*) FROM console_login_attempts WHERE username = 'lock-target'").fetchone()[0]
    db.close()
    assert checked == users.MAX_FAILURES  # only these reached the password check
    locked = Console(server).sign_in("lock-target", PASSWORD)
    assert locked.status_code == 423 and "locked" in locked.text


def test_a_success_resets_the_count(server, admin):
    make_user(admin, "reset-target", "read-only")
    console = Console(server)
    for _ in range(users.MAX_FAILURES - 1):
        assert console.sign_in("reset-target", "wrong-password").status_code == 401
    assert console.sign_in("reset-target").status_code == 303
    other = Console(server)
    for _ in range(users.MAX_FAILURES - 1):
        assert other.sign_in("reset-target", "wrong-password").status_code == 401
    assert other.sign_in("reset-target").status_code == 303


# -- connections, in process (a local root to connect) --------------------------------------------------


@pytest.fixture
def settings(tmp_path):
    root = tmp_path / "root"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.txt").write_text("alpha")
    return Settings.from_env({}, data_dir=tmp_path / "data", admin_key=ADMIN_KEY, workers=1,
                             local_roots=(str(root),))


def in_process_sign_in(client, username: str, password: str = PASSWORD) -> str:
    client.cookies.clear()
    form = client.get("/console/login")
    token = re.search(r'name="_csrf" value="([^"]+)"', form.text).group(1)
    r = client.post("/console/login", data={"_csrf": token, "username": username, "password": password},
                    follow_redirects=False)
    assert r.status_code == 303
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/console").text).group(1)


def test_member_sees_only_connections_of_its_spaces(client, services):
    users.create_user(services.db, "boss", PASSWORD, role=roles.ADMIN)
    users.create_user(services.db, "mo", PASSWORD, role=roles.MEMBER, spaces=["alpha"])
    client.headers.pop("Authorization", None)
    csrf = in_process_sign_in(client, "boss")
    made = client.post("/console/connections", data={"_csrf": csrf, "provider": "local", "name": "Docs",
                                                      "bucket": "docs", "space": "docs"}, follow_redirects=False)
    assert made.status_code == 303, made.text
    cid = made.headers["location"].split("?")[0].rsplit("/", 1)[1]

    csrf = in_process_sign_in(client, "mo")
    assert cid not in client.get("/console/connections").text
    assert client.get(f"/console/connections/{cid}").status_code == 404
    assert client.get(f"/console/connections/{cid}/browse").status_code == 404
    assert client.get(f"/console/api/connections/{cid}/progress").status_code == 404
    synced = client.post(f"/console/connections/{cid}/sync", data={"_csrf": csrf}, follow_redirects=False)
    assert synced.status_code == 303 and "error=" in synced.headers["location"]
    gone = client.post(f"/console/connections/{cid}/delete", data={"_csrf": csrf}, follow_redirects=False)
    assert "error=" in gone.headers["location"]
    outside = client.post("/console/connections", data={"_csrf": csrf, "provider": "local", "name": "Mine",
                                                         "bucket": "docs", "space": "docs"})
    assert outside.status_code == 403 and services.db.value("SELECT count(*) FROM connections") == 1
