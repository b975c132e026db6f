"""The shared HTTP layer against a real server on 127.0.0.1 (real sockets, no mocks)."""

from __future__ import annotations

import gzip
import logging
import pickle
import socket
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from impact_pipeline.lib.http import (
    FetchError,
    HttpClient,
    HttpPolicy,
    check_url_allowed,
    is_local_path,
    redact_url,
)
from impact_pipeline_tests.support.http_server import LocalServer, RecordedRequest, Route

# 127.0.0.1 is private: tests must opt in, and keep waits short.
LOCAL = HttpPolicy(
    allow_private_network=True,
    backoff_factor=0.01,
    connect_timeout=2.0,
    read_timeout=2.0,
    total_timeout=10.0,
)


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient(LOCAL) as http_client:
        yield http_client


def fetch_error(client: HttpClient, url: str, **kwargs: object) -> FetchError:
    with pytest.raises(FetchError) as caught:
        client.fetch(url, **kwargs)  # type: ignore[arg-type]
    return caught.value


# --- success paths ---------------------------------------------------------------------


def test_fetches_json(local_server: LocalServer, client: HttpClient) -> None:
    local_server.add("/startups.json", Route(body={"data": [{"id": "a"}]}, headers={"ETag": '"v1"'}))

    result = client.fetch(local_server.url("/startups.json"))

    assert result.status == 200
    assert result.json() == {"data": [{"id": "a"}]}
    assert result.headers["Content-Type"] == "application/json"
    assert result.etag == '"v1"'
    assert result.not_modified is False
    assert result.final_url == result.url == local_server.url("/startups.json")
    assert len(result.sha256) == 64
    assert result.fetched_at.endswith("Z") and len(result.fetched_at) == len("2026-11-28T16:20:00Z")
    assert local_server.requests[0].headers["User-Agent"].startswith("impact-pipeline/")


def test_follows_a_redirect_and_records_the_final_url(local_server: LocalServer, client: HttpClient) -> None:
    local_server.add("/old", Route(status=301, headers={"Location": "/new"}))
    local_server.add("/new", Route(body="moved here"))

    result = client.fetch(local_server.url("/old"))

    assert result.content == b"moved here"
    assert result.url == local_server.url("/old")
    assert result.final_url == local_server.url("/new")


def test_redirect_to_another_origin_drops_credentials(client: HttpClient) -> None:
    with LocalServer({"/data": Route(body="ok")}) as other, LocalServer() as first:
        first.add("/data", Route(status=302, headers={"Location": other.url("/data")}))

        client.fetch(first.url("/data"), headers={"Authorization": "Bearer s3cret"})

        assert first.requests[0].headers["Authorization"] == "Bearer s3cret"
        assert "Authorization" not in other.requests[0].headers


def test_too_many_redirects_fail(local_server: LocalServer, client: HttpClient) -> None:
    local_server.add("/loop", Route(status=302, headers={"Location": "/loop"}))

    error = fetch_error(client, local_server.url("/loop"))

    assert "too many redirects" in error.reason
    assert len(local_server.requests) == LOCAL.max_redirects + 1


def test_post_sends_a_form_body(local_server: LocalServer, client: HttpClient) -> None:
    local_server.add("/index.php", Route(body=[{"nb_visits": 3}]))

    result = client.fetch(local_server.url("/index.php"), method="POST", data={"module": "API", "token_auth": "t0k"})

    assert result.json() == [{"nb_visits": 3}]
    (request,) = local_server.requests
    assert request.method == "POST"
    assert request.body == b"module=API&token_auth=t0k"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_conditional_request_gets_not_modified(local_server: LocalServer, client: HttpClient) -> None:
    def answer(request: RecordedRequest) -> Route:
        if request.headers.get("If-None-Match") == '"v7"':
            return Route(status=304, headers={"ETag": '"v7"'})
        return Route(body={"n": 1}, headers={"ETag": '"v7"', "Last-Modified": "Sat, 28 Nov 2026 10:00:00 GMT"})

    local_server.add("/registry.json", Route(handler=answer))

    first = client.fetch(local_server.url("/registry.json"))
    second = client.fetch(local_server.url("/registry.json"), etag=first.etag, last_modified=first.last_modified)

    assert first.etag == '"v7"' and first.last_modified == "Sat, 28 Nov 2026 10:00:00 GMT"
    assert second.status == 304
    assert second.not_modified is True
    assert second.content == b""
    assert second.etag == '"v7"'
    assert local_server.requests[1].headers["If-Modified-Since"] == first.last_modified


