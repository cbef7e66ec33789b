"""Where webhooks may point: http(s) only, never cloud metadata or link-local, private only if allowed.

Checked when a webhook is saved and again at every attempt, on the addresses the name resolves to
*then*, and the request is sent to that checked address (a DNS answer that changes between the check
and the connection, i.e. DNS rebinding, cannot redirect it).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
# Instance metadata services: they hand out cloud credentials to whoever can reach them.
METADATA_HOSTS = {"metadata.google.internal", "metadata.goog", "metadata"}
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean ...
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task credentials
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(ValueError):
    """The URL may not receive webhooks; the message says why (safe to show to the caller)."""


@dataclass(frozen=True)
class Target:
    url: httpx.URL
    host: str  # as written in the URL (Host header, TLS server name)
    port: int


def parse_target(raw: str) -> Target:
    """Syntax checks only: an absolute http(s) URL with a host."""
    if not isinstance(raw, str) or not raw.strip():
        raise TargetRefused("url: must be an http:// or https:// URL")
    if len(raw) > MAX_URL_LENGTH:
        raise TargetRefused(f"url: must be at most {MAX_URL_LENGTH} characters")
    try:
        url = httpx.URL(raw.strip())
    except (httpx.InvalidURL, ValueError, TypeError):
        raise TargetRefused("url: is not a valid URL") from None
    if url.scheme not in {"http", "https"}:
        raise TargetRefused("url: only http:// and https:// URLs can receive webhooks")
    host = url.host
    if not host:
        raise TargetRefused("url: must include a host name")
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
    """Why ``ip`` may not receive webhooks, or None if it may."""
    if ip in METADATA_ADDRESSES:
        return "cloud metadata addresses are not allowed"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:  # judged by the IPv4 address it reaches
            return refusal(inner, allow_private=allow_private)
    if ip.is_link_local:
        return "link-local addresses are not allowed"
    if ip.is_multicast or ip.is_unspecified or ip == ipaddress.IPv4Address("255.255.255.255"):
        return "this address cannot receive webhooks"
    if ip.is_loopback or ip.is_private or not ip.is_global:
        if not allow_private:
            return "private and loopback addresses are not allowed on this server (ROSET_WEBHOOK_ALLOW_PRIVATE=false)"
        if ip.is_reserved and not (ip.is_loopback or ip.is_private):
            return "this address cannot receive webhooks"
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


def _check_name(host: str) -> None:
    name = host.lower().rstrip(".")
    if name in METADATA_HOSTS:
        raise TargetRefused("url: cloud metadata endpoints are not allowed")


def check_url(raw: str, *, allow_private: bool) -> str:
    """Validate a URL a user wants to save; returns it stripped. Raises :class:`TargetRefused`.

    A name that does not resolve yet is accepted (the receiver may not be up); it is checked again
    at every delivery attempt.
    """
    target = parse_target(raw)
    _check_name(target.host)
    try:
        addresses = resolve(target)
    except (OSError, UnicodeError):
        return raw.strip()
    for ip in addresses:
        reason = refusal(ip, allow_private=allow_private)
        if reason:
            raise TargetRefused(f"url: {reason}")
    return raw.strip()


def pinned_address(raw: str, *, allow_private: bool) -> tuple[Target, IPAddress]:
    """At delivery: resolve now, refuse if *any* answer is refused, and return the address to use."""
    target = parse_target(raw)
    _check_name(target.host)
    try:
        addresses = resolve(target)
    except (OSError, UnicodeError) as exc:
        raise ConnectionError(f"cannot resolve {target.host}: {exc}") from None
    for ip in addresses:
        reason = refusal(ip, allow_private=allow_private)
        if reason:
            raise TargetRefused(f"{target.host} resolves to {ip}: {reason}")
    return target, addresses[0]
