"""The SSRF guard: which addresses an http agent may call.

An http agent's URL is chosen by whoever registers the agent, and the server then calls it. Left
unguarded, that turns the service into a proxy towards its own network: the cloud metadata
endpoint (``169.254.169.254``), a database on ``127.0.0.1``, a neighbour on ``10.0.0.0/8``. The
guard refuses loopback, private, link-local, CGNAT, multicast, unspecified and reserved addresses,
in every spelling (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``, ``::ffff:127.0.0.1``,
NAT64 and 6to4 forms), unless the host or the address is in ``AIFACTORY_ALLOWED_AGENT_HOSTS``.

Two moments matter:

* registration: :meth:`AddressPolicy.check_literal_url` refuses a URL whose host is a refused
  address literal, so the user hears about it at once (a 422);
* every call and every redirect hop: :meth:`AddressPolicy.resolve_checked` resolves the host and
  refuses it when *any* address is refused. The http agent connects only to the addresses that
  were checked, so DNS cannot change its answer between the check and the connection.

This module is pure standard library; the aiohttp resolver that applies it lives in
:mod:`aifactory.agents.http`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import urlsplit

from aifactory.errors import AgentError, BlockedAddressError, ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_ALLOW_HINT = (
    "If the agent really lives there, add the host or the address to AIFACTORY_ALLOWED_AGENT_HOSTS."
)

# Ordered from the most to the least telling name, so messages say "loopback", not "reserved".
_BLOCKED_V4: tuple[tuple[str, ipaddress.IPv4Network], ...] = tuple(
    (reason, ipaddress.IPv4Network(net))
    for reason, net in (
        ("loopback", "127.0.0.0/8"),
        ("unspecified", "0.0.0.0/8"),
        ("private", "10.0.0.0/8"),
        ("private", "172.16.0.0/12"),
        ("private", "192.168.0.0/16"),
        ("link-local", "169.254.0.0/16"),
        ("CGNAT", "100.64.0.0/10"),
        ("multicast", "224.0.0.0/4"),
        ("broadcast", "255.255.255.255/32"),
        ("reserved", "240.0.0.0/4"),
        ("reserved", "192.0.0.0/24"),
        ("reserved", "192.0.2.0/24"),
        ("reserved", "192.88.99.0/24"),
        ("reserved", "198.18.0.0/15"),
        ("reserved", "198.51.100.0/24"),
        ("reserved", "203.0.113.0/24"),
    )
)

_BLOCKED_V6: tuple[tuple[str, ipaddress.IPv6Network], ...] = tuple(
    (reason, ipaddress.IPv6Network(net))
    for reason, net in (
        ("loopback", "::1/128"),
        ("unspecified", "::/128"),
        ("unique-local", "fc00::/7"),
        ("link-local", "fe80::/10"),
        ("site-local", "fec0::/10"),
        ("multicast", "ff00::/8"),
        ("reserved", "64:ff9b:1::/48"),
        ("reserved", "100::/64"),
        ("reserved", "2001:db8::/32"),
    )
)

# IPv6 prefixes that carry an IPv4 address in their last 32 bits.
_EMBEDS_V4 = (
    ipaddress.IPv6Network("::ffff:0:0/96"),  # IPv4-mapped
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT)
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated, still routed by some stacks)
)


def blocked_reason(ip: str | IPAddress) -> str | None:
    """Why ``ip`` is refused (``"loopback"``, ``"private"``, ...), or None when it is public."""
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(address, ipaddress.IPv4Address):
        for reason, net in _BLOCKED_V4:
            if address in net:
                return reason
        return None
    address = ipaddress.IPv6Address(address.compressed.split("%", 1)[0])
    for reason, net6 in _BLOCKED_V6:
        if address in net6:
            return reason
    for prefix in _EMBEDS_V4:
        if address in prefix:
            inner = blocked_reason(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
            return f"{inner} (embedded in IPv6)" if inner else None
    if address.sixtofour is not None:
        inner = blocked_reason(address.sixtofour)
        return f"{inner} (6to4)" if inner else None
    if address.teredo is not None:
        inner = blocked_reason(address.teredo[1])
        return f"{inner} (Teredo)" if inner else None
    return None


def is_blocked_ip(ip: str | IPAddress) -> bool:
    """Whether ``ip`` is an address agents may not call unless it is allowed explicitly."""
    return blocked_reason(ip) is not None


def _ipv4_part(part: str) -> int | None:
    """One dotted part the way ``inet_aton`` and browsers read it: hex, octal or decimal."""
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
        if not digits:
            return 0
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    try:
        return int(digits, base) if digits.isalnum() and digits.isascii() else None
    except ValueError:
        return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """Read ``host`` as an address literal, as browsers and ``inet_aton`` do, or return None.

    ``2130706433``, ``0177.0.0.1``, ``0x7f.1`` and ``127.1`` all mean ``127.0.0.1``; brackets and
    an IPv6 zone are accepted. A name that is not an address (``example.com``) gives None.
    """
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
    if host.endswith("."):
        host = host[:-1]
    parts = host.split(".")
    if not host or len(parts) > 4:
        return None
    numbers = [_ipv4_part(p) if p else None for p in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    *head, last = values
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(values)):
        return None
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _normalise_host(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host[:-1] if host.endswith(".") else host


class ResolvedAddress(NamedTuple):
    """One checked address of a host, ready to connect to."""

    host: str
    family: int
    port: int


class AddressPolicy:
    """Which hosts and addresses http agents may call besides public ones.

    Args:
        allowed: Hostnames (``agents.internal``, ``*.corp.example``), addresses (``10.0.0.5``)
            or networks (``10.1.0.0/16``), usually ``settings.allowed_hosts()``.

    Raises:
        ConfigError: An entry is empty or a malformed network.
    """

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self._hosts: set[str] = set()
        self._suffixes: list[str] = []
        self._networks: list[IPNetwork] = []
        for raw in allowed:
            entry = raw.strip()
            if not entry:
                continue
            literal = parse_ip_literal(entry)
            if literal is not None:
                self._networks.append(ipaddress.ip_network(literal))
            elif "/" in entry:
                try:
                    self._networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                except ValueError as exc:
                    raise ConfigError(
                        f"AIFACTORY_ALLOWED_AGENT_HOSTS entry {entry!r} is not a valid network; "
                        "write it like 10.0.0.0/8 or fd00::/8."
                    ) from exc
            elif entry.startswith("*."):
                self._suffixes.append(_normalise_host(entry[1:]))
            else:
                self._hosts.add(_normalise_host(entry))

    @classmethod
    def from_settings(cls, settings: object) -> AddressPolicy:
        """The policy of ``settings`` (anything with an ``allowed_hosts()`` method)."""
        allowed_hosts = getattr(settings, "allowed_hosts", None)
        return cls(allowed_hosts() if callable(allowed_hosts) else ())

    def host_allowed(self, host: str) -> bool:
        """Whether ``host`` is allowed by name, whatever it resolves to."""
        name = _normalise_host(host)
        return name in self._hosts or any(name.endswith(s) for s in self._suffixes)

    def ip_allowed(self, ip: IPAddress) -> bool:
        """Whether ``ip`` is public, or inside an allowed address or network."""
        if not is_blocked_ip(ip):
            return True
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self._networks)

    def check_ip(self, host: str, ip: IPAddress) -> None:
        """Raise :class:`BlockedAddressError` when ``host`` at ``ip`` may not be called."""
        if self.ip_allowed(ip) or self.host_allowed(host):
            return
        reason = blocked_reason(ip)
        where = f"{host!r}" if _normalise_host(host) == ip.compressed else f"{host!r} ({ip})"
        raise BlockedAddressError(
            f"The agent address {where} is a {reason} address, which the SSRF guard refuses. "
            f"{_ALLOW_HINT}"
        )

    def check_literal_url(self, url: str) -> None:
        """Refuse ``url`` at registration when its host is a refused address literal.

        Hostnames pass here; they are resolved and checked at every call.

        Raises:
            BlockedAddressError: The host is a refused address, in any spelling.
            ConfigError: The URL has no host or an authority clients would read differently.
        """
        parts = urlsplit(url.strip())
        if "\\" in parts.netloc:
            raise ConfigError(
                f"The agent URL {url!r} has a backslash in its host part, which clients read "
                "differently; write the URL without it."
            )
        host = parts.hostname
        if not host:
            raise ConfigError(
                f"The agent URL {url!r} has no host; write it like https://host/path."
            )
        literal = parse_ip_literal(host.replace("%25", "%"))
        if literal is not None:
            self.check_ip(host, literal)

    async def resolve_checked(
        self, host: str, port: int, family: int = socket.AF_UNSPEC
    ) -> list[ResolvedAddress]:
        """Resolve ``host`` now and return its addresses, refusing it if ANY is refused.

        Raises:
            BlockedAddressError: One of the addresses is refused and not allowed.
            AgentError: The host cannot be resolved.
        """
        literal = parse_ip_literal(host)
        if literal is not None:
            self.check_ip(host, literal)
            return [ResolvedAddress(literal.compressed, _family_of(literal), port)]
        name = _normalise_host(host)
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(name, port, family=family, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise AgentError(
                f"The agent host {host!r} cannot be resolved ({exc.strerror}); check the URL."
            ) from exc
        by_name = self.host_allowed(name)
        seen: dict[str, ResolvedAddress] = {}
        for fam, _, _, _, sockaddr in infos:
            address = str(sockaddr[0])
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if not by_name:
                self.check_ip(host, ip)
            seen.setdefault(address, ResolvedAddress(address, int(fam), int(sockaddr[1])))
        if not seen:
            raise AgentError(f"The agent host {host!r} resolves to no address; check the URL.")
        return list(seen.values())

    async def resolve_and_check(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` (see :meth:`resolve_checked`), as strings."""
        return [address.host for address in await self.resolve_checked(host, port)]


def _family_of(ip: IPAddress) -> int:
    return socket.AF_INET if ip.version == 4 else socket.AF_INET6
