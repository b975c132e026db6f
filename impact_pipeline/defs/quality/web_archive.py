"""Web archive evidence for criterion (c): what each declared stats page and repository answered, and when.

A Wayback-compatible archive (the Internet Archive's by default, `IMPACT_WEB_ARCHIVE_URL`) lists the captures of a
URL through its CDX API: `/cdx/search/cdx?url=…&output=json&from=…&to=…&fl=timestamp,statuscode,original`, first
row = field names, `[]` when nothing was captured. A 2xx capture inside a year's evidence window shows the page
online during that year, and the capture itself is the public evidence link.

Polite and incremental: one query per URL covering every year still worth asking, at most two in flight, through
the shared HTTP layer (which honours 429 / Retry-After and 503). A capture is dated by the archive when it is taken,
so a year whose window had closed when the archive last answered can no longer change: later runs ask only from
the first year whose window was still open then, and not at all within `REFRESH_AFTER` of the last answer.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import dagster as dg

from impact_pipeline import contract
from impact_pipeline.defs.criteria import CriteriaSettings
from impact_pipeline.defs.metadata import table_asset
from impact_pipeline.defs.partitions import DUCKDB_POOL
from impact_pipeline.defs.quality.resources import QualitySources
from impact_pipeline.lib.warehouse import Warehouse

GROUP = "quality"
FIELDS = "timestamp,statuscode,original"
# One capture per URL and day is plenty to tell which days it answered (a URL may be captured hundreds of times).
COLLAPSE = "timestamp:8"
IN_FLIGHT = 2  # requests to the archive at once: it rate-limits beyond a few
REFRESH_AFTER = timedelta(hours=20)  # a nightly run asks again; a second run the same day does not
PUBLIC_VIEWER = "https://web.archive.org"
MIRROR_FILE = "cdx.json"  # a local mirror: {url: CDX answer}, filtered by year as the server would


def cdx_url(base: str, url: str, from_year: int, to_year: int) -> str:
    """The CDX query for `url`'s captures in from_year..to_year (one per day)."""
    query = urlencode(
        {"url": url, "output": "json", "from": str(from_year), "to": str(to_year), "fl": FIELDS, "collapse": COLLAPSE}
    )
    return f"{base.rstrip('/')}/cdx/search/cdx?{query}"


def capture_link(base: str, timestamp: str, original: str) -> str:
    """The capture as a page anyone can open (`<archive>/web/<timestamp>/<url>`)."""
    viewer = base.rstrip("/") if base.startswith(("http://", "https://")) else PUBLIC_VIEWER
    return f"{viewer}/web/{timestamp}/{original}"


def parse_cdx(document) -> list[tuple[datetime, int | None, str]]:
    """(captured_at, status or None, original) of each row of a CDX JSON answer; ValueError when it is not one.

    The first row names the fields; `[]` means no capture. Rows that do not fit (short, bad timestamp) are skipped.
    """
    if not isinstance(document, list) or any(not isinstance(row, list) for row in document):
        raise ValueError("not a CDX JSON answer (a list of rows)")
    if not document:
        return []
    header = [str(h) for h in document[0]]
    if "timestamp" not in header:
        raise ValueError(f"the CDX answer's first row names no timestamp field: {header[:5]}")
    at, status, original = (header.index(f) if f in header else None for f in ("timestamp", "statuscode", "original"))
    captures = []
    for row in document[1:]:
        if len(row) != len(header):
            continue
        stamp = str(row[at])
        try:
            moment = datetime.strptime(stamp[:14].ljust(14, "0"), "%Y%m%d%H%M%S")
        except ValueError:
            continue
        code = str(row[status]) if status is not None else "-"
        captures.append(
            (moment, int(code) if code.isdigit() else None, str(row[original]) if original is not None else "")
        )
    return captures


def first_open_year(asked_at: datetime, months: int) -> int:
    """The earliest year whose evidence window (to the end of month `months` of the next year) was
    open at `asked_at`."""
    return asked_at.year - 1 if months and asked_at.month <= months else asked_at.year


def plan(
    urls: list[str],
    last_answer: dict[str, datetime],
    now: datetime,
    first_year: int,
    months: int,
    refresh_after: timedelta = REFRESH_AFTER,
) -> list[tuple[str, int, int]]:
    """(url, from_year, to_year) of each query worth sending now: every year for a URL never answered, else only the
    years that could still change since its last answer; none for a URL answered within `refresh_after`."""
    queries = []
    for url in urls:
        last = last_answer.get(url)
        if last is not None and now - last < refresh_after:
            continue
        start = first_year if last is None else max(first_year, first_open_year(last, months))
        queries.append((url, start, now.year))
    return queries


def targets(con) -> list[str]:
    """Every distinct declared stats page and repository that is a web address, over every registry document."""
    from impact_pipeline.lib.urls import web_address

    values = [
        v
        for (v,) in con.execute(
            """SELECT DISTINCT trim(value) FROM (
               SELECT unnest([stats_url, repository]) AS value FROM registry_declarations
               UNION ALL SELECT unnest([stats_url, repository]) FROM startups)
           WHERE value IS NOT NULL AND trim(value) <> ''"""
        ).fetchall()
    ]
    return sorted(v for v in values if web_address(v) is not None)