def test_304s_keep_the_connection_for_the_next_request(local_server: LocalServer, client: HttpClient) -> None:
    # A warm run is mostly 304s: each must not cost a new TCP (and, in production, TLS) handshake.
    def answer(request: RecordedRequest) -> Route:
        if request.headers.get("If-None-Match") == '"v1"':
            return Route(status=304, headers={"ETag": '"v1"'})
        return Route(body={"n": 1}, headers={"ETag": '"v1"'})

    local_server.add("/stats.json", Route(handler=answer))
    connections: list[object] = []
    track = local_server._track
    local_server._track = lambda connection: (connections.append(connection), track(connection))  # type: ignore[method-assign]

    first = client.fetch(local_server.url("/stats.json"))
    answers = [client.fetch(local_server.url("/stats.json"), etag=first.etag) for _ in range(3)]
    last = client.fetch(local_server.url("/stats.json"))

    assert [a.status for a in answers] == [304, 304, 304] and last.json() == {"n": 1}
    assert len(connections) == 1  # one keep-alive connection for the five requests


def test_unexpected_304_is_an_error(local_server: LocalServer, client: HttpClient) -> None:
    local_server.add("/x", Route(status=304))

    assert "HTTP 304" in fetch_error(client, local_server.url("/x")).reason


# --- retries ---------------------------------------------------------------------------


def test_429_waits_for_retry_after(local_server: LocalServer, client: HttpClient) -> None:
    local_server.add("/api", [Route(status=429, headers={"Retry-After": "1"}), Route(body={"ok": True})])

    started = time.monotonic()
    result = client.fetch(local_server.url("/api"))

    assert result.json() == {"ok": True}
    assert len(local_server.requests) == 2
    assert time.monotonic() - started >= 0.9


def test_503_with_retry_after_then_success(local_server: LocalServer, client: HttpClient) -> None:
    local_server.add(
        "/api",
        [
            Route(status=503, headers={"Retry-After": "1"}),
            Route(status=503, headers={"Retry-After": "0"}),
            Route(body="up"),
        ],
    )

    # POST is retried too: Matomo queries are POST bodies.
    result = client.fetch(local_server.url("/api"), method="POST", data={"q": "1"})

    assert result.content == b"up"
    assert len(local_server.requests) == 3
    assert all(request.body == b"q=1" for request in local_server.requests)


def test_retry_after_is_capped(local_server: LocalServer) -> None:
    local_server.add("/api", [Route(status=429, headers={"Retry-After": "3600"}), Route(body="ok")])

    started = time.monotonic()
    with HttpClient(replace(LOCAL, max_retry_after=0.2)) as client:
        assert client.fetch(local_server.url("/api")).content == b"ok"

    assert time.monotonic() - started < 2


def test_retry_after_beyond_the_deadline_gives_up_at_once(local_server: LocalServer) -> None:
    local_server.add("/api", Route(status=503, headers={"Retry-After": "30"}))

    started = time.monotonic()
    with HttpClient(replace(LOCAL, total_timeout=2.0)) as client:
        error = fetch_error(client, local_server.url("/api"))

    assert error.reason == "HTTP 503 Service Unavailable"
    assert time.monotonic() - started < 1


def test_500_retries_then_fails_naming_the_url(local_server: LocalServer, client: HttpClient) -> None:
    local_server.add("/flaky", Route(status=500))
    url = local_server.url("/flaky")

    error = fetch_error(client, url)

    assert error.reason == "HTTP 500 Internal Server Error after 3 retries"
    assert str(error) == f"{url}: HTTP 500 Internal Server Error after 3 retries"
    assert len(local_server.requests) == 4


def test_404_is_not_retried(local_server: LocalServer, client: HttpClient) -> None:
    error = fetch_error(client, local_server.url("/missing"))

    assert error.reason == "HTTP 404 Not Found"
    assert len(local_server.requests) == 1


