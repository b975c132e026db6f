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

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from impact_pipeline.defs.quality.observatoire import is_local_base, safe_segment
from impact_pipeline.lib.fetching import Fetcher, FetchOutcome, FetchRequest
from impact_pipeline.lib.http import FetchError
from impact_pipeline.lib.urls import web_address

GITHUB, GITLAB = "github", "gitlab"
# Self-hosted GitLab instances that do not say "gitlab" in their name.
KNOWN_GITLAB_HOSTS = frozenset({"framagit.org", "forge.apps.education.fr"})
_REPO_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
# An owner address (organisation, user, group): one page of its repositories is listed, and in each year the most
# recently pushed public ones that can hold commits of the year are asked, up to this many (the rest: a lower bound).
OWNER_PAGE = 100
OWNER_REPOS_PER_YEAR = 5


@dataclass(frozen=True)
class RepoRef:
    """A declared repository: which forge, which host, which path (owner/repo or group/…/project).

    `scope` is `owner` for an organisation, user or group address: its activity is read over the owner's public
    repositories, a weak signal (the owner may host other products).
    """

    url: str
    forge: str | None  # github, gitlab, or None (another host, or not a repository address)
    host: str
    path: str | None
    problem: str | None = None
    scope: str = "repository"

    @property
    def name(self) -> str:
        return f"{self.host}/{self.path}" if self.path else self.url


# What people append to a URL in a free-text field: `…/repo;`, `…/repo.`, `(…/repo)`, `…/repo.git,`.
_TRAILING = re.compile(r"(?:[\s;,.)>\]'\"]|\.git\b)+$", re.IGNORECASE)
_LEADING = re.compile(r"^[\s(<\['\"]+")


def _normalised(value: str) -> str:
    text = _LEADING.sub("", value)
    while True:
        stripped = _TRAILING.sub("", text).rstrip("/")
        if stripped.lower().endswith(".git"):
            stripped = stripped[:-4]
        if stripped == text:
            return text
        text = stripped


def parse_repository(value: object) -> RepoRef | None:
    """The forge and path of a registry `repository` value; None when it is not an http(s) URL.

    Trailing punctuation and `.git` are dropped; an organisation, user or group address is an `owner` ref.
    """
    declared = web_address(value)
    url = web_address(_normalised(value)) if isinstance(value, str) else None
    if url is None:
        return None
    declared = declared or url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    host = host[4:] if host.startswith("www.") else host
    segments = [s for s in parts.path.split("/") if s]
    if "-" in segments:  # GitLab UI paths: /group/project/-/tree/main
        segments = segments[: segments.index("-")]
    if segments:
        segments[-1] = re.sub(r"\.git$", "", segments[-1], flags=re.IGNORECASE)
    if host == "github.com":
        if segments[:1] == ["orgs"]:  # github.com/orgs/<org>/repositories
            segments = segments[1:2]
        if len(segments) == 1 and _REPO_SEGMENT.match(segments[0]):
            return RepoRef(declared, GITHUB, host, segments[0], scope="owner")
        if len(segments) < 2:
            return RepoRef(declared, None, host, None, "not a GitHub repository or owner address")
        owner, repo = segments[0], segments[1]
        if not (_REPO_SEGMENT.match(owner) and _REPO_SEGMENT.match(repo)):
            return RepoRef(declared, None, host, None, "not a GitHub repository address")
        return RepoRef(declared, GITHUB, host, f"{owner}/{repo}")
    if host == "gitlab.com" or host.startswith("gitlab") or host in KNOWN_GITLAB_HOSTS:
        if segments[:1] == ["groups"]:  # gitlab.com/groups/<group>/-/…
            segments = segments[1:]
            if segments and all(_REPO_SEGMENT.match(s) for s in segments):
                return RepoRef(declared, GITLAB, host, "/".join(segments), scope="owner")
        if not segments or not all(_REPO_SEGMENT.match(s) for s in segments):
            return RepoRef(declared, None, host, None, "not a GitLab project or group address")
        # One segment is a group; more may be a project or a subgroup (a project answering 404 is asked as a group).
        return RepoRef(
            declared, GITLAB, host, "/".join(segments), scope="owner" if len(segments) == 1 else "repository"
        )
    return RepoRef(
        declared, None, host, "/".join(segments) or None, f"{host} is neither GitHub nor a known GitLab host"
    )


