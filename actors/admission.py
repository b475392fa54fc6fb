"""Who may open a hub connection: a cap in total and per source address.

Every connection holds a file descriptor from its accept to its close
(handshake included). The total is capped below the process's descriptor
limit, leaving room for what else needs descriptors (the SQLite store and
its readers, the ops port's HTTP connections, backups, logs), so that an
idle-socket flood is refused with a 503 instead of exhausting descriptors
(issue 12, finding 3: 19,982 idle sockets, a new client's handshake hung
8 s). The cap per address keeps one client from taking all of it.

At the total cap, a place is taken back rather than refused when it can
be (``SilentConnections``): the oldest connection that has never sent a
message, open for ``MAKE_ROOM_AFTER_S``, is closed (1013, try again later)
and the newcomer takes its place. A dashboard asks at once and a lab UI
sends its first event when the student acts, while a flood's idle sockets
never speak: without this, a flood from many addresses (each under its
own cap) fills the hub and every new student is refused until the idle
rule closes them a minute later.
"""

from __future__ import annotations

import ipaddress
import resource
from collections import Counter
from typing import Any, Generic, Protocol, TypeVar

# Descriptors kept back from the connection cap: at least this many, or a
# fifth of the limit when that is more (the ops port's HTTP clients grow with it).
FD_RESERVE_MIN = 128
FD_RESERVE_FRACTION = 5
# Never derive more than this: an idle connection costs ~14 KB of memory
# (measured: 5,000 idle sockets, 52 -> 122 MB RSS), so 20,000 stay within
# the 500 MB target however high the descriptor limit (Docker: 1,048,576).
MAX_DERIVED_CONNECTIONS = 20_000
MIN_CONNECTIONS = 16

# A connection that has said nothing for this long may give its place, at the cap.
MAKE_ROOM_AFTER_S = 5.0

REFUSED_TOTAL = "too many connections"
REFUSED_ADDRESS = "too many connections from one address"


def descriptor_limit() -> int:
    """The process's soft limit on open file descriptors (``RLIMIT_NOFILE``)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return MAX_DERIVED_CONNECTIONS * 2 if soft == resource.RLIM_INFINITY else soft


def derived_max_connections(fd_limit: int) -> int:
    """The connection cap for a descriptor limit: the limit less a reserve, within bounds."""
    reserve = max(FD_RESERVE_MIN, fd_limit // FD_RESERVE_FRACTION)
    return max(MIN_CONNECTIONS, min(MAX_DERIVED_CONNECTIONS, fd_limit - reserve))


def address_key(sockaddr: Any) -> str:
    """What the cap per address counts by: the IPv4 address, or the IPv6 /64.

    One IPv6 host usually has a whole /64 to choose addresses from, so a
    cap per IPv6 address would cap nothing. An IPv4-mapped IPv6 address
    counts as its IPv4 address.
    """
    host = sockaddr[0] if isinstance(sockaddr, tuple) else str(sockaddr)
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host  # not an IP socket: one key for all
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class Admission:
    """Counts the open connections, in total and per address; says who may open another.

    ``max_per_address`` 0 means no cap per address (behind a reverse proxy,
    every client has the proxy's address).
    """

    def __init__(self, max_total: int, max_per_address: int) -> None:
        self.max_total = max_total
        self.max_per_address = max_per_address
        self.open = 0
        self._per_address: Counter[str] = Counter()

    def admit(self, key: str, *, closing: int = 0) -> str | None:
        """Count a new connection from ``key`` in, or say why not (nothing counted).

        ``closing``: places being given back (their connections still counted).
        """
        if self.open >= self.max_total + closing:
            return REFUSED_TOTAL
        if self.max_per_address and self._per_address[key] >= self.max_per_address:
            return REFUSED_ADDRESS
        self.open += 1
        self._per_address[key] += 1
        return None

    def release(self, key: str) -> None:
        """An admitted connection from ``key`` has closed."""
        self.open -= 1
        self._per_address[key] -= 1
        if self._per_address[key] <= 0:
            del self._per_address[key]

    def from_address(self, key: str) -> int:
        return self._per_address.get(key, 0)


class Silent(Protocol):
    """What ``SilentConnections`` reads of a connection (``ServerWebSocket``)."""

    @property
    def opened_at(self) -> float: ...
    @property
    def spoke(self) -> bool: ...
    @property
    def closed(self) -> bool: ...


C = TypeVar("C", bound=Silent)


class SilentConnections(Generic[C]):
    """The open connections in the order they opened; finds the oldest that never spoke.

    Amortized O(1): those that spoke or closed are dropped from the front as
    they are met, so a full hub of 20,000 is not scanned per newcomer.
    """

    def __init__(self, after_s: float = MAKE_ROOM_AFTER_S) -> None:
        self.after_s = after_s
        self._order: dict[C, None] = {}

    def opened(self, connection: C) -> None:
        self._order[connection] = None

    def closed(self, connection: C) -> None:
        self._order.pop(connection, None)

    def oldest_silent(self, now: float) -> C | None:
        """Take out the oldest connection silent since it opened ``after_s`` ago, if any."""
        while self._order:
            connection = next(iter(self._order))
            if connection.spoke or connection.closed:
                del self._order[connection]
                continue
            if now - connection.opened_at < self.after_s:
                return None  # every later one opened later still
            del self._order[connection]
            return connection
        return None
