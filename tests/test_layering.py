"""The package's seams, checked with ``ast``: SQL only in store/ (and ops/), one table per list of names."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from roset_local.providers.names import PROVIDER_NAMES
from roset_local.storage.backends import PROVIDER_IDS
from roset_local.store.keys import ALL_SCOPES
from roset_local.store.variants import VARIANT_TYPES

PACKAGE = Path(__file__).resolve().parent.parent / "roset_local"
SQL_HOMES = ("store/", "ops/", "queue/")  # ops/ (backup, restore, doctor) works on database files directly;
# queue/ tunes the connection of its own database (huey's storage), never the application's

# A statement, not a word: "SELECT ... FROM", "INSERT INTO", "UPDATE t SET", "DELETE FROM", DDL, PRAGMA.
SQL_STATEMENT = re.compile(
    r"\bSELECT\b[\s\S]+?\bFROM\b|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\[?\w+\]?\s+SET\b|\bDELETE\s+FROM\b"
    r"|\b(?:CREATE|DROP|ALTER)\s+(?:VIRTUAL\s+)?(?:TABLE|INDEX|TRIGGER|VIEW)\b|\bPRAGMA\s+\w+"
)
CURSOR_METHODS = {"execute", "executemany", "executescript", "query"}
# roset_local.store.db.Database's own query helpers, and the attributes that hand out its connection.
DATABASE_METHODS = {"one", "all", "value", "insert", "update"}
DATABASE_HANDLES = {"utils", "conn"}
# sqlite-utils Table methods, reached as db["table"].method(...) or db.table("t").method(...).
TABLE_METHODS = {"insert", "insert_all", "upsert", "upsert_all", "update", "delete", "delete_where",
                 "rows_where", "count_where", "lookup", "create", "drop", "transform"}


@functools.cache
def _modules() -> list[tuple[str, ast.Module]]:
    """``(path relative to roset_local/, tree)`` of every module, parsed once per test run."""
    return [(path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
            for path in sorted(PACKAGE.rglob("*.py"))]


def _docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _receiver_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_db(node: ast.expr) -> bool:
    """``db``, ``services.db``, ``self._db``...: what the code base calls a Database."""
    return _receiver_name(node) in ("db", "_db", "database")


def _is_table(node: ast.expr) -> bool:
    if isinstance(node, ast.Subscript):  # db["files"], db.utils["files"]
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "table"


def sql_outside_store(tree: ast.Module) -> list[str]:
    """Every database call and SQL string literal in ``tree`` (docstrings are prose, not SQL)."""
    problems: list[str] = []
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # an f-string: its literal parts around a placeholder
            text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
            if SQL_STATEMENT.search(text):
                problems.append(f"line {node.lineno}: SQL f-string {text[:60]!r}")
            docs.update(id(v) for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if SQL_STATEMENT.search(node.value):
                problems.append(f"line {node.lineno}: SQL text {node.value[:60]!r}")
        elif isinstance(node, ast.Attribute) and node.attr in DATABASE_HANDLES and _is_db(node.value):
            problems.append(f"line {node.lineno}: raw database handle .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method, receiver = node.func.attr, node.func.value
            if method in CURSOR_METHODS:
                problems.append(f"line {node.lineno}: .{method}() call")
            elif method in DATABASE_METHODS and _is_db(receiver):
                problems.append(f"line {node.lineno}: Database.{method}() call")
            elif method in TABLE_METHODS and _is_table(receiver):
                problems.append(f"line {node.lineno}: sqlite-utils table .{method}() call")
    return sorted(problems, key=lambda p: int(p.split(":")[0].removeprefix("line ")))


def test_the_checker_finds_each_kind_of_sql() -> None:
    source = '''
def f(services, db, conn):
    """SELECT a FROM b in a docstring is prose."""
    label = "Select a file from the list"
    services.db.one("SELECT * FROM files WHERE id = :id", {})
    conn.execute(query)
    db.insert("batches", {"id": 1})
    db.utils["files"].upsert({"id": 1}, pk="id")
    db.table("files").delete_where("1")
    services.db.utils.vacuum()
    sql = f"UPDATE [{table}] SET a = 1"
'''
    found = sql_outside_store(ast.parse(source))
    lines = sorted(int(p.split(":")[0].removeprefix("line ")) for p in found)
    assert lines == [5, 5, 6, 7, 8, 8, 9, 10, 11], found


def test_no_sql_outside_store() -> None:
    offenders = {rel: problems for rel, tree in _modules()
                 if not rel.startswith(SQL_HOMES) and (problems := sql_outside_store(tree))}
    assert offenders == {}, "SQL belongs behind a function in roset_local/store/"


# -- one table per list of names ------------------------------------------------------------------

TABLES = {
    "provider names": (set(PROVIDER_NAMES), "providers/names.py"),
    "variant types": (set(VARIANT_TYPES), "store/variants.py"),
    "scopes": (set(ALL_SCOPES), "store/keys.py"),
    "storage providers": (set(PROVIDER_IDS), "storage/backends/spec.py"),
}


def _string_collections(tree: ast.Module) -> Iterator[tuple[int, set[str]]]:
    """The strings of every tuple, list or set literal (``Literal[...]`` subscripts included)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            values = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            if values:
                yield node.lineno, values


