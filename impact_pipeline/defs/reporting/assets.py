"""The chart and the yearly HTML reports, rendered from the published DuckDB file once every gate has passed."""

import html
from datetime import date
from pathlib import Path

import dagster as dg

from impact_pipeline import contract
from impact_pipeline.defs.impact.schedules import NIGHTLY_FRESHNESS
from impact_pipeline.defs.partitions import OWNERS
from impact_pipeline.lib.warehouse import Warehouse

# Beside the summary and the publication they are drawn from.
GROUP = "impact"

_CHART_COLUMNS = (
    "year",
    "n_evaluated",
    "n_meeting_criteria",
    "n_first_meeting",
    "n_designated_in_year",
    "n_designated_cumulative",
)
_REPORT_COLUMNS = (
    "year",
    "startup_id",
    "name",
    "phase_at_year_end",
    "criterion_a",
    "criterion_b",
    "criterion_c",
    "meets_criteria",
    "officially_designated",
    "designation_year",
    "reasons",
    "evidence",
)


def _schema(table: contract.Table, names: tuple[str, ...], description: str) -> dict:
    """Column schema of the rows an output shows, taken from the table contract."""
    subset = contract.Table(table.name, description, tuple(c for c in table.columns if c.name in names), table.key)
    return {"dagster/column_schema": contract.table_schema(subset)}


def _years_to_render(context: dg.AssetExecutionContext, years: list[int], export_dir: Path, pattern: str) -> list[int]:
    """Years whose file may have changed: from the first year this run evaluated on (a year's page shows the
    years up to it), plus any year whose file is missing; every year when the run names no year."""
    tags = context.run.tags
    start = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition")
    try:
        first = int(start)
    except (TypeError, ValueError):
        return years
    return [y for y in years if y >= first or not (export_dir / pattern.format(year=y)).exists()]


def _markdown_table(rows: list[dict], columns: tuple[str, ...] | list[str]) -> str:
    if not rows:
        return "_empty_"

    def cell(v) -> str:
        # Registry text is escaped: the UI renders this markdown, and names may hold HTML.
        return "" if v is None else html.escape(str(v), quote=False).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