class RateLimitGuard:
    """Notices a forge's exhausted rate limit and stops every later request to it in this run."""

    def __init__(
        self, label: str, remaining_headers: tuple[str, ...] = ("X-RateLimit-Remaining", "RateLimit-Remaining")
    ):
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
            return " until " + datetime.fromtimestamp(int(reset), UTC).strftime("%Y-%m-%d %H:%M UTC")
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
        moment = moment.astimezone(UTC).replace(tzinfo=None)
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

    def owner_url(self, ref: RepoRef, api_base: str | None = None) -> str | None:
        """The owner's repositories, most recently pushed first (one page: the activity is counted up to a cap)."""
        base = (api_base or self.base).rstrip("/")
        parts = (ref.path or "").split("/")
        if self.forge == GITHUB:
            if self.local:
                path = self._mirror("users", parts[0], "repos")
                return f"{path}.json" if path else None
            # /users/{name}/repos serves organisations too.
            return f"{base}/users/{parts[0]}/repos?type=owner&sort=pushed&direction=desc&per_page={OWNER_PAGE}"
        if self.local:
            path = self._mirror("groups", *parts, "projects")
            return f"{path}.json" if path else None
        return (
            f"{base}/groups/{quote(ref.path or '', safe='')}/projects?include_subgroups=true"
            f"&order_by=last_activity_at&sort=desc&per_page={OWNER_PAGE}"
        )

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


def _count_from(outcome: FetchOutcome, api: ForgeApi, year: int) -> tuple[int | None, bool, str | None]:
    """(count, is_lower_bound, problem) of one commits answer (a 304 replays the stored answer's paging headers)."""
    result = outcome.result
    assert result is not None
    if api.local:
        try:
            items = result.json()
        except (ValueError, FetchError):
            return None, False, "the mirror's commits.json is not JSON"
        if not isinstance(items, list):
            return None, False, "the mirror's commits.json is not a list"
        since, until = (s.replace("Z", "") for s in _year_bounds(year))
        dates = [_commit_date(i) for i in items]
        return sum(1 for d in dates if d and since <= d < until), False, None
    try:
        items = result.json()
    except (ValueError, FetchError):  # FetchResult.json raises FetchError on a non-JSON body
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
    return count, lower, None


def _metadata(api: ForgeApi, doc: Any) -> dict[str, Any] | None:
    if not isinstance(doc, dict):
        return None
    if api.forge == GITHUB:
        private = doc.get("private")
        visibility = doc.get("visibility")
        public = (
            (visibility == "public")
            if isinstance(visibility, str)
            else (not private if isinstance(private, bool) else None)
        )
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


def _owner_members(api: ForgeApi, host: str, doc: Any) -> list[tuple[RepoRef, dict[str, Any]]] | None:
    """The public, non-fork repositories of an owner listing, with their metadata; None when it is not a listing."""
    if not isinstance(doc, list):
        return None
    members = []
    for item in doc:
        info = _metadata(api, item)
        if info is None or info["public"] is False:
            continue
        if item.get("fork") is True or item.get("forked_from_project"):
            continue  # a fork's history is mostly its upstream's
        path = item.get("full_name") if api.forge == GITHUB else item.get("path_with_namespace")
        if not isinstance(path, str) or not all(_REPO_SEGMENT.match(p) for p in path.split("/")):
            continue
        members.append((RepoRef(f"https://{host}/{path}", api.forge, host, path), info))
    return members


