"""The observatoire « Vos démarches essentielles »: editions, démarches and their indicators, per service.

Shapes (domain.md §4): `/api/editions` → `[{id, name, start_date, end_date, created_at}]`;
`/api/procedures?editionId=<id>` → `[{id, title, administration, volume, fields: [{slug, label, value,
color, goalReached?}]}]`. The démarche URL is the value of the field `online`. Nothing in the answers
is trusted to be there: missing keys, nulls and text placeholders are read as "unknown".

An edition counts for the year of its `end_date` (the period its measures close on); when the end date
is missing or unreadable, for a four-digit year in its name; otherwise it is skipped and reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from impact_pipeline.defs.quality.values import indicator_number, is_placeholder, normalize_host, parse_number
from impact_pipeline.lib.urls import web_address

HEADLINE_GOALS = ("satisfaction", "handicap", "dlnuf", "auth", "simplicity")
REACHED_COLORS = {"green", "blue"}  # blue: FranceConnect / FranceConnect+ (auth)
MISSED_COLORS = {"red", "orange", "yellow"}
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def is_local_base(base: str) -> bool:
    return not re.match(r"^https?://", base.strip(), re.IGNORECASE)


def safe_segment(text: str) -> str | None:
    """A path segment that cannot escape a mirror folder (ids, owner and repository names)."""
    return text if _SAFE_SEGMENT.match(text) and ".." not in text else None


def editions_url(base: str) -> str:
    if is_local_base(base):
        return str(Path(base) / "api" / "editions.json")
    return base.rstrip("/") + "/api/editions"


def procedures_url(base: str, edition_id: str) -> str | None:
    """The edition's démarches; an offline mirror keeps them in `api/procedures/<editionId>.json`."""
    if is_local_base(base):
        segment = safe_segment(edition_id)
        return str(Path(base) / "api" / "procedures" / f"{segment}.json") if segment else None
    return base.rstrip("/") + "/api/procedures?editionId=" + quote(edition_id, safe="")


def _year_of(text: object) -> int | None:
    if not isinstance(text, str):
        return None
    match = re.match(r"^\s*(\d{4})-\d{2}-\d{2}", text)
    return int(match.group(1)) if match else None


def edition_year(edition: dict[str, Any]) -> int | None:
    """The year an edition counts for: its end date's year, else a year in its name, else None."""
    year = _year_of(edition.get("end_date"))
    if year is None:
        match = re.search(r"\b(20\d{2}|19\d{2})\b", str(edition.get("name") or ""))
        year = int(match.group(1)) if match else None
    return year


@dataclass(frozen=True)
class Edition:
    id: str
    name: str
    year: int | None
    end_date: str | None


def parse_editions(document: Any) -> tuple[list[Edition], list[str]]:
    """Editions with their year; problems (not a list, no id, no year) as sentences."""
    problems: list[str] = []
    if not isinstance(document, list):
        return [], [f"/api/editions is not a list (got {type(document).__name__})"]
    editions = []
    for item in document:
        if not isinstance(item, dict) or not isinstance(item.get("id"), (str, int)):
            problems.append(f"edition without an id skipped: {str(item)[:80]}")
            continue
        year = edition_year(item)
        if year is None:
            problems.append(f"edition {item.get('id')} ({item.get('name')}) has no readable end date or year: skipped")
        end = item.get("end_date") if isinstance(item.get("end_date"), str) else None
        editions.append(Edition(str(item["id"]), str(item.get("name") or item["id"]), year, end))
    return editions, problems


def goal_reached(indicator: str, field_: dict[str, Any]) -> bool | None:
    """The API's `goalReached` when given; else read from the level's colour; None for placeholders."""
    if indicator == "online":
        return None
    value, label = field_.get("value"), field_.get("label")
    if is_placeholder(value) and is_placeholder(label):
        return None
    api = field_.get("goalReached", field_.get("goal_reached"))
    if isinstance(api, bool):
        return api
    color = str(field_.get("color") or "").lower()
    if color in REACHED_COLORS:
        return True
    if color in MISSED_COLORS:
        return False
    return None


