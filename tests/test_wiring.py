"""The wiring stays explicit: the import graph (read with ``ast``) has no cycle through services.py,
services.py imports only low layers, no module imports our own modules by name at run time, and
console pages never import the JSON routes."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from roset_local.hooks import Hooks
from roset_local.queue import Tasks
from roset_local.services import Services

PACKAGE = Path(__file__).resolve().parent.parent / "roset_local"
SERVICES = "roset_local.services"

# What services.py may import: the store, the storage, and modules that themselves import nothing
# above those layers (each is checked below, so the list cannot hide an upward import).
LOW_LEVEL = {
    "roset_local",  # the package itself (``from roset_local import queue``)
    "roset_local.auth",
    "roset_local.caches",
    "roset_local.config",
    "roset_local.errors",
    "roset_local.hooks",
    "roset_local.ids",
    "roset_local.netguard",
    "roset_local.observe",
    "roset_local.providers.base",
    "roset_local.providers.isolation",
    "roset_local.queue",
    "roset_local.queue.leases",  # job leases renewed by one thread; reaches only store/
    "roset_local.secrets",
    "roset_local.signing",
    "roset_local.timeutil",
}
LOW_PACKAGES = ("roset_local.store", "roset_local.storage")
# The layers that use Services: nothing services.py reaches, directly or not, may be one of them.
UPPER = ("roset_local.api", "roset_local.app", "roset_local.audit", "roset_local.cli", "roset_local.connections",
         "roset_local.index", "roset_local.mcp_server", "roset_local.metrics", "roset_local.ops",
         "roset_local.pipeline", "roset_local.portal", "roset_local.positions", "roset_local.tasks",
         "roset_local.webhooks", "roset_local.wiring")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module of ours that an imported dotted name lives in (``pkg.mod.func`` → ``pkg.mod``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: resolve against the importing module's package
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join(package + ([base] if base else []))
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    return {owner for name in names if name.startswith("roset_local") and (owner := _owner(name))}


def _graph() -> dict[str, set[str]]:
    """Module → the modules of ours it imports: module level and inside functions alike."""
    graph = {}
    for module, path in MODULES.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps |= _imported(module, node)
        deps.discard(module)
        graph[module] = deps
    return graph


GRAPH = _graph()


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in GRAPH[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def _is_low(module: str) -> bool:
    return module in LOW_LEVEL or module.startswith(tuple(p + "." for p in LOW_PACKAGES)) or module in LOW_PACKAGES


def test_the_graph_sees_known_imports():
    # The checker itself must see module-level, function-level and relative imports.
    assert "roset_local.services" in GRAPH["roset_local.app"]
    assert "roset_local.wiring" in GRAPH["roset_local.cli"]  # imported inside cmd_worker
    assert "roset_local.providers.base" in GRAPH["roset_local.providers.isolation"]  # ``from .base import``


def test_no_import_cycle_passes_through_services():
    cycle = [m for m in GRAPH[SERVICES] if SERVICES in _reachable(m) or m == SERVICES]
    assert cycle == [], f"services.py is on an import cycle through {cycle}"


def test_services_imports_only_low_layers():
    upward = sorted(m for m in GRAPH[SERVICES] if not _is_low(m))
    assert upward == [], f"services.py imports above store/ and storage/: {upward}"
    # nor anything it reaches: the allowlist cannot hide an upward import one step away. A leaf of an
    # upper package (imports nothing of ours, e.g. index/chunking's list of strategies) cannot lead back.
    reached = sorted(m for m in _reachable(SERVICES)
                     if (m in UPPER or m.startswith(tuple(p + "." for p in UPPER))) and GRAPH[m])
    assert reached == [], f"services.py reaches the layers above it: {reached}"


def test_no_module_imports_our_modules_by_name():
    offenders = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name not in {"import_module", "__import__"}:
                continue
            target = node.args[0]
            literal = target.value if isinstance(target, ast.Constant) and isinstance(target.value, str) else None
            if literal is None or literal.startswith(("roset_local", ".")):  # a computed name may be ours
                offenders.append(f"{module}:{node.lineno} {ast.unparse(node)}")
    assert offenders == []


def test_services_has_typed_fields_and_no_string_keyed_extensions(settings):
    services = Services(settings)
    assert not hasattr(services, "extensions")
    assert "extensions" not in Services.__init__.__code__.co_names
    assert isinstance(services.hooks, Hooks)
    assert [f.name for f in dataclasses.fields(Tasks)] == [
        "process_job", "await_upload", "recover_jobs", "connection_sync", "reembed_file", "deliver_webhook",
        "purge_webhook_history", "purge_api_logs",
    ]
    with pytest.raises(RuntimeError):  # opened without wire(): no tasks, said plainly
        services.tasks


def test_nothing_reads_a_services_extensions_attribute():
    offenders = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "extensions":
                base = node.value
                if isinstance(base, ast.Name) and base.id in {"services", "self"} or (
                    isinstance(base, ast.Attribute) and base.attr == "services"
                ):
                    offenders.append(f"{module}:{node.lineno}")
    assert offenders == []


def test_console_pages_do_not_import_json_routes():
    offenders = {
        module: sorted(dep for dep in deps if dep == "roset_local.api" or dep.startswith("roset_local.api."))
        for module, deps in GRAPH.items()
        if module.startswith("roset_local.portal")
    }
    assert {m: d for m, d in offenders.items() if d} == {}


def test_the_app_and_the_worker_build_the_same_wiring(app):
    services = app.app.state.services
    assert services.wired
    assert services.tasks.process_job.name == "roset.process_job"
    hooks = services.hooks
    defaults = Hooks()
    # every upward hook is answered by its feature, not left at its safe default
    assert all(getattr(hooks, f.name) is not getattr(defaults, f.name) for f in dataclasses.fields(Hooks))
    assert "roset_local.wiring" in GRAPH["roset_local.app"] and "roset_local.wiring" in GRAPH["roset_local.cli"]


def test_hooks_default_to_safe_answers():
    from roset_local.errors import Unauthorized

    hooks = Hooks()
    hooks.events_committed()  # nothing to wake: the relay's poll finds the events
    hooks.dispatch_webhook("dlv_x")  # the relay's sweep finds the pending delivery
    with pytest.raises(FileNotFoundError):
        hooks.open_connection_file({"id": "file_x", "node_id": "node_x"})
    with pytest.raises(Unauthorized):
        hooks.authenticate_portal("ptk_unknown")


def test_lru_cache_drops_the_least_recently_used_past_its_weight():
    from roset_local.caches import LruCache

    cache: LruCache[str, bytes] = LruCache(10, len)
    cache.put("a", b"12345")
    cache.put("b", b"1234")
    assert cache.get("a") == b"12345"  # "a" is now the most recent
    cache.put("c", b"12")  # 11 bytes: "b" goes
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"12345", None, b"12")
    cache.put("a", b"1")  # replacing a value frees its old weight
    cache.put("d", b"1234567")
    assert cache.get("c") == b"12" and cache.get("d") == b"1234567" and len(cache) == 3


def test_registry_makes_one_object_per_name_and_checks_its_class():
    from roset_local.caches import Registry

    registry = Registry()
    first, made = registry.get_or_create(list, "t1", lambda: [1])
    again, made_again = registry.get_or_create(list, "t1", lambda: [2])
    assert (first, made, made_again) == ([1], True, False) and again is first
    assert "t1" in registry and registry.get(list, "t2") is None
    with pytest.raises(TypeError):
        registry.get(dict, "t1")
