"""Requests in flight as real local servers see them: peaks in total and per host, and which hosts overlapped."""

from __future__ import annotations

import threading
import time

from impact_pipeline_tests.support.http_server import Route


class InFlight:
    """Routes that hold each request `delay` seconds and record what was in flight meanwhile.

    Labels name hosts (one LocalServer each, or paths of one server standing for one host); `peak_total` counts
    every label together, `together` holds the pairs of labels seen in flight at the same moment.
    """

    def __init__(self, delay: float = 0.15):
        self.delay = delay
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.peak_host: dict[str, int] = {}
        self.total = self.peak_total = 0
        self.together: set[frozenset[str]] = set()

    def route(
        self, label: str, body: bytes | str | dict | list = b"ok", headers: dict[str, str] | None = None
    ) -> Route:
        def answer(_request):
            with self.lock:
                self.now[label] = self.now.get(label, 0) + 1
                self.total += 1
                self.peak_host[label] = max(self.peak_host.get(label, 0), self.now[label])
                self.peak_total = max(self.peak_total, self.total)
                self.together.update(frozenset((label, other)) for other, n in self.now.items() if n and other != label)
            time.sleep(self.delay)
            with self.lock:
                self.now[label] -= 1
                self.total -= 1
            return Route(body=body, headers=headers or {})

        return Route(handler=answer)
