"""Turn a registry document (JSON:API v2.5) into the registry tables, recording what is wrong.

Rules over DuckDB, no Dagster. DuckDB's JSON functions read and split the document and every
per-record rule is SQL, so a registry of tens of thousands of services never becomes Python objects.
Python only sees distinct values, through the functions that define them: `parse_date` for dates,
`normalize_phase` for phase names, `refused_scheme` for link texts that do not start with http(s)://,
`id_key` for ids that are not ASCII, and `json` for numbers and for the values written into findings.
A malformed document raises `RegistryFormatError`; a malformed record or field becomes a finding and
the rest is kept (a lone surrogate escape, which DuckDB refuses, included).

Findings are those a Python reading of the document reports: the field (`phases[2].start`), the value
(text as is, anything else as `json.dumps` writes it, cut at 200 characters), the problem (with Python
type names: `expected text, got int`) and the severity, in the order a reader meets them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from impact_pipeline import contract
from impact_pipeline.defs.registry.phases import create_phase_at, normalize_phase
from impact_pipeline.lib.sql import WHITESPACE_SQL
from impact_pipeline.lib.urls import REFUSED_LINK_RE, refused_scheme

MAX_TEXT = 10_000  # longer free-text values are cut (and reported): a registry field is never a book
MAX_VALUE = 200  # findings keep this much of the offending value
# beta.gouv.fr started in 2013: an event dated earlier, or after the year following the fetch, is not a date.
FIRST_DATE = date(2013, 1, 1)
# DuckDB json_type names of numbers (a number too large for 64 bits is a DOUBLE whose digits are kept).
_NUMBERS = "('UBIGINT', 'BIGINT', 'DOUBLE')"

PARSED_TABLES = (
    contract.STARTUPS,
    contract.STARTUP_PHASES,
    contract.STARTUP_EVENTS,
    contract.INCUBATORS,
    contract.REGISTRY_FINDINGS,
)


class RegistryFormatError(ValueError):
    """The document is not a registry document: the run must fail, naming the source and the problem."""

    def __init__(self, source: str, problem: str):
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


@dataclass(frozen=True)
class RegistryTables:
    """Where `parse_registry` left each table: a temp table with the contract columns plus `_order`."""

    relations: dict[str, str]
    row_counts: dict[str, int]


def parse_date(value: Any) -> date | None:
    """ISO date (`YYYY-MM-DD`, optionally followed by a time); raises ValueError when unparsable."""
    if not isinstance(value, str):
        raise ValueError(f"not a date string: {value!r}")
    text = value.strip()
    if len(text) > 10 and text[10] in "T ":
        text = text[:10]
    return date.fromisoformat(text)


# -- the document ---------------------------------------------------------------------------------------


def _json_error(exc: Exception) -> str:
    """DuckDB's parse error without its echo of the input (which may be megabytes long)."""
    text = str(exc).split("Input:", 1)[0].split("Error:", 1)[-1].strip().rstrip(".")
    if "input length is 0" in text:
        return "empty body"
    if "unexpected end of data" in text:
        return f"{text} (the document is truncated)"
    return text


def insert_document(con: Any, values: list[Any], content: bytes, *, source: str) -> None:
    """Append a fetched document to registry_raw (n_startups NULL until counted): `values` are fetched_at,
    source_url, final_url, sha256, n_bytes; DuckDB decodes the bytes, refusing what is not UTF-8."""
    import duckdb

    try:
        con.execute(
            "INSERT INTO registry_raw (fetched_at, source_url, final_url, sha256, n_bytes, n_startups, document) "
            "VALUES (?::TIMESTAMP, ?, ?, ?, ?, NULL, decode(?::BLOB))",
            [*values, content],
        )
    except duckdb.ConversionException:
        raise RegistryFormatError(source, "response is not valid JSON: not UTF-8 text") from None


def count_records(con: Any, document_sql: str, params: list[Any], *, source: str) -> int:
    """The number of records of a registry document held by DuckDB; RegistryFormatError when it is not one.

    `document_sql` (written by code, never from data) selects one VARCHAR column `document`. One parse
    of the document in the common case; its shape is only examined to explain a refusal.
    """
    import duckdb

    def valid(sql: str) -> bool:
        return bool(con.execute(f"SELECT json_valid(document) FROM ({sql})", params).fetchall()[0][0])

    # try(): a refusal must not abort the caller's transaction, for the document may only hold a lone surrogate.
    rows = con.execute(f"SELECT try(json_array_length(document, '$.data')) FROM ({document_sql})", params).fetchall()
    if rows and not rows[0][0] and not valid(document_sql):
        if valid(without_lone_surrogates(document_sql)):
            document_sql = without_lone_surrogates(document_sql)
            rows = con.execute(f"SELECT json_array_length(document, '$.data') FROM ({document_sql})", params).fetchall()
        else:
            try:  # not JSON: DuckDB's own words for why
                con.execute(f"SELECT json_array_length(document, '$.data') FROM ({document_sql})", params).fetchall()
            except (duckdb.InvalidInputException, duckdb.ConversionException) as exc:
                raise RegistryFormatError(source, f"response is not valid JSON: {_json_error(exc)}") from None
    if not rows:
        raise RegistryFormatError(source, "no registry document")
    if rows[0][0]:
        return int(rows[0][0])
    # 0 or NULL: an empty list, or no list at all; say which.
    root, data, root_raw, data_raw = con.execute(
        f"""SELECT types[1], types[2], CASE WHEN types[1] IN {_NUMBERS} THEN document END,
                   CASE WHEN types[2] IN {_NUMBERS} THEN document->>'$.data' END
            FROM (SELECT json_type(document, ['$', '$.data']) AS types, document FROM ({document_sql}))""",
        params,
    ).fetchall()[0]
    if root != "OBJECT":
        raise RegistryFormatError(source, f"the document is not a JSON object (got {_python_type(root, root_raw)})")
    if data is None:
        raise RegistryFormatError(source, "the document has no `data` member (not a JSON:API startups document)")
    if data != "ARRAY":
        raise RegistryFormatError(source, f"`data` is not a list (got {_python_type(data, data_raw)})")
    return 0