def _owner_metadata(members: list[tuple[RepoRef, dict[str, Any]]]) -> dict[str, Any]:
    """An owner as one repository: its latest push, archived when every repository is, public when one is listed."""
    pushes = [i["last_push"] for _, i in members if i.get("last_push")]
    created = [i["created_at"] for _, i in members if i.get("created_at")]
    return {
        "last_push": max(pushes) if pushes else None,
        "archived": all(i.get("archived") is True for _, i in members) if members else None,
        "public": True if members else None,
        "created_at": min(created) if created else None,
    }


def _json_of(outcome: FetchOutcome) -> tuple[Any, str | None]:
    """(document, problem): a forge answering 200 with a non-JSON body is that repository's error, not the run's."""
    try:
        return outcome.result.json(), None
    except (ValueError, FetchError) as exc:
        return None, f"the answer is not JSON ({getattr(exc, 'reason', exc)})"


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


def _may_hold(info: dict[str, Any], year: int) -> bool:
    """Whether a repository can hold commits of `year`: created before its end, pushed to since its start."""
    return (not info.get("created_at") or info["created_at"] < f"{year + 1}-01-01") and (
        not info.get("last_push") or info["last_push"] >= f"{year}-01-01"
    )


def collect_activity(
    repos: list[tuple[str, RepoRef]],
    years: list[int],
    apis: dict[str, ForgeApi],
    make_fetcher: Callable[[Any], Fetcher],
    *,
    gitlab_self_hosted: bool = True,
    gitlab_instances: dict[str, str] | None = None,
    now: datetime | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows (startup_id, year, forge, repo, commits_in_year, last_push, archived, public, status, reason, scope…).

    A self-hosted GitLab is asked at `https://<host>/api/v4`, or at `gitlab_instances[host]` (a mirror of it).

    An owner address (organisation, user, group) is read over its public repositories: the year's commits are the
    sum over the most recently pushed ones that can hold commits of the year (up to `OWNER_REPOS_PER_YEAR`; more
    make the count a lower bound), and the row says it is a weak signal. Returns the rows and a summary (requests
    per forge, rate-limit reasons) for the run metadata.
    """
    now = now or datetime.now(UTC)
    guards = {forge: RateLimitGuard({GITHUB: "GitHub API", GITLAB: "GitLab API"}[forge]) for forge in (GITHUB, GITLAB)}
    # One Fetcher for both forges, so GitLab's requests run beside GitHub's (under one global limit and
    # the per-host limits) instead of after them; `make_fetcher` wires the guard's should_skip/observe.
    fetcher = make_fetcher(_ForgeGuards(guards))
    fetched_at = now.strftime("%Y-%m-%dT%H:%M:%S")

    def api_base(ref: RepoRef) -> str | None:
        api = apis[ref.forge]
        if ref.forge == GITLAB and not api.local and ref.host != "gitlab.com":
            if not gitlab_self_hosted:
                return None
            return (gitlab_instances or {}).get(ref.host) or f"https://{ref.host}/api/v4"
        return api.base

    def request(ref: RepoRef, url: str, key: Any, reuse_if: str | None = None) -> FetchRequest:
        api = apis[ref.forge]
        own_api = api_base(ref) == api.base
        return FetchRequest(
            url,
            ref.forge,
            key=key,
            headers=api.headers(with_token=own_api),
            allow_local_path=api.local,
            conditional=not api.local,
            reuse_if=reuse_if,
        )

    # 1. one metadata request per repository, one listing per owner
    unique: dict[str, RepoRef] = {}
    for _, ref in repos:
        if ref.forge and ref.path:
            unique.setdefault(ref.name, ref)
    scope = {name: ref.scope for name, ref in unique.items()}  # a GitLab path answering 404 may be a (sub)group
    members: dict[str, list[tuple[RepoRef, dict[str, Any]]]] = {}
    meta: dict[str, tuple[str, str | None, dict[str, Any] | None, str | None]] = {}  # name → status, reason, meta, url
    meta_etags: dict[str, str] = {}  # name → ETag of the repository answer (a 304 means nothing was pushed since)

    def read_metadata(asked: list[tuple[str, bool]]) -> None:
        """(name, as an owner?) pairs, all fetched side by side."""
        pending = []
        for name, as_owner in asked:
            ref = unique[name]
            api = apis[ref.forge]
            if not api.enabled:
                meta[name] = ("disabled", f"the {ref.forge} source is disabled (empty API URL)", None, None)
                continue
            base = api_base(ref)
            url = (api.owner_url(ref, base) if as_owner else api.repo_url(ref, base)) if base else None
            if url is None:
                meta[name] = ("unsupported", f"{ref.host} is not served by the configured {ref.forge} API", None, None)
                continue
            pending.append(request(ref, url, (name, as_owner)))
        for outcome in fetcher.fetch_all(pending):
            forge, (name, as_owner) = outcome.request.source, outcome.request.key
            status, reason = _outcome_status(outcome, guards[forge])
            info = None
            if outcome.result is not None:
                doc, problem = _json_of(outcome)
                if as_owner:
                    listed = _owner_members(apis[forge], unique[name].host, doc)
                    if listed is not None:
                        members[name], info, scope[name] = listed, _owner_metadata(listed), "owner"
                else:
                    info = _metadata(apis[forge], doc)
                if info is None:
                    status, reason = (
                        "error",
                        problem
                        or (
                            "the owner's repository list is not a JSON list"
                            if as_owner
                            else "the repository answer is not a JSON object"
                        ),
                    )
            meta[name] = (status, reason, info, outcome.request.url)
            if outcome.result is not None and outcome.result.etag:
                meta_etags[name] = outcome.result.etag

    read_metadata([(n, r.scope == "owner") for n, r in unique.items()])
    subgroups = [n for n, r in unique.items() if r.forge == GITLAB and r.scope != "owner" and meta[n][0] == "not_found"]
    if subgroups:
        kept = {n: meta[n] for n in subgroups}
        read_metadata([(n, True) for n in subgroups])
        for n in subgroups:
            if n not in members:  # not a group either: the project's own answer stands
                meta[n] = kept[n]

    # 2. commits per (repository, year), skipped when the last push predates the year; per owner, over its repositories
    commit_results: dict[tuple[str, int], tuple[str, str | None, int | None, bool]] = {}
    parts: dict[tuple[str, int], list[tuple[str, str | None, int | None, bool]]] = {}
    owner_counts: dict[tuple[str, int], tuple[int, int]] = {}  # (name, year) → (repositories that may hold it, asked)
    pending: dict[tuple[str, bool], list[FetchRequest]] = {(f, o): [] for f in (GITHUB, GITLAB) for o in (False, True)}

    def plan(name: str, ref: RepoRef, target: RepoRef, year: int) -> None:
        url = apis[ref.forge].commits_url(target, year, api_base(ref))
        if url is None:
            parts.setdefault((name, year), []).append(("error", "no mirror path for this repository", None, False))
            return
        # The commits answer holds while the repository answer does (a push changes pushed_at, hence its ETag): one
        # stored under the same repository ETag is reused without asking (a warm nightly run asks one request a repo).
        # Declared repositories first, owners' repositories after: a rate limit reached mid-run spares the stronger
        # signal.
        pending[(ref.forge, scope[name] == "owner")].append(request(ref, url, (name, year), meta_etags.get(name)))

    for name, ref in unique.items():
        status, _, info, _ = meta[name]
        if info is None:
            continue
        for year in years:
            if year > now.year:
                commit_results[(name, year)] = ("ok", "the year has not started", None, False)
                continue
            if scope[name] == "owner":
                eligible = sorted(
                    (m for m in members[name] if _may_hold(m[1], year)),
                    key=lambda m: m[1].get("last_push") or "",
                    reverse=True,
                )
                asked = eligible[:OWNER_REPOS_PER_YEAR]
                owner_counts[(name, year)] = (len(eligible), len(asked))
                if not asked:
                    commit_results[(name, year)] = (
                        status,
                        f"none of the {len(members[name])} public repositories of {name} holds commits of {year}",
                        0,
                        False,
                    )
                for target, _ in asked:
                    plan(name, ref, target, year)
                continue
            if info.get("created_at") and info["created_at"] >= f"{year + 1}-01-01":
                commit_results[(name, year)] = (
                    status,
                    f"the repository was created on {info['created_at'][:10]}, after {year}",
                    0,
                    False,
                )
                continue
            if info.get("last_push") and info["last_push"] < f"{year}-01-01":
                commit_results[(name, year)] = (
                    status,
                    f"no push since {info['last_push'][:10]}, before {year}",
                    0,
                    False,
                )
                continue
            plan(name, ref, ref, year)
    queue = [r for owner in (False, True) for forge in (GITHUB, GITLAB) for r in pending[(forge, owner)]]
    for outcome in fetcher.fetch_all(queue):
        forge = outcome.request.source
        name, year = outcome.request.key
        status, reason = _outcome_status(outcome, guards[forge])
        count, lower = None, False
        if outcome.error is not None and outcome.error.status == 409:
            # GitHub answers 409 "Git Repository is empty." on the commits of a repository without any.
            status, reason, count = "ok", "the repository is empty (HTTP 409: no commit at all)", 0
        elif outcome.result is not None:
            count, lower, problem = _count_from(outcome, apis[forge], year)
            if problem:
                status, reason = "error", problem
            elif lower:
                reason = f"at least {count} commits (the forge gave no total)"
        parts.setdefault((name, year), []).append((status, reason, count, lower))
    for (name, year), answers in parts.items():
        if scope[name] != "owner":
            commit_results[(name, year)] = answers[0]
            continue
        eligible, asked = owner_counts[(name, year)]
        known = [a for a in answers if a[2] is not None]
        if not known:
            commit_results[(name, year)] = answers[0]
            continue
        total = sum(a[2] for a in known)
        lower = any(a[3] for a in known) or len(known) < eligible
        unread = len(answers) - len(known)
        reason = (
            f"{'at least ' if lower else ''}{total} commits in {year} over {len(known)} of the {eligible} public "
            f"repositories of {name} that can hold commits of the year"
            + (f" ({unread} could not be read)" if unread else "")
            + (f"; only the {asked} most recently pushed are asked" if asked < eligible else "")
        )
        status = "not_modified" if all(a[0] == "not_modified" for a in known) else "ok"
        commit_results[(name, year)] = (status, reason, total, lower)

    rows = []
    for startup_id, ref in repos:
        for year in years:
            base_row = {
                "startup_id": startup_id,
                "year": year,
                "forge": ref.forge or "other",
                "repo": ref.name,
                "repo_url": ref.url,
                "commits_in_year": None,
                "commits_is_lower_bound": False,
                "last_push": None,
                "archived": None,
                "public": None,
                "created_at": None,
                "fetched_at": fetched_at,
                "api_url": None,
                "scope": scope.get(ref.name, ref.scope),
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
            if row["scope"] == "owner":
                c_reason = (
                    f"weak signal, an owner's address: {c_reason or 'activity over its public repositories'} "
                    "(the owner may host other products)"
                )
            rows.append(
                {**row, "commits_in_year": count, "commits_is_lower_bound": lower, "status": status, "reason": c_reason}
            )
    summary = {
        "requests": {forge: fetcher.stats.as_dict().get(forge, {}) for forge in (GITHUB, GITLAB)},
        "rate_limited": {forge: g.reason for forge, g in guards.items() if g.reason},
    }
    return rows, summary