def procedure_rows(
    edition: Edition, document: Any, fetched_at: str | None, source_url: str
) -> tuple[list[dict], list[str]]:
    """Long rows, one per (démarche, indicator), for one edition's `/api/procedures` answer."""
    problems: list[str] = []
    if not isinstance(document, list):
        return [], [f"procedures of edition {edition.id} are not a list (got {type(document).__name__})"]
    rows: dict[tuple[str, str], dict] = {}
    for proc in document:
        if not isinstance(proc, dict) or proc.get("id") in (None, ""):
            problems.append(f"démarche without an id skipped in edition {edition.id}")
            continue
        fields = proc.get("fields") if isinstance(proc.get("fields"), list) else []
        fields = [f for f in fields if isinstance(f, dict) and isinstance(f.get("slug"), str)]
        online = next((f for f in fields if f["slug"] == "online"), None)
        url = web_address(online.get("value")) if online else None
        volume = parse_number(proc.get("volume"))
        base = {
            "edition_id": edition.id,
            "edition": edition.name,
            "year": edition.year,
            "edition_end": edition.end_date,
            "procedure_id": str(proc["id"]),
            "title": str(proc.get("title") or ""),
            "administration": proc.get("administration") if isinstance(proc.get("administration"), str) else None,
            "url": url,
            "host": normalize_host(url) if url else None,
            "volume": int(volume) if volume is not None and volume >= 0 else None,
            "fetched_at": fetched_at,
            "source_url": source_url,
        }
        for f in fields or [{"slug": "online", "value": None}]:
            slug = f["slug"]
            value = f.get("value")
            label = f.get("label")
            value_text = None if value is None else str(value)
            numeric = indicator_number(slug, value)
            if numeric is None and not isinstance(value, (int, float)):
                numeric = indicator_number(slug, label)
            placeholder = slug != "online" and is_placeholder(value) and is_placeholder(label)
            rows[(base["procedure_id"], slug)] = {
                **base,
                "indicator": slug,
                "value": value_text,
                "label": label if isinstance(label, str) else None,
                "value_numeric": None if placeholder else numeric,
                "color": f.get("color") if isinstance(f.get("color"), str) else None,
                "goal_reached": goal_reached(slug, f),
                "placeholder": placeholder,
            }
    return list(rows.values()), problems


def edition_key(edition: Edition, document_sha256: str, source_url: str) -> str:
    """What an edition's rows are a function of: its answer's bytes, the edition as listed, the URL, and the code
    that turns them into rows (this module and the value parsers). Equal keys give equal rows."""
    import hashlib
    import json

    from impact_pipeline.defs.quality import values
    from impact_pipeline.lib import urls

    digest = hashlib.sha256(
        json.dumps([document_sha256, edition.id, edition.name, edition.year, edition.end_date, source_url]).encode()
    )
    for module in (__file__, values.__file__, urls.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()


def rows_digest_sql(table: str, columns: list[str]) -> str:
    """Per edition, a digest of its stored rows (the fetch time aside): `edition_id, digest`."""
    fields = ", ".join(f'"{c}"' for c in columns if c != "fetched_at")
    return (
        f'SELECT edition_id, count(*) || \':\' || sum(hash(row({fields})))::HUGEINT AS digest '
        f'FROM "{table}" GROUP BY edition_id'
    )


class ParsedEditions:
    """The key (`edition_key`) and parse problems of the rows stored for each edition, kept beside the HTTP cache:
    an edition answered with the same bytes (a 304 in a nightly run) keeps its rows instead of being parsed again."""

    def __init__(self, path: Path):
        import json

        self.path = path
        try:
            self.data: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.data = {}

    def unchanged(self, edition_id: str, key: str, stored_rows: str | None) -> dict[str, Any] | None:
        """The entry when `key` is the one the edition's rows were parsed with and those rows are still the ones
        stored (`stored_rows`: `rows_digest` of the table now; a working file restored from an older publication
        does not match)."""
        entry = self.data.get(edition_id)
        if (
            isinstance(entry, dict)
            and entry.get("key") == key
            and stored_rows is not None
            and entry.get("rows") == stored_rows
        ):
            return entry
        return None

    def put(self, edition_id: str, key: str, problems: list[str]) -> None:
        self.data[edition_id] = {"key": key, "problems": problems, "rows": None}

    def stored(self, digests: dict[str, str]) -> None:
        """Record the digest of the rows now stored for the editions parsed in this run."""
        for edition_id, entry in self.data.items():
            if entry.get("rows") is None:
                entry["rows"] = digests.get(edition_id)

    def save(self) -> None:
        import json
        import os

        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, sort_keys=True, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)


@dataclass
class HostOverrides:
    """`config/observatoire_hosts.yaml`: explicit host → startup ids, and hosts never joined by host."""

    hosts: dict[str, list[str]] = field(default_factory=dict)
    ignore_hosts: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, path: str | Path | None) -> HostOverrides:
        if not path or not Path(path).exists():
            return cls()
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping with `hosts` and `ignore_hosts`")
        hosts: dict[str, list[str]] = {}
        for host, ids in (data.get("hosts") or {}).items():
            key = normalize_host(str(host))
            if key:
                hosts[key] = [str(i) for i in (ids if isinstance(ids, list) else [ids])]
        ignore = {h for h in (normalize_host(str(x)) for x in (data.get("ignore_hosts") or [])) if h}
        return cls(hosts, ignore)