REPLACEMENT = "\ufffd"  # what a lone UTF-16 surrogate escape (`\\udc00`) becomes, as Python's `errors="replace"`
SURROGATE_PROBLEM = "text holds a lone UTF-16 surrogate (invalid), replaced by U+FFFD"


def _lone_surrogate(exc: Exception) -> bool:
    """DuckDB refused a JSON text for a `\\uD800`-`\\uDFFF` escape that is not half of a pair."""
    return "surrogate in string" in str(exc)


def without_lone_surrogates(document_sql: str) -> str:
    """SQL: the documents of `document_sql` with each lone surrogate escape replaced by `\\ufffd`.

    Only run when DuckDB refused the document for one (rare, and a pass over the whole text): escaped
    backslashes and valid pairs are set aside (as control characters, which a JSON text never holds raw;
    a document holding some is left as it is), the lone escapes replaced, and the rest put back.
    """
    doc = "replace(document, '\\\\', chr(2) || chr(2))"
    doc = (
        f"regexp_replace({doc}, '\\\\u([dD][89abAB][0-9a-fA-F]{{2}})\\\\u([dD][c-fC-F][0-9a-fA-F]{{2}})', "
        f"'\\\\' || chr(1) || '\\1\\\\' || chr(1) || '\\2', 'g')"
    )
    doc = f"regexp_replace({doc}, '\\\\u[dD][89a-fA-F][0-9a-fA-F]{{2}}', '\\\\ufffd', 'g')"
    doc = f"replace(replace({doc}, '\\' || chr(1), '\\u'), chr(2) || chr(2), '\\\\')"
    return (
        f"SELECT CASE WHEN contains(document, chr(1)) OR contains(document, chr(2)) THEN document ELSE {doc} END "
        f"AS document FROM ({document_sql})"
    )


# -- Python over distinct values --------------------------------------------------------------------------


def _number(raw: str) -> tuple[str, str, str, bool]:
    """(type name, str(), json.dumps(), truthiness) of a JSON number as Python decodes it."""
    try:
        value = json.loads(raw)
    except ValueError:  # an integer longer than Python's int/str conversion limit
        return "int", raw, raw, True
    return type(value).__name__, str(value), json.dumps(value), bool(value)


def _python_type(json_type: str | None, raw: str | None) -> str:
    """The type name of a JSON value decoded by Python, from its DuckDB json_type (and text, for numbers)."""
    names = {"OBJECT": "dict", "ARRAY": "list", "VARCHAR": "str", "BOOLEAN": "bool", "NULL": "NoneType"}
    return names.get(json_type or "NULL") or _number((raw or "0").strip())[0]


def _dumps(raw: str) -> str:
    """A JSON value as `json.dumps(..., ensure_ascii=False)` writes it (how findings spell values).

    A value nested deeper than Python's recursion limit (`[[[…]]]` 2,000 deep) is written as DuckDB wrote it.
    """
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        return raw


LOOKALIKE_PROBLEM = (
    "duplicate id: the same as startup_id after Unicode normalisation (NFKC), case folding and "
    "removing invisible characters; later record skipped"
)
# Characters that show nothing: format characters (zero-width space and joiners, BOM, soft hyphen, bidi marks) and
# controls (Unicode categories Cf, Cc), variation selectors, the combining grapheme joiner and the Hangul fillers.
_INVISIBLE_RANGES = (
    (0xFE00, 0xFE0F),
    (0xE0100, 0xE01EF),
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x3164, 0x3164),
    (0xFFA0, 0xFFA0),
)


def id_key(sid: str) -> str:
    r"""What two ids that look the same share: invisible characters removed, NFKC, case folded (Unicode's
    NFKC_Casefold, as for identifiers), surrounding blanks stripped. `Café-Svc`, `cafe\u0301-svc`, full-width
    `ＣＡＦÉ-ｓｖｃ` and `café\u200b-svc` have one key. An ASCII id's is its lower case without control characters
    (computed in SQL by the parse)."""
    import unicodedata

    visible = "".join(
        c
        for c in sid
        if unicodedata.category(c) not in ("Cf", "Cc") and not any(lo <= ord(c) <= hi for lo, hi in _INVISIBLE_RANGES)
    )
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).casefold()).strip()


def _date_or_none(text: str) -> date | None:
    try:
        return parse_date(text)
    except ValueError:
        return None


def _distinct(con: Any, select_sql: str) -> list[str]:
    return [r[0] for r in con.execute(f"SELECT DISTINCT v FROM ({select_sql}) WHERE v IS NOT NULL").fetchall()]


def _lookup(con: Any, name: str, values: list[str], function: Any, sql_type: str) -> None:
    """Temp table `name`(value, result) holding `function(value)` for each value.

    The values come from the registry: they travel as bound parameters, never inside SQL text.
    """
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT unnest(?::VARCHAR[]) AS value, "
        f"unnest(?::{sql_type}[]) AS result",
        [values, [function(v) for v in values]],
    )


# -- what is read ------------------------------------------------------------------------------------------

# Paths read in each record (one parse for their types, one for their texts).
_RECORD_PATHS = (
    ("id", "$.id"),
    ("incubator", "$.relationships.incubator.data.id"),
    ("name", "$.attributes.name"),
    ("pitch", "$.attributes.pitch"),
    ("link", "$.attributes.link"),
    ("stats_url", "$.attributes.stats_url"),
    ("impact_url", "$.attributes.impact_url"),
    ("budget_url", "$.attributes.budget_url"),
    ("repository", "$.attributes.repository"),
    ("contact", "$.attributes.contact"),
    ("accessibility_status", "$.attributes.accessibility_status"),
    ("sponsors", "$.attributes.sponsors"),
    ("thematiques", "$.attributes.thematiques"),
    ("usertypes", "$.attributes.usertypes"),
    ("phases", "$.attributes.phases"),
    ("events", "$.attributes.events"),
)
# Startup attributes read as text, in the order their findings are reported (tier): "link" ones are URLs.
_TEXT_FIELDS = (
    ("name", "text", 7),
    ("pitch", "text", 8),
    ("link", "link", 9),
    ("stats_url", "link", 10),
    ("impact_url", "link", 11),
    ("budget_url", "link", 12),
    ("repository", "link", 13),
    ("contact", "text", 14),
    ("accessibility_status", "text", 15),
)
_LIST_FIELDS = (("sponsors", 16), ("thematiques", 17), ("usertypes", 18))
_INCUBATOR_FIELDS = ("title", "owner", "website", "github", "contact")
# Findings are sorted by _order = [block (0 records, 1 incubators), index, tier, position, step].


