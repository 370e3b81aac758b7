"""What `pyrunc spec --network` and `pyrunc-net` are told: parsed and
checked here, with no netlink import, so `spec` stays light."""
from __future__ import annotations

import ipaddress
import os
import shutil
import sys

from ..errors import PyruncError
from ..record import Record

DEFAULT_BRIDGE = "pyrunc0"
DEFAULT_SUBNET = "10.77.0.0/16"
DEFAULT_MTU = 1500
HOOK_TIMEOUT = 60       # seconds: a CNI plugin or a busy nft can be slow
SCRIPT = "pyrunc-net"
PROTOCOLS = ("tcp", "udp")
IFNAMSIZ = 16


class Options(Record):
    __slots__ = ("root", "bridge", "subnet", "ip", "ports", "mtu", "cni", "cni_path")

    def __init__(self, root: str, bridge: str = DEFAULT_BRIDGE, subnet: str = DEFAULT_SUBNET,
                 ip: str | None = None, ports: list[dict] | None = None, mtu: int = DEFAULT_MTU,
                 cni: str | None = None, cni_path: str | None = None) -> None:
        self.root, self.bridge, self.mtu, self.cni, self.cni_path = root, bridge, mtu, cni, cni_path
        self.subnet = parse_subnet(subnet)
        self.ip = parse_ip(ip, self.subnet) if ip else None
        self.ports = ports or []
        if not bridge or len(bridge) >= IFNAMSIZ or "/" in bridge or bridge in (".", ".."):
            raise PyruncError(f"invalid bridge name {bridge!r}: at most {IFNAMSIZ - 1} characters, no '/'")
        if not 68 <= mtu <= 65535:
            raise PyruncError(f"invalid MTU {mtu}: must be between 68 and 65535")


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    try:
        subnet = ipaddress.IPv4Network(text)
    except ValueError as exc:
        raise PyruncError(f"invalid subnet {text!r}: {exc}") from None
    if subnet.prefixlen > 30:
        raise PyruncError(f"invalid subnet {text!r}: too small for a gateway and a container")
    return subnet


def parse_ip(text: str, subnet: ipaddress.IPv4Network | None = None) -> ipaddress.IPv4Address:
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        raise PyruncError(f"invalid --ip {text!r}: not an IPv4 address") from None
    if subnet is not None and address not in subnet:
        raise PyruncError(f"invalid --ip {text}: not in the subnet {subnet}")
    return address


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise PyruncError(f"invalid --publish {spec!r}: {text!r} is not a port (1-65535)")
    return int(text)


def parse_publish(spec: str) -> dict:
    """HOSTPORT:CONTAINERPORT[/tcp|udp] -> {"protocol", "host", "container"}."""
    ports, _, protocol = spec.partition("/")
    protocol = protocol or "tcp"
    if protocol not in PROTOCOLS:
        raise PyruncError(f"invalid --publish {spec!r}: the protocol must be tcp or udp")
    host, sep, container = ports.partition(":")
    if not sep:
        raise PyruncError(f"invalid --publish {spec!r}: expected HOSTPORT:CONTAINERPORT[/tcp|udp]")
    return {"protocol": protocol, "host": _port(host, spec), "container": _port(container, spec)}


def check_unique(ports: list[dict]) -> None:
    seen = set()
    for port in ports:
        key = (port["protocol"], port["host"])
        if key in seen:
            raise PyruncError(f"host port {port['host']}/{port['protocol']} is published twice")
        seen.add(key)


def script_path() -> str:
    """pyrunc-net beside the interpreter that runs pyrunc (the same
    install), else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), SCRIPT)
    found = beside if os.access(beside, os.X_OK) else shutil.which(SCRIPT)
    if not found:
        raise PyruncError(f"{SCRIPT} is not installed (it comes with pyrunc)")
    return os.path.abspath(found)


def hook_args(root: str, network: str, ports: list[str], ip: str | None) -> list[str]:
    """The arguments (after argv[0], before the command) that give
    pyrunc-net these settings; `network` is "bridge" or "cni:CONFLIST".
    Everything is checked here, so a bad flag fails `spec`, not `create`."""
    args = ["--root", root]
    parsed = [parse_publish(p) for p in ports]
    check_unique(parsed)
    for spec in ports:
        args += ["--publish", spec]
    if network == "bridge":
        if ip:
            parse_ip(ip, parse_subnet(DEFAULT_SUBNET))
            args += ["--ip", ip]
        return args
    kind, _, conflist = network.partition(":")
    if kind != "cni" or not conflist:
        raise PyruncError(f"invalid --network {network!r}: use bridge or cni:CONFLIST")
    if ip:
        raise PyruncError("--ip is for --network bridge; a CNI network's IPAM chooses the address")
    return args + ["--cni", os.path.abspath(conflist)]


def hooks(root: str, network: str, ports: list[str], ip: str | None) -> dict:
    """config.json's `hooks` for a container on this network."""
    path, args = script_path(), hook_args(root, network, ports, ip)

    def hook(command: str) -> dict:
        return {"path": path, "args": [SCRIPT, *args, command], "timeout": HOOK_TIMEOUT}
    return {"createRuntime": [hook("up")], "poststop": [hook("down")]}