def test_connection_refused(client: HttpClient) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    error = fetch_error(client, f"http://127.0.0.1:{port}/x")

    assert error.reason == "connection refused"


# --- size and time limits --------------------------------------------------------------


def test_declared_body_over_the_size_cap_is_refused(local_server: LocalServer) -> None:
    local_server.add("/big", Route(body=b"x" * 5000))

    with HttpClient(replace(LOCAL, max_bytes=1000)) as client:
        error = fetch_error(client, local_server.url("/big"))

    assert error.reason == "response larger than 1000 bytes (size cap)"


def test_streamed_body_over_the_size_cap_is_refused(local_server: LocalServer) -> None:
    # A small compressed body that inflates past the cap: only counting while streaming catches it.
    local_server.add("/bomb", Route(body=gzip.compress(b"0" * 2_000_000), headers={"Content-Encoding": "gzip"}))

    with HttpClient(replace(LOCAL, max_bytes=100_000)) as client:
        error = fetch_error(client, local_server.url("/bomb"))

    assert "size cap" in error.reason


def test_dripping_server_hits_the_total_deadline(local_server: LocalServer) -> None:
    # Each byte arrives well within the read timeout; only the total deadline stops this.
    local_server.add("/slow", Route(body=b"x" * 1000, drip=0.05))

    started = time.monotonic()
    with HttpClient(replace(LOCAL, total_timeout=1.5, read_timeout=1.0)) as client:
        error = fetch_error(client, local_server.url("/slow"))

    assert error.reason.startswith("timed out after 1.5 s")
    assert 1.4 <= time.monotonic() - started < 5


# --- what may be fetched ---------------------------------------------------------------


def test_private_address_is_refused_before_any_request(local_server: LocalServer) -> None:
    local_server.add("/x", Route(body="secret"))

    with HttpClient(HttpPolicy()) as client:
        error = fetch_error(client, local_server.url("/x"))

    assert error.reason == (
        "refusing to connect to private/loopback/link-local address 127.0.0.1 "
        "(set IMPACT_ALLOW_PRIVATE_NETWORK=1 to allow)"
    )
    assert local_server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://127.0.0.1:8080/",
        "http://0.0.0.0/",
        "http://localhost/",
        "http://2130706433/",  # 127.0.0.1 written as a number
        "http://100.100.100.200/",  # shared address space (a cloud metadata service)
        "http://224.0.0.1/",
    ],
)
def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(FetchError, match="refusing to connect to private/loopback/link-local address"):
        check_url_allowed(url, HttpPolicy())


def test_public_address_and_opt_in_are_allowed() -> None:
    check_url_allowed("https://93.184.215.14/data.json", HttpPolicy())  # a literal: no DNS needed
    check_url_allowed("http://169.254.169.254/", HttpPolicy(allow_private_network=True))


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("file:///etc/passwd", "file"),
        ("/etc/passwd", "file"),
        ("data/startups.json", "file"),
        ("ftp://example.org/x", "ftp"),
        ("javascript:alert(1)", "javascript"),
        ("data:text/plain,hello", "data"),
        ("gopher://example.org/", "gopher"),
    ],
)
def test_only_http_and_https_are_fetched(url: str, scheme: str, client: HttpClient) -> None:
    error = fetch_error(client, url)

    assert error.reason == f"scheme '{scheme}' is not allowed (only http and https)"


def test_empty_url_is_reported() -> None:
    with pytest.raises(FetchError) as caught:
        HttpClient(LOCAL).fetch("  ")

    assert str(caught.value) == "<empty>: no URL configured"


@pytest.mark.parametrize(("location", "scheme"), [("file:///etc/passwd", "file"), ("ftp://x/y", "ftp")])
def test_redirect_to_a_forbidden_scheme_is_refused(
    location: str, scheme: str, local_server: LocalServer, client: HttpClient
) -> None:
    local_server.add("/go", Route(status=302, headers={"Location": location}))

    error = fetch_error(client, local_server.url("/go"))

    assert error.url == local_server.url("/go")
    assert error.reason == f"redirect to {location} refused: scheme '{scheme}' is not allowed (only http and https)"