def _paths(paths: Any) -> str:
    return "[" + ", ".join("'" + p + "'" for p in paths) + "]"


def _text(t: str, s: str) -> str:
    """SQL: the text Python reads from a JSON value (type `t`, text `s`): strings stripped, numbers and
    booleans as str() writes them, NULL for null and for structures. Not yet cut at MAX_TEXT."""
    return f"""(CASE WHEN {t} = 'VARCHAR' THEN _reg_strip({s})
                     WHEN {t} = 'BOOLEAN' THEN CASE {s} WHEN 'true' THEN 'True' ELSE 'False' END
                     WHEN {t} IN {_NUMBERS} THEN _reg_number({s}).text END)"""


def _blank(t: str, s: str) -> str:
    """SQL: the value is None or a blank string (a missing date)."""
    return f"({t} IS NULL OR {t} = 'NULL' OR ({t} = 'VARCHAR' AND _reg_strip({s}) = ''))"


def _text_findings(
    table: str,
    sid: str,
    field: str,
    t: str,
    s: str,
    full: str,
    order: str,
    *,
    base: int = 0,
    where: str = "true",
    link: bool = False,
    texts: str | None = None,
) -> list[str]:
    """SQL selects of the findings of a value read as text: wrong type, too long, lone surrogate, refused URL scheme.

    `order` is the SQL of the finding's _order without its last element, the step: base, base + 1, base + 2.
    The JSON value (`t`, `s`) is read from `table`, its text `full` from `texts` (default: the same table).
    """
    texts = texts or table
    selects = [
        f"""SELECT {sid}, {field}, {t}, {s}, 'expected text, got ' || _reg_pytype({t}, {s}), 'warning',
                {order} || [{base}]
            FROM {table} WHERE {t} NOT IN ('NULL', 'VARCHAR') AND {where}""",
        f"""SELECT {sid}, {field}, 'TEXT', length({full})::VARCHAR,
                   'text longer than {MAX_TEXT} characters, truncated', 'warning', {order} || [{base + 1}]
            FROM {texts} WHERE strlen({full}) > {MAX_TEXT} AND length({full}) > {MAX_TEXT} AND {where}""",
        f"""SELECT {sid}, {field}, 'TEXT', _reg_cut({full}), '{SURROGATE_PROBLEM}', 'warning', {order} || [{base + 10}]
            FROM {texts} WHERE _reg_repaired() AND contains({full}, '{REPLACEMENT}') AND {where}""",
    ]
    if link:
        selects.append(
            f"""SELECT {sid}, {field}, 'TEXT', _reg_cut({full}), 'refused URL scheme ''' || s.result || '''', 'warning',
                       {order} || [{base + 2}]
                FROM {texts} JOIN _reg_schemes s ON s.value = _reg_cut({full}) WHERE s.result IS NOT NULL AND {where}"""
        )
    return selects


def _entry_findings(field: str, word: str, entries: str, named: str, step: int) -> list[str]:
    """SQL selects of the findings every list of entries (phases, events) shares: an entry that is not an object,
    its name read as text, an entry without a name. `entries` holds every entry, `named` the objects among them."""
    path = f"'{field}[' || pos || ']"
    order = f"[0, idx, {step}, pos]"
    return [
        f"""SELECT sid, {path}', et, es, '{word} entry is not an object; skipped', 'error', {order} || [0]
            FROM {entries} WHERE et <> 'OBJECT'""",
        *_text_findings(named, "sid", f"{path}.name'", "name_t", "name_s", "name_full", order),
        f"""SELECT sid, {path}.name', coalesce(name_t, 'NULL'), name_s, '{word} without a name; skipped', 'error',
                   {order} || [3]
            FROM {named} WHERE coalesce(name, '') = ''""",
    ]


def _date_finding(table: str, field: str, value: str, parsed: str, order: str) -> str:
    """The SQL select of a named entry's date that is missing or unparsable (`value`_t, `value`_s read as JSON)."""
    t, s = f"{value}_t", f"{value}_s"
    return f"""SELECT sid, {field}, coalesce({t}, 'NULL'), {s},
                   CASE WHEN {_blank(t, s)} THEN 'missing date' ELSE 'unparsable date (expected YYYY-MM-DD)' END,
                   'warning', {order}
            FROM {table} WHERE coalesce(name, '') <> '' AND {parsed} IS NULL"""


def _macros(con: Any) -> None:
    # Most texts neither start nor end with a blank: only the others pay for trim() (slow with a set).
    con.execute(
        f"""CREATE OR REPLACE TEMP MACRO _reg_strip(x) AS
            CASE WHEN x = '' OR (ord(x) BETWEEN 33 AND 126 AND ord(x[-1]) BETWEEN 33 AND 126) THEN x
                ELSE trim(x, {WHITESPACE_SQL}) END"""
    )
    con.execute(
        f"CREATE OR REPLACE TEMP MACRO _reg_cut(x) AS CASE WHEN strlen(x) <= {MAX_TEXT} THEN x "
        f"ELSE left(x, {MAX_TEXT}) END"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP MACRO _reg_short(x) AS "
        f"CASE WHEN strlen(x) > {MAX_VALUE} AND length(x) > {MAX_VALUE} THEN left(x, {MAX_VALUE}) || '…' ELSE x END"
    )


