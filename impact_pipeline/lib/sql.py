"""SQL literals for rules built from code or the criteria config (never from registry data: that is bound)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# The one whitespace set: what Python's str.strip() removes (the characters for which str.isspace() is true, which
# are also exactly what `\s` matches in a str regular expression). SQL's trim() takes it as WHITESPACE_SQL.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
WHITESPACE_SQL = "concat(" + ", ".join(f"chr({ord(c)})" for c in WHITESPACE) + ")"


def sql_literal(value: Any) -> str:
    """A SQL literal for a config value: NULL, booleans, numbers as is, text quoted."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def sql_list(values: Sequence[Any]) -> str:
    """`(v1, v2…)` for `IN`; `(NULL)` when empty, which matches nothing."""
    return "(" + ", ".join(sql_literal(v) for v in values) + ")" if values else "(NULL)"


def sql_array(values: Sequence[Any]) -> str:
    """`[v1, v2…]`, a DuckDB list literal."""
    return "[" + ", ".join(sql_literal(v) for v in values) + "]"


def sql_values(rows: Sequence[Sequence[Any]]) -> str:
    """The rows of a `VALUES` clause (small lookup tables built from code or config)."""
    return ", ".join("(" + ", ".join(sql_literal(v) for v in row) + ")" for row in rows)