@pytest.mark.parametrize("concept", sorted(TABLES))
def test_one_definition_per_list_of_names(concept: str) -> None:
    names, home = TABLES[concept]
    assert len(names) >= 3
    copies = [f"{rel}:{line}" for rel, tree in _modules() if rel != home
              for line, values in _string_collections(tree) if names <= values]
    assert copies == [], f"{concept} are listed outside {home}: import them from there"


def test_every_scope_a_route_or_tool_names_is_in_the_table() -> None:
    named: list[tuple[str, int, str]] = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):  # opt={"scope": "files:read", ...}
                for key, value in zip(node.keys, node.values):
                    if isinstance(key, ast.Constant) and key.value == "scope" and isinstance(value, ast.Constant):
                        named.append((rel, node.lineno, value.value))
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "require_scope" and node.args and isinstance(node.args[0], ast.Constant)):
                named.append((rel, node.lineno, node.args[0].value))
    assert len(named) > 50  # the walk sees the routes
    unknown = [f"{rel}:{line} {scope!r}" for rel, line, scope in named if scope not in ALL_SCOPES]
    assert unknown == []


# -- storage backends -----------------------------------------------------------------------------


def test_every_storage_provider_has_a_backend_that_implements_the_protocol() -> None:
    from roset_local.storage import backends

    families = {p["family"] for p in backends.PROVIDERS}
    assert families == set(backends.FAMILIES) == set(backends.BACKENDS)
    members = [name for name, value in vars(backends.Backend).items()
               if callable(value) and not name.startswith("_")]
    assert len(members) >= 10
    for family, module in backends.BACKENDS.items():
        assert module.__name__ == f"roset_local.storage.backends.{family}"
        missing = [name for name in members if not callable(getattr(module, name, None))]
        assert missing == [], f"{family} backend lacks {missing}"


def _runtime_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that runs (at module level or inside functions), not ``if TYPE_CHECKING:``."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skipped:
            yield node


def import_graph(modules: list[tuple[str, ast.Module]]) -> dict[str, set[str]]:
    """Module name → the package's modules it imports (``from pkg import mod`` counts as the module)."""
    names = {rel.removesuffix(".py").removesuffix("/__init__").replace("/", "."): tree for rel, tree in modules}

    def owner(dotted: str) -> str | None:
        while dotted and dotted not in names:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    graph: dict[str, set[str]] = {}
    for name, tree in names.items():
        deps: set[str | None] = set()
        for node in _runtime_imports(tree):
            if isinstance(node, ast.Import):
                deps.update(owner(a.name.removeprefix("roset_local.")) for a in node.names
                            if a.name.startswith("roset_local."))
            elif node.module and node.module.startswith("roset_local"):
                base = node.module.removeprefix("roset_local").lstrip(".")
                for alias in node.names:
                    full = f"{base}.{alias.name}".lstrip(".")
                    deps.add(full if full in names else owner(base))
        graph[name] = {d for d in deps if d and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import() -> None:
    a = ast.parse("from roset_local.b import thing\n")
    b = ast.parse("def f():\n    from roset_local import c\n")
    c = ast.parse("import roset_local.a\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from roset_local import b\n")
    graph = import_graph([("a.py", a), ("b.py", b), ("c.py", c)])
    assert graph == {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    """Downward imports only: a module never (even inside a function) imports one that imports it back;
    upward calls go through the typed hooks (hooks.py) built in wiring.py."""
    assert cycles(import_graph(_modules())) == []
