"""Where the server may send requests: the one guard for every outbound URL a caller can set.

Webhook targets, provider base URLs (documents, embeddings, chat) and storage connection endpoints
all pass :func:`check_url` when saved and are checked again when used, on the addresses the name
resolves to *then*. Always refused: schemes other than http(s), cloud metadata services,
link-local, unspecified, multicast and broadcast addresses. Private and loopback addresses (where
on-prem receivers, model servers and object stores live) are allowed unless the operator sets
``ROSET_OUTBOUND_ALLOW_PRIVATE=false``. httpx clients built by :func:`outbound_client` connect to
the checked address itself (so a DNS answer that changes in between, DNS rebinding, cannot
redirect them) and never follow redirects.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
POLICY_SETTING = "ROSET_OUTBOUND_ALLOW_PRIVATE"
# Instance metadata services: they hand out cloud credentials to whoever can reach them.
METADATA_HOSTS = {"metadata.google.internal", "metadata.goog", "metadata"}
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean ...
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task credentials
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefused(ValueError):
    """The URL may not be used as an outbound target; the message says why (safe to show the caller)."""


@dataclass(frozen=True)
class Target:
    url: httpx.URL
    host: str  # as written in the URL (Host header, TLS server name)
    port: int


def parse_target(raw: str, field: str = "url") -> Target:
    """Syntax checks only: an absolute http(s) URL with a host."""
    if not isinstance(raw, str) or not raw.strip():
        raise OutboundRefused(f"{field}: must be an http:// or https:// URL")
    if len(raw) > MAX_URL_LENGTH:
        raise OutboundRefused(f"{field}: must be at most {MAX_URL_LENGTH} characters")
    try:
        url = httpx.URL(raw.strip())
    except (httpx.InvalidURL, ValueError, TypeError):
        raise OutboundRefused(f"{field}: is not a valid URL") from None
    if url.scheme not in {"http", "https"}:
        raise OutboundRefused(f"{field}: only http:// and https:// URLs are allowed")
    host = url.host
    if not host:
        raise OutboundRefused(f"{field}: must include a host name")
    port = url.port or (443 if url.scheme == "https" else 80)
    return Target(url=url, host=host, port=port)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why the server may not connect to ``ip``, or None if it may."""
    if ip in METADATA_ADDRESSES:
        return "cloud metadata addresses are not allowed"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:  # judged by the IPv4 address it reaches
            return refusal(inner, allow_private=allow_private)
    if ip.is_link_local:
        return "link-local addresses are not allowed"
    if ip.is_multicast or ip.is_unspecified or ip == ipaddress.IPv4Address("255.255.255.255"):
        return "this address cannot be used as a target"
    if ip.is_loopback or ip.is_private or not ip.is_global:
        if not allow_private:
            return f"private and loopback addresses are not allowed on this server ({POLICY_SETTING}=false)"
        if ip.is_reserved and not (ip.is_loopback or ip.is_private):
            return "this address cannot be used as a target"
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(target: Target) -> list[IPAddress]:
    """Every address the host resolves to now (a literal IP is its own answer). OSError if none."""
    literal = _literal(target.host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    seen: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in seen:
            seen.append(ip)
    if not seen:
        raise OSError(f"{target.host} has no addresses")
    return seen


def _check_name(host: str, field: str) -> None:
    name = host.lower().rstrip(".")
    if name in METADATA_HOSTS:
        raise OutboundRefused(f"{field}: cloud metadata endpoints are not allowed")


def check_url(raw: str, *, allow_private: bool, field: str = "url") -> str:
    """Validate an outbound URL; returns it stripped. Raises :class:`OutboundRefused`.

    A name that does not resolve (yet) is accepted: the receiver may not be up. It is checked
    again whenever it is used.
    """
    target = parse_target(raw, field)
    _check_name(target.host, field)
    try:
        addresses = resolve(target)
    except (OSError, UnicodeError):
        return raw.strip()
    for ip in addresses:
        reason = refusal(ip, allow_private=allow_private)
        if reason:
            raise OutboundRefused(f"{field}: {reason}")
    return raw.strip()


def pinned_address(raw: str | httpx.URL, *, allow_private: bool) -> tuple[Target, IPAddress]:
    """At use: resolve now, refuse if *any* answer is refused, and return the address to connect to."""
    target = parse_target(str(raw))
    _check_name(target.host, "url")
    try:
        addresses = resolve(target)
    except (OSError, UnicodeError) as exc:
        raise ConnectionError(f"cannot resolve {target.host}: {exc}") from None
    for ip in addresses:
        reason = refusal(ip, allow_private=allow_private)
        if reason:
            raise OutboundRefused(f"{target.host} resolves to {ip}: {reason}")
    return target, addresses[0]


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport that checks every request's host and connects to the checked address.

    The Host header and the TLS server name stay the URL's host, so certificates are verified as
    usual. A refused address raises :class:`OutboundRefused` before any byte is sent.
    """

    def __init__(self, *, allow_private: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allow_private = allow_private

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            target, address = pinned_address(request.url, allow_private=self.allow_private)
        except ConnectionError as exc:
            raise httpx.ConnectError(str(exc), request=request) from None
        if target.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": target.host}
        request.url = request.url.copy_with(host=str(address))
        return super().handle_request(request)


def outbound_client(*, allow_private: bool, timeout: Any, base_url: str = "") -> httpx.Client:
    """An httpx client for caller-set URLs: guarded, no redirects, no proxy variables."""
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        transport=GuardedTransport(allow_private=allow_private),
    )
