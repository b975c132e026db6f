"""Matomo Reporting API, `VisitsSummary.get`: one request answers several years (or months).

Shapes (documented by Matomo): one period answers `{"nb_visits": …, "nb_uniq_visitors": …, …}`; several
periods answer an object keyed by period (`{"2023": {…}, "2024": {…}}`, months `"2024-01"`), an empty
period is `[]`; errors come back with HTTP 200 as `{"result": "error", "message": …}`. Unique visitors are
usually not computed for year periods: yearly `nb_visits` is the measure, monthly uniques are summed
later and flagged as an upper bound. `nb_users` is 0 unless the site uses User-ID (the common case), and
`nb_uniq_visitors` 0 when not processed: a 0 beside visits > 0 is kept, flagged `not_computed`.

Sources file entry (`type: matomo`): `base_url`, `site_id`, optional `token_env`, `monthly_uniques`, and offline copies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

from pydantic import field_validator

from impact_pipeline.defs.usage.adapters.base import (
    Adapter,
    Location,
    Read,
    ReadContext,
    SourceOptions,
    SourceSpec,
    instance_name,
)
from impact_pipeline.defs.usage.observations import Origin, Parsed, SourceError, parse_json, parse_number, period_bounds
from impact_pipeline.lib.fetching import FetchRequest
from impact_pipeline.lib.urls import web_address

_PERIOD_KEY = re.compile(r"^\d{4}(-\d{2})?(-\d{2})?$")
# Metrics kept, with the unit they count.
METRICS = {"nb_visits": "visits", "nb_uniq_visitors": "visitors", "nb_users": "users"}
# Metrics that read 0 when Matomo did not compute them (no User-ID; uniques not processed for the period):
# 0 beside visits > 0 is "not computed", not a measure.
NOT_COMPUTED_WHEN_ZERO = ("nb_users", "nb_uniq_visitors")


def token_env_name(base_url: str) -> str:
    """Default environment variable holding an instance's token: IMPACT_MATOMO_TOKEN_<HOST>."""
    host = urlsplit(base_url).hostname or base_url
    return "IMPACT_MATOMO_TOKEN_" + re.sub(r"[^A-Z0-9]+", "_", host.upper()).strip("_")


def api_url(base_url: str, site_id: int | str, period: str, first_year: int, today: date) -> str:
    """The request URL (no secret in it: the token goes in the POST body)."""
    base = base_url.rstrip("/")
    if not base.endswith(".php"):
        base += "/index.php"
    query = {
        "module": "API",
        "method": "VisitsSummary.get",
        "idSite": str(site_id),
        "period": period,
        "date": f"{first_year}-01-01,{today.isoformat()}",
        "format": "JSON",
    }
    return f"{base}?{urlencode(query, safe=',')}"


def dashboard_url(base_url: str, site_id: int | str, year: int) -> str:
    """The public dashboard page of a site for a year (evidence for anonymous-readable instances)."""
    base = base_url.rstrip("/")
    if base.endswith(".php"):
        base = base.rsplit("/", 1)[0]
    return f"{base}/index.php?module=CoreHome&action=index&idSite={site_id}&period=year&date={year}-12-31"


class MatomoOptions(SourceOptions):
    type: Literal["matomo"] = "matomo"
    base_url: str
    site_id: int | str
    token_env: str | None = None  # default: token_env_name(base_url)
    anonymous: bool = False  # a discovered site: read only when it answers anyone, never with a token
    monthly_uniques: bool = False  # also read monthly nb_uniq_visitors (summed later: an upper bound)
    offline_response: Location | None = None  # a recorded answer of the yearly request
    offline_monthly_response: Location | None = None

    @field_validator("site_id")
    @classmethod
    def _a_number(cls, value: int | str) -> int | str:
        if not str(value).isdigit():
            raise ValueError("site_id must be a number")
        return value


def token(options: MatomoOptions, tokens: Mapping[str, str]) -> tuple[str, bool]:
    """(token, anonymous): the instance's token when the operator holds one, else `anonymous`."""
    if options.anonymous:
        return "anonymous", True
    value = (tokens.get(options.token_env or token_env_name(options.base_url)) or "").strip()
    return (value, False) if value else ("anonymous", True)


