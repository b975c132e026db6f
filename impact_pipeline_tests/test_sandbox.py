"""The suite's own guard: no test looks up a real host (see `conftest._refuse_lookups_of_real_hosts`)."""

import os
import socket

import pytest


def test_real_host_names_fail_before_any_dns_query_and_local_ones_resolve():
    with pytest.raises(socket.gaierror, match="test sandbox: no lookup of 'web.archive.org'"):
        socket.getaddrinfo("web.archive.org", 443)
    assert socket.getaddrinfo("127.0.0.1", 80)
    assert socket.getaddrinfo("2130706433", 80)[0][4][0] == "127.0.0.1"  # a numeric form, read without DNS
    assert socket.getaddrinfo("localhost", 80)


def test_cli_runs_started_by_tests_inherit_the_web_archive_off():
    assert os.environ["IMPACT_WEB_ARCHIVE_URL"] == ""
