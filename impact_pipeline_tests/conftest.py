from collections.abc import Iterator

import pytest

from impact_pipeline_tests.support.http_server import LocalServer


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server
