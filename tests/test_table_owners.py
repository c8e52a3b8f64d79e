"""Each table of the local cloud's store has one owning module: the only one whose SQL
names it.

``teal.cloud.local.store`` keeps the schema and its migrations (it alone creates,
alters and drops tables, and its migrations may name any table) and its own ``meta``
table; every other table belongs to the module :data:`OWNERS` names, and other modules
call that module's functions. What a table's rows mean (the shape of its JSON
columns, which changes bump the generation, which rows change together) is then
written in one module, the one to read and change with the table.

The check reads the source, not the running code: every string constant and f-string
(docstrings aside) of every teal module, the local cloud's and the others alike, in
which SQL names a table after ``FROM``, ``INTO``, ``UPDATE``, ``JOIN`` or ``TABLE``.
teal writes SQL's keywords in capitals and its messages do not, so the keywords are
matched as written: "from the stack" is no SQL. A table named by a placeholder is read
where the code makes that plain: a loop over literal names, or a parameter of a
private function that its module calls with literal names. Any other table name made
at run time fails the check, which could not tell which table it is.
"""

from __future__ import annotations

import ast
import inspect
import re
import sqlite3
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from teal.cloud.local import store
from test_layering import module_files

LOCAL = "teal.cloud.local"
STORE = f"{LOCAL}.store"
REST_APIS = f"{LOCAL}.gateway.rest_apis"
STACK_TABLES = f"{LOCAL}.stacks.stack_tables"
CATALOG = f"{LOCAL}.functions.catalog"
QUEUES = f"{LOCAL}.triggers.queues"

# Each table of the schema -> the one module that runs SQL on it.
OWNERS = {
    "meta": STORE,
    # the stack engine's records; the ledger and the gateway go through these
    "stacks": STACK_TABLES,
    "resources": STACK_TABLES,
    "events": STACK_TABLES,
    "named": f"{LOCAL}.stacks.resources._named",
    # Lambda's control plane
    "functions": CATALOG,
    "permissions": CATALOG,
    "function_versions": CATALOG,
    "aliases": CATALOG,
    # API Gateway: RestApis, their deployments and stages, who may call them, domains
    "rest_apis": REST_APIS,
    "api_resources": REST_APIS,
    "api_methods": REST_APIS,
    "api_authorizers": REST_APIS,
    "api_gateway_responses": REST_APIS,
    "deployments": REST_APIS,
    "stages": REST_APIS,
    "api_keys": REST_APIS,
    "usage_plans": REST_APIS,
    "usage_plan_keys": REST_APIS,
    "domains": REST_APIS,
    "mappings": REST_APIS,
    "routing_rules": REST_APIS,
    # what runs functions without a request
    "event_rules": f"{LOCAL}.triggers.event_rules",
    "queues": QUEUES,
    "queue_messages": QUEUES,
    "event_source_mappings": f"{LOCAL}.triggers.source_mappings",
    # teal's own operations on the local cloud
    "locks": f"{LOCAL}.oplog_tables",
    "history": f"{LOCAL}.oplog_tables",
}

_MARK = "\x00"  # stands for an f-string's placeholder: {0} is "\x000\x00"
_NAME = rf"(?:\w+|{_MARK}\d+{_MARK}|[{{%][^\s,]*)"  # a name, a placeholder, {x} or %s
_ALIAS = r"(?:\s+(?:AS\s+)?\w+)?"
TABLE_NAMES = re.compile(
    rf"\b(?P<keyword>FROM|INTO|UPDATE|JOIN|TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?)\s+"
    rf"(?P<names>{_NAME}{_ALIAS}(?:\s*,\s*{_NAME}{_ALIAS})*)"  # FROM a x, b y: a and b
)
SCHEMA_CHANGES = re.compile(
    r"\b(?:(?P<create>CREATE TABLE (?:IF NOT EXISTS )?(?P<created>\w+))"
    r"|(?P<drop>DROP TABLE (?:IF EXISTS )?(?P<dropped>\w+))"
    r"|(?P<rename>ALTER TABLE (?P<old>\w+) RENAME TO (?P<new>\w+)))"
)