@dg.asset(
    group_name=GROUP,
    kinds={"python", "matplotlib"},
    owners=OWNERS,
    deps=["published_outputs"],
    metadata=_schema(contract.NATIONAL_IMPACT_SUMMARY, _CHART_COLUMNS, "The yearly counts the chart draws."),
    freshness_policy=NIGHTLY_FRESHNESS,
)
def national_impact_chart(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Chart of each published year: services meeting the criteria (stock, first time) beside the designations."""
    import base64

    from impact_pipeline.defs.reporting.data import connect_published, read_summary

    export_dir = Path(warehouse.export_dir)
    con = connect_published(warehouse.published_path)
    try:
        summary = read_summary(con)
        years = _years_to_render(context, [int(r["year"]) for r in summary], export_dir, "national_impact_{year}.png")
        notes = {y: _coverage_note(con, y) for y in {*years, *(int(r["year"]) for r in summary[-1:])}}
    finally:
        con.close()
    this_year = date.today().year
    overall = export_dir / "national_impact.png"
    png, drawn = _chart(overall, summary, None, this_year, notes.get(int(summary[-1]["year"])) if summary else None)
    for year in years:
        upto = [r for r in summary if int(r["year"]) <= year]
        drawn += _chart(export_dir / f"national_impact_{year}.png", upto, year, this_year, notes[year])[1]
    context.log.info(f"chart: {overall} and the yearly charts in {export_dir} ({drawn} drawn, the others unchanged)")
    image = base64.b64encode(png).decode("ascii")
    return dg.MaterializeResult(
        metadata={
            "chart": dg.MetadataValue.md(f"![National impact by year](data:image/png;base64,{image})"),
            "chart_path": dg.MetadataValue.path(str(overall)),
            "dagster/row_count": len(summary),
            "preview": dg.MetadataValue.md(_markdown_table(summary, _CHART_COLUMNS)),
        }
    )


def _coverage_note(con, year: int) -> str | None:
    from impact_pipeline.defs.reporting.coverage import chart_note, read_coverage

    return chart_note(read_coverage(con, year), year)


def _chart(
    path: Path, rows: list[dict], highlight_year: int | None, this_year: int, note: str | None = None
) -> tuple[bytes, int]:
    """The chart at `path`, drawn and written only when what it shows changed (its PNG carries its input's key);
    with the number of charts drawn (0 or 1). matplotlib is not even imported for an unchanged chart."""
    from impact_pipeline.defs.reporting.chart import chart_key, drawn_from, render_chart
    from impact_pipeline.lib.warehouse import write_file_atomically

    try:
        existing = path.read_bytes()
    except OSError:
        existing = b""
    if existing and drawn_from(existing) == chart_key(rows, highlight_year, None, this_year, note):
        return existing, 0
    png = render_chart(rows, highlight_year=highlight_year, in_progress_year=this_year, note=note)
    write_file_atomically(path, png)
    return png, 1


def _yearly_chart(export_dir: Path, summary: list[dict], year: int, this_year: int, note: str | None = None) -> bytes:
    """The chart asset's PNG of `year` when it shows the published counts, else drawn afresh."""
    from impact_pipeline.defs.reporting.chart import chart_key, drawn_from, render_chart

    upto = [r for r in summary if int(r["year"]) <= year]
    try:
        existing = (export_dir / f"national_impact_{year}.png").read_bytes()
    except OSError:
        existing = b""
    if existing and drawn_from(existing) == chart_key(upto, year, None, this_year, note):
        return existing
    return render_chart(upto, highlight_year=year, in_progress_year=this_year, note=note)


@dg.asset(
    group_name=GROUP,
    kinds={"python", "html"},
    owners=OWNERS,
    deps=["published_outputs", national_impact_chart],
    metadata=_schema(contract.NATIONAL_IMPACT, _REPORT_COLUMNS, "Every evaluated service, as listed in the reports."),
    freshness_policy=NIGHTLY_FRESHNESS,
)
def national_impact_report(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """One self-contained HTML page per published year for the committee: summary, chart, review lists, evidence."""
    from impact_pipeline.defs.reporting.data import connect_published, read_summary, read_year
    from impact_pipeline.defs.reporting.report import render_report, rendered_from, report_key
    from impact_pipeline.lib.warehouse import write_file_atomically

    export_dir = Path(warehouse.export_dir)
    this_year = date.today().year
    paths, n_rows, latest, rendered = [], 0, None, 0
    con = connect_published(warehouse.published_path)
    try:
        summary = read_summary(con)
        for year in _years_to_render(context, [int(r["year"]) for r in summary], export_dir, "report_{year}.html"):
            data = read_year(con, year, summary)
            png = _yearly_chart(export_dir, summary, year, this_year, _coverage_note(con, year))
            path = export_dir / f"report_{year}.html"
            # A page showing the same data with the same code is left as it is (rendering one year of the real
            # registry takes about a second).
            try:
                with path.open("rb") as page:
                    unchanged = rendered_from(page.read(200)) == report_key(data, png)
            except OSError:
                unchanged = False
            if not unchanged:
                write_file_atomically(path, render_report(data, png).encode("utf-8"))
                rendered += 1
            paths.append(path)
            n_rows += len(data.services)
            latest = data
    finally:
        con.close()
    context.log.info(f"report: {len(paths)} yearly pages in {export_dir} ({rendered} rendered, the others unchanged)")
    metadata = {
        "dagster/row_count": n_rows,
        "reports": dg.MetadataValue.md("\n".join(f"- `{p}`" for p in paths) or "_none_"),
    }
    if latest is not None:
        metadata["latest_report"] = dg.MetadataValue.path(str(paths[-1]))
        # The same coverage and warnings as the page and the CLI summary, on the asset page in the UI.
        metadata["evidence_coverage"] = dg.MetadataValue.md(
            "\n".join(
                [
                    *(f"**WARNING:** {c.banner}\n" for c in latest.coverage.values() if c.banner),
                    *(f"- {c.line}" for c in latest.coverage.values()),
                ]
            )
            or "_none_"
        )
        metadata["preview"] = dg.MetadataValue.md(
            f"**{latest.year}: designated but not meeting the criteria ({len(latest.designated_not_meeting)})**\n\n"
            + _markdown_table(latest.designated_not_meeting, ["startup_id", "name", "designation_year", "reasons"])
            + f"\n\n**{latest.year}: meeting the criteria but not designated "
            f"({len(latest.meeting_not_designated)})**\n\n"
            + _markdown_table(latest.meeting_not_designated, ["startup_id", "name", "first_year_meeting"])
        )
    return dg.MaterializeResult(metadata=metadata)
