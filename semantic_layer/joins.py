"""Inner joins where MetricFlow writes `LEFT OUTER JOIN` to a dimension table that every row is known to match.

MetricFlow joins a metric's rows to the semantic model that carries a requested dimension (tier, country, account
type) with `LEFT OUTER JOIN`, always (dataflow_plan_builder: no option). An inner join returns the same rows exactly
when every left row has a match, and DuckDB runs it much faster (at 10 M transactions: 1.43 s as generated vs 0.98 s
with `INNER JOIN`; it can use its perfect hash join for inner joins only).

When every left row has a match is declared in the dbt YAML, beside the tests that prove it: a foreign entity with
`config: {meta: {join_always_matches: [dim_customers]}}` says that its column is not null and every value has its
row in the named models, where the entity is primary (the marts' `not_null` / `not_null_columns` and
`relationships` tests, severity error: a build that fails them is not published). An entity can be primary in
several models (account: dim_accounts and fct_account_balances_current): only the named ones are proved.
tests/test_joins.py checks that each declaration has those tests.

The rewrite is narrow, on the SQL MetricFlow rendered (once per query shape, see engine._plan). A `LEFT OUTER JOIN`
becomes `INNER JOIN` only when all of these hold, otherwise the SQL is left as it is:
- its right side is a table itself (not a subquery) where an entity is primary, and the condition is a single
  equality of that entity's key with one column of the left side;
- its left side reads one semantic model's table directly: either the table itself (`FROM <table> <alias>`, the
  column being the flagged entity's column), or a subquery over that table alone (no join, no union: MetricFlow's
  "Read Elements From Semantic Model", the column being the entity's name given to the flagged entity's column);
- that left table's column is declared to match every row of that right table.
A join whose left side went through another join (a time spine, a multi-hop join) never qualifies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

META_KEY = "join_always_matches"

_JOIN = re.compile(
    r"^(?P<indent>[ ]*)LEFT OUTER JOIN\n[ ]*(?P<table>\S+) (?P<alias>\w+)\n[ ]*ON\n"
    r"[ ]*(?P<left>\w+)\.(?P<left_column>\w+) = (?P=alias)\.(?P<key>\w+)\n(?=(?P<next>[^\n]*))",
    re.MULTILINE,
)
_FROM = re.compile(r"^[ ]*FROM (?P<table>\S+) (?P<alias>\w+)$")
_CLOSE = re.compile(r"^[ ]*\) (?P<alias>\w+)$")
_WORD = re.compile(r"\b(JOIN|UNION|INTERSECT|EXCEPT)\b")


@dataclass(frozen=True)
class MatchedJoins:
    """What the semantic manifest declares: primary tables by entity, and the flagged foreign entity columns."""

    primaries: dict[tuple[str, str], str]  # (table as rendered, key column) -> entity name
    flagged: frozenset[tuple[str, str, str]]  # (table as rendered, column, table it always matches)

    @property
    def empty(self) -> bool:
        return not self.flagged


def matched_joins(manifest: Any) -> MatchedJoins:
    primaries: dict[tuple[str, str], str] = {}
    declared: list[tuple[str, str, str, str]] = []  # (table, column, entity, model it matches)
    tables: dict[tuple[str, str], str] = {}  # (model name, entity) -> table, where the entity is primary
    for model in manifest.semantic_models:
        table = model.node_relation.relation_name
        for entity in model.entities:
            kind = str(getattr(entity.type, "value", entity.type)).lower()
            column = (entity.expr or entity.name).strip()
            if kind == "primary":
                primaries[(table, column)] = entity.name
                tables[(model.node_relation.alias, entity.name)] = table
            elif kind == "foreign":
                names = _meta(entity).get(META_KEY)
                for name in [names] if isinstance(names, str) else names if isinstance(names, list) else []:
                    declared.append((table, column, entity.name, str(name)))
    flagged = {(table, column, tables[(name, entity)]) for table, column, entity, name in declared
               if (name, entity) in tables}
    return MatchedJoins(primaries, frozenset(flagged))


def inner_joins(sql: str, joins: MatchedJoins) -> str:
    """`sql` with each qualifying `LEFT OUTER JOIN` (module docstring) written as `INNER JOIN`."""
    if joins.empty or "LEFT OUTER JOIN" not in sql:
        return sql
    out: list[str] = []
    position = 0
    for match in _JOIN.finditer(sql):
        if _qualifies(sql, match, joins):
            start = match.start() + len(match.group("indent"))
            out.append(sql[position:start])
            out.append("INNER JOIN")
            position = start + len("LEFT OUTER JOIN")
    out.append(sql[position:])
    return "".join(out)


def _qualifies(sql: str, match: re.Match[str], joins: MatchedJoins) -> bool:
    if re.match(r"[ ]*(AND|OR)\b", match.group("next")):  # a compound condition: not ours to judge
        return False
    right = match.group("table")
    entity = joins.primaries.get((right, match.group("key")))
    if entity is None:
        return False
    before = sql[:match.start()].rstrip("\n")
    head = before[before.rfind("\n") + 1:]
    direct = _FROM.match(head) or _chained(before, match.group("indent"))
    if direct is not None:
        return direct.group("alias") == match.group("left") and (
            direct.group("table"), match.group("left_column"), right) in joins.flagged
    closing = _CLOSE.match(head)
    if closing is None or closing.group("alias") != match.group("left") or match.group("left_column") != entity:
        return False
    inner = _subquery_before(sql, len(before) - len(head) + head.rindex(")"))
    if inner is None:
        return False
    code = "\n".join(line for line in inner.splitlines() if not line.lstrip().startswith("--"))
    if _WORD.search(code.upper()) or len(re.findall(r"\bSELECT\b", code.upper())) != 1:
        return False
    tables = [m.group("table") for m in (_FROM.match(line) for line in code.splitlines()) if m is not None]
    if len(tables) != 1:
        return False
    columns = {m.group(1) for m in re.finditer(rf"^[ ]*,?[ ]*(\w+) AS {re.escape(entity)}$", code, re.MULTILINE)}
    return len(columns) == 1 and (tables[0], columns.pop(), right) in joins.flagged


def _chained(before: str, indent: str) -> re.Match[str] | None:
    """The `FROM <table> <alias>` line of a join that follows other joins of the same FROM clause, when those are
    all left outer or inner joins (they keep every row of that table, its columns as they are)."""
    for line in reversed(before.splitlines()):
        if not line.startswith(indent) or line[len(indent):len(indent) + 1] == " ":
            if line.strip() and len(line) - len(line.lstrip()) < len(indent):
                return None  # left the FROM clause
            continue  # deeper: a joined table's name, a condition
        rest = line[len(indent):]
        if rest in ("LEFT OUTER JOIN", "INNER JOIN", "ON"):
            continue
        return _FROM.match(line)
    return None


def _subquery_before(sql: str, close: int) -> str | None:
    """The text inside the parentheses that close at `close`, skipping string literals, quoted names and comments."""
    opened: list[int] = []
    index = 0
    while index < close:
        char = sql[index]
        if char in "'\"":
            end = sql.find(char, index + 1)
            while end != -1 and sql[end + 1:end + 2] == char:  # a doubled quote inside the literal
                end = sql.find(char, end + 2)
            if end == -1:
                return None
            index = end + 1
            continue
        if sql.startswith("--", index):
            end = sql.find("\n", index)
            index = close if end == -1 else end
            continue
        if char == "(":
            opened.append(index)
        elif char == ")" and opened:
            opened.pop()
        index += 1
    return sql[opened[-1] + 1:close] if opened else None


def _meta(node: Any) -> dict[str, Any]:
    config = getattr(node, "config", None)
    meta = getattr(config, "meta", None) if config is not None else None
    return dict(meta) if isinstance(meta, dict) else {}
