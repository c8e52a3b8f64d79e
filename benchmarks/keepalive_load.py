"""What the benchmarks share about load: keep-alive clients that send requests back to
back, from threads, and remember when each one started and ended and whether it got a
200. Python threads: the counts and the gaps matter here, not the rate."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field

FAILURE_PAUSE_S = 0.005  # after a failed request (a refused connection fails at once)


@dataclass(frozen=True)
class Sent:
    started: float  # time.monotonic()
    ended: float
    ok: bool


@dataclass
class Load:
    """``clients`` threads, each on its own connection, each to one of ``paths`` in turn."""

    port: int
    paths: tuple[str, ...]
    clients: int
    timeout_s: float = 30.0
    requests: list[Sent] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        for n in range(self.clients):
            path = self.paths[n % len(self.paths)]
            thread = threading.Thread(target=self._client, args=(path,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    @property
    def failed(self) -> int:
        with self._lock:
            return sum(not r.ok for r in self.requests)

    def _client(self, path: str) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout_s)
        while not self._stop.is_set():
            started = time.monotonic()
            ok = False
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                connection.close()  # the next request opens a new connection
            with self._lock:
                self.requests.append(Sent(started, time.monotonic(), ok))
            if not ok:
                time.sleep(FAILURE_PAUSE_S)