def reads(spec: SourceSpec, context: ReadContext) -> list[Read]:
    """One POST for the years since `first_year` (token in the body), and one for the months with `monthly_uniques`."""
    options: MatomoOptions = spec.options
    base, site = str(options.base_url), options.site_id
    ref = options.name or f"{instance_name(base)} site {site}"
    secret, anonymous = token(options, context.tokens)
    evidence = web_address(options.evidence_url)
    evidence_for = (
        (lambda year: evidence)
        if evidence
        else ((lambda year: dashboard_url(base, site, year)) if anonymous and web_address(base) else None)
    )
    periods = [("year", options.offline_response)]
    if options.monthly_uniques:
        periods.append(("month", options.offline_monthly_response))
    out = []
    for period, offline in periods:
        if offline:
            request = FetchRequest(offline, "matomo", key=spec.startup_id)
        else:
            url = api_url(base, site, period, context.first_year, context.today)
            request = FetchRequest(url, "matomo", key=spec.startup_id, method="POST", data={"token_auth": secret})

        def parse(content: bytes, fetched_at: str, period=period) -> Parsed:
            return parse_visits_summary(
                parse_json(content, "Matomo answer"),
                period=period,
                origin=Origin(spec.startup_id, "matomo", ref, fetched_at),
                today=context.today,
                evidence_for=evidence_for,
            )

        out.append(Read(request, bool(offline), ref, parse))
    return out


def parse_visits_summary(
    document: Any, *, period: str, origin: Origin, today: date, evidence_for: Any = None
) -> Parsed:
    """Observations from a VisitsSummary.get answer; raises SourceError on an error body or a wrong shape."""
    if isinstance(document, dict) and document.get("result") == "error":
        raise SourceError(f"Matomo error: {str(document.get('message') or 'no message')[:300]}")
    if not isinstance(document, dict):
        if document == []:  # a single empty period
            return Parsed()
        raise SourceError(f"unexpected Matomo answer (a {type(document).__name__})")
    if document and all(_PERIOD_KEY.match(str(k)) for k in document):
        periods = document
    elif any(k in document for k in METRICS):
        raise SourceError("Matomo answered a single period; the request asks for a date range")
    elif not document:
        return Parsed()
    else:
        raise SourceError("unexpected Matomo answer (neither periods nor metrics)")
    parsed = Parsed()
    for key, values in sorted(periods.items()):
        if values == [] or values == {} or values is None:
            continue  # an empty period
        if not isinstance(values, dict):
            parsed.reject(f"period {key}: unexpected value {str(values)[:60]!r}")
            continue
        try:
            start, end = period_bounds(
                date.fromisoformat(f"{key}-01-01"[:10]) if len(key) == 4 else date.fromisoformat(f"{key}-01"[:10]),
                period,
            )
        except ValueError:
            parsed.reject(f"period {key!r} is not a {period}")
            continue
        if start > today:
            continue
        end = min(end, today)  # the running period is partial: say so with its real end
        url = evidence_for(start.year) if evidence_for else None
        visits, _ = parse_number(values.get("nb_visits"))
        for metric, unit in METRICS.items():
            raw = values.get(metric)
            if raw is None:
                continue
            try:
                value = float(raw)
            except (TypeError, ValueError):
                parsed.reject(f"period {key}: {metric} {raw!r} is not a number")
                continue
            if value < 0:
                parsed.reject(f"period {key}: {metric} {raw!r} is negative")
                continue
            parsed.observations.append(
                origin.observation(
                    indicator=metric,
                    value=value,
                    unit=unit,
                    period_start=start,
                    period_end=end,
                    evidence_url=url,
                    # Matomo prints 0 users without User-ID, 0 uniques when it does not compute them for the period.
                    not_computed=metric in NOT_COMPUTED_WHEN_ZERO and value == 0 and bool(visits),
                )
            )
    return parsed


def proposal_keys(options: MatomoOptions) -> list[tuple[str, str, str]]:
    """The discovered site this entry is."""
    return [("matomo", str(options.base_url).rstrip("/"), str(options.site_id))]


ADAPTER = Adapter(source="matomo", options=MatomoOptions, reads=reads, proposal_keys=proposal_keys)