@dataclass(frozen=True)
class Use:
    """SQL in ``module`` naming ``table`` after ``keyword`` (None: a name it cannot read)."""

    module: str
    table: str | None
    keyword: str
    sql: str


# ---------------------------------------------------------------- reading the source


def uses_in(module: str, tree: ast.Module) -> Iterator[Use]:
    """Every table the module's SQL names, and every table name the check cannot read."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node, text, placeholders in _sql_texts(tree):
        shown = ast.unparse(node) if isinstance(node, ast.JoinedStr) else text
        for found in TABLE_NAMES.finditer(text):
            keyword = found["keyword"].split()[0]
            for part in found["names"].split(","):
                name = part.split()[0]
                if name.startswith(_MARK):
                    placeholder = placeholders[int(name.strip(_MARK))]
                    tables = _resolved(placeholder, node, parents, tree)
                elif name[0] in "{%":
                    tables = None  # str.format or %: filled in at run time
                else:
                    tables = {name}
                if tables is None:
                    yield Use(module, None, keyword, shown)
                    continue
                yield from (Use(module, table, keyword, shown) for table in sorted(tables))


def _sql_texts(tree: ast.Module) -> Iterator[tuple[ast.expr, str, list[ast.expr]]]:
    """Each string constant and f-string but docstrings, as text: an f-string's
    placeholders are marked, and given with the expressions they stand for."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    in_fstrings = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    skipped = docstrings | in_fstrings  # an f-string's parts are read with it, as one
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            placeholders: list[ast.expr] = []
            text = ""
            for part in node.values:
                if isinstance(part, ast.FormattedValue):
                    text += f"{_MARK}{len(placeholders)}{_MARK}"
                    placeholders.append(part.value)
                elif isinstance(part, ast.Constant):
                    text += str(part.value)
            yield node, text, placeholders
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skipped
        ):
            yield node, node.value, []


def _resolved(
    placeholder: ast.expr, node: ast.AST, parents: dict[ast.AST, ast.AST], tree: ast.Module
) -> set[str] | None:
    """The tables a placeholder may name, when the code says so plainly; else None."""
    if not isinstance(placeholder, ast.Name):
        return None
    here: ast.AST | None = node
    while here is not None:
        if (
            isinstance(here, ast.For)
            and isinstance(here.target, ast.Name)
            and here.target.id == placeholder.id
        ):
            return _literal_names(here.iter)
        if isinstance(here, ast.FunctionDef | ast.AsyncFunctionDef):
            return _given_by_calls(here, placeholder.id, tree)
        here = parents.get(here)
    return None


def _literal_names(node: ast.expr | None) -> set[str] | None:
    """The strings a literal string, or a tuple, list or set of them, holds; else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        names = [_literal_names(item) for item in node.elts]
        if all(name is not None for name in names):
            return set().union(*(name for name in names if name is not None))
    return None


def _given_by_calls(
    function: ast.FunctionDef | ast.AsyncFunctionDef, parameter: str, tree: ast.Module
) -> set[str] | None:
    """The literal values the module's calls pass for a parameter of a private function
    (a public one may be called from anywhere, with anything)."""
    if not function.name.startswith("_"):
        return None
    positional = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    calls = [
        call
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and (
            (isinstance(call.func, ast.Name) and call.func.id == function.name)
            or (isinstance(call.func, ast.Attribute) and call.func.attr == function.name)
        )
    ]
    found: set[str] = set()
    for call in calls:
        given = next((k.value for k in call.keywords if k.arg == parameter), None)
        if given is None and parameter in positional:
            index = positional.index(parameter)
            if isinstance(call.func, ast.Attribute) and positional[:1] in (["self"], ["cls"]):
                index -= 1
            given = call.args[index] if index < len(call.args) else None
        names = _literal_names(given)
        if names is None:
            return None
        found |= names
    return found if calls else None


@cache
def all_uses() -> tuple[Use, ...]:
    """The uses of every teal module, read once for the tests that judge them."""
    return tuple(
        use
        for module, path in sorted(module_files().items())
        for use in uses_in(module, ast.parse(path.read_text()))
    )


def schema_tables() -> set[str]:
    """The tables the store's migrations leave, read from their SQL in version order."""
    tables: set[str] = set()
    for version in sorted(store.MIGRATIONS):
        migration = store.MIGRATIONS[version]
        source = migration if isinstance(migration, str) else _source_sql(migration)
        for change in SCHEMA_CHANGES.finditer(source):
            if change["create"]:
                tables.add(change["created"])
            elif change["drop"]:
                tables.discard(change["dropped"])
            else:
                tables.discard(change["old"])
                tables.add(change["new"])
    return tables