def _number_macros(con: Any, values: list[str]) -> None:
    """`_reg_number(s)`: what Python makes of the JSON number `s` (type name, str(), truthiness)."""
    results = [_number(v) for v in values]
    con.execute(
        """SET VARIABLE _registry_numbers = (
               SELECT map(list(value), list({'pytype': pytype, 'text': text, 'truthy': truthy}))
               FROM (SELECT unnest(?::VARCHAR[]) AS value, unnest(?::VARCHAR[]) AS pytype,
                            unnest(?::VARCHAR[]) AS text, unnest(?::BOOLEAN[]) AS truthy))""",
        [values, [r[0] for r in results], [r[1] for r in results], [r[3] for r in results]],
    )
    con.execute("CREATE OR REPLACE TEMP MACRO _reg_number(s) AS getvariable('_registry_numbers')[s]")
    con.execute(
        """CREATE OR REPLACE TEMP MACRO _reg_pytype(t, s) AS CASE t
               WHEN 'OBJECT' THEN 'dict' WHEN 'ARRAY' THEN 'list' WHEN 'VARCHAR' THEN 'str'
               WHEN 'BOOLEAN' THEN 'bool' WHEN 'NULL' THEN 'NoneType' ELSE _reg_number(s).pytype END"""
    )
    # Python's truthiness of a JSON value (`value or []`).
    con.execute(
        """CREATE OR REPLACE TEMP MACRO _reg_truthy(t, s) AS CASE
               WHEN t IS NULL OR t = 'NULL' THEN false WHEN t = 'BOOLEAN' THEN s = 'true'
               WHEN t = 'VARCHAR' THEN s <> '' WHEN t = 'OBJECT' THEN s <> '{}' WHEN t = 'ARRAY' THEN s <> '[]'
               ELSE coalesce(_reg_number(s).truthy, true) END"""
    )


# -- the rules --------------------------------------------------------------------------------------------


# DuckDB parses a JSON value whole, and cannot spill that parse to disk: the registry document (one value)
# needs about 10 times its size, plus some fixed room, while it is parsed (a 120 MB registry fails under 1 GB).
PARSE_MEMORY_FACTOR = 10
PARSE_MEMORY_BASE = 64 * 2**20


@contextmanager
def parse_memory(con: Any, n_bytes: int | None) -> Iterator[None]:
    """Raise `con`'s memory limit to what parsing a document of `n_bytes` needs, if it is lower; then restore it."""
    needed = PARSE_MEMORY_BASE + int(n_bytes or 0) * PARSE_MEMORY_FACTOR
    limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    in_bytes = _bytes(limit)
    if in_bytes is None or needed <= in_bytes:
        yield
        return
    con.execute(f"SET memory_limit = '{needed}B'")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = '{in_bytes}B'")


def _bytes(setting: str) -> int | None:
    """DuckDB's memory limit as it prints it ('953.6 MiB', '1.3 GiB') in bytes; None when unlimited or unknown."""
    import re

    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?i?B|bytes)\s*", setting or "")
    if not match:
        return None
    units = {
        "B": 1,
        "bytes": 1,
        "KB": 10**3,
        "MB": 10**6,
        "GB": 10**9,
        "TB": 10**12,
        "KiB": 2**10,
        "MiB": 2**20,
        "GiB": 2**30,
        "TiB": 2**40,
    }
    # DuckDB prints one decimal, cut rather than rounded: the limit lies within [x, x + 0.1) units.
    decimals = len(match.group(1).partition(".")[2])
    return (
        int((float(match.group(1)) + (0.5 * 10**-decimals if decimals else 0)) * units.get(match.group(2), 0)) or None
    )


