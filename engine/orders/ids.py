"""Engine-made client order ids."""

from __future__ import annotations

import itertools
import re
import time

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = []
    while True:
        n, r = divmod(n, 36)
        out.append(_B36[r])
        if not n:
            return "".join(reversed(out))


class ClientOrderIds:
    """Engine-made client order ids: short, [a-z0-9], unique across restarts (start-time prefix).

    An id is prefix (at most 6 characters) + the start time in base 36 (8 characters until 2059)
    + a sequence number (3 characters, growing past 46,655 orders): 20 characters at most for the
    first 60 million orders of a run, which every venue that takes client ids accepts.
    """

    def __init__(self, prefix: str = "tb", start_ms: int | None = None) -> None:
        if not re.fullmatch(r"[a-z0-9]{0,6}", prefix):
            raise ValueError(f"client order id prefix must be 0-6 characters of [a-z0-9], got {prefix!r}")
        stamp = _base36(start_ms if start_ms is not None else time.time_ns() // 1_000_000)
        self._prefix = f"{prefix}{stamp}"
        self._seq = itertools.count(1)

    @property
    def prefix(self) -> str:
        """What every id this generator makes begins with."""
        return self._prefix

    def next(self) -> str:
        return f"{self._prefix}{_base36(next(self._seq)).rjust(3, '0')}"
