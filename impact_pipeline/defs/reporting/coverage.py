"""Evidence coverage: per year and criterion, how many services had any source and which sources gave nothing.

Read from the published file, so the CLI summary, the report and the chart say the same thing: a run with
its sources off counts 0 services meeting the criteria, and that must never read as a finding.
"""

from __future__ import annotations

from dataclasses import dataclass

from impact_pipeline.defs.reporting.labels import CRITERIA_TITLES

# A criterion left unknown for more than this share of the evaluated services gets a banner.
BANNER_SHARE = 0.5


@dataclass(frozen=True)
class CriterionCoverage:
    criterion: str
    n_evaluated: int
    n_unknown: int
    n_with_source: int
    sources: tuple[str, ...]  # "name: state", one per source (registry, usage, quality)

    @property
    def banner(self) -> str | None:
        """A warning when the criterion could not be judged for most services, naming the sources."""
        if not self.n_evaluated or self.n_unknown / self.n_evaluated <= BANNER_SHARE:
            return None
        share = round(100 * self.n_unknown / self.n_evaluated)
        gave_nothing = [s for s in self.sources if not s.endswith(": ok")]
        return (
            f"({self.criterion}) {CRITERIA_TITLES[self.criterion]} could not be judged for {self.n_unknown} of "
            f"{self.n_evaluated} services ({share} %); {self.n_with_source} had any source"
            + (f" ({'; '.join(gave_nothing)})" if gave_nothing else "")
            + ". Counts of services meeting the criteria are a lower bound, not a finding."
        )

    @property
    def line(self) -> str:
        return (
            f"({self.criterion}) {self.n_with_source}/{self.n_evaluated} with a source, "
            f"{self.n_unknown} unknown; sources: {'; '.join(self.sources) or 'none'}"
        )


def _scalar(con, sql: str, params: list | None = None):
    return con.execute(sql, params or []).fetchone()[0]


def _states(con, sql: str) -> list[str]:
    return [row[0] for row in con.execute(sql).fetchall()]


def usage_sources(con) -> tuple[str, ...]:
    """The state of each usage source (criterion b), from `usage_source_status`."""
    states = _states(
        con,
        """
        SELECT source || ': ' || CASE WHEN n_error = 0 THEN 'ok'
                                      WHEN n_error = n THEN 'down (' || n || ' of ' || n || ')'
                                      ELSE 'down for ' || n_error || ' of ' || n END
        FROM (SELECT source, count(*) AS n, count(*) FILTER (WHERE status = 'error') AS n_error
              FROM usage_source_status WHERE startup_id IS NOT NULL GROUP BY source)
        ORDER BY source""",
    )
    return tuple(states) or (
        "usage sources: none configured (sources file, declared figures and data.gouv.fr gave no service)",
    )


def quality_sources(con) -> tuple[str, ...]:
    """The state of each quality source (criterion c): observatoire, forges, stats page checks."""
    n_procedures = _scalar(con, "SELECT count(*) FROM observatoire_procedures")
    states = ["observatoire: ok" if n_procedures else "observatoire: no data (disabled or unreachable)"]
    states += _states(
        con,
        """
        SELECT forge || ': ' || CASE WHEN n_bad = 0 THEN 'ok'
                                     WHEN n_disabled = n THEN 'disabled'
                                     ELSE string_agg_states END
        FROM (SELECT forge, count(*) AS n,
                     count(*) FILTER (WHERE status NOT IN ('ok', 'not_modified', 'not_found')) AS n_bad,
                     count(*) FILTER (WHERE status = 'disabled') AS n_disabled,
                     (SELECT string_agg(s || ' for ' || c, ', ' ORDER BY s)
                      FROM (SELECT status AS s, count(*) AS c FROM repository_activity r
                            WHERE r.forge = a.forge AND status NOT IN ('ok', 'not_modified', 'not_found')
                            GROUP BY status)) AS string_agg_states
              FROM repository_activity a WHERE forge IS NOT NULL GROUP BY forge)
        ORDER BY forge""",
    )
    if not _scalar(con, "SELECT count(*) FROM repository_activity"):
        states.append("forges: no repository read")
    n_checks = _scalar(con, "SELECT count(*) FROM stats_page_checks")
    states.append(
        "stats page checks: ok" if n_checks else "stats page checks: none made (disabled or no page declared)"
    )
    return tuple(states)


def read_coverage(con, year: int) -> dict[str, CriterionCoverage]:
    """Coverage of each criterion in `year` (criterion -> CriterionCoverage)."""
    row = con.execute(
        """SELECT count(*),
                  count(*) FILTER (WHERE criterion_a = 'unknown'),
                  count(*) FILTER (WHERE criterion_b = 'unknown'),
                  count(*) FILTER (WHERE criterion_c = 'unknown'),
                  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM yearly_reach r WHERE r.startup_id = n.startup_id
                                                 AND r.year = n.year)
                                   OR EXISTS (SELECT 1 FROM usage_source_status u WHERE u.startup_id = n.startup_id)),
                  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM startup_observatoire o WHERE o.startup_id = n.startup_id
                                                 AND o.year = n.year)
                                   OR EXISTS (SELECT 1 FROM repository_activity a WHERE a.startup_id = n.startup_id
                                              AND a.year = n.year AND a.status NOT IN ('disabled', 'unsupported'))
                                   OR EXISTS (SELECT 1 FROM stats_page_checks s WHERE s.startup_id = n.startup_id))
           FROM national_impact n WHERE n.year = ?""",
        [int(year)],
    ).fetchone()
    n, unknown_a, unknown_b, unknown_c, with_b, with_c = row
    registry_at = _scalar(con, "SELECT max(fetched_at) FROM registry_raw")
    registry = (f"registry: ok (fetched {registry_at:%Y-%m-%d})" if registry_at is not None else "registry: ok",)
    return {
        "a": CriterionCoverage("a", n, unknown_a, n, registry),
        "b": CriterionCoverage("b", n, unknown_b, with_b, usage_sources(con)),
        "c": CriterionCoverage("c", n, unknown_c, with_c, quality_sources(con)),
    }


def banners(coverage: dict[str, CriterionCoverage]) -> list[str]:
    return [c.banner for c in coverage.values() if c.banner]


def chart_note(coverage: dict[str, CriterionCoverage], year: int) -> str | None:
    """One line for the chart when a criterion could not be judged for most services of `year`."""
    short = [f"({c.criterion}) for {round(100 * c.n_unknown / c.n_evaluated)} %" for c in coverage.values() if c.banner]
    if not short:
        return None
    return (
        f"Incomplete evidence in {year}: unknown {', '.join(short)} of services (sources off, down or missing): "
        "the counts are a lower bound"
    )
