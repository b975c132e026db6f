"""Repository activity from GitHub and GitLab: commits in a year, last push, archived, public.

GitHub: `GET /repos/{owner}/{repo}` (`pushed_at`, `archived`, `private`, `created_at`) and
`GET /repos/{o}/{r}/commits?since&until&per_page=1`, whose `Link: <…&page=N>; rel="last"` gives the count.
GitLab: `GET /projects/{url-encoded path}` (`last_activity_at`, `archived`, `visibility`) and
`GET /projects/{path}/repository/commits?since&until&per_page=1` with the `X-Total` header (absent for
very large sets: the count is then a lower bound).

Every request goes through one `Fetcher` for both forges (conditional with stored ETags; a 304 costs no
rate limit). When a repository answers 304 (nothing pushed since), the commit counts read under that answer
are reused without asking again. When a forge answers that its rate limit is exhausted (403/429 with
`X-RateLimit-Remaining: 0`, or a 429), no further request goes to that forge in this run: what was fetched
is kept and the rest is marked `rate_limited` with the reason. An offline mirror (a local folder as the API
URL) serves the sample world.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from impact_pipeline.defs.quality.observatoire import is_local_base, safe_segment
from impact_pipeline.lib.fetching import Fetcher, FetchOutcome, FetchRequest
from impact_pipeline.lib.urls import public_http_url

GITHUB, GITLAB = "github", "gitlab"
# Self-hosted GitLab instances that do not say "gitlab" in their name.
KNOWN_GITLAB_HOSTS = frozenset({"framagit.org", "forge.apps.education.fr"})
_REPO_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class RepoRef:
    """A declared repository: which forge, which host, which path (owner/repo or group/…/project)."""

    url: str
    forge: str | None  # github, gitlab, or None (another host, or not a repository address)
    host: str
    path: str | None
    problem: str | None = None

    @property
    def name(self) -> str:
        return f"{self.host}/{self.path}" if self.path else self.url


def parse_repository(value: object) -> RepoRef | None:
    """The forge and path of a registry `repository` value; None when it is not an http(s) URL."""
    url = public_http_url(value)
    if url is None:
        return None
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    host = host[4:] if host.startswith("www.") else host
    segments = [s for s in parts.path.split("/") if s]
    if "-" in segments:  # GitLab UI paths: /group/project/-/tree/main
        segments = segments[: segments.index("-")]
    if segments:
        segments[-1] = re.sub(r"\.git$", "", segments[-1])
    if host == "github.com":
        if len(segments) < 2:
            return RepoRef(url, None, host, None, "a GitHub organisation or user, not a repository")
        owner, repo = segments[0], segments[1]
        if not (_REPO_SEGMENT.match(owner) and _REPO_SEGMENT.match(repo)):
            return RepoRef(url, None, host, None, "not a GitHub repository address")
        return RepoRef(url, GITHUB, host, f"{owner}/{repo}")
    if host == "gitlab.com" or host.startswith("gitlab") or host in KNOWN_GITLAB_HOSTS:
        if len(segments) < 2:
            return RepoRef(url, None, host, None, "a GitLab group, not a project")
        if not all(_REPO_SEGMENT.match(s) for s in segments):
            return RepoRef(url, None, host, None, "not a GitLab project address")
        return RepoRef(url, GITLAB, host, "/".join(segments))
    return RepoRef(url, None, host, "/".join(segments) or None, f"{host} is neither GitHub nor a known GitLab host")


class RateLimitGuard:
    """Notices a forge's exhausted rate limit and stops every later request to it in this run."""

    def __init__(self, label: str, remaining_headers: tuple[str, ...] = ("X-RateLimit-Remaining", "RateLimit-Remaining")):
        self.label = label
        self.remaining_headers = remaining_headers
        self.reason: str | None = None
        self._lock = threading.Lock()

    def _remaining(self, headers: Any) -> str | None:
        if not headers:
            return None
        for name in self.remaining_headers:
            value = headers.get(name)
            if value is not None:
                return str(value).strip()
        return None

    @staticmethod
    def _reset(headers: Any) -> str:
        reset = headers.get("X-RateLimit-Reset") or headers.get("RateLimit-Reset") if headers else None
        try:
            return " until " + datetime.fromtimestamp(int(reset), timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        except (TypeError, ValueError, OverflowError, OSError):
            return ""

    def trip(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason

    def should_skip(self, _request: FetchRequest) -> str | None:
        return f"not asked: {self.reason}" if self.reason else None

    def observe(self, outcome: FetchOutcome) -> None:
        error = outcome.error
        if error is not None and getattr(error, "status", None) in (403, 429):
            headers = getattr(error, "headers", None)
            if error.status == 429 or self._remaining(headers) == "0" or (headers and headers.get("Retry-After")):
                self.trip(f"the {self.label} rate limit is exhausted (HTTP {error.status}){self._reset(headers)}")
        elif outcome.result is not None and self._remaining(outcome.result.headers) == "0":
            self.trip(f"the {self.label} rate limit is exhausted{self._reset(outcome.result.headers)}")


class _ForgeGuards:
    """Both forges' guards behind one Fetcher: each request is checked and observed by its forge's guard."""

    def __init__(self, guards: dict[str, RateLimitGuard]):
        self.guards = guards

    def should_skip(self, request: FetchRequest) -> str | None:
        return self.guards[request.source].should_skip(request)

    def observe(self, outcome: FetchOutcome) -> None:
        self.guards[outcome.request.source].observe(outcome)


def _iso(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


def _year_bounds(year: int) -> tuple[str, str]:
    return f"{year}-01-01T00:00:00Z", f"{year + 1}-01-01T00:00:00Z"


def _last_page(link_header: str | None) -> int | None:
    """The page number of `rel="last"` in a Link header (GitHub paging), or None."""
    if not link_header:
        return None
    from requests.utils import parse_header_links

    for link in parse_header_links(link_header):
        if link.get("rel") == "last":
            pages = parse_qs(urlsplit(link.get("url", "")).query).get("page")
            if pages and pages[0].isdigit():
                return int(pages[0])
    return None


@dataclass(frozen=True)
class ForgeApi:
    """One forge API: where it is (URL, or a local mirror folder), its token, its rate-limit guard."""

    forge: str
    base: str  # "" = disabled
    token: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.base.strip())

    @property
    def local(self) -> bool:
        return self.enabled and is_local_base(self.base)

    def headers(self, with_token: bool = True) -> dict[str, str] | None:
        """Request headers; the token only goes to the configured API (never to a self-hosted instance)."""
        if self.local:
            return None
        token = self.token if with_token else None
        if self.forge == GITHUB:
            headers = {"Accept": "application/vnd.github+json"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            return headers
        return {"PRIVATE-TOKEN": token} if token else None

    def _mirror(self, *segments: str) -> str | None:
        safe = [safe_segment(s) for s in segments]
        if any(s is None for s in safe):
            return None
        return str(Path(self.base).joinpath(*safe))  # type: ignore[arg-type]

    def repo_url(self, ref: RepoRef, api_base: str | None = None) -> str | None:
        base = (api_base or self.base).rstrip("/")
        parts = (ref.path or "").split("/")
        if self.forge == GITHUB:
            if self.local:
                path = self._mirror("repos", parts[0], parts[1])
                return f"{path}.json" if path else None
            return f"{base}/repos/{parts[0]}/{parts[1]}"
        if self.local:
            path = self._mirror("projects", *parts)
            return f"{path}.json" if path else None
        return f"{base}/projects/{quote(ref.path or '', safe='')}"

    def commits_url(self, ref: RepoRef, year: int, api_base: str | None = None) -> str | None:
        """Commits in the year (the mirror keeps one `commits.json` per repository, filtered here)."""
        parts = (ref.path or "").split("/")
        if self.local:
            prefix = ("repos", parts[0], parts[1]) if self.forge == GITHUB else ("projects", *parts)
            path = self._mirror(*prefix, "commits.json")
            return path
        since, until = _year_bounds(year)
        if self.forge == GITHUB:
            return f"{self.repo_url(ref, api_base)}/commits?since={since}&until={until}&per_page=1"
        return f"{self.repo_url(ref, api_base)}/repository/commits?since={since}&until={until}&per_page=1"


def _commit_date(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    commit = item.get("commit") if isinstance(item.get("commit"), dict) else {}
    committer = commit.get("committer") if isinstance(commit.get("committer"), dict) else {}
    return _iso(committer.get("date") or item.get("committed_date") or item.get("created_at"))


class CountCache:
    """Commit counts seen with each ETag: a 304 returns the stored body, but not the paging headers."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        self.data: dict[str, dict[str, Any]] = {}
        if path and path.exists():
            try:
                self.data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.data = {}

    def get(self, url: str) -> dict[str, Any] | None:
        with self._lock:
            return self.data.get(url)

    def put(self, url: str, value: dict[str, Any]) -> None:
        with self._lock:
            self.data[url] = value

    def save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)


def _count_from(outcome: FetchOutcome, api: ForgeApi, year: int, counts: CountCache) -> tuple[int | None, bool, str | None]:
    """(count, is_lower_bound, problem) of one commits answer."""
    result = outcome.result
    assert result is not None
    url = outcome.request.url
    if api.local:
        try:
            items = result.json()
        except ValueError:
            return None, False, "the mirror's commits.json is not JSON"
        if not isinstance(items, list):
            return None, False, "the mirror's commits.json is not a list"
        since, until = (s.replace("Z", "") for s in _year_bounds(year))
        dates = [_commit_date(i) for i in items]
        return sum(1 for d in dates if d and since <= d < until), False, None
    if result.not_modified:
        stored = counts.get(url)
        if stored and stored.get("etag") == result.etag:
            return stored.get("count"), bool(stored.get("lower_bound")), None
        return None, False, "304 without a stored count"
    try:
        items = result.json()
    except ValueError:
        return None, False, "the commits answer is not JSON"
    if not isinstance(items, list):
        return None, False, "the commits answer is not a list"
    lower = False
    if api.forge == GITHUB:
        count = _last_page(result.headers.get("Link"))
        if count is None:
            count = len(items)
    else:
        total = (result.headers.get("X-Total") or "").strip()
        if total.isdigit():
            count = int(total)
        else:
            # GitLab omits X-Total beyond 10,000 results: a next page means "more than this page".
            count = len(items) + (1 if (result.headers.get("X-Next-Page") or "").strip() else 0)
            lower = bool((result.headers.get("X-Next-Page") or "").strip())
    if result.etag:
        counts.put(url, {"etag": result.etag, "count": count, "lower_bound": lower})
    return count, lower, None


def _metadata(api: ForgeApi, doc: Any) -> dict[str, Any] | None:
    if not isinstance(doc, dict):
        return None
    if api.forge == GITHUB:
        private = doc.get("private")
        visibility = doc.get("visibility")
        public = (visibility == "public") if isinstance(visibility, str) else (not private if isinstance(private, bool) else None)
        return {
            "last_push": _iso(doc.get("pushed_at")),
            "archived": doc.get("archived") if isinstance(doc.get("archived"), bool) else None,
            "public": public,
            "created_at": _iso(doc.get("created_at")),
        }
    visibility = doc.get("visibility")
    return {
        "last_push": _iso(doc.get("last_activity_at")),
        "archived": doc.get("archived") if isinstance(doc.get("archived"), bool) else None,
        "public": (visibility == "public") if isinstance(visibility, str) else None,
        "created_at": _iso(doc.get("created_at")),
    }


def _outcome_status(outcome: FetchOutcome, guard: RateLimitGuard) -> tuple[str, str | None]:
    if outcome.skipped:
        return "rate_limited", outcome.error.reason if outcome.error else "rate limited"
    if outcome.error is not None:
        status = getattr(outcome.error, "status", None)
        if status in (403, 429) and guard.reason:
            return "rate_limited", guard.reason
        if status == 404 or outcome.error.reason == "file not found":
            return "not_found", f"{outcome.error.reason}: the repository does not exist or is private"
        return "error", outcome.error.reason
    return ("not_modified" if outcome.result.not_modified else "ok"), None


def collect_activity(
    repos: list[tuple[str, RepoRef]],
    years: list[int],
    apis: dict[str, ForgeApi],
    make_fetcher: Callable[[Any], Fetcher],
    *,
    counts: CountCache | None = None,
    gitlab_self_hosted: bool = True,
    now: datetime | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows (startup_id, year, forge, repo, commits_in_year, last_push, archived, public, status, reason…).

    Returns the rows and a summary (requests per forge, rate-limit reasons) for the run metadata.
    """
    now = now or datetime.now(timezone.utc)
    counts = counts or CountCache(None)
    guards = {forge: RateLimitGuard({GITHUB: "GitHub API", GITLAB: "GitLab API"}[forge]) for forge in (GITHUB, GITLAB)}
    # One Fetcher for both forges, so GitLab's requests run beside GitHub's (under one global limit and
    # the per-host limits) instead of after them; `make_fetcher` wires the guard's should_skip/observe.
    fetcher = make_fetcher(_ForgeGuards(guards))
    fetched_at = now.strftime("%Y-%m-%dT%H:%M:%S")

    def api_base(ref: RepoRef) -> str | None:
        api = apis[ref.forge]
        if ref.forge == GITLAB and not api.local and ref.host != "gitlab.com":
            return f"https://{ref.host}/api/v4" if gitlab_self_hosted else None
        return api.base

    def request(ref: RepoRef, url: str, key: Any) -> FetchRequest:
        api = apis[ref.forge]
        own_api = api_base(ref) == api.base
        return FetchRequest(url, ref.forge, key=key, headers=api.headers(with_token=own_api),
                            allow_local_path=api.local, conditional=not api.local)

    # 1. one metadata request per repository
    unique: dict[str, RepoRef] = {}
    for _, ref in repos:
        if ref.forge and ref.path:
            unique.setdefault(ref.name, ref)
    meta: dict[str, tuple[str, str | None, dict[str, Any] | None, str | None]] = {}  # name → status, reason, meta, url
    meta_etags: dict[str, str] = {}  # name → ETag of the repository answer (a 304 means nothing was pushed since)
    pending: dict[str, list[FetchRequest]] = {GITHUB: [], GITLAB: []}
    for name, ref in unique.items():
        api = apis[ref.forge]
        if not api.enabled:
            meta[name] = ("disabled", f"the {ref.forge} source is disabled (empty API URL)", None, None)
            continue
        base = api_base(ref)
        url = api.repo_url(ref, base) if base else None
        if url is None:
            meta[name] = ("unsupported", f"{ref.host} is not served by the configured {ref.forge} API", None, None)
            continue
        pending[ref.forge].append(request(ref, url, name))
    for outcome in fetcher.fetch_all(pending[GITHUB] + pending[GITLAB]):
        forge = outcome.request.source
        name = outcome.request.key
        status, reason = _outcome_status(outcome, guards[forge])
        info = None
        if outcome.result is not None:
            try:
                info = _metadata(apis[forge], outcome.result.json())
            except ValueError:
                info = None
            if info is None:
                status, reason = "error", "the repository answer is not a JSON object"
        meta[name] = (status, reason, info, outcome.request.url)
        if outcome.result is not None and outcome.result.etag:
            meta_etags[name] = outcome.result.etag

    # 2. commits per (repository, year), skipped when the last push predates the year
    commit_results: dict[tuple[str, int], tuple[str, str | None, int | None, bool]] = {}
    pending = {GITHUB: [], GITLAB: []}
    for name, ref in unique.items():
        status, _, info, _ = meta[name]
        if info is None:
            continue
        for year in years:
            if year > now.year:
                commit_results[(name, year)] = ("ok", "the year has not started", None, False)
                continue
            if info.get("created_at") and info["created_at"] >= f"{year + 1}-01-01":
                commit_results[(name, year)] = (status, f"the repository was created on {info['created_at'][:10]}, after {year}", None, False)
                continue
            if info.get("last_push") and info["last_push"] < f"{year}-01-01":
                commit_results[(name, year)] = (status, f"no push since {info['last_push'][:10]}, before {year}", 0, False)
                continue
            url = apis[ref.forge].commits_url(ref, year, api_base(ref))
            if url is None:
                commit_results[(name, year)] = ("error", "no mirror path for this repository", None, False)
                continue
            stored = counts.get(url) if status == "not_modified" else None
            if stored and stored.get("meta_etag") and stored["meta_etag"] == meta_etags.get(name):
                # The repository answer is unchanged since this count was read (a push changes pushed_at, hence
                # the ETag): reuse the count instead of asking again (a warm nightly run asks one request a repo).
                lower = bool(stored.get("lower_bound"))
                reason = f"at least {stored.get('count')} commits (the forge gave no total)" if lower else None
                commit_results[(name, year)] = ("not_modified", reason, stored.get("count"), lower)
                continue
            pending[ref.forge].append(request(ref, url, (name, year)))
    for outcome in fetcher.fetch_all(pending[GITHUB] + pending[GITLAB]):
        forge = outcome.request.source
        name, year = outcome.request.key
        status, reason = _outcome_status(outcome, guards[forge])
        count, lower = None, False
        if outcome.result is not None:
            count, lower, problem = _count_from(outcome, apis[forge], year, counts)
            if problem:
                status, reason = "error", problem
            else:
                if lower:
                    reason = f"at least {count} commits (the forge gave no total)"
                if not apis[forge].local and name in meta_etags:  # this count holds while the repository answer does
                    counts.put(outcome.request.url, {"etag": outcome.result.etag, "count": count, "lower_bound": lower,
                                                     "meta_etag": meta_etags[name]})
        commit_results[(name, year)] = (status, reason, count, lower)
    counts.save()

    rows = []
    for startup_id, ref in repos:
        for year in years:
            base_row = {
                "startup_id": startup_id, "year": year, "forge": ref.forge or "other", "repo": ref.name,
                "repo_url": ref.url, "commits_in_year": None, "commits_is_lower_bound": False, "last_push": None,
                "archived": None, "public": None, "created_at": None, "fetched_at": fetched_at, "api_url": None,
            }
            if not (ref.forge and ref.path):
                rows.append({**base_row, "status": "unsupported", "reason": ref.problem})
                continue
            m_status, m_reason, info, api_url = meta[ref.name]
            row = {**base_row, **(info or {}), "api_url": api_url}
            if info is None:
                rows.append({**row, "status": m_status, "reason": m_reason})
                continue
            c_status, c_reason, count, lower = commit_results.get((ref.name, year), (m_status, m_reason, None, False))
            status = c_status
            if c_status in ("ok", "not_modified") and m_status == "ok":
                status = "ok"
            rows.append({**row, "commits_in_year": count, "commits_is_lower_bound": lower, "status": status, "reason": c_reason})
    summary = {
        "requests": {forge: fetcher.stats.as_dict().get(forge, {}) for forge in (GITHUB, GITLAB)},
        "rate_limited": {forge: g.reason for forge, g in guards.items() if g.reason},
    }
    return rows, summary
