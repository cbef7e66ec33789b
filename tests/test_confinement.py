"""Tenant confinement against the running server: a key of space alpha reaches nothing of space beta.

Two spaces are seeded through the API (a processed file, an upload batch, a webhook with its own
receiver, a synced ``local`` connection, a share link), then every route of the app is called as
alpha (its API key, its share link, and a console member of alpha) against beta's ids, checking
that nothing of beta is returned, changed, delivered or counted. ``ROUTES`` gives each route its
rule; a route of the app missing from it (or a stale entry) fails ``test_every_route_has_a_rule``,
so a new route cannot ship without one.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute
from standardwebhooks import Webhook

from roset_local.app import create_app
from roset_local.config import Settings
from roset_local.store.events import EVENT_TYPES
from tests.conftest import ADMIN_KEY, LiveServer, server_env
from tests.test_console_roles import ADMIN_PASSWORD, Console, make_user
from tests.test_webhooks import Receiver, wait_for

SPACES = ("alpha", "beta")


# -- the rule of every route ------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """How alpha calls a route with beta's ids, and what it must get.

    ``rule``: ``hidden`` (beta's object: 403/404), ``list`` (200, alpha's own only; ``beta`` is a
    variant of the call naming beta's space, answered 403), ``refused`` (the call names beta: 403/404),
    ``org`` (org-wide: 403 for any confined key), ``self``, ``signed`` (URL is the credential: a
    guess is refused), ``public``, ``portal`` (share pages, alpha's token in the path), ``console``
    (session only: an API key gets nothing). ``own``: also call with alpha's own ids (expect 2xx).
    """

    rule: str
    json: Any = None
    query: dict[str, str] | None = None
    beta: dict[str, Any] | None = None
    expect: tuple[int, ...] = ()
    own: bool = False
    check: Callable[[httpx.Response], None] | None = None


def hidden(**kw: Any) -> Case:
    return Case("hidden", expect=kw.pop("expect", (404,)), **kw)


def listing(**kw: Any) -> Case:
    return Case("list", expect=(200,), **kw)


def refused(**kw: Any) -> Case:
    return Case("refused", expect=kw.pop("expect", (403,)), **kw)


ORG = Case("org", expect=(403,))
CONSOLE_PAGE = Case("console", expect=(200, 303, 401))
CONSOLE_ACTION = Case("console", expect=(303, 401, 403))
PUBLIC = Case("public", expect=(200, 301, 302, 303, 307, 404))
SIGNED = Case("signed", expect=(400, 403, 404, 410))
ALL_EVENTS = list(EVENT_TYPES)


def nothing_deleted(r: httpx.Response) -> None:
    assert r.json()["deleted"] == 0


def nothing_queued(r: httpx.Response) -> None:
    assert r.json()["queued"] == 0 and r.json()["job_ids"] == []


def only_alpha_keys(r: httpx.Response) -> None:
    keys = r.json()["api_keys"]
    assert keys and all(k["spaces"] and set(k["spaces"]) <= {"alpha"} for k in keys)


def only_alpha_logs(r: httpx.Response) -> None:
    assert all(row["key_name"] != "admin (ROSET_ADMIN_KEY)" for row in r.json()["logs"])
    assert r.json()["logs"], "alpha's own calls are logged for it"


def only_alpha_audit(r: httpx.Response) -> None:
    assert all(entry["space"] == "alpha" for entry in r.json()["entries"]), r.text


ROUTES: dict[str, Case] = {
    # probes, docs, assets
    "GET /health": PUBLIC,
    "GET /ready": PUBLIC,
    "GET /static/{file_path}": PUBLIC,
    "GET /schema": PUBLIC,
    "GET /schema/docs": PUBLIC,
    "GET /schema/{path}": PUBLIC,
    "GET /schema/openapi.json": PUBLIC,
    "GET /schema/oauth2-redirect.html": PUBLIC,
    "GET /": PUBLIC,
    "GET /v1/me": Case("self", expect=(200,), check=lambda r: r.json()["spaces"] == ["alpha"] or pytest.fail(r.text)),
    # org-wide
    "GET /v1/org/settings": ORG,
    "PUT /v1/org/settings": Case("org", json={"pages_limit": 1}, expect=(403,)),
    "GET /v1/org/routing-rules": ORG,
    "PUT /v1/org/routing-rules": Case("org", json={"rules": []}, expect=(403,)),
    "GET /v1/org/provider-keys": ORG,
    "PUT /v1/org/provider-keys": Case("org", json={"provider": "reducto", "key": "k", "base_url": "http://127.0.0.1:9"},
                                      expect=(403,)),
    "DELETE /v1/org/provider-keys/{provider}": ORG,
    "GET /v1/org/usage": ORG,
    "GET /metrics": ORG,
    # keys and logs: a confined key sees only what it could have minted / its peers' calls
    "GET /v1/org/api-keys": listing(check=only_alpha_keys),
    "POST /v1/org/api-keys": refused(json={"name": "escalate", "spaces": ["beta"]}),
    "DELETE /v1/org/api-keys/{key_id}": hidden(),
    "GET /v1/api-logs": listing(check=only_alpha_logs),
    "GET /v1/audit": listing(beta={"query": {"space": "beta"}}, check=only_alpha_audit),
    # files, uploads, batches, variants
    "POST /v1/upload": refused(json={"filename": "x.txt", "space": "beta"}),
    "POST /v1/files": refused(json={"filename": "x.txt", "space": "beta"}),
    "POST /v1/upload/batch": refused(json={"files": [{"filename": "x.txt", "space": "beta"}]}),
    "GET /v1/batches/{batch_id}": hidden(own=True),
    "PUT /v1/uploads/{file_id}": SIGNED,
    "GET /v1/files": listing(beta={"query": {"space": "beta"}}),
    "DELETE /v1/files": Case("refused", json={"file_ids": ["{file_id}"]}, expect=(200,), check=nothing_deleted),
    "GET /v1/files/{file_id}": hidden(own=True),
    "DELETE /v1/files/{file_id}": hidden(),
    "POST /v1/files/{file_id}/process": hidden(),
    "POST /v1/files/process-batch": Case("refused", json={"file_ids": ["{file_id}"]}, expect=(201,),
                                         check=nothing_queued,
                                         beta={"json": {"connection_id": "{connection_id}"}, "expect": 404}),
    "GET /v1/files/{file_id}/variants": hidden(own=True),
    "GET /v1/files/{file_id}/variants/{variant_type}": hidden(own=True),
    "GET /v1/files/{file_id}/download": hidden(own=True),
    "GET /v1/files/{file_id}/pages/{number}": hidden(),
    "GET /v1/files/{file_id}/content": SIGNED,
    "GET /v1/files/{file_id}/variants/{variant_type}/content": SIGNED,
    # jobs and spaces
    "GET /v1/jobs": listing(beta={"query": {"space": "beta"}}),
    "GET /v1/jobs/{job_id}": hidden(own=True),
    "POST /v1/jobs/{job_id}/cancel": hidden(),
    "POST /v1/jobs/{job_id}/retry": hidden(),
    "GET /v1/spaces": listing(),
    "GET /v1/spaces/{name}/stats": hidden(expect=(403,)),
    "DELETE /v1/spaces/{name}": hidden(expect=(403,)),
    # webhooks
    "GET /v1/webhooks": listing(),
    "POST /v1/webhooks": refused(json={"url": "http://127.0.0.1:9/x", "events": ALL_EVENTS, "spaces": ["beta"]}),
    "GET /v1/webhooks/{webhook_id}": hidden(own=True),
    "PATCH /v1/webhooks/{webhook_id}": hidden(json={"url": "http://127.0.0.1:9/stolen"}),
    "DELETE /v1/webhooks/{webhook_id}": hidden(),
    "GET /v1/webhooks/{webhook_id}/deliveries": hidden(own=True),
    "POST /v1/webhooks/{webhook_id}/test": hidden(),
    "POST /v1/webhooks/{webhook_id}/rotate-secret": hidden(),
    "POST /v1/webhooks/{webhook_id}/replay": hidden(json={"since": "2000-01-01T00:00:00Z"}),
    "GET /v1/webhook-events": listing(),
    # analytics: every figure counts alpha only
    **{f"GET /v1/analytics/{name}": listing(beta={"query": {"space": "beta"}})
       for name in ("overview", "processing", "file-types", "spaces", "failures", "volume", "trends", "providers",
                    "top-failures", "storage-growth")},
    # share links and the portal API
    "GET /v1/portal/tokens": listing(),
    "POST /v1/portal/tokens": refused(json={"space": "beta"}),
    "DELETE /v1/portal/tokens/{token}": hidden(),
    "GET /v1/portal/tokens/{token}/verify": Case("public", expect=(200,)),  # the token is the credential
    "GET /v1/portal/files": listing(beta={"query": {"space": "beta"}}),
    "GET /v1/portal/files/{file_id}": hidden(own=True),
    "GET /v1/portal/files/{file_id}/download": hidden(own=True),
    "POST /v1/portal/search": listing(json={"query": "quarterly ledger numbers"},
                                      beta={"query": {"space": "beta"}, "json": {"query": "ledger"}}),
    "POST /v1/portal/qa": listing(json={"question": "What are the quarterly numbers?"},
                                  beta={"query": {"space": "beta"}, "json": {"question": "numbers?"}}),
    "GET /portal/{token}": Case("portal", expect=(200,), query={"q": "quarterly ledger numbers"}),
    "GET /portal/{token}/files/{file_id}": Case("portal", expect=(404,)),
    "GET /portal/{token}/files/{file_id}/download": Case("portal", expect=(404,)),
    "GET /portal/{token}/files/{file_id}/pages/{number}": Case("portal", expect=(404,)),
    "GET /portal/{token}/qa/stream": Case("portal", expect=(200,), query={"question": "quarterly numbers?"}),
    # connections and nodes
    "GET /v1/connections/providers": listing(),
    "POST /v1/connections/start": listing(json={"provider": "local"}),
    "POST /v1/connections/list-buckets": listing(json={"provider": "local"}),
    "POST /v1/connections/verify": refused(json={"provider": "local", "name": "x", "bucket": "{beta_dir}",
                                                 "space": "alpha"}, expect=(400, 403)),
    "POST /v1/connections": refused(json={"provider": "local", "name": "x", "bucket": "docs", "space": "beta"}),
    "GET /v1/connections": listing(),
    "GET /v1/connections/{connection_id}": hidden(own=True),
    "DELETE /v1/connections/{connection_id}": hidden(),
    "POST /v1/connections/{connection_id}/test": hidden(),
    "POST /v1/connections/{connection_id}/events": Case("public", json={"Records": []}, expect=(401,)),  # secret needed
    "POST /v1/connections/{connection_id}/rotate-event-secret": hidden(),
    "POST /v1/connections/{connection_id}/sync": hidden(),
    "POST /v1/connections/{connection_id}/sync/preview": hidden(),
    "GET /v1/connections/{connection_id}/sync/progress": hidden(own=True),
    "GET /v1/connections/{connection_id}/sync/history": hidden(own=True),
    "GET /v1/connections/{connection_id}/browse": hidden(own=True),
    "GET /v1/nodes": listing(beta={"query": {"connection_id": "{connection_id}"}, "expect": 404}),
    "GET /v1/nodes/{node_id}": hidden(own=True),
    "DELETE /v1/nodes/{node_id}": hidden(),
    "GET /v1/nodes/{node_id}/children": hidden(),
    "GET /v1/nodes/{node_id}/download": hidden(own=True),
    "POST /v1/nodes/upload/init": refused(json={"connection_id": "{connection_id}", "path": "planted.txt"},
                                          expect=(404,)),
    "POST /v1/nodes/upload/commit": refused(json={"node_id": "{node_id}"}, expect=(404,)),
    "GET /v1/nodes/{node_id}/content": SIGNED,
    "PUT /v1/nodes/{node_id}/content": SIGNED,
    # search
    "POST /v1/search": listing(json={"query": "quarterly ledger numbers"},
                               beta={"json": {"query": "ledger", "space": "beta"}}),
    "POST /v1/qa": listing(json={"question": "What are the quarterly numbers?"},
                           beta={"json": {"question": "numbers?", "space": "beta"}}),
    # the console: a session (cookie) is the only way in; an API key gets a sign-in redirect or 401
    "GET /console/login": CONSOLE_PAGE,
    "POST /console/login": Case("console", expect=(400, 401, 403)),
    "POST /console/logout": CONSOLE_ACTION,
    **{f"GET {p}": CONSOLE_PAGE for p in (
        "/console", "/console/files", "/console/api/files/status", "/console/files/{file_id}",
        "/console/files/{file_id}/pages/{number}", "/console/jobs",
        "/console/search", "/console/qa", "/console/api/qa/stream", "/console/spaces", "/console/webhooks",
        "/console/webhooks/{webhook_id}", "/console/keys", "/console/provider-keys", "/console/settings",
        "/console/logs", "/console/audit", "/console/connections", "/console/connections/{connection_id}",
        "/console/connections/{connection_id}/browse", "/console/api/connections/{connection_id}/progress",
        "/console/nodes/{node_id}/download", "/console/users")},
    **{f"POST {p}": CONSOLE_ACTION for p in (
        "/console/api/upload", "/console/files/{file_id}/reprocess", "/console/files/{file_id}/delete",
        "/console/jobs/{job_id}/{verb}", "/console/spaces/share", "/console/portal-tokens/{token_id}/revoke",
        "/console/spaces/{name}/delete", "/console/webhooks", "/console/webhooks/{webhook_id}/{verb}",
        "/console/keys", "/console/keys/{key_id}/revoke", "/console/provider-keys",
        "/console/provider-keys/{provider}/delete", "/console/settings/org", "/console/settings/routing",
        "/console/connections", "/console/connections/{connection_id}/{verb}", "/console/users",
        "/console/users/{user_id}/{verb}")},
}


# -- the seeded server --------------------------------------------------------------------------------
@dataclass
class Tenant:
    space: str
    key: str
    key_id: str
    key_name: str
    receiver: Receiver
    root: Path
    ids: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)

    def client(self, server: LiveServer) -> httpx.Client:
        return server.client(self.key)

    def markers(self) -> list[str]:
        """Strings that may appear only in answers about this tenant."""
        return [*self.ids.values(), *self.secrets.values(), self.key_id, self.key_name, f'"{self.space}"',
                str(self.root), f":{self.receiver.port}/"]


@dataclass
class World:
    server: LiveServer
    admin: httpx.Client
    tenants: dict[str, Tenant]
    log: list[str] = field(default_factory=list)  # every request alpha made, for the log checks

    @property
    def alpha(self) -> Tenant:
        return self.tenants["alpha"]

    @property
    def beta(self) -> Tenant:
        return self.tenants["beta"]


def _completed(client: httpx.Client, file_id: str) -> dict[str, Any]:
    return wait_for(lambda: (lambda f: f if f["status"] in ("completed", "failed") else None)(
        client.get(f"/v1/files/{file_id}").json()), timeout=120, interval=0.2)


def _seed(server: LiveServer, admin: httpx.Client, space: str, root: Path) -> Tenant:
    tag = uuid.uuid4().hex[:10]
    (root / "docs").mkdir(parents=True)
    (root / "docs" / f"{space}-synced-{tag}.txt").write_text(f"{space} synced ledger {tag}\n")
    created = admin.post("/v1/org/api-keys", json={"name": f"{space}-service-{tag}", "spaces": [space]})
    assert created.status_code == 201, created.text
    tenant = Tenant(space, created.json()["key"], created.json()["id"], f"{space}-service-{tag}", Receiver().start(),
                    root)
    with tenant.client(server) as http:
        hook = http.post("/v1/webhooks", json={"url": tenant.receiver.url, "events": ALL_EVENTS})
        assert hook.status_code == 201 and hook.json()["spaces"] == [space], hook.text
        tenant.ids["webhook_id"] = hook.json()["id"]
        tenant.secrets["webhook_secret"] = hook.json()["secret"]
        filename = f"{space}-report-{tag}.txt"
        up = http.post("/v1/upload", params={"space": space},
                       files={"file": (filename, f"{space} confidential quarterly ledger numbers {tag}.\n".encode(),
                                       "text/plain")})
        assert up.status_code == 201, up.text
        tenant.ids.update(file_id=up.json()["id"], job_id=up.json()["job_id"])
        tenant.secrets.update(filename=filename, word=tag)
        assert _completed(http, tenant.ids["file_id"])["status"] == "completed"
        batch = http.post("/v1/upload/batch", json={"files": [{"filename": f"{space}-batch-{tag}.txt", "space": space}]})
        assert batch.status_code == 201, batch.text
        tenant.ids.update(batch_id=batch.json()["batch_id"], batch_file_id=batch.json()["files"][0]["id"])
        conn = http.post("/v1/connections/verify",
                         json={"provider": "local", "name": f"{space} docs {tag}", "bucket": "docs", "space": space})
        assert conn.status_code == 201, conn.text
        tenant.ids["connection_id"] = conn.json()["id"]
        assert http.post(f"/v1/connections/{conn.json()['id']}/sync").status_code == 202
        wait_for(lambda: http.get(f"/v1/connections/{conn.json()['id']}/sync/progress").json()["status"] == "completed",
                 timeout=60, interval=0.2)
        nodes = http.get("/v1/nodes", params={"connection_id": conn.json()["id"], "type": "file"}).json()["nodes"]
        tenant.ids["node_id"] = nodes[0]["id"]
        token = http.post("/v1/portal/tokens", json={"space": space})
        assert token.status_code == 201, token.text
        tenant.ids["token_id"] = token.json()["id"]
        tenant.secrets["token"] = token.json()["token"]
    return tenant


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("confinement")
    roots = {space: base / f"{space}-root" for space in SPACES}
    (base / "shared").mkdir()
    server = LiveServer(data_dir=base / "data", env=server_env(
        ROSET_LOCAL_ROOTS=":".join([f"{s}={p}" for s, p in roots.items()] + [str(base / "shared")]),
        ROSET_RATE_LIMIT="100000", ROSET_WEBHOOK_SCHEDULE="0.2,0.2", ROSET_ADMIN_PASSWORD=ADMIN_PASSWORD))
    server.start()
    admin = server.client()
    tenants = {space: _seed(server, admin, space, roots[space]) for space in SPACES}
    # the beta directory as alpha would name it in a connection
    tenants["beta"].secrets["beta_dir"] = str(roots["beta"] / "docs")
    try:
        yield World(server, admin, tenants)
    finally:
        admin.close()
        for tenant in tenants.values():
            tenant.receiver.stop()
        server.stop()


# -- the route table ------------------------------------------------------------------------------------
def _template(path: str) -> str:
    return re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)


def app_routes(tmp_path: Path) -> set[str]:
    """``METHOD /path/{param}`` for every route the app serves (HEAD/OPTIONS aside)."""
    app = create_app(Settings.from_env({}, data_dir=tmp_path / "routes", admin_key=ADMIN_KEY, workers=1))
    found = set()
    for route in app.app.routes:
        if isinstance(route, HTTPRoute):
            found |= {f"{m} {_template(route.path)}" for m in route.methods if m not in ("HEAD", "OPTIONS")}
    app.app.state.services.stop()
    return found


def test_every_route_has_a_rule(world: World, tmp_path: Path) -> None:
    served = app_routes(tmp_path)
    missing, stale = sorted(served - set(ROUTES)), sorted(set(ROUTES) - served)
    assert not missing, f"routes without a confinement rule in tests/test_confinement.py: {missing}"
    assert not stale, f"rules for routes the app no longer has: {stale}"
    document = world.admin.get("/schema/openapi.json").json()
    documented = {f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops
                  if m.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE")}
    assert documented and documented <= set(ROUTES)


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _values(tenant: Tenant) -> dict[str, str]:
    return {**tenant.ids, **tenant.secrets, "key_id": tenant.key_id, "name": tenant.space,
            "variant_type": "markdown", "provider": "reducto", "verb": "delete", "file_path": "favicon.svg",
            "path": "openapi.yaml", "user_id": "usr-unknown", "number": "1"}


def _call(world: World, key: str | None, method: str, path: str, case: Case, ids: dict[str, str],
          overrides: dict[str, Any] | None = None) -> tuple[httpx.Response, str]:
    over = overrides or {}
    url = _fill(path, ids)
    assert "{" not in url, f"no value for a parameter of {url}"
    body = _fill(over.get("json", case.json), ids)
    query = _fill(over.get("query", case.query), ids)
    with world.server.client(key, follow_redirects=False) as http:
        r = http.request(method, url, params=query, json=body) if body is not None else \
            http.request(method, url, params=query)
    sent = f"{url} {json.dumps(query)} {json.dumps(body)}"
    return r, sent


def _leaks(tenant: Tenant, text: str, sent: str) -> list[str]:
    return [m for m in tenant.markers() if m in text and m not in sent]


def _sweep_order(route: str) -> tuple[int, str]:
    """Reads first and deletions last, so a leaking delete cannot hide a leaking read."""
    method = route.split(" ", 1)[0]
    return ({"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}[method], route)


@pytest.mark.parametrize("route", sorted(ROUTES, key=_sweep_order))
def test_route_reaches_nothing_of_the_other_space(world: World, route: str) -> None:
    case = ROUTES[route]
    method, path = route.split(" ", 1)
    alpha, beta = world.alpha, world.beta
    beta_ids = _values(beta)
    if case.rule == "portal":  # alpha's share link, beta's ids
        beta_ids["token"] = alpha.secrets["token"]
    key = None if case.rule in ("public", "signed", "portal") else alpha.key
    if route == "GET /v1/portal/tokens/{token}/verify":
        beta_ids["token"] = "ptk_" + "x" * 43
    r, sent = _call(world, key, method, path, case, beta_ids)
    assert r.status_code in case.expect, f"{route}: {r.status_code} {r.text[:300]}"
    assert r.status_code < 500
    assert not _leaks(beta, r.text, sent), f"{route} leaks beta: {_leaks(beta, r.text, sent)}"
    if case.check is not None:
        case.check(r)
    if case.beta is not None:
        over = dict(case.beta)
        want = over.pop("expect", 403)
        r, sent = _call(world, alpha.key, method, path, case, beta_ids, over)
        assert r.status_code == want, f"{route} naming beta: {r.status_code} {r.text[:300]}"
        assert not _leaks(beta, r.text, sent)
    if case.own:
        r, _ = _call(world, alpha.key, method, path, case, _values(alpha))
        assert 200 <= r.status_code < 300, f"{route} on alpha's own object: {r.status_code} {r.text[:300]}"


# Form fields a console member of alpha sends with beta's ids (every other action: an empty form).
CONSOLE_FORMS: dict[str, dict[str, str]] = {
    "POST /console/spaces/share": {"space": "beta"},
    "POST /console/keys": {"name": "escalate", "spaces": "beta", "scopes": "files:read"},
    "POST /console/connections": {"provider": "local", "name": "x", "bucket": "{beta_dir}", "space": "alpha"},
    "POST /console/webhooks": {"url": "http://127.0.0.1:9/x", "events": "file.uploaded"},
    "POST /console/provider-keys": {"provider": "reducto", "key": "stolen", "base_url": "http://127.0.0.1:9/x"},
}
CONSOLE_VERBS = {"/console/jobs/{job_id}/{verb}": "cancel", "/console/connections/{connection_id}/{verb}": "sync",
                 "/console/webhooks/{webhook_id}/{verb}": "rotate", "/console/users/{user_id}/{verb}": "disable"}
CONSOLE_SKIPPED = {"POST /console/login", "POST /console/logout"}  # signing in and out: no space involved


@pytest.fixture(scope="module")
def alpha_member(world: World) -> Console:
    admin = Console(world.server)
    assert admin.sign_in("admin", ADMIN_PASSWORD).status_code == 303
    make_user(admin, "alpha-member", "member", "alpha")
    member = Console(world.server)
    assert member.sign_in("alpha-member").status_code == 303
    return member


@pytest.mark.parametrize("route", sorted((r for r, c in ROUTES.items() if c.rule == "console" and r not in
                                          CONSOLE_SKIPPED), key=_sweep_order))
def test_console_member_reaches_nothing_of_the_other_space(world: World, alpha_member: Console, route: str) -> None:
    """A console member of alpha (a session, not a key) gets nothing of beta from any console route."""
    method, path = route.split(" ", 1)
    ids = {**_values(world.beta), "verb": CONSOLE_VERBS.get(path, "delete")}
    url = _fill(path, ids)
    if method == "GET":
        r = alpha_member.get(url)
        sent = url
    elif path == "/console/api/upload":
        r = alpha_member.http.post(url, params={"space": "beta"}, files={"file": ("x.txt", b"planted", "text/plain")},
                                   headers={"x-csrf-token": alpha_member.csrf()})
        sent = url + " beta"
    else:
        form = _fill(CONSOLE_FORMS.get(route, {}), ids)
        r = alpha_member.post(url, form)
        sent = f"{url} {json.dumps(form)}"
    assert r.status_code < 500, f"{route}: {r.status_code}"
    assert not _leaks(world.beta, r.text, sent), f"{route} leaks beta: {_leaks(world.beta, r.text, sent)}"
    if any(v in url for v in world.beta.ids.values()) or method == "POST":
        refused = r.status_code in (400, 401, 403, 404) or (
            r.status_code == 303 and "error=" in r.headers.get("location", ""))
        assert refused, f"{route}: {r.status_code} {r.headers.get('location')} {r.text[:200]}"


def test_beta_is_intact_after_alphas_calls(world: World) -> None:
    """Run after the route sweep (file order): nothing of beta changed."""
    beta = world.beta
    with beta.client(world.server) as http:
        assert http.get("/v1/me").status_code == 200  # key not revoked
        assert http.get(f"/v1/files/{beta.ids['file_id']}").json()["status"] == "completed"
        assert http.get(f"/v1/batches/{beta.ids['batch_id']}").json()["total"] == 1
        hook = http.get(f"/v1/webhooks/{beta.ids['webhook_id']}").json()
        assert hook["url"] == beta.receiver.url and hook["active"] and hook["spaces"] == ["beta"]
        assert http.get(f"/v1/connections/{beta.ids['connection_id']}").status_code == 200
        assert http.get(f"/v1/nodes/{beta.ids['node_id']}").status_code == 200
        assert not (beta.root / "docs" / "planted.txt").exists()
        verify = world.server.client(None).get(f"/v1/portal/tokens/{beta.secrets['token']}/verify").json()
        assert verify["valid"] is True and verify["space"] == "beta"
        # the signing secret was not rotated: a test event verifies with the secret shown at creation
        sent = http.post(f"/v1/webhooks/{beta.ids['webhook_id']}/test").json()
        assert sent["success"] is True, sent
    item = [r for r in beta.receiver.posts() if b"webhook.test" in r.body][-1]
    Webhook(beta.secrets["webhook_secret"]).verify(item.body, item.headers)


def test_webhooks_receive_only_their_spaces_events(world: World) -> None:
    alpha, beta = world.alpha, world.beta
    with beta.client(world.server) as http:
        up = http.post("/v1/upload", params={"space": "beta"}, files={"file": ("late.txt", b"late beta news", "text/plain")})
        late = up.json()["id"]
        _completed(http, late)
    wait_for(lambda: any(late.encode() in r.body for r in beta.receiver.posts()), timeout=30)
    # an all-spaces webhook (admin) gets both; a beta-only one made by the admin gets beta's only
    assert all(b'"space":"beta"' not in r.body and beta.ids["file_id"].encode() not in r.body and late.encode()
               not in r.body for r in alpha.receiver.posts())
    assert any(b'"space":"alpha"' in r.body for r in alpha.receiver.posts())
    assert all(b'"space":"alpha"' not in r.body for r in beta.receiver.posts() if b"webhook.test" not in r.body)
    # alpha cannot widen its webhook to every space, or to beta
    with alpha.client(world.server) as http:
        wid = alpha.ids["webhook_id"]
        assert http.patch(f"/v1/webhooks/{wid}", json={"spaces": None}).status_code == 403
        assert http.patch(f"/v1/webhooks/{wid}", json={"spaces": ["alpha", "beta"]}).status_code == 403
        assert http.patch(f"/v1/webhooks/{wid}", json={"spaces": []}).status_code == 400
        assert http.post("/v1/webhooks", json={"url": alpha.receiver.url, "events": ["file.deleted"],
                                               "spaces": ["../etc"]}).status_code == 400
        assert http.get(f"/v1/webhooks/{wid}").json()["spaces"] == ["alpha"]
        events = http.get("/v1/webhook-events", params={"limit": 200}).json()["events"]
        assert events and {e["webhook_id"] for e in events} == {wid}
        assert http.post(f"/v1/webhooks/{wid}/replay", json={"since": "2000-01-01T00:00:00Z"}).status_code == 200
    time.sleep(0.5)
    assert all(late.encode() not in r.body for r in alpha.receiver.posts())


def test_an_admin_webhook_can_be_given_one_space(world: World) -> None:
    receiver = Receiver().start()
    try:
        hook = world.admin.post("/v1/webhooks", json={"url": receiver.url, "events": ["file.uploaded"],
                                                      "spaces": ["beta"]}).json()
        assert hook["spaces"] == ["beta"]
        # an all-spaces webhook is invisible to a confined key even when it covers that key's space
        everywhere = world.admin.post("/v1/webhooks", json={"url": receiver.url, "events": ["file.deleted"]}).json()
        assert everywhere["spaces"] is None
        with world.alpha.client(world.server) as http:
            assert http.get(f"/v1/webhooks/{everywhere['id']}").status_code == 404
            assert http.post("/v1/upload", params={"space": "alpha"},
                             files={"file": ("a.txt", b"alpha again", "text/plain")}).status_code == 201
        with world.beta.client(world.server) as http:
            assert http.get(f"/v1/webhooks/{hook['id']}").status_code == 200  # within beta: beta may manage it
            beta_file = http.post("/v1/upload", params={"space": "beta"},
                                  files={"file": ("b.txt", b"beta again", "text/plain")}).json()["id"]
        wait_for(lambda: any(beta_file.encode() in r.body for r in receiver.posts()), timeout=30)
        assert all(b'"space":"alpha"' not in r.body for r in receiver.posts())
    finally:
        receiver.stop()


def test_analytics_count_only_the_callers_spaces(world: World) -> None:
    with world.alpha.client(world.server) as http:
        mine = http.get("/v1/analytics/overview").json()
    as_admin = world.admin.get("/v1/analytics/overview", params={"space": "alpha"}).json()
    everything = world.admin.get("/v1/analytics/overview").json()
    assert mine["total_files"] == as_admin["total_files"] < everything["total_files"]
    assert mine["total_connections"] == 1 and everything["total_connections"] == 2
    with world.alpha.client(world.server) as http:
        files = http.get("/v1/files").json()["files"]  # no space: the key's own spaces, not 403
        assert files and {f["space"] for f in files} == {"alpha"}
        spaces = http.get("/v1/analytics/spaces").json()["spaces"]
        assert [s["space"] for s in spaces] == ["alpha"]


def test_keys_and_org_settings_stay_out_of_a_confined_keys_reach(world: World) -> None:
    alpha, beta = world.alpha, world.beta
    with alpha.client(world.server) as http:
        assert http.put("/v1/org/provider-keys", json={"provider": "reducto", "key": "stolen",
                                                       "base_url": "http://127.0.0.1:9/evil"}).status_code == 403
        listed = {k["id"] for k in http.get("/v1/org/api-keys").json()["api_keys"]}
        assert alpha.key_id in listed and beta.key_id not in listed
        assert http.delete(f"/v1/org/api-keys/{beta.key_id}").status_code == 404
        admin_id = world.admin.get("/v1/me").json()["key_id"]
        assert http.delete(f"/v1/org/api-keys/{admin_id}").status_code == 404
        assert http.post("/v1/org/api-keys", json={"name": "wide"}).status_code == 403
        minted = http.post("/v1/org/api-keys", json={"name": "alpha helper", "spaces": ["alpha"],
                                                     "scopes": ["files:read"]}).json()
        assert minted["id"] in {k["id"] for k in http.get("/v1/org/api-keys").json()["api_keys"]}
        assert http.delete(f"/v1/org/api-keys/{minted['id']}").status_code == 200
    providers = world.admin.get("/v1/org/provider-keys").json()["provider_keys"]
    assert not [p for p in providers if p["configured"]]
    with beta.client(world.server) as http:
        assert http.get("/v1/me").status_code == 200


def test_local_roots_belong_to_their_spaces(world: World, alpha_member: Console) -> None:
    alpha, beta = world.alpha, world.beta
    page = alpha_member.get("/console/connections", params={"provider": "local"}).text
    assert str(alpha.root) in page and str(beta.root) not in page and str(beta.root.parent / "shared") not in page
    with alpha.client(world.server) as http:
        names = [b["name"] for b in http.post("/v1/connections/list-buckets", json={"provider": "local"}).json()["buckets"]]
        assert names and all(n.startswith(str(alpha.root.resolve())) for n in names)
        shared = str(beta.root.parent / "shared")
        for bucket in (str(beta.root / "docs"), shared, str(beta.root.parent)):
            r = http.post("/v1/connections", json={"provider": "local", "name": "x", "bucket": bucket, "space": "alpha"})
            assert r.status_code in (400, 403), r.text
    # the admin may use the plain root, but never put beta's root under alpha
    r = world.admin.post("/v1/connections", json={"provider": "local", "name": "x", "bucket": str(beta.root / "docs"),
                                                  "space": "alpha"})
    assert r.status_code == 400
    ok = world.admin.post("/v1/connections", json={"provider": "local", "name": "shared", "bucket": shared,
                                                   "space": "alpha"})
    assert ok.status_code == 201
    world.admin.delete(f"/v1/connections/{ok.json()['id']}")


def test_the_log_holds_no_token_and_is_confined(world: World) -> None:
    alpha, beta = world.alpha, world.beta
    anon = world.server.client(None)
    for tenant in (alpha, beta):
        token = tenant.secrets["token"]
        assert anon.get(f"/portal/{token}").status_code == 200
        assert anon.get(f"/v1/portal/tokens/{token}/verify").json()["valid"] is True
    doomed = world.admin.post("/v1/portal/tokens", json={"space": "beta"}).json()["token"]
    assert world.admin.delete(f"/v1/portal/tokens/{doomed}").status_code == 200
    time.sleep(1.0)  # the log writer flushes every 0.5 s
    rows = world.admin.get("/v1/api-logs", params={"limit": 200}).json()["logs"]
    assert any(r["path"] == "/portal/{token}" for r in rows)
    assert any(r["path"] == "/v1/portal/tokens/{token}/verify" for r in rows)
    assert not [r for r in rows if "ptk_" in r["path"]]
    data = b"".join(p.read_bytes() for p in world.server.data_dir.glob("roset.db*"))
    for token in (alpha.secrets["token"], beta.secrets["token"], doomed):
        assert token.encode() not in data
    with alpha.client(world.server) as http:
        mine = http.get("/v1/api-logs", params={"limit": 200}).json()["logs"]
    # rows of callers confined within alpha: its key, its share link, the key it minted, a console member of alpha
    assert mine and {r["key_name"] for r in mine} <= {alpha.key_name, "portal", "alpha helper", "console:alpha-member"}
    assert any(r["key_name"] == alpha.key_name for r in mine)


# -- in-process checks of the pieces -------------------------------------------------------------------
def test_migration_purges_logged_tokens_and_adds_spaces(tmp_path: Path) -> None:
    from roset_local.store import schema
    from roset_local.store.db import open_database
    from roset_local.store.migrations import apply_migrations

    db = open_database(tmp_path / "old.db")
    try:
        apply_migrations(db, [s for s in schema.ALL if s is not schema.confine])
        with db.write():
            for i, path in enumerate(("/portal/ptk_leaked0123456789", "/v1/portal/tokens/ptk_leaked/verify", "/v1/me")):
                db.insert("api_logs", {"id": f"log-{i}", "seq": i, "method": "GET", "path": path, "status": 200,
                                       "duration_ms": 1, "request_id": f"req-{i}", "created_at": "2026-01-01 00:00:00"})
            db.insert("webhooks", {"id": "wh-old", "url": "http://127.0.0.1:9/x", "events": "[]", "secret": "whsec_x",
                                   "created_at": "2026-01-01 00:00:00", "updated_at": "2026-01-01 00:00:00"})
        assert apply_migrations(db, schema.ALL) == ["confine/0001_confine_scope_webhook_and_log_spaces"]
        assert [r["path"] for r in db.all("SELECT path FROM api_logs")] == ["/v1/me"]
        assert db.value("SELECT spaces FROM webhooks WHERE id = 'wh-old'") is None  # existing webhooks: all spaces
    finally:
        db.close()


def test_unmatched_paths_are_logged_without_credential_like_segments(client, services) -> None:
    token = "ptk_" + "q" * 43
    assert client.get(f"/v1/nothing/{token}/here").status_code == 404
    assert client.get(f"/portal/{token}").status_code == 401
    services.log_writer.flush()
    paths = [r["path"] for r in client.get("/v1/api-logs").json()["logs"]]
    assert "/v1/nothing/{redacted}/here" in paths and "/portal/{token}" in paths
    assert not [p for p in paths if token in p]


def test_local_roots_setting_maps_spaces() -> None:
    from roset_local.config import parse_local_roots

    plain, mapped = parse_local_roots("alpha=/srv/a:/srv/shared:beta.team=/srv/b:/srv/with=sign")
    assert plain == ("/srv/shared", "/srv/with=sign")
    assert mapped == (("alpha", "/srv/a"), ("beta.team", "/srv/b"))


def test_principal_covers_and_empty_confinements() -> None:
    from roset_local.auth import Principal

    alpha = Principal(auth_type="api_key", key_id="k1", key_name="a", scopes=frozenset({"files:read"}),
                      spaces=("alpha",))
    nobody = Principal(auth_type="session", key_id=None, key_name="m", scopes=frozenset(), spaces=())
    assert alpha.covers(["alpha"]) and not alpha.covers(["alpha", "beta"])
    assert not alpha.covers(None) and not alpha.covers([])  # all spaces, or no space: unconfined callers only
    assert not nobody.covers(["alpha"]) and not nobody.can_see("alpha")
    assert alpha.list_filter(None, "default") == ("alpha",) and alpha.list_filter("", "default") == ("alpha",)
    both = Principal(auth_type="api_key", key_id="k4", key_name="d", scopes=frozenset({"files:read"}),
                     spaces=("alpha", "default"))
    assert both.list_filter(None, "default") == ("default",)  # CONTRACT.md: no space lists `default`
    assert alpha.can_manage_key({"id": "k1", "spaces": None, "scopes": ["org:write"]})  # itself
    assert not alpha.can_manage_key({"id": "k2", "spaces": ["alpha"], "scopes": ["org:write"]})  # more scopes
    assert alpha.can_manage_key({"id": "k3", "spaces": ["alpha"], "scopes": ["files:read"]})


def test_a_key_with_an_empty_space_list_is_refused(client) -> None:
    r = client.post("/v1/org/api-keys", json={"name": "nothing", "spaces": []})
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST"


@contextmanager
def _local_connector(tmp_path: Path, roots: str, name: str) -> Iterator[tuple[str, Callable[..., Any], Callable[[str], list[str]]]]:
    """An in-process app with these ROSET_LOCAL_ROOTS: an alpha key and ``connect(bucket, space, key)``."""
    from litestar.testing import TestClient

    app = create_app(Settings.from_env({"ROSET_LOCAL_ROOTS": roots}, data_dir=tmp_path / name, admin_key=ADMIN_KEY,
                                       workers=1))
    with TestClient(app, base_url="http://127.0.0.1:8700") as http:
        http.headers.update({"Authorization": f"ApiKey {ADMIN_KEY}"})
        alpha = http.post("/v1/org/api-keys", json={"name": "a", "spaces": ["alpha"]}).json()["key"]

        def connect(bucket: Path, space: str, key: str | None = None) -> Any:
            body = {"provider": "local", "name": "n", "bucket": str(bucket), "space": space}
            return http.post("/v1/connections", json=body, headers={"Authorization": f"ApiKey {key}"} if key else None)

        def buckets(key: str) -> list[str]:
            r = http.post("/v1/connections/list-buckets", json={"provider": "local"},
                          headers={"Authorization": f"ApiKey {key}"})
            return [b["name"] for b in r.json()["buckets"]]

        yield alpha, connect, buckets


def test_nested_local_roots_belong_to_the_innermost_space(tmp_path: Path) -> None:
    outer, inner, shared = tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "common"
    for directory in (outer / "own", inner / "sub", shared / "x"):
        directory.mkdir(parents=True)
    with _local_connector(tmp_path, f"alpha={outer}:beta={inner}:{shared}", "one") as (alpha, connect, buckets):
        assert str(outer / "own") in buckets(alpha) and not [b for b in buckets(alpha) if b.startswith(str(inner))]
        assert connect(inner / "sub", "alpha", alpha).status_code == 403  # inside beta's (inner) root
        assert "contains another space" in connect(outer, "alpha", alpha).json()["error"]
        assert connect(shared / "x", "alpha", alpha).status_code == 403  # a plain root: unconfined keys only
        assert connect(inner / "sub", "alpha").status_code == 403  # not even the admin files beta's under alpha
        assert connect(outer / "own", "alpha", alpha).status_code == 201
        assert connect(inner / "sub", "beta").status_code == 201
    # alpha's root holds a plain root where the admin put a beta connection: alpha keeps off it
    root = tmp_path / "c"
    (root / "common" / "x").mkdir(parents=True)
    with _local_connector(tmp_path, f"alpha={root}:{root / 'common'}", "two") as (alpha, connect, _):
        assert connect(root / "common" / "x", "beta").status_code == 201
        refused = connect(root, "alpha", alpha)
        assert refused.status_code == 403 and "connection of another space" in refused.json()["error"]
