"""Issue 17: the address checked is the address connected to, secrets never follow a redirect or come back, and
the total deadline holds while headers arrive. Real servers on 127.0.0.1, the real client code path."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from impact_pipeline.defs.quality.resources import QualitySources
from impact_pipeline.defs.quality.url_checks import run_checks, targets_from_startups
from impact_pipeline.lib.fetching import Fetcher, FetchLimits, ResponseCache
from impact_pipeline.lib.http import FetchError, HttpClient, HttpPolicy
from impact_pipeline.lib.http_settings import HttpSettings
from impact_pipeline.lib.urls import web_address
from impact_pipeline_tests.support.http_server import LocalServer, Route

PUBLIC_ONLY = HttpPolicy(allow_private_network=False, retries=0, total_timeout=5.0)
LOCAL = HttpPolicy(allow_private_network=True, retries=0, total_timeout=5.0)


def fetch_error(client: HttpClient, url: str, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as caught:
        client.fetch(url, **kwargs)
    return caught.value


# --- item 1: backslash URLs reach loopback -----------------------------------------------------------------------


def test_backslash_url_to_loopback_is_refused_before_any_request(local_server: LocalServer) -> None:
    # urlsplit reads the host as 1.1.1.1 (public); requests/urllib3 connect to 127.0.0.1.
    local_server.add("/x", Route(body=b"internal"))
    port = local_server.url("/").split(":")[2].rstrip("/")
    url = f"http://127.0.0.1:{port}\\@1.1.1.1/x"
    assert web_address(url) is None  # the registry's links go through the same rule

    with HttpClient(PUBLIC_ONLY) as client:
        error = fetch_error(client, url)

    assert "is not allowed in a URL" in error.reason
    assert local_server.requests == []


def test_a_registry_stats_url_with_a_backslash_is_never_checked_ok(local_server: LocalServer, tmp_path) -> None:
    # The registry path of the same attack: the published stats-page check said ok=true (urllib3 asks for the
    # path `/%5C@1.1.1.1/x` on 127.0.0.1, served here as it would be by a permissive internal service).
    local_server.add("/%5C@1.1.1.1/x", Route(body=b"internal"))
    port = local_server.url("/").split(":")[2].rstrip("/")
    targets = targets_from_startups(
        [{"startup_id": "s", "stats_url": f"http://127.0.0.1:{port}\\@1.1.1.1/x", "repository": None}]
    )
    with HttpClient(PUBLIC_ONLY) as client:
        rows = run_checks(targets, Fetcher(client, cache=ResponseCache(tmp_path / "cache")))

    assert [row["ok"] for row in rows] == [False]
    assert local_server.requests == []


def test_backslash_redirect_location_is_refused(local_server: LocalServer) -> None:
    port = local_server.url("/").split(":")[2].rstrip("/")
    local_server.add("/go", Route(status=302, headers={"Location": f"http://127.0.0.1:{port}\\@1.1.1.1/target"}))
    local_server.add("/target", Route(body=b"internal"))

    with HttpClient(LOCAL) as client:
        error = fetch_error(client, local_server.url("/go"))

    assert "redirect to" in error.reason and "refused" in error.reason
    assert [r.path for r in local_server.requests] == ["/go"]


def test_the_connected_address_is_checked_on_the_open_socket(local_server: LocalServer) -> None:
    # What a DNS answer that changes between the name check and the connection (rebinding) amounts to: the client's
    # session connects to a loopback peer without the name check. Its connections refuse the peer before sending a
    # byte, and no retry tries again.
    from impact_pipeline.lib.http import _Fetch

    local_server.add("/x", Route(body=b"internal"))
    with HttpClient(HttpPolicy(allow_private_network=False, retries=3)) as client:
        with pytest.raises(FetchError) as caught, _Fetch(time.monotonic(), 5.0, False) as fetch:
            client._send(local_server.url("/x"), local_server.url("/x"), "GET", None, {}, fetch, "")

    assert "refusing to connect to private/loopback/link-local address 127.0.0.1" in caught.value.reason
    assert local_server.requests == []


# --- item 3: every secret header is stripped on a cross-origin redirect --------------------------------------------


def test_no_secret_header_follows_a_redirect_to_another_origin(local_server: LocalServer) -> None:
    # 127.0.0.1 and localhost are different origins (another host name), served by the same test server.
    other = local_server.url("/landing").replace("127.0.0.1", "localhost")
    local_server.add("/api", Route(status=302, headers={"Location": other}))
    local_server.add("/landing", Route(body={"ok": True}))
    secrets = {
        "Authorization": "Bearer gh-secret-123456",
        "PRIVATE-TOKEN": "glpat-secret-123456",
        "X-Matomo-Token": "matomo-secret-123456",
        "Cookie": "session=cookie-secret-123456",
        "X-Api-Key": "key-secret-123456",
    }

    with HttpClient(LOCAL) as client:
        result = client.fetch(local_server.url("/api"), headers={**secrets, "Accept": "application/json"})

    assert result.status == 200
    first, landing = local_server.requests
    assert all(first.headers.get(name) == value for name, value in secrets.items())  # the origin got them
    assert [name for name in secrets if name in landing.headers] == []
    assert landing.headers.get("Accept") == "application/json" and "impact-pipeline" in landing.headers["User-Agent"]


def test_secret_headers_stay_on_a_same_origin_redirect(local_server: LocalServer) -> None:
    local_server.add("/api", Route(status=302, headers={"Location": "/api/v2"}))
    local_server.add("/api/v2", Route(body={"ok": True}))

    with HttpClient(LOCAL) as client:
        client.fetch(local_server.url("/api"), headers={"PRIVATE-TOKEN": "glpat-secret-123456"})

    assert [r.headers.get("PRIVATE-TOKEN") for r in local_server.requests] == ["glpat-secret-123456"] * 2


# --- item 4: the total deadline covers connect, headers and body ---------------------------------------------------


class HeaderDripServer:
    """Answers every request with a status line, then one header byte every `pause` seconds, for `seconds`."""

    def __init__(self, pause: float = 0.1, seconds: float = 20.0) -> None:
        self.pause, self.seconds = pause, seconds
        self.requests = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # accept() wakes up to see the stop
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}{path}"

    def __enter__(self) -> HeaderDripServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(None)
            self.requests += 1
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                ends = time.monotonic() + self.seconds
                while time.monotonic() < ends and not self._stop.wait(self.pause):
                    connection.sendall(b"a")
            except OSError:
                return  # the client hung up


@pytest.fixture
def header_drip() -> Iterator[HeaderDripServer]:
    with HeaderDripServer() as server:
        yield server


def test_dripped_headers_stop_at_the_total_deadline(header_drip: HeaderDripServer, monkeypatch) -> None:
    # Every byte arrives well within the read timeout: only a deadline over the headers too stops this.
    monkeypatch.setenv("IMPACT_HTTP_TIMEOUT", "1.5")
    # default retries: none may restart it
    policy = HttpSettings.from_env(allow_private_network=True).policy(read_timeout=1.0)

    started = time.monotonic()
    with HttpClient(policy) as client:
        error = fetch_error(client, header_drip.url("/slow"))
    elapsed = time.monotonic() - started

    assert elapsed < 3.0, f"held {elapsed:.1f} s with a 1.5 s deadline"
    assert error.reason.startswith("timed out after 1.5 s (total"), error.reason  # the real elapsed time
    assert header_drip.requests == 1


def test_dripped_headers_stop_at_the_stats_page_check_budget(header_drip: HeaderDripServer, tmp_path) -> None:
    # The stats-page checks' per-check budget is the same deadline (20 s in production, 1.5 s here).
    quality = QualitySources(http=HttpSettings(allow_private_network=True), check_timeout_seconds=1.5)
    client = quality.client(**quality.check_policy_overrides())
    targets = targets_from_startups(
        [{"startup_id": "drip", "stats_url": header_drip.url("/stats"), "repository": None}]
    )

    started = time.monotonic()
    with client:
        (row,) = run_checks(targets, Fetcher(client, cache=ResponseCache(tmp_path / "cache")))
    elapsed = time.monotonic() - started

    assert elapsed < 3.0, f"held {elapsed:.1f} s with a 1.5 s budget"
    assert not row["ok"] and row["error"].endswith("timed out after 1.5 s (total deadline of 1.5 s)"), row["error"]


def test_dripped_body_reports_the_real_elapsed_time(local_server: LocalServer) -> None:
    local_server.add("/slow", Route(body=b"x" * 1000, drip=0.05))

    with HttpClient(HttpPolicy(allow_private_network=True, retries=0, total_timeout=1.2, read_timeout=1.0)) as client:
        error = fetch_error(client, local_server.url("/slow"))

    assert error.reason == "timed out after 1.2 s (total deadline of 1.2 s)"


# --- item 9: a configured secret echoed by a server is redacted before anyone stores or logs it -------------------


def test_a_token_echoed_by_matomo_is_redacted_from_the_answer(local_server: LocalServer, caplog) -> None:
    token = "a3f9c2e1b7d64f0e9a8b7c6d5e4f3a2b"

    def matomo(request):
        sent = request.body.decode().split("token_auth=", 1)[-1]
        # Matomo's error answers come with HTTP 200 and quote what they were given.
        return Route(
            body={"result": "error", "message": f"token_auth={sent} is not valid (token {sent})"},
            headers={"X-Echo": sent},
        )

    local_server.add("/index.php", Route(handler=matomo))
    caplog.set_level(logging.DEBUG)
    with HttpClient(LOCAL) as client:
        result = client.fetch(
            local_server.url("/index.php?module=API&method=VisitsSummary.get"),
            method="POST",
            data={"token_auth": token},
        )

    assert local_server.requests[0].body == f"token_auth={token}".encode()  # the token was really sent
    assert (
        token.encode() not in result.content and result.json()["message"] == "token_auth=*** is not valid (token ***)"
    )
    assert token not in result.headers["X-Echo"]
    assert token not in caplog.text


def test_a_secret_from_the_environment_is_redacted_from_any_answer(local_server: LocalServer, monkeypatch) -> None:
    # A secret this request does not carry (another source's token) is still a configured secret.
    secret = "glpat-9f8e7d6c5b4a3f2e1d0c"
    monkeypatch.setenv("GITLAB_TOKEN", secret)
    local_server.add("/err", Route(status=200, body=f"unknown token {secret}".encode()))
    local_server.add("/fail", Route(status=401, body=b"no", headers={"WWW-Authenticate": f"Bearer realm={secret}"}))

    with HttpClient(LOCAL) as client:
        assert client.fetch(local_server.url("/err")).content == b"unknown token ***"
        error = fetch_error(client, local_server.url("/fail"))

    assert secret not in repr(dict(error.headers)) and secret not in str(error)


# --- issue 19, decision 4: no repeated waiting ---------------------------------------------------------------------


def _page_checks(quality: QualitySources, work_dir, limits, url: str) -> tuple[dict, float]:
    """One run of the stats page checks on `url` (the URL checks' client and fetcher): its row and how long it took."""
    targets = targets_from_startups([{"startup_id": "s", "stats_url": url, "repository": None}])
    started = time.monotonic()
    with quality.client(**quality.check_policy_overrides()) as client:
        (row,) = run_checks(targets, quality.fetcher(client, str(work_dir), limits=limits, recheck_budget=0.3))
    return row, time.monotonic() - started


def test_a_page_that_timed_out_last_run_costs_at_most_the_short_budget_this_run(local_server, tmp_path) -> None:
    local_server.add("/silent", Route(body=b"never", delay=30))
    quality = QualitySources(http=HttpSettings(allow_private_network=True), check_timeout_seconds=1.0)

    first, first_took = _page_checks(quality, tmp_path, FetchLimits(4, 2), local_server.url("/silent"))
    second, second_took = _page_checks(quality, tmp_path, FetchLimits(4, 2), local_server.url("/silent"))

    assert first["error"].endswith("(total deadline of 1 s)") and first_took >= 1.0
    assert second["error"].endswith("(total deadline of 0.3 s)"), second["error"]
    assert second_took < 0.8, f"waited {second_took:.1f} s again"
    assert len(local_server.requests) == 2  # one try per run, no retry


def test_a_page_that_answers_again_returns_to_the_normal_policy(local_server, tmp_path) -> None:
    state = {"delay": 30.0}
    local_server.add("/page", Route(handler=lambda _request: Route(body=b"stats", delay=state["delay"])))
    quality = QualitySources(http=HttpSettings(allow_private_network=True), check_timeout_seconds=1.0)
    url = local_server.url("/page")

    timed_out, _ = _page_checks(quality, tmp_path, FetchLimits(4, 2), url)
    state["delay"] = 0.0
    answered, _ = _page_checks(quality, tmp_path, FetchLimits(4, 2), url)  # within the short budget
    state["delay"] = 0.6  # longer than the short budget (0.3 s), within the normal one (1 s)
    slow, _ = _page_checks(quality, tmp_path, FetchLimits(4, 2), url)

    assert not timed_out["ok"] and answered["ok"] and slow["ok"], slow["error"]


def test_a_host_that_keeps_timing_out_costs_at_most_its_wait_budget_in_total(local_server, tmp_path) -> None:
    local_server.add("/silent", Route(body=b"never", delay=30))
    quality = QualitySources(http=HttpSettings(allow_private_network=True), check_timeout_seconds=1.0)
    limits = FetchLimits(concurrency=8, per_host=2, host_wait=2.5)
    urls = [local_server.url(f"/silent?page={i}") for i in range(10)]
    targets = targets_from_startups(
        [{"startup_id": f"s{i}", "stats_url": u, "repository": None} for i, u in enumerate(urls)]
    )

    started = time.monotonic()
    with quality.client(**quality.check_policy_overrides()) as client:
        rows = run_checks(targets, quality.fetcher(client, str(tmp_path), limits=limits))
    took = time.monotonic() - started

    waits = limits.host_waits()
    (host,) = waits
    sent = len(local_server.requests)  # 2 with 1 s each (the check budget), then one with the 0.5 s left
    assert waits[host]["waited_s"] <= 2.5 and waits[host]["not_sent"] == 10 - sent and sent == 3
    assert took < 2.5, f"the host cost {took:.1f} s with a 2.5 s budget"
    not_sent = [r for r in rows if r["error"].startswith("not asked")]
    assert len(not_sent) == 10 - sent and all("wait budget" in r["error"] and not r["ok"] for r in not_sent)
    assert all(r["error"].startswith("timed out") for r in rows if r not in not_sent)