def match_hosts(
    startups: list[tuple[str, str | None]], hosts: set[str], overrides: HostOverrides
) -> dict[str, list[tuple[str, str]]]:
    """host → [(startup_id, how)] for the démarche hosts; `how` is `override` or `link host`."""
    by_host: dict[str, list[str]] = {}
    for startup_id, link in startups:
        host = normalize_host(web_address(link)) if link else None
        if host:
            by_host.setdefault(host, []).append(startup_id)
    out: dict[str, list[tuple[str, str]]] = {}
    for host in hosts:
        if host in overrides.hosts:
            out[host] = [(s, "override") for s in overrides.hosts[host]]
        elif host not in overrides.ignore_hosts and host in by_host:
            out[host] = [(s, "link host") for s in sorted(by_host[host])]
    return out


def startup_observatoire_rows(procedures: list[dict], matches: dict[str, list[tuple[str, str]]]) -> list[dict]:
    """Per (service, year): the latest edition of the year that lists the service's démarches, aggregated.

    A headline goal is reached for the service when every démarche with a known value reaches it; it is
    missed when one misses it; unknown when no démarche has a value. `help_reachable` is the lowest of
    the démarches' values (conservative); `online_volume` the sum of the known volumes of the démarches joined to
    this service alone (a host shared by several services gives a volume none of them can claim: `volume_note`).
    """
    # (startup, edition) → procedures (one dict per démarche with its indicators)
    per: dict[tuple[str, str], dict[str, dict]] = {}
    edition_info: dict[str, tuple[int | None, str, str | None, str | None]] = {}
    for row in procedures:
        if row.get("year") is None or not row.get("host") or row["host"] not in matches:
            continue
        edition_info[row["edition_id"]] = (row["year"], row["edition"], row.get("source_url"), row.get("edition_end"))
        owners = sorted({s for s, _ in matches[row["host"]]})
        for startup_id, how in matches[row["host"]]:
            proc = per.setdefault((startup_id, row["edition_id"]), {}).setdefault(
                row["procedure_id"],
                {
                    "volume": row["volume"],
                    "title": row["title"],
                    "how": how,
                    "url": row["url"],
                    "host": row["host"],
                    "owners": owners,
                    "ind": {},
                },
            )
            proc["ind"][row["indicator"]] = row
    # keep the latest edition of each year per startup (by end date, then name)
    best: dict[tuple[str, int], str] = {}
    for startup_id, edition_id in per:
        year, name, _, end = edition_info[edition_id]
        key = (startup_id, year)
        current = best.get(key)
        if current is None or (edition_info[current][3] or "", edition_info[current][1]) < (end or "", name):
            best[key] = edition_id
    out = []
    for (startup_id, year), edition_id in sorted(best.items()):
        procs = per[(startup_id, edition_id)]
        _, name, source_url, _ = edition_info[edition_id]
        goals: dict[str, bool | None] = {}
        for goal in HEADLINE_GOALS:
            values = [p["ind"][goal]["goal_reached"] for p in procs.values() if goal in p["ind"]]
            known = [v for v in values if v is not None]
            goals[goal] = None if not known else all(known)
        help_values = [
            p["ind"]["help_reachable"]["value_numeric"]
            for p in procs.values()
            if "help_reachable" in p["ind"] and p["ind"]["help_reachable"]["value_numeric"] is not None
        ]
        # A démarche whose host several services share: its volume cannot be attributed to one of them, so it is
        # counted for none (its goals still apply to each).
        volumes = [p["volume"] for p in procs.values() if p["volume"] is not None and len(p["owners"]) == 1]
        shared = [p for k, p in sorted(procs.items()) if p["volume"] is not None and len(p["owners"]) > 1]
        volume_note = (
            "; ".join(
                f"the volume of « {p['title'] or '?'} » ({p['host']}) is not counted: its host is shared by "
                f"{', '.join(p['owners'])}, so it cannot be attributed to one service"
                for p in shared
            )
            or None
        )
        out.append(
            {
                "startup_id": startup_id,
                "year": int(year),
                "edition": name,
                "edition_id": edition_id,
                "procedure_ids": sorted(procs),
                "procedure_titles": [procs[k]["title"] for k in sorted(procs)],
                "n_procedures": len(procs),
                "matched_by": sorted({p["how"] for p in procs.values()}),
                "online_volume": sum(volumes) if volumes else None,
                "n_procedures_with_volume": len(volumes),
                "volume_note": volume_note,
                "goals_reached": sum(1 for v in goals.values() if v is True),
                "goals_total": sum(1 for v in goals.values() if v is not None),
                **{f"{g}_goal": goals[g] for g in HEADLINE_GOALS},
                "help_reachable": min(help_values) if help_values else None,
                "evidence_url": source_url,
            }
        )
    return out
