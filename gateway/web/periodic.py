"""Housekeeping that runs after a response has gone out, at most once per interval per process."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from flask import Flask, Response

log = logging.getLogger("xinyong.gateway")


class Periodic:
    """Runs `job` once `every` seconds have passed since this process last ran it; never raises."""

    def __init__(self, what: str, every: float, job: Callable[[], object]) -> None:
        self.what = what
        self.every = every
        self.job = job
        # Counted from start-up, so a worker that has just started does not run it at once.
        self.last = time.monotonic()
        self._lock = threading.Lock()

    def due(self) -> bool:
        """Tell whether the job is due."""
        return time.monotonic() - self.last >= self.every

    def run(self) -> None:
        """Run the job if it is due and no other thread is running it."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            if not self.due():
                return
            # Set first: a failing job is retried after the interval, not after every request.
            self.last = time.monotonic()
            self.job()
        except Exception:  # the response is already sent: log it, never let it reach anyone
            log.exception("%s failed; retrying in %s s", self.what, self.every)
        finally:
            self._lock.release()

    def install(self, app: Flask) -> None:
        """Run after responses when due: after the body is sent and the request's transaction ended."""
        jobs: list[Periodic] = app.extensions.setdefault(_JOBS, [])
        if not jobs:  # one hook looks at every job: a hook each cost a hook call each on every request

            @app.after_request
            def _when_due(response: Response) -> Response:
                for job in jobs:
                    if job.due():
                        response.call_on_close(job.run)
                return response

        jobs.append(self)


_JOBS = "xinyong.periodic"
