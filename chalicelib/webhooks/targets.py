"""Where webhooks may be delivered: URL checks and SSRF protection.

A target is refused when its host resolves to any loopback, private, link-local, shared, reserved,
multicast or unspecified address (addresses embedded in IPv4-mapped, 6to4 and NAT64 IPv6 forms
included). A deployment may allow private targets explicitly; multicast and unspecified stay refused.
Resolution happens once and the delivery connects to the returned address, so a second DNS answer
(rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.webhooks.errors import InvalidTargetError, TargetRefusedError, UnresolvableTargetError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the IP addresses (as strings) the host resolves to.
Resolver = Callable[[str, int], Sequence[str]]

MAX_URL_LENGTH = 2048
ALLOWED_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# host (a name, or an IPv6 literal in brackets) and an optional numeric port, nothing else.
_NETLOC = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\[\]:@]+)(:[0-9]{1,5})?$")


@dataclass(frozen=True)
class WebhookTarget:
    """A syntactically valid webhook URL, split into what the delivery needs."""

    url: str
    scheme: str
    host: str  # lower case, IDNA encoded; IPv6 literals without brackets
    port: int
    path: str  # path and query, never empty

    @property
    def is_ip_literal(self) -> bool:
        return _as_ip(self.host) is not None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


@dataclass(frozen=True)
class ResolvedTarget:
    """A target whose addresses were all checked; deliveries connect to `pinned_ip`."""

    target: WebhookTarget
    addresses: tuple[IPAddress, ...]

    @property
    def pinned_ip(self) -> IPAddress:
        return self.addresses[0]

    @property
    def pinned_url(self) -> str:
        """The URL with the host replaced by the checked address (send `host_header` as Host)."""
        ip = self.pinned_ip
        host = f"[{ip}]" if ip.version == 6 else str(ip)
        return f"{self.target.scheme}://{host}:{self.target.port}{self.target.path}"

    @property
    def host_header(self) -> str:
        return self.target.host_header

    @property
    def sni_hostname(self) -> str | None:
        """The name TLS must present and verify when connecting to the pinned address."""
        if self.target.scheme != "https" or self.target.is_ip_literal:
            return None
        return self.target.host


def parse_target(url: str) -> WebhookTarget:
    """Check a webhook URL's syntax (no network). Raises InvalidTargetError."""
    if not isinstance(url, str) or not url:
        raise InvalidTargetError("url must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidTargetError(f"url must be at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidTargetError("url must not contain whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidTargetError("url is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise InvalidTargetError("url scheme must be http or https")
    if "@" in parts.netloc:
        raise InvalidTargetError("url must not contain credentials")
    if not _NETLOC.match(parts.netloc):
        raise InvalidTargetError("url must name a host, optionally followed by :port")
    try:
        port = _DEFAULT_PORTS[scheme] if parts.port is None else parts.port
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise InvalidTargetError("url port must be a number from 1 to 65535")
    host = _normalize_host(parts.hostname or "")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return WebhookTarget(url=url, scheme=scheme, host=host, port=port, path=path)


def address_problem(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why an address is refused ("loopback", "private", ...), or None when it is acceptable."""
    for candidate in (*_embedded_ipv4(ip), ip):
        if candidate.is_unspecified:
            return "unspecified"
        if candidate.is_multicast:
            return "multicast"
        if allow_private:
            continue
        if candidate.is_loopback:
            return "loopback"
        if candidate.is_link_local:
            return "link-local"
        if candidate.is_reserved:
            return "reserved"
        if candidate.is_private:
            return "private"
        if not candidate.is_global:
            return "non-public"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver returns for host (TCP), in its order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve_target(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> ResolvedTarget:
    """Parse, resolve and check a webhook URL; refuse it if any address is not allowed.

    Raises InvalidTargetError (syntax), UnresolvableTargetError or TargetRefusedError.
    """
    target = parse_target(url)
    literal = _as_ip(target.host)
    if literal is not None:
        addresses: tuple[IPAddress, ...] = (literal,)
    else:
        try:
            found = resolver(target.host, target.port)
        except (OSError, UnicodeError):
            raise UnresolvableTargetError(f"url host {target.host!r} does not resolve") from None
        addresses = tuple(_parse_resolved(value) for value in found)
        if not addresses:
            raise UnresolvableTargetError(f"url host {target.host!r} does not resolve")
    for address in addresses:
        problem = address_problem(address, allow_private=allow_private)
        if problem is not None:
            raise TargetRefusedError(f"url host {target.host!r} resolves to a {problem} address ({address})")
    return ResolvedTarget(target=target, addresses=addresses)


def _normalize_host(raw: str) -> str:
    if not raw:
        raise InvalidTargetError("url must name a host")
    literal = _as_ip(raw)
    if literal is not None:
        return str(literal)
    try:
        host = raw.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidTargetError("url host is not a valid host name") from None
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidTargetError("url host is not a valid host name")
    return host


def _as_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _parse_resolved(value: str) -> IPAddress:
    # getaddrinfo may append a scope to IPv6 link-local answers ("fe80::1%eth0").
    ip = _as_ip(value.split("%", 1)[0])
    if ip is None:
        raise UnresolvableTargetError(f"resolver returned a non-address {value!r}")
    return ip


def _embedded_ipv4(ip: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    if isinstance(ip, ipaddress.IPv4Address):
        return ()
    embedded = [ip.ipv4_mapped, ip.sixtofour]
    if ip in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return tuple(address for address in embedded if address is not None)