def _source_sql(migration: Callable[[sqlite3.Connection], None]) -> str:
    """The string constants of a migration written as a function, in source order."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(migration)))
    constants = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    constants.sort(key=lambda node: (node.lineno, node.col_offset))
    return ";\n".join(str(node.value) for node in constants)


# ---------------------------------------------------------------- the rule


def test_every_table_of_the_schema_has_one_owner() -> None:
    tables = schema_tables()
    unowned = sorted(tables - set(OWNERS))
    assert not unowned, f"tables of the schema with no owner in OWNERS: {unowned}"
    gone = sorted(set(OWNERS) - tables)
    assert not gone, f"OWNERS names tables the schema does not have: {gone}"
    missing = sorted(set(OWNERS.values()) - set(module_files()))
    assert not missing, f"OWNERS names owners that are no module of teal: {missing}"


def test_only_its_owner_runs_sql_on_a_table() -> None:
    wrong = sorted(
        {
            f"{use.module} names table {use.table}, which {OWNERS[use.table]} owns: {use.sql!r}"
            for use in all_uses()
            if use.table in OWNERS and use.module not in (STORE, OWNERS[use.table])
        }
    )
    assert not wrong, "call the owner's functions instead:\n" + "\n".join(wrong)


def test_every_table_name_in_sql_can_be_read() -> None:
    """A table named at run time could be any table: the check would pass it unread."""
    unread = sorted({f"{use.module}: {use.sql!r}" for use in all_uses() if use.table is None})
    assert not unread, "SQL whose table the check cannot tell:\n" + "\n".join(unread)


def test_only_the_store_changes_the_schema() -> None:
    wrong = sorted(
        {
            f"{use.module}: {use.sql!r}"
            for use in all_uses()
            if use.keyword == "TABLE" and use.module != STORE
        }
    )
    assert not wrong, "schema changes belong to the store's migrations:\n" + "\n".join(wrong)


# ---------------------------------------------------------------- the check itself


def test_the_schema_read_from_the_migrations_is_the_one_they_make(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    store.migrate(conn, tmp_path)
    made = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    conn.close()
    assert schema_tables() == made


def test_the_check_reads_sql_however_it_is_written() -> None:
    """Joins, lists of tables, a loop over names and a private function's parameter are
    read; a name made otherwise at run time is reported, never passed."""
    source = """
def f(conn, table):
    conn.execute("SELECT s.tags FROM resources r JOIN stacks s ON s.name = r.stack")
    conn.execute("SELECT 1 FROM queues q, queue_messages m WHERE m.queue_arn = q.arn")
    conn.execute(f"SELECT {columns} FROM functions WHERE arn = ?")
    for name in ("events", "named"):
        conn.execute(f"DELETE FROM {name} WHERE stack = ?")
    conn.execute(f"DELETE FROM {table}")
    conn.execute("DELETE FROM {}".format(table))

def _rows(conn, table):
    return conn.execute(f"SELECT * FROM {table}")

class A:
    def read(self, conn):
        return _rows(conn, "domains"), self._by(conn, "stages")

    def _by(self, conn, table):
        return conn.execute(f"SELECT * FROM {table}")
"""
    uses = list(uses_in("m", ast.parse(source)))
    assert sorted({use.table for use in uses if use.table}) == [
        "domains",
        "events",
        "functions",
        "named",
        "queue_messages",
        "queues",
        "resources",
        "stacks",
        "stages",
    ]
    assert sorted(use.sql for use in uses if use.table is None) == [
        "DELETE FROM {}",
        "f'DELETE FROM {table}'",
    ]
