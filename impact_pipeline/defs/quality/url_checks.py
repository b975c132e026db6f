"""Do the declared stats page and repository answer? Status, time and final URL after redirects.

Like the programme's scanner (DashLord), a page "answers" when it ends, after redirects, on a 2xx (or a
304 to our conditional request: unchanged since a 2xx). Only http(s) registry values are fetched; others
are recorded as failed checks without any request. The sample world reads recorded answers from a file
instead of the network (`recorded_answers`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from impact_pipeline.lib.fetching import Fetcher, FetchRequest
from impact_pipeline.lib.http import RETRIED_STATUSES
from impact_pipeline.lib.urls import web_address

CHECKED_FIELDS = ("stats_url", "repository")
RETRY_PAUSE_SECONDS = 0.5  # before asking again the pages that answered 429 or 5xx


@dataclass(frozen=True)
class Target:
    startup_id: str
    kind: str  # stats_url | repository
    value: str


def targets_from_startups(startups: list[dict[str, Any]]) -> list[Target]:
    out = []
    for s in startups:
        for kind in CHECKED_FIELDS:
            value = s.get(kind)
            if isinstance(value, str) and value.strip():
                out.append(Target(s["startup_id"], kind, value.strip()))
    return out


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _row(t: Target, checked_at: str, **values: Any) -> dict[str, Any]:
    return {
        "startup_id": t.startup_id,
        "kind": t.kind,
        "url": t.value,
        "status_code": None,
        "ok": False,
        "final_url": None,
        "checked_at": checked_at,
        "error": None,
        "source": "live",
        **values,
    }


def run_checks(targets: list[Target], fetcher: Fetcher) -> list[dict[str, Any]]:
    """Fetch each distinct http(s) URL once (conditionally) and record one row per target.

    The fetcher's client does not retry (`QualitySources.check_policy_overrides`): a page that times out costs one
    timeout per run, never a second one. A page answering a passing trouble status (429, 5xx) is asked once more.
    """
    checked_at = _now()
    urls = sorted({u for u in (web_address(t.value) for t in targets) if u})
    outcomes = {o.request.key: o for o in fetcher.fetch_all(FetchRequest(u, "url_checks", key=u) for u in urls)}
    again = [
        u for u, o in outcomes.items() if o.error is not None and getattr(o.error, "status", None) in RETRIED_STATUSES
    ]
    if again:
        time.sleep(RETRY_PAUSE_SECONDS)
        outcomes.update(
            {o.request.key: o for o in fetcher.fetch_all(FetchRequest(u, "url_checks", key=u) for u in again)}
        )
    rows = []
    for t in targets:
        url = web_address(t.value)
        if url is None:
            rows.append(_row(t, checked_at, error="not an http(s) URL: not fetched"))
            continue
        o = outcomes[url]
        if o.result is not None:
            rows.append(
                _row(t, checked_at, url=url, status_code=o.result.status, ok=True, final_url=o.result.final_url)
            )
        else:
            rows.append(
                _row(t, checked_at, url=url, status_code=getattr(o.error, "status", None), error=o.error.reason)
            )
    return rows


def run_recorded_checks(targets: list[Target], path: str | Path) -> list[dict[str, Any]]:
    """Offline: answers recorded in a JSON file `{recorded_at, answers: {url: {status_code, final_url, error}}}`."""
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    checked_at = str(document.get("recorded_at") or _now()).replace("Z", "")
    answers = document.get("answers") or {}
    rows = []
    for t in targets:
        url = web_address(t.value)
        if url is None:
            rows.append(_row(t, checked_at, error="not an http(s) URL: not fetched", source="recorded"))
            continue
        answer = answers.get(url)
        if not isinstance(answer, dict):
            rows.append(
                _row(
                    t, checked_at, url=url, error="no recorded answer for this URL (offline sample)", source="recorded"
                )
            )
            continue
        status = answer.get("status_code")
        ok = isinstance(status, int) and (200 <= status < 300 or status == 304) and not answer.get("error")
        rows.append(
            _row(
                t,
                checked_at,
                url=url,
                status_code=status,
                ok=ok,
                final_url=answer.get("final_url") or (url if ok else None),
                error=answer.get("error") or (None if ok else f"HTTP {status}"),
                source="recorded",
            )
        )
    return rows