def test_local_paths_only_when_allowed(tmp_path: Path, client: HttpClient) -> None:
    mirror = tmp_path / "startups.json"
    mirror.write_text('{"data": []}')

    assert client.fetch(str(mirror), allow_local_path=True).json() == {"data": []}
    result = client.fetch(mirror.as_uri(), allow_local_path=True)
    assert result.final_url == str(mirror)
    assert result.status == 200
    assert "not allowed" in fetch_error(client, str(mirror)).reason
    assert fetch_error(client, str(tmp_path / "absent.json"), allow_local_path=True).reason == "file not found"


def test_local_file_respects_the_size_cap(tmp_path: Path) -> None:
    mirror = tmp_path / "big.json"
    mirror.write_bytes(b"1" * 2000)

    with HttpClient(HttpPolicy(max_bytes=1000)) as client:
        error = fetch_error(client, str(mirror), allow_local_path=True)

    assert "size cap" in error.reason


def test_is_local_path() -> None:
    assert is_local_path("/data/x.json")
    assert is_local_path("relative/x.json")
    assert is_local_path("file:///data/x.json")
    assert not is_local_path("https://example.org/x.json")
    assert not is_local_path("")


# --- secrets ---------------------------------------------------------------------------


def test_errors_and_logs_never_show_tokens(
    local_server: LocalServer, client: HttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    local_server.add("/index.php", Route(status=500))
    caplog.set_level(logging.DEBUG)

    error = fetch_error(
        client,
        local_server.url("/index.php?module=API&token_auth=SECRET"),
        method="POST",
        data={"password": "BODYSECRET"},
        headers={"Authorization": "Bearer HEADERSECRET"},
    )

    assert "token_auth=***" in str(error)
    assert "module=API" in str(error)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "retrying" in logged
    for secret in ("SECRET", "BODYSECRET", "HEADERSECRET"):
        assert secret not in str(error)
        assert secret not in logged


def test_tracebacks_never_show_tokens(client: HttpClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    error = fetch_error(client, f"http://127.0.0.1:{port}/x?token=SECRET")

    # requests' own exception messages contain the full URL: they must not be chained in.
    assert "SECRET" not in "".join(traceback.format_exception(error))


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://h/api?token_auth=abc&x=1", "https://h/api?token_auth=***&x=1"),
        (
            "https://h/?access_token=a&private_token=b&key=c&apikey=d&token=e",
            "https://h/?access_token=***&private_token=***&key=***&apikey=***&token=***",
        ),
        ("https://h/?TOKEN_AUTH=abc", "https://h/?TOKEN_AUTH=***"),
        ("https://h/?token%5Fauth=abc", "https://h/?token%5Fauth=***"),
        ("https://user:pass@h/x", "https://***@h/x"),
        ("https://h/?keyword=kept&monkey=kept", "https://h/?keyword=kept&monkey=kept"),
        ("https://h/?token_auth=***", "https://h/?token_auth=***"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_fetch_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(FetchError("https://h/?token=abc", "HTTP 404 Not Found")))

    assert str(error) == "https://h/?token=***: HTTP 404 Not Found"
    assert error.reason == "HTTP 404 Not Found"


def test_invalid_json_names_the_url(local_server: LocalServer, client: HttpClient) -> None:
    local_server.add("/x", Route(body="<html>"))

    result = client.fetch(local_server.url("/x"))

    with pytest.raises(FetchError, match="response is not valid JSON: Expecting value"):
        result.json()


def test_head_returns_headers_only(local_server: LocalServer, client: HttpClient) -> None:
    local_server.add("/file.csv", Route(body=b"a,b\n1,2\n", headers={"Last-Modified": "Sat, 28 Nov 2026 10:00:00 GMT"}))

    result = client.fetch(local_server.url("/file.csv"), method="HEAD")

    assert result.content == b""
    assert result.headers["Content-Length"] == "8"
    assert result.last_modified == "Sat, 28 Nov 2026 10:00:00 GMT"
    assert local_server.requests[0].method == "HEAD"


def test_client_is_shared_between_threads(local_server: LocalServer, client: HttpClient) -> None:
    local_server.add("/item", Route(handler=lambda request: Route(body={"id": request.query["id"][0]})))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: client.fetch(local_server.url(f"/item?id={n}")).json(), range(40)))

    assert results == [{"id": str(n)} for n in range(40)]
