"""TEST-ONLY: a clock a test can set from outside the process (`CALBOT_CLOCK_FILE`).

End-to-end tests run `calbot serve` as a subprocess and need to say "it is now Monday 08:29 in
Paris" — across restarts, DST changes and the clock jumping back. When `CALBOT_CLOCK_FILE` names a
file, calbot's clock reads an ISO 8601 instant from it and runs on in real time from there; writing
a new instant re-bases it. Never set this in production: it exists so that time-dependent behaviour
(daily digests) can be tested end to end. Not part of the settings contract.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timedelta

from bot.timeutil import Clock, parse_iso

log = logging.getLogger("calbot.clock")

ENVIRONMENT_NAME = "CALBOT_CLOCK_FILE"


class FileClock(Clock):
    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._base: datetime | None = None
        self._since = 0.0

    def now(self) -> datetime:
        with self._lock:
            try:
                info = os.stat(self.path)
                stamp = (info.st_mtime_ns, info.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp is not None and stamp != self._stamp:
                try:
                    with open(self.path) as handle:
                        text = handle.read().strip()
                    if text:
                        self._base, self._since, self._stamp = parse_iso(text), time.monotonic(), stamp
                except (OSError, ValueError) as exc:
                    log.warning("%s: cannot read %s: %s", ENVIRONMENT_NAME, self.path, exc)
            if self._base is None:
                return super().now()
            return self._base + timedelta(seconds=time.monotonic() - self._since)


def clock_from_environment() -> Clock | None:
    path = os.environ.get(ENVIRONMENT_NAME)
    if not path:
        return None
    log.warning("%s is set: calbot's clock is controlled by %s (tests only)", ENVIRONMENT_NAME, path)
    return FileClock(path)


def set_clock_file(path, moment: datetime) -> None:
    """For tests: make every calbot reading `path` believe it is `moment` (then running on)."""
    from bot.timeutil import to_iso

    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        handle.write(to_iso(moment))
    os.replace(tmp, path)
