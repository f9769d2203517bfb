import ipaddress
import socket
from collections.abc import Sequence

import pytest

from chalicelib.webhooks import targets
from chalicelib.webhooks.errors import InvalidTargetError, TargetRefusedError, UnresolvableTargetError


def fixed(*addresses: str) -> targets.Resolver:
    def resolve(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolve


def test_parse_splits_the_url() -> None:
    target = targets.parse_target("HTTPS://Hooks.Example.COM:8443/in/bound?x=1&y=2#frag")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.com",
        8443,
        "/in/bound?x=1&y=2",
    )
    assert target.host_header == "hooks.example.com:8443"


def test_parse_fills_default_ports_and_path() -> None:
    assert targets.parse_target("http://example.com").port == 80
    plain = targets.parse_target("https://example.com")
    assert (plain.port, plain.path, plain.host_header) == (443, "/", "example.com")


def test_parse_encodes_international_names() -> None:
    assert targets.parse_target("https://bücher.example/").host == "xn--bcher-kva.example"


def test_parse_keeps_ipv6_literals() -> None:
    target = targets.parse_target("http://[2606:4700:4700::1111]:8080/h")
    assert target.host == "2606:4700:4700::1111"
    assert target.host_header == "[2606:4700:4700::1111]:8080"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "non-empty"),
        ("ftp://example.com/x", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("//example.com/x", "scheme"),
        ("https://user:pass@example.com/", "credentials"),
        ("https://example.com:99999/", "port"),
        ("https://example.com:abc/", "port"),
        ("https://example.com:0/", "port"),
        ("http://[::1", "malformed"),
        ("http://[zz]/", "malformed"),
        ("http://[::1]junk/", "host"),
        ("http://[fe80::1%25eth0]/", "host"),
        ("http://a:b:c/", "host"),
        ("https:///path-only", "host"),
        ("https://exa mple.com/", "whitespace"),
        ("https://example.com/\n", "whitespace"),
        ("https://bad_host!.com/", "host name"),
        ("https://" + "a" * 64 + ".com/", "host name"),
        ("https://example.com/" + "p" * 2048, "2048"),
    ],
)
def test_parse_refuses_bad_urls(url: str, problem: str) -> None:
    with pytest.raises(InvalidTargetError, match=problem):
        targets.parse_target(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.8.9.10:8080/hook", "loopback"),
        ("http://10.0.0.5/hook", "private"),
        ("http://172.16.3.4/hook", "private"),
        ("http://192.168.1.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]/hook", "loopback"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[fd00::1]/hook", "private"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://[::ffff:169.254.169.254]/hook", "link-local"),
        ("http://[2002:7f00:1::]/hook", "loopback"),  # 6to4 wrapping 127.0.0.1
        ("http://[64:ff9b::a00:1]/hook", "private"),  # NAT64 wrapping 10.0.0.1
        ("http://100.64.0.1/hook", "non-public"),  # carrier-grade NAT
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://240.0.0.1/hook", "reserved"),
        ("http://localhost:8080/hook", "loopback"),
        ("http://2130706433/hook", "loopback"),  # 127.0.0.1 written as one number
        ("http://127.1/hook", "loopback"),
    ],
)
def test_internal_targets_are_refused_by_default(url: str, reason: str) -> None:
    with pytest.raises(TargetRefusedError, match=reason):
        targets.resolve_target(url, allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/h",
        "http://localhost/h",
        "http://10.1.2.3/h",
        "http://169.254.169.254/h",
        "http://[::1]/h",
    ],
)
def test_the_deployment_may_allow_private_targets(url: str) -> None:
    resolved = targets.resolve_target(url, allow_private=True)
    assert resolved.pinned_ip.is_loopback or resolved.pinned_ip.is_private


@pytest.mark.parametrize(
    "url", ["http://0.0.0.0/h", "http://[::]/h", "http://239.1.2.3/h", "http://[ff02::1]/h"]
)
def test_unspecified_and_multicast_stay_refused_when_private_is_allowed(url: str) -> None:
    with pytest.raises(TargetRefusedError):
        targets.resolve_target(url, allow_private=True)


@pytest.mark.parametrize("url", ["https://8.8.8.8/h", "https://[2606:4700:4700::1111]/h"])
def test_public_literals_are_accepted_without_dns(url: str) -> None:
    def no_dns(host: str, port: int) -> Sequence[str]:
        raise AssertionError("IP literals must not be resolved")

    resolved = targets.resolve_target(url, allow_private=False, resolver=no_dns)
    assert resolved.pinned_ip.is_global


def test_a_public_name_resolves_and_pins_the_checked_address() -> None:
    resolved = targets.resolve_target(
        "https://hooks.example.com:8443/in?x=1",
        allow_private=False,
        resolver=fixed("93.184.215.14", "2606:2800::1"),
    )
    assert resolved.addresses == (ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("2606:2800::1"))
    assert resolved.pinned_url == "https://93.184.215.14:8443/in?x=1"
    assert resolved.host_header == "hooks.example.com:8443"
    assert resolved.sni_hostname == "hooks.example.com"


def test_pinned_url_brackets_ipv6_and_plain_http_has_no_sni() -> None:
    resolved = targets.resolve_target(
        "http://hooks.example.com/h", allow_private=False, resolver=fixed("2606:2800::1")
    )
    assert resolved.pinned_url == "http://[2606:2800::1]:80/h"
    assert resolved.host_header == "hooks.example.com"
    assert resolved.sni_hostname is None


def test_one_internal_record_among_public_ones_refuses_the_target() -> None:
    with pytest.raises(TargetRefusedError, match="private"):
        targets.resolve_target(
            "https://rebind.example.com/", allow_private=False, resolver=fixed("93.184.215.14", "10.0.0.7")
        )


def test_scoped_ipv6_answers_are_understood() -> None:
    with pytest.raises(TargetRefusedError, match="link-local"):
        targets.resolve_target("https://x.example.com/", allow_private=False, resolver=fixed("fe80::1%eth0"))


def test_unresolvable_names_are_reported() -> None:
    def fails(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UnresolvableTargetError, match="does not resolve"):
        targets.resolve_target("https://nowhere.example.com/", allow_private=False, resolver=fails)
    with pytest.raises(UnresolvableTargetError):
        targets.resolve_target("https://nowhere.example.com/", allow_private=False, resolver=fixed())


def test_the_system_resolver_is_used_by_default() -> None:
    assert "127.0.0.1" in targets.system_resolver("localhost", 80)
    with pytest.raises(UnresolvableTargetError):
        targets.resolve_target("https://name.invalid/", allow_private=True)


def test_address_problem_reports_none_for_public_addresses() -> None:
    assert targets.address_problem(ipaddress.ip_address("1.1.1.1"), allow_private=False) is None
    assert targets.address_problem(ipaddress.ip_address("10.0.0.1"), allow_private=True) is None
