"""`impact-pipeline sources …`: review the usage sources discovered on the services' stats pages.

- `sources proposals [--service ID] [--unreviewed]`: the proposals of the last published run, with their preview;
- `sources accept <proposal> [--date-column … --value-column … --unit … --period …]`: write it into the reviewed
  sources file (comments and order kept);
- `sources reject <proposal> --why "…"`: record the decision; discovery does not offer it again;
- `sources check`: validate the sources file, with the line of each error.

Proposals are read from the published DuckDB file; decisions are written to the reviewed sources file
(IMPACT_USAGE_SOURCES_PATH), which the next run reads.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from impact_pipeline.defs.usage.adapters.base import PERIODS
from impact_pipeline.defs.usage.observations import REACH_UNITS

_STATUS_ORDER = {"in_use": 0, "proposed": 1, "reviewed": 2}


def _settings(args):
    if getattr(args, "sample", False):
        os.environ["IMPACT_SAMPLE"] = "1"
    from impact_pipeline.settings import Settings

    return Settings.from_env()


def _sources_file(args, settings) -> Path:
    path = getattr(args, "file", None) or settings.usage_sources_path
    if not path:
        raise SystemExit("no sources file: set IMPACT_USAGE_SOURCES_PATH (or pass --file)")
    return Path(path)


def _proposals(settings, where: str = "", params: list[Any] | None = None) -> list[dict[str, Any]]:
    from impact_pipeline.defs.reporting.data import NoPublishedData, connect_published, rows_as_dicts

    try:
        con = connect_published(settings.duckdb_path)
    except NoPublishedData as exc:
        raise SystemExit(f"impact-pipeline sources: {exc}") from None
    try:
        return rows_as_dicts(
            con, f"SELECT * FROM usage_source_proposals {where} ORDER BY startup_id, kind, instance, identifier", params
        )
    finally:
        con.close()


def cmd_proposals(args: argparse.Namespace) -> int:
    settings = _settings(args)
    where, params = [], []
    if args.service:
        where.append("startup_id = ?")
        params.append(args.service)
    if args.unreviewed:
        where.append("status <> 'reviewed'")
    rows = _proposals(settings, ("WHERE " + " AND ".join(where)) if where else "", params)
    rows.sort(key=lambda r: (r["startup_id"], _STATUS_ORDER.get(r["status"], 9), r["kind"], r["identifier"]))
    if not rows:
        print("no proposals" + (f" for {args.service}" if args.service else ""))
        return 0
    for r in rows:
        what = r["kind"] + " " + r["instance"] + " " + r["identifier"] + (f" “{r['name']}”" if r.get("name") else "")
        print(f"{r['proposal_id']}  {r['startup_id']}  {r['status']}  {what}")
        print(f"    found on {r['stats_url']}")
        if r.get("value_column") or r.get("date_column"):
            print(
                f"    columns: date {r.get('date_column') or '?'}, value {r.get('value_column') or '?'}, "
                f"unit {r.get('unit') or '?'}, period {r.get('period') or '?'}"
            )
        if r.get("preview"):
            print(f"    preview: {r['preview']}")
        if r.get("reason"):
            print(f"    {r['reason']}")
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in _STATUS_ORDER}
    print(
        f"{len(rows)} proposals: {counts['in_use']} in use (discovered, not reviewed), {counts['proposed']} proposed, "
        f"{counts['reviewed']} reviewed"
    )
    return 0


def _one(settings, proposal: str) -> dict[str, Any]:
    rows = _proposals(settings, "WHERE proposal_id = ?", [proposal])
    if not rows:
        raise SystemExit(
            f"impact-pipeline sources: no proposal {proposal!r} in {settings.duckdb_path} "
            "(list them with `impact-pipeline sources proposals`)"
        )
    return rows[0]


def _relative(path: str, base: Path) -> str:
    """A local mirror path as the sources file would write it (relative to the file when below it)."""
    try:
        return str(Path(path).resolve().relative_to(base.resolve().parent))
    except ValueError:
        return path


def source_entry(row: dict[str, Any], args: argparse.Namespace, mirrors: dict[str, str], file: Path) -> dict[str, Any]:
    """The reviewed source a proposal becomes, with the person's choices over what discovery recognised."""
    from impact_pipeline.defs.usage.resources import matomo_mirror_key

    kind, page = row["kind"], row["stats_url"]
    if kind == "matomo":
        entry = {"type": "matomo", "base_url": row["instance"], "site_id": int(row["identifier"]), "evidence_url": page}
        mirror = mirrors.get(matomo_mirror_key(row["instance"], row["identifier"]))
        if mirror:
            entry["offline_response"] = _relative(mirror, file)
        return entry
    if kind == "impact_csv":
        mirror = mirrors.get(row["instance"])
        return {
            "type": "impact_csv",
            "url": _relative(mirror, file) if mirror else row["instance"],
            "evidence_url": page,
        }
    if kind in ("metabase_question", "metabase_dashboard_card"):
        value = args.value_column or row.get("value_column")
        when = args.date_column or row.get("date_column")
        unit = args.unit or row.get("unit")
        period = args.period or row.get("period")
        missing = [
            flag
            for flag, v in (("--value-column", value), ("--date-column", when), ("--unit", unit), ("--period", period))
            if not v
        ]
        if missing:
            raise SystemExit(
                f"impact-pipeline sources accept: proposal {row['proposal_id']} is {row.get('reason') or 'ambiguous'}; "
                f"say {', '.join(missing)}"
            )
        if kind == "metabase_question":
            question = f"{row['instance']}/public/question/{row['identifier']}"
        else:
            question = f"{row['instance']}/public/dashboard/{row['identifier'].split('/')[0]}"
        entry = {
            "type": "metabase",
            "question_url": question,
            "date_column": when,
            "value_column": value,
            "period": period,
            "unit": unit,
            "evidence_url": page,
        }
        if kind == "metabase_dashboard_card" or mirrors.get(row["data_url"]):
            entry["data_url"] = (
                _relative(mirrors[row["data_url"]], file) if mirrors.get(row["data_url"]) else row["data_url"]
            )
        return entry
    raise SystemExit(f"impact-pipeline sources accept: a {kind} is not a source itself (accept its cards)")


