"""What `pyrunc spec --network` and pyrunc-net accept (runtime/net/options.py)."""
from __future__ import annotations

import pytest

from pyrunc.runtime.errors import PyruncError
from pyrunc.runtime.net import options


@pytest.mark.parametrize("spec, expected", [
    ("8080:80", {"protocol": "tcp", "host": 8080, "container": 80}),
    ("53:5353/udp", {"protocol": "udp", "host": 53, "container": 5353}),
    ("1:65535/tcp", {"protocol": "tcp", "host": 1, "container": 65535}),
])
def test_publish_parses(spec: str, expected: dict) -> None:
    assert options.parse_publish(spec) == expected


@pytest.mark.parametrize("spec, fragment", [
    ("8080", "expected HOSTPORT:CONTAINERPORT"),
    ("0:80", "'0' is not a port"),
    ("8080:65536", "'65536' is not a port"),
    ("a:80", "'a' is not a port"),
    ("8080:-1", "'-1' is not a port"),
    ("8080:80/sctp", "must be tcp or udp"),
    (":80", "'' is not a port"),
])
def test_publish_refuses(spec: str, fragment: str) -> None:
    with pytest.raises(PyruncError, match=fragment):
        options.parse_publish(spec)


def test_a_host_port_is_published_once_per_protocol() -> None:
    options.check_unique([options.parse_publish("53:53/udp"), options.parse_publish("53:53/tcp")])
    with pytest.raises(PyruncError, match="53/tcp is published twice"):
        options.check_unique([options.parse_publish("53:53"), options.parse_publish("53:54/tcp")])


def test_hook_args_for_bridge_and_cni() -> None:
    assert options.hook_args("/run/x", "bridge", ["8080:80"], "10.77.0.9") == \
        ["--root", "/run/x", "--publish", "8080:80", "--ip", "10.77.0.9"]
    assert options.hook_args("/run/x", "cni:/etc/cni/net.d/a.conflist", [], None) == \
        ["--root", "/run/x", "--cni", "/etc/cni/net.d/a.conflist"]


@pytest.mark.parametrize("network, ip, fragment", [
    ("host", None, "use bridge or cni:CONFLIST"),
    ("cni:", None, "use bridge or cni:CONFLIST"),
    ("cni:/a.conflist", "10.77.0.2", "the address"),
    ("bridge", "10.1.0.2", "not in the subnet"),
    ("bridge", "10.77.0", "not an IPv4 address"),
])
def test_hook_args_refuse(network: str, ip: str | None, fragment: str) -> None:
    with pytest.raises(PyruncError, match=fragment):
        options.hook_args("/run/x", network, [], ip)


def test_hooks_are_create_runtime_up_and_poststop_down() -> None:
    hooks = options.hooks("/run/x", "bridge", [], None)
    assert [h["args"][-1] for h in hooks["createRuntime"]] == ["up"]
    assert [h["args"][-1] for h in hooks["poststop"]] == ["down"]
    for hook in hooks["createRuntime"] + hooks["poststop"]:
        assert hook["path"].startswith("/") and hook["path"].endswith("/pyrunc-net")
        assert hook["args"][0] == "pyrunc-net" and hook["timeout"] == options.HOOK_TIMEOUT


@pytest.mark.parametrize("kwargs, fragment", [
    ({"bridge": "a-bridge-name-too-long"}, "invalid bridge name"),
    ({"bridge": ""}, "invalid bridge name"),
    ({"bridge": "a/b"}, "invalid bridge name"),
    ({"mtu": 67}, "invalid MTU"),
    ({"subnet": "10.0.0.0/31"}, "too small"),
    ({"subnet": "10.0.0.1/16"}, "invalid subnet"),
    ({"ip": "10.78.0.2"}, "not in the subnet"),
])
def test_options_refuse(kwargs: dict, fragment: str) -> None:
    with pytest.raises(PyruncError, match=fragment):
        options.Options("/run/x", **kwargs)