def parse_registry(con: Any, document_sql: str, params: list[Any], *, source: str, as_of: date) -> RegistryTables:
    """Build the registry tables from a registry document held by DuckDB, as temp tables of `con`.

    `document_sql` (written by code) selects one VARCHAR column `document`; `as_of` is the date used
    for `current_phase` (the fetch date). Each result has the contract columns plus `_order`, the
    order in which a reader of the document meets the rows.
    """
    import duckdb

    _macros(con)
    # 1. One parse of the document into its records (JSON texts), then one parse per record for the
    #    types and texts of what is read. `included` rides on the first record's row.
    types = _paths(["$"] + [p for _, p in _RECORD_PATHS] + ["$.attributes"])
    texts = _paths(p for _, p in _RECORD_PATHS)
    at = {n: i + 1 for i, (n, _) in enumerate(_RECORD_PATHS)}  # positions in `st`; in `ty`, one more
    columns = ", ".join(f"ty[{i + 1}] AS {n}_t, st[{i}] AS {n}_s" for n, i in at.items())
    list_items = ", ".join(
        f"""CASE WHEN ty[{at[n] + 1}] = 'ARRAY'
                 THEN list_zip(json_type(st[{at[n]}], '$[*]'), json_extract_string(st[{at[n]}],
                     '$[*]')) END AS {n}_items"""
        for n, _ in _LIST_FIELDS
    )
    record_sql = f"""CREATE OR REPLACE TEMP TABLE _reg_rec AS
                SELECT idx, coalesce(ty[1], 'NULL') AS rt,
                       CASE WHEN ty[1] IS DISTINCT FROM 'OBJECT' THEN json_extract_string(r, '$') END AS rs,
                       ty[{len(_RECORD_PATHS) + 2}] AS attributes_t,
                       -- the attributes' value only matters when they are not an object (it goes into a finding)
                       CASE WHEN ty[1] = 'OBJECT' AND ty[{len(_RECORD_PATHS) + 2}] IS DISTINCT FROM 'OBJECT'
                            THEN json_extract_string(r, '$.attributes') END AS attributes_s,
                       _reg_strip(st[{at['id']}]) AS sid, {columns}, {list_items}, included
                FROM (SELECT i - 1 AS idx, r, json_type(r, {types}) AS ty, json_extract_string(r, {texts}) AS st,
                             CASE WHEN i = 1 THEN j.included END AS included
                      FROM (SELECT json_transform(document, '{{"data": ["JSON"], "included": "JSON"}}') AS j
                            FROM (__DOCUMENT_SQL__)),
                           unnest(j.data) WITH ORDINALITY AS u(r, i))"""
    repaired = False
    try:
        try:
            con.execute(record_sql.replace("__DOCUMENT_SQL__", document_sql), params)
        except duckdb.InvalidInputException as exc:
            if not _lone_surrogate(exc):
                raise
            # A lone surrogate is a finding on the text that holds it (as U+FFFD), not a refusal of the document.
            document_sql, repaired = without_lone_surrogates(document_sql), True
            con.execute(record_sql.replace("__DOCUMENT_SQL__", document_sql), params)
    except duckdb.InvalidInputException as exc:
        raise RegistryFormatError(source, f"response is not valid JSON: {_json_error(exc)}") from None
    con.execute(f"CREATE OR REPLACE TEMP MACRO _reg_repaired() AS {str(repaired).lower()}")
    if not con.execute("SELECT count(*) FROM _reg_rec").fetchall()[0][0]:
        # No record: an empty `data` list (the incubators are still read), or not a registry (raises).
        count_records(con, document_sql, params, source=source)
        con.execute(
            f"""INSERT INTO _reg_rec (idx, rt, included)
                SELECT -1, 'NONE', json_transform(document, '{{"included": "JSON"}}').included FROM ({document_sql})""",
            params,
        )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _reg_inc AS
           SELECT json_type(included) AS t, json_extract_string(included, '$') AS s FROM _reg_rec WHERE idx <= 0"""
    )

    # 2. Records kept: objects with a usable id (stripped), the first of each id, ids compared as `id_key`
    #    makes them (look-alikes are one id; an ASCII id's key is computed here, the others' by Python). The
    #    others are set aside (for their findings) and _reg_rec becomes _reg_kept.
    _lookup(
        con,
        "_reg_id_keys",
        _distinct(con, "SELECT sid AS v FROM _reg_rec WHERE strlen(sid) <> length(sid)"),
        id_key,
        "VARCHAR",
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _reg_status AS
           SELECT idx, sid, kept_sid, CASE WHEN rt = 'NONE' THEN 'none' WHEN rt <> 'OBJECT' THEN 'not_object'
                                 WHEN NOT usable THEN 'no_id'
                                 WHEN idx = kept_idx THEN 'kept'
                                 WHEN sid = kept_sid THEN 'duplicate'
                                 ELSE 'lookalike' END AS status
           FROM (SELECT *, min(idx) OVER w AS kept_idx, arg_min(sid, idx) OVER w AS kept_sid
                 FROM (SELECT r.idx, r.rt, r.sid,
                              r.rt = 'OBJECT' AND r.id_t IS NOT DISTINCT FROM 'VARCHAR' AND r.sid <> '' AS usable,
                              CASE WHEN strlen(r.sid) = length(r.sid)
                                   THEN trim(lower(regexp_replace(r.sid, '[\\x00-\\x1f\\x7f]', '', 'g')), ' ')
                                   ELSE k.result END AS id_key
                       FROM _reg_rec r LEFT JOIN _reg_id_keys k ON k.value = r.sid)
                 WINDOW w AS (PARTITION BY usable, id_key))"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _reg_skipped AS
           SELECT r.idx, s.sid, s.kept_sid, s.status, r.rt, r.rs, r.id_t, r.id_s
           FROM _reg_rec r JOIN _reg_status s USING (idx)
           WHERE s.status IN ('not_object', 'no_id', 'duplicate', 'lookalike')"""
    )
    con.execute("DELETE FROM _reg_rec WHERE idx IN (SELECT idx FROM _reg_status WHERE status <> 'kept')")
    con.execute("ALTER TABLE _reg_rec RENAME TO _reg_kept")

    # 3. Phase and event entries (one parse each), incubators.
    for table, list_column, names in (
        ("_reg_ph", "phases", ("name", "start", "end")),
        ("_reg_ev", "events", ("name", "date", "comment")),
    ):
        entry_columns = ", ".join(f"ty[{i + 2}] AS {n}_t, st[{i + 1}] AS {n}_s" for i, n in enumerate(names))
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {table} AS
                SELECT idx, sid, pos, coalesce(ty[1], 'NULL') AS et,
                       CASE WHEN ty[1] IS DISTINCT FROM 'OBJECT' THEN json_extract_string(e, '$') END AS es,
                       {entry_columns}
                FROM (SELECT idx, sid, pos, e, json_type(e, {_paths(['$'] + [f'$.{n}' for n in names])}) AS ty,
                             json_extract_string(e, {_paths(f'$.{n}' for n in names)}) AS st
                      FROM (SELECT idx, sid, unnest(entries) AS e, unnest(range(len(entries))) AS pos
                            FROM (SELECT idx, sid, json_extract({list_column}_s, '$[*]') AS entries
                                  FROM _reg_kept WHERE {list_column}_t = 'ARRAY')))"""
        )
    inc_names = ("type", "id", "attributes") + _INCUBATOR_FIELDS
    inc_paths = ["$.type", "$.id", "$.attributes"] + [f"$.attributes.{f}" for f in _INCUBATOR_FIELDS]
    inc_columns = ", ".join(f"ty[{i + 2}] AS {n}_t, st[{i + 1}] AS {n}_s" for i, n in enumerate(inc_names))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _reg_in AS
            SELECT idx, coalesce(ty[1], 'NULL') AS et, {inc_columns}
            FROM (SELECT u.i - 1 AS idx, json_type(u.e, {_paths(['$'] + inc_paths)}) AS ty,
                         json_extract_string(u.e, {_paths(inc_paths)}) AS st
                  FROM _reg_inc, unnest(CASE WHEN _reg_inc.t = 'ARRAY' THEN json_extract(_reg_inc.s, '$[*]') END)
                       WITH ORDINALITY AS u(e, i))"""
    )

    # 4. Python over distinct numbers: how Python writes them and their truthiness.
    numbers = " UNION ALL ".join(
        [f"SELECT {n}_s AS v FROM _reg_kept WHERE {n}_t IN {_NUMBERS}" for n, _ in _RECORD_PATHS if n != "id"]
        + [
            f"SELECT {n}_s FROM {table} WHERE {n}_t IN {_NUMBERS}"
            for table, names in (("_reg_ph", ("name",)), ("_reg_ev", ("name", "comment")), ("_reg_in", inc_names))
            for n in names
        ]
        + [
            f"SELECT x[2] FROM (SELECT unnest({n}_items) AS x FROM _reg_kept) WHERE x[1] IN {_NUMBERS}"
            for n, _ in _LIST_FIELDS
        ]
        + [f"SELECT s FROM _reg_inc WHERE t IN {_NUMBERS}", f"SELECT id_s FROM _reg_skipped WHERE id_t IN {_NUMBERS}"]
    )
    _number_macros(con, _distinct(con, numbers))

    # 5. Texts, then Python over distinct phase names, dates and non-http(s) links.
    text_columns = ", ".join(f"{_text(f'{n}_t', f'{n}_s')} AS {n}_full" for n, _, _ in _TEXT_FIELDS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _reg_texts AS SELECT idx, sid, {text_columns} FROM _reg_kept")
    _lookup(
        con,
        "_reg_phase_names",
        _distinct(con, f"SELECT _reg_cut({_text('name_t', 'name_s')}) AS v FROM _reg_ph WHERE et = 'OBJECT'"),
        normalize_phase,
        "VARCHAR",
    )
    _lookup(
        con,
        "_reg_dates",
        _distinct(
            con,
            """SELECT start_s AS v FROM _reg_ph WHERE start_t = 'VARCHAR'
                          UNION ALL SELECT end_s FROM _reg_ph WHERE end_t = 'VARCHAR'
                          UNION ALL SELECT date_s FROM _reg_ev WHERE date_t = 'VARCHAR'""",
        ),
        _date_or_none,
        "DATE",
    )
    links = [n for n, kind, _ in _TEXT_FIELDS if kind == "link"]
    # A text starting with http(s):// never has a refused scheme: only the others go through refused_scheme.
    _lookup(
        con,
        "_reg_schemes",
        _distinct(
            con,
            " UNION ALL ".join(
                f"SELECT _reg_cut({n}_full) AS v FROM _reg_texts WHERE NOT regexp_matches({n}_full, '^[hH][tT][tT][pP][sS]?://')"
                for n in links
            ),
        ),
        refused_scheme,
        "VARCHAR",
    )
    # What the `startups` gate refuses is refused here too, whatever refused_scheme says: a link can never fail it.
    con.execute(f"""UPDATE _reg_schemes SET result = regexp_extract(lower(value), '{REFUSED_LINK_RE}', 1)
                    WHERE result IS NULL AND regexp_matches(lower(value), '{REFUSED_LINK_RE}')""")

    # 6. The tables.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _reg_phases AS
           SELECT p.*, n.result AS normalized, d1.result AS start_date, d2.result AS end_date
           FROM (SELECT *, _reg_cut(name_full) AS name
                 FROM (SELECT *, {_text('name_t', 'name_s')} AS name_full FROM _reg_ph WHERE et = 'OBJECT')) p
           LEFT JOIN _reg_phase_names n ON n.value = p.name
           LEFT JOIN _reg_dates d1 ON p.start_t = 'VARCHAR' AND d1.value = p.start_s
           LEFT JOIN _reg_dates d2 ON p.end_t = 'VARCHAR' AND d2.value = p.end_s"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _parsed_startup_phases AS
           SELECT sid AS startup_id, pos AS position, name AS phase, normalized AS phase_normalized,
                  start_date, end_date, idx * 4294967296 + pos AS _order
           FROM _reg_phases WHERE coalesce(name, '') <> ''"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _reg_events AS
            SELECT e.*, _reg_cut(e.name_full) AS name, d.result AS parsed_date,
                   -- a date outside the programme's life is a finding, never a designation (year 1, year 9999)
                   CASE WHEN d.result BETWEEN DATE '{FIRST_DATE}' AND DATE '{date(as_of.year + 1, 12, 31)}'
                        THEN d.result END AS event_date
            FROM (SELECT *, {_text('name_t', 'name_s')} AS name_full, {_text('comment_t', 'comment_s')} AS comment_full
                  FROM _reg_ev WHERE et = 'OBJECT') e
            LEFT JOIN _reg_dates d ON e.date_t = 'VARCHAR' AND d.value = e.date_s"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _parsed_startup_events AS
           SELECT sid AS startup_id, pos AS position, name, event_date, _reg_cut(comment_full) AS comment,
                  idx * 4294967296 + pos AS _order
           FROM _reg_events WHERE coalesce(name, '') <> ''"""
    )
    # current_phase: the phase in force at the fetch date (`phases.create_phase_at`).
    create_phase_at(con)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _reg_current AS
           SELECT p.idx,
                  phase_at(p.phase_normalized, p.start_date, p.phase_normalized, p.position, ?::DATE) AS current_phase,
                  phase_at(p.phase, p.start_date, p.phase_normalized, p.position, ?::DATE) AS current_phase_published,
                  min(p.start_date) AS first_phase_start
           FROM (SELECT idx, pos AS position, name AS phase, normalized AS phase_normalized, start_date
                 FROM _reg_phases WHERE coalesce(name, '') <> '') p
           GROUP BY ALL""",
        [as_of, as_of],
    )
    link_columns = ", ".join(f"CASE WHEN s_{n}.result IS NULL THEN _reg_cut(t.{n}_full) END AS {n}" for n in links)
    link_joins = " ".join(f"LEFT JOIN _reg_schemes s_{n} ON s_{n}.value = _reg_cut(t.{n}_full)" for n in links)
    list_columns = ", ".join(
        f"""coalesce([CASE WHEN x[1] = 'VARCHAR' THEN _reg_strip(x[2]) ELSE _reg_strip(_reg_number(x[2]).text) END
                      FOR x IN k.{n}_items IF x[1] = 'VARCHAR' OR x[1] IN {_NUMBERS}], []) AS {n}"""
        for n, _ in _LIST_FIELDS
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _parsed_startups AS
            SELECT k.sid AS startup_id,
                   CASE WHEN coalesce(t.name_full, '') = '' THEN k.sid ELSE _reg_cut(t.name_full) END AS name,
                   _reg_cut(t.pitch_full) AS pitch,
                   CASE WHEN k.incubator_t = 'VARCHAR' THEN k.incubator_s END AS incubator_id,
                   c.current_phase, c.current_phase_published,
                   {link_columns},
                   _reg_cut(t.contact_full) AS contact,
                   nullif(_reg_cut(t.accessibility_status_full), '') AS accessibility_status,
                   {list_columns},
                   c.first_phase_start,
                   k.idx AS _order
            FROM _reg_kept k JOIN _reg_texts t USING (idx)
            LEFT JOIN _reg_current c USING (idx)
            {link_joins}"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _reg_incubators AS
           SELECT * FROM (
               SELECT *, CASE WHEN et <> 'OBJECT' OR NOT (type_t IS NULL OR (type_t = 'VARCHAR'
                   AND type_s = 'incubator'))
                                   THEN 'ignored'
                              WHEN id_t IS DISTINCT FROM 'VARCHAR' OR id_s = '' THEN 'no_id'
                              ELSE 'candidate' END AS status
               FROM _reg_in)
           WHERE status <> 'ignored'"""
    )
    con.execute(
        """UPDATE _reg_incubators SET status = 'duplicate'
           WHERE status = 'candidate'
             AND idx > (SELECT min(i.idx) FROM _reg_incubators i
                        WHERE i.status = 'candidate' AND i.id_s = _reg_incubators.id_s)"""
    )
    # an incubator's attributes that are not an object are read as {}
    inc_text = ", ".join(
        f"CASE WHEN attributes_t = 'OBJECT' THEN {_text(f'{f}_t', f'{f}_s')} END AS {f}_full" for f in _INCUBATOR_FIELDS
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _reg_inc_texts AS SELECT *, {inc_text} FROM _reg_incubators "
        "WHERE status = 'candidate'"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _parsed_incubators AS
            SELECT id_s AS incubator_id,
                {", ".join(f"_reg_cut({f}_full) AS {f}" for f in _INCUBATOR_FIELDS)}, idx AS _order
            FROM _reg_inc_texts"""
    )

    # 7. The findings, each value as (JSON type, text); 'TEXT' marks a value already written as reported.
    findings = [
        """SELECT NULL AS startup_id, 'data[' || idx || ']' AS field, rt AS vt, rs AS vs,
                  'record is not an object; skipped' AS problem, 'error' AS severity, [0, idx, 0, 0, 0] AS _order
           FROM _reg_skipped WHERE status = 'not_object'""",
        """SELECT NULL, 'data[' || idx || '].id', coalesce(id_t, 'NULL'), id_s,
               'record has no usable id; skipped', 'error',
                  [0, idx, 0, 0, 0]
           FROM _reg_skipped WHERE status = 'no_id'""",
        """SELECT sid, 'data[' || idx || '].id', 'TEXT', sid, 'duplicate id; later record skipped',
               'error', [0, idx, 0, 0, 0]
           FROM _reg_skipped WHERE status = 'duplicate'""",
        f"""SELECT kept_sid, 'data[' || idx || '].id', 'TEXT', sid, '{LOOKALIKE_PROBLEM}', 'error', [0, idx, 0, 0, 0]
            FROM _reg_skipped WHERE status = 'lookalike'""",
        f"""SELECT sid, 'data[' || idx || '].id', 'TEXT', sid, '{SURROGATE_PROBLEM}', 'warning', [0, idx, 0, 0, 1]
            FROM _reg_kept WHERE _reg_repaired() AND contains(sid, '{REPLACEMENT}')""",
        """SELECT sid, 'attributes', coalesce(attributes_t, 'NULL'), attributes_s,
                  'attributes is not an object; record kept with no attributes', 'error', [0, idx, 1, 0, 0]
           FROM _reg_kept WHERE attributes_t IS DISTINCT FROM 'OBJECT'""",
        # phases
        """SELECT sid, 'phases', phases_t, phases_s, 'phases is not a list', 'error', [0, idx, 2, 0, 0]
           FROM _reg_kept WHERE phases_t NOT IN ('NULL', 'ARRAY')""",
        *_entry_findings("phases", "phase", "_reg_ph", "_reg_phases", 3),
        """SELECT sid, 'phases[' || pos || '].name', 'TEXT', name,
                  'unknown phase name (neither the 2026 nor the old vocabulary)', 'warning', [0, idx, 3, pos, 4]
           FROM _reg_phases WHERE coalesce(name, '') <> '' AND normalized IS NULL""",
        _date_finding("_reg_phases", "'phases[' || pos || '].start'", "start", "start_date", "[0, idx, 3, pos, 5]"),
        f"""SELECT sid, 'phases[' || pos || '].end', end_t, end_s, 'unparsable date (expected YYYY-MM-DD)', 'warning',
                   [0, idx, 3, pos, 6]
            FROM _reg_phases WHERE coalesce(name, '') <> '' AND end_date IS NULL AND NOT {_blank('end_t', 'end_s')}""",
        """SELECT sid, 'phases[' || pos || '].end', end_t, end_s, 'phase ends before it starts', 'warning',
               [0, idx, 3, pos, 7]
           FROM _reg_phases WHERE coalesce(name, '') <> '' AND end_date < start_date""",
        """SELECT k.sid, 'phases', CASE WHEN k.phases_t = 'ARRAY' THEN 'ARRAY' ELSE 'TEXT' END,
                  CASE WHEN k.phases_t = 'ARRAY' THEN k.phases_s ELSE '[]' END,
                  'startup has no phase: it is never evaluated', 'warning', [0, k.idx, 4, 0, 0]
           FROM _reg_kept k ANTI JOIN _reg_current c USING (idx)""",
        # events (`attributes.events or []`: any falsy value is no event at all)
        """SELECT sid, 'events', events_t, events_s, 'events is not a list', 'error', [0, idx, 5, 0, 0]
           FROM _reg_kept WHERE events_t <> 'ARRAY' AND _reg_truthy(events_t, events_s)""",
        *_entry_findings("events", "event", "_reg_ev", "_reg_events", 6),
        _date_finding("_reg_events", "'events[' || pos || '].date'", "date", "parsed_date", "[0, idx, 6, pos, 4]"),
        f"""SELECT sid, 'events[' || pos || '].date', 'TEXT', date_s,
                   'date outside the programme''s life ({FIRST_DATE.year} to the year after the fetch); not used',
                       'warning',
                   [0, idx, 6, pos, 4]
            FROM _reg_events WHERE coalesce(name, '') <> '' AND parsed_date IS NOT NULL AND event_date IS NULL""",
        *_text_findings(
            "_reg_events",
            "sid",
            "'events[' || pos || '].comment'",
            "comment_t",
            "comment_s",
            "comment_full",
            "[0, idx, 6, pos]",
            base=5,
            where="coalesce(name, '') <> ''",
        ),
    ]
    # startup attributes read as text (the name's step 2 is "no name")
    for n, kind, tier in _TEXT_FIELDS:
        findings += _text_findings(
            "_reg_kept",
            "sid",
            f"'{n}'",
            f"{n}_t",
            f"{n}_s",
            f"{n}_full",
            f"[0, idx, {tier}, 0]",
            link=kind == "link",
            texts="_reg_texts",
        )
    findings.append(
        """SELECT k.sid, 'name', coalesce(k.name_t, 'NULL'), k.name_s, 'startup has no name; its id is used', 'warning',
                  [0, k.idx, 7, 0, 2]
           FROM _reg_kept k JOIN _reg_texts t USING (idx) WHERE coalesce(t.name_full, '') = ''"""
    )
    for n, tier in _LIST_FIELDS:
        findings += [
            f"""SELECT sid, '{n}', {n}_t, {n}_s, 'expected a list, got ' || _reg_pytype({n}_t, {n}_s), 'warning',
                       [0, idx, {tier}, 0, 0]
                FROM _reg_kept WHERE {n}_t NOT IN ('NULL', 'ARRAY')""",
            f"""SELECT k.sid, '{n}', x.t, x.s, 'list item is not text', 'warning', [0, k.idx, {tier}, x.item, 0]
                FROM _reg_kept k JOIN (
                    SELECT idx, u.x[1] AS t, u.x[2] AS s, u.i - 1 AS item
                    FROM _reg_kept, unnest({n}_items) WITH ORDINALITY AS u(x, i)
                    WHERE list_bool_or([y[1] NOT IN ('VARCHAR', 'UBIGINT', 'BIGINT', 'DOUBLE') FOR y IN {n}_items])
                ) x USING (idx)
                WHERE x.t NOT IN ('VARCHAR', 'UBIGINT', 'BIGINT', 'DOUBLE')""",
            f"""SELECT sid, '{n}', 'TEXT', u.x[2], '{SURROGATE_PROBLEM}', 'warning', [0, idx, {tier}, u.i - 1, 1]
                FROM _reg_kept, unnest({n}_items) WITH ORDINALITY AS u(x, i)
                WHERE _reg_repaired() AND u.x[1] = 'VARCHAR' AND contains(u.x[2], '{REPLACEMENT}')""",
        ]
    # incubators
    findings += [
        """SELECT NULL, 'included', t, s, 'included is not a list', 'error', [1, -1, 0, 0, 0]
           FROM _reg_inc WHERE t <> 'ARRAY' AND _reg_truthy(t, s)""",
        """SELECT NULL, 'included[' || idx || '].id', coalesce(id_t, 'NULL'), id_s,
                  'incubator without a usable or unique id; skipped', 'error', [1, idx, -1, 0, 0]
           FROM _reg_incubators WHERE status IN ('no_id', 'duplicate')""",
    ]
    for i, f in enumerate(_INCUBATOR_FIELDS):
        findings += _text_findings(
            "_reg_inc_texts",
            "NULL",
            f"'included[' || idx || '].{f}'",
            f"{f}_t",
            f"{f}_s",
            f"{f}_full",
            f"[1, idx, {i}, 0]",
            where="attributes_t = 'OBJECT'",
        )
    con.execute("CREATE OR REPLACE TEMP TABLE _reg_findings AS " + "\nUNION ALL\n".join(findings))
    # Values that are not text are written as json.dumps writes them: Python over the distinct ones.
    _lookup(
        con,
        "_reg_dumped",
        _distinct(con, "SELECT vs AS v FROM _reg_findings WHERE vt NOT IN ('TEXT', 'VARCHAR', 'NULL')"),
        _dumps,
        "VARCHAR",
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _parsed_registry_findings AS
           SELECT f.startup_id, f.field,
                  _reg_short(CASE WHEN f.vt IS NULL OR f.vt = 'NULL' THEN NULL
                                  WHEN f.vt IN ('TEXT', 'VARCHAR') THEN f.vs ELSE d.result END) AS value,
                  f.problem, f.severity, f._order
           FROM _reg_findings f LEFT JOIN _reg_dumped d ON f.vt NOT IN ('TEXT', 'VARCHAR', 'NULL') AND d.value = f.vs"""
    )
    for table in (
        "_reg_kept",
        "_reg_skipped",
        "_reg_status",
        "_reg_ph",
        "_reg_ev",
        "_reg_in",
        "_reg_inc",
        "_reg_texts",
        "_reg_phases",
        "_reg_events",
        "_reg_current",
        "_reg_incubators",
        "_reg_inc_texts",
        "_reg_findings",
        "_reg_id_keys",
        "_reg_phase_names",
        "_reg_dates",
        "_reg_schemes",
        "_reg_dumped",
    ):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute("RESET VARIABLE _registry_numbers")
    relations = {t.name: f"_parsed_{t.name}" for t in PARSED_TABLES}
    counts = {name: con.execute(f"SELECT count(*) FROM {rel}").fetchall()[0][0] for name, rel in relations.items()}
    return RegistryTables(relations=relations, row_counts=counts)
