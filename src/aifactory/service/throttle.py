"""Failed authentication counted per client address, so guessing keys online is slow.

Each bearer key the store refuses (unknown, revoked) counts one failure against the client's
address. Once an address has ``limit`` failures inside a window of :data:`WINDOW_S` seconds, it
is *blocked* until that window ends: :class:`~aifactory.service.auth.Authenticator` answers 429
``rate_limited`` with ``Retry-After`` to its requests with a missing or unknown key, without
looking the key up, so no guess is checked while blocked. Keys this process has already seen
verified keep working from a blocked address at full speed (a valid key is never slowed).

The address is what the ASGI server reports as the client: behind a proxy, the one uvicorn and
gunicorn take from the forwarded headers of the proxies they trust (``forwarded_allow_ips``);
this module never reads ``X-Forwarded-For`` itself. IPv6 clients are counted per /64 network,
since one host commonly holds a whole /64. The counts are per process (each gunicorn worker
counts on its own) and the table holds at most :data:`MAX_ADDRESSES` addresses, forgetting the
least recently failed first.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable

WINDOW_S = 60.0
MAX_ADDRESSES = 10_000


def client_bucket(address: str | None) -> str:
    """The name failures of ``address`` are counted under (an IPv6 address's /64)."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class FailureThrottle:
    """Counts failed authentications per client address inside fixed windows."""

    def __init__(
        self,
        limit: int,
        *,
        window_s: float = WINDOW_S,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Allow ``limit`` failures per address and window; 0 never blocks."""
        self.limit = limit
        self.window_s = window_s
        self.max_addresses = max_addresses
        self._clock = clock
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def blocked_for(self, address: str | None) -> float:
        """Seconds until ``address`` may try an unknown key again; 0.0 when it may now."""
        if self.limit <= 0:
            return 0.0
        bucket = client_bucket(address)
        entry = self._failures.get(bucket)
        if entry is None:
            return 0.0
        started, count = entry
        left = started + self.window_s - self._clock()
        if left <= 0:
            del self._failures[bucket]
            return 0.0
        return left if count >= self.limit else 0.0

    def failed(self, address: str | None) -> None:
        """Count one failed authentication from ``address``."""
        if self.limit <= 0:
            return
        bucket = client_bucket(address)
        now = self._clock()
        entry = self._failures.pop(bucket, None)
        if entry is None or now - entry[0] >= self.window_s:
            entry = (now, 0)
        self._failures[bucket] = (entry[0], entry[1] + 1)
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)

    def __len__(self) -> int:
        return len(self._failures)


__all__ = ["MAX_ADDRESSES", "WINDOW_S", "FailureThrottle", "client_bucket"]