def cmd_accept(args: argparse.Namespace) -> int:
    from impact_pipeline.defs.usage.sources_config import add_source, check_file, load_sources

    settings = _settings(args)
    file = _sources_file(args, settings)
    row = _one(settings, args.proposal)
    if row["status"] == "reviewed":
        print(f"{args.proposal} is already in {file}")
        return 0
    entry = source_entry(row, args, load_sources(file).discovery_mirrors if file.exists() else {}, file)
    add_source(
        file,
        row["startup_id"],
        entry,
        f"accepted proposal {row['proposal_id']} on {date.today().isoformat()} (discovered on {row['stats_url']})",
    )
    errors = check_file(file)
    for error in errors:
        print(f"{file}: {error}", file=sys.stderr)
    if errors:
        return 1
    print(
        f"{args.proposal}: added to {file} under services.{row['startup_id']}; "
        "the next run reads it as a reviewed source"
    )
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    from impact_pipeline.defs.usage.sources_config import add_rejection

    if not args.why.strip():
        raise SystemExit("impact-pipeline sources reject: --why must say why")
    settings = _settings(args)
    file = _sources_file(args, settings)
    row = _one(settings, args.proposal)
    add_rejection(
        file,
        {
            "proposal": row["proposal_id"],
            "service": row["startup_id"],
            "source": f"{row['kind']} {row['instance']} {row['identifier']}",
            "why": args.why.strip(),
            "on": date.today().isoformat(),
        },
    )
    print(f"{args.proposal}: rejected in {file}; discovery will not offer it again")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from impact_pipeline.defs.usage.sources_config import check_file

    settings = _settings(args)
    file = _sources_file(args, settings)
    errors = check_file(file)
    for error in errors:
        print(f"{file}: {error}")
    if not errors:
        print(f"{file}: valid")
    return 1 if errors else 0


def print_coverage(duckdb_path: Path) -> None:
    """The CLI summary's usage line: services with no source at all, and the designated ones among them."""
    from impact_pipeline.defs.reporting.data import connect_published, read_usage_coverage

    con = connect_published(duckdb_path)
    try:
        coverage = read_usage_coverage(con)
    finally:
        con.close()
    if not coverage:
        return
    designated = coverage["designated_no_source"]
    print(
        f"usage sources: {coverage['n_no_source']} of {coverage['n_services']} services have no source at all"
        + (f", {len(designated)} of them designated ({', '.join(designated)})" if designated else "")
        + f"; {coverage['n_with_discovered']} with a discovered source in use; "
        f"{coverage['n_proposals']} proposals to review"
        " (impact-pipeline sources proposals)"
    )


def add_parser(sub) -> None:
    """The `sources` subcommand and its own subcommands."""
    src = sub.add_parser("sources", help="review the usage sources discovered on the stats pages")
    verbs = src.add_subparsers(dest="verb", required=True)

    def common(p):
        p.add_argument("--sample", action="store_true", help="the sample world's published file and sources file")
        p.add_argument("--file", help="the reviewed sources file (default: IMPACT_USAGE_SOURCES_PATH)")

    p = verbs.add_parser("proposals", help="the proposals of the last published run, with their preview and status")
    p.add_argument("--service", help="only this service (registry id)")
    p.add_argument("--unreviewed", action="store_true", help="hide the sources already in the reviewed file")
    common(p)
    p.set_defaults(func=cmd_proposals)
    p = verbs.add_parser("accept", help="write a proposal into the reviewed sources file")
    p.add_argument("proposal", help="proposal id (first column of `sources proposals`)")
    p.add_argument("--date-column", help="Metabase: the column holding the date")
    p.add_argument("--value-column", help="Metabase: the column holding the figure")
    p.add_argument("--unit", choices=REACH_UNITS, help="what the value counts")
    p.add_argument("--period", choices=PERIODS, help="period of each row")
    common(p)
    p.set_defaults(func=cmd_accept)
    p = verbs.add_parser("reject", help="record that a proposal is not a source of the service")
    p.add_argument("proposal", help="proposal id")
    p.add_argument("--why", required=True, help="why it is rejected (kept in the file)")
    common(p)
    p.set_defaults(func=cmd_reject)
    p = verbs.add_parser("check", help="validate the reviewed sources file (line of each error)")
    common(p)
    p.set_defaults(func=cmd_check)