def _mirror_answer(document: dict, url: str, from_year: int, to_year: int) -> list:
    """What a CDX server answers for `url` and the years, from a local mirror's recorded full answer."""
    answer = document.get(url) or []
    if not answer:
        return []
    rows = [r for r in answer[1:] if isinstance(r, list) and r and from_year <= int(str(r[0])[:4] or 0) <= to_year]
    return [answer[0], *rows] if rows else []


@dg.asset(
    **table_asset(contract.WEB_ARCHIVE_CAPTURES, GROUP),
    pool=DUCKDB_POOL,
    deps=["registry_declarations", "startups"],
)
def web_archive_captures(
    context: dg.AssetExecutionContext, quality: QualitySources, warehouse: Warehouse, criteria: CriteriaSettings
) -> dg.MaterializeResult:
    """Dated captures of each declared stats page and repository in the web archive: evidence that it
    was online then."""
    from impact_pipeline.lib.fetching import FetchLimits, FetchRequest, wait_report
    from impact_pipeline.lib.http import is_local_path

    base = quality.web_archive_url.strip()
    table, queries_table = contract.WEB_ARCHIVE_CAPTURES, contract.WEB_ARCHIVE_QUERIES
    if not base:
        context.log.info("web archive: disabled (IMPACT_WEB_ARCHIVE_URL is empty); captures already stored are kept")
        return dg.MaterializeResult(metadata={"status": "disabled", "dagster/row_count": 0})
    config = criteria.load()
    months = config.criteria.c.current_checks.valid_into_next_year_months
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with warehouse.connect(read_only=True) as con:
        urls = targets(con)
        last = dict(
            con.execute(f'SELECT url, max(asked_at) FROM "{queries_table.name}" WHERE ok GROUP BY url').fetchall()
        )
    wanted = plan(urls, last, now, config.years.first, months)

    answers: dict[str, tuple[int, int, list | None, str | None]] = {}
    host_waits: dict = {}
    client = quality.client()
    try:
        if is_local_path(base):
            # An offline mirror (the sample world): one recorded file, answered per query as the server would.
            mirror = json.loads(client.fetch(str(Path(base) / MIRROR_FILE), allow_local_path=True).content or b"{}")
            for url, lo, hi in wanted:
                answers[url] = (lo, hi, _mirror_answer(mirror, url, lo, hi), None)
        else:
            limits = FetchLimits(IN_FLIGHT, IN_FLIGHT, quality.http.host_wait)  # its own: the archive's host
            fetcher = quality.fetcher(client, warehouse.work_dir, limits=limits)
            requests = [
                FetchRequest(cdx_url(base, url, lo, hi), "web_archive", key=(url, lo, hi), conditional=False)
                for url, lo, hi in wanted
            ]
            for outcome in fetcher.fetch_all(requests):
                url, lo, hi = outcome.request.key
                if outcome.result is None:
                    answers[url] = (lo, hi, None, outcome.error.reason if outcome.error else "no answer")
                    continue
                body = outcome.result.content.strip()
                try:
                    answers[url] = (lo, hi, json.loads(body) if body else [], None)
                except ValueError:
                    answers[url] = (lo, hi, None, "the answer is not JSON")
            host_waits = wait_report(limits, context.log)
    finally:
        client.close()

    rows, query_rows, problems = [], [], []
    for url, (lo, hi, document, error) in answers.items():
        captures = []
        if document is not None:
            try:
                captures = parse_cdx(document)
            except ValueError as exc:
                document, error = None, str(exc)
        if document is None:
            problems.append(f"{url}: {error}")
        query_rows.append(
            {
                "url": url,
                "from_year": lo,
                "to_year": hi,
                "asked_at": now,
                "ok": document is not None,
                "n_captures": len(captures) if document is not None else None,
                "error": error,
            }
        )
        rows += [
            {
                "url": url,
                "captured_at": at,
                "status_code": status,
                "original": original,
                "capture_url": capture_link(base, at.strftime("%Y%m%d%H%M%S"), original or url),
                "asked_at": now,
            }
            for at, status, original in captures
            if lo <= at.year <= hi
        ]
    answered = [(q["url"], q["from_year"]) for q in query_rows if q["ok"]]
    with warehouse.connect() as con:
        import pandas as pd

        from impact_pipeline.lib.warehouse import insert_frame, transaction

        with transaction(con):
            # An answer replaces what was stored for the years it covers; a failed query keeps the earlier captures.
            for url, lo in answered:
                con.execute(f'DELETE FROM "{table.name}" WHERE url = ? AND year(captured_at) >= ?', [url, lo])
            if rows:
                insert_frame(
                    con, table, pd.DataFrame(rows, columns=table.column_names).drop_duplicates(["url", "captured_at"])
                )
            if query_rows:
                insert_frame(con, queries_table, pd.DataFrame(query_rows, columns=queries_table.column_names))
        n_rows = con.execute(f'SELECT count(*) FROM "{table.name}"').fetchall()[0][0]
    for problem in problems[:20]:
        context.log.warning(f"web archive: {problem} (its sub-criteria stay unknown unless other evidence exists)")
    return dg.MaterializeResult(
        metadata={
            "status": "ok",
            "dagster/row_count": int(n_rows),
            "urls": len(urls),
            "queries_sent": len(wanted),
            "queries_skipped": len(urls) - len(wanted),
            "queries_failed": len(problems),
            "new_captures": len(rows),
            "problems": dg.MetadataValue.json(problems[:50]),
            "host_waits": dg.MetadataValue.json(host_waits),
        }
    )


__all__ = ["web_archive_captures", "cdx_url", "parse_cdx", "plan", "first_open_year"]
