"""Links, addresses and routes through netlink (pyroute2): the bridge,
one veth pair per container with `eth0` inside its network namespace.

pyroute2 takes about 0.2 s to import: it is imported by the functions
that change something, not for questions sysfs answers (a `down` whose
veth went with the container's namespace never pays for it)."""
from __future__ import annotations

import errno
import os

from ..errors import PyruncError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONTAINER_IFNAME = "eth0"


def _netlink() -> tuple[Any, Any]:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError
    return IPRoute, NetlinkError


def _fail(what: str, exc: Any) -> PyruncError:
    return PyruncError(f"{what}: {os.strerror(exc.code)}", errno=exc.code)


def _sysctl(path: str, value: str) -> None:
    try:
        with open(f"/proc/sys/net/{path}", "w") as f:
            f.write(value)
    except OSError as exc:
        raise PyruncError(f"set net.{path.replace('/', '.')}: {exc.strerror}", errno=exc.errno) from None


def _index(ipr: Any, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def ensure_bridge(name: str, gateway: str, prefix: int, mtu: int) -> None:
    """The bridge up with the gateway address; safe when many starts make
    it at once (the one that loses the race finds it made)."""
    IPRoute, NetlinkError = _netlink()
    with IPRoute() as ipr:
        try:
            ipr.link("add", ifname=name, kind="bridge", mtu=mtu)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise _fail(f"create bridge {name}", exc) from None
        index = _index(ipr, name)
        if index is None:
            raise PyruncError(f"bridge {name} vanished while it was being set up")
        try:
            ipr.addr("add", index=index, address=gateway, prefixlen=prefix)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise _fail(f"add {gateway}/{prefix} to {name}", exc) from None
        ipr.link("set", index=index, state="up")
    # Outbound traffic is routed, and published ports reached on 127.0.0.1
    # are DNATed to the bridge, which the kernel drops as martians unless
    # the outgoing interface accepts a loopback source (see firewall.py).
    _sysctl("ipv4/ip_forward", "1")
    allow_localnet(name)


def allow_localnet(bridge: str) -> None:
    _sysctl(f"ipv4/conf/{bridge}/route_localnet", "1")


def attach(bridge: str, veth: str, pid: int, address: str, prefix: int, gateway: str, mtu: int) -> None:
    """A veth pair from the bridge into the network namespace of `pid`,
    where it is eth0 with `address` and a default route via `gateway`."""
    IPRoute, NetlinkError = _netlink()
    netns = f"/proc/{pid}/ns/net"
    try:
        ns_fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise PyruncError(f"open {netns}: {exc.strerror}", errno=exc.errno) from None
    try:
        with IPRoute() as ipr:
            master = _index(ipr, bridge)
            if master is None:
                raise PyruncError(f"bridge {bridge} does not exist")
            try:
                ipr.link("add", ifname=veth, kind="veth", mtu=mtu,
                         peer={"ifname": CONTAINER_IFNAME, "net_ns_fd": ns_fd, "mtu": mtu})
                ipr.link("set", index=_index(ipr, veth), master=master, state="up")
            except NetlinkError as exc:
                raise _fail(f"create veth {veth}", exc) from None
    finally:
        os.close(ns_fd)
    with IPRoute(netns=netns, flags=0) as ns:
        try:
            ns.link("set", index=_index(ns, "lo"), state="up")
            index = _index(ns, CONTAINER_IFNAME)
            ns.addr("add", index=index, address=address, prefixlen=prefix)
            ns.link("set", index=index, state="up")
            ns.route("add", dst="0.0.0.0/0", gateway=gateway, oif=index)
        except NetlinkError as exc:
            raise _fail(f"configure {CONTAINER_IFNAME} in the container", exc) from None


def container_address(pid: int) -> str | None:
    """The IPv4 address of eth0 in the network namespace of `pid`."""
    IPRoute, _ = _netlink()
    with IPRoute(netns=f"/proc/{pid}/ns/net", flags=0) as ns:
        index = _index(ns, CONTAINER_IFNAME)
        if index is None:
            return None
        for addr in ns.get_addr(index=index, family=2):
            return addr.get("IFA_ADDRESS")
    return None


def exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def remove(name: str) -> None:
    """Delete a link if it is there (a veth goes with its peer, and with
    the namespace its peer was in)."""
    IPRoute, NetlinkError = _netlink()
    with IPRoute() as ipr:
        try:
            ipr.link("del", ifname=name)
        except NetlinkError as exc:
            if exc.code not in (errno.ENODEV, errno.ENOENT):
                raise _fail(f"delete {name}", exc) from None


def has_ports(bridge: str) -> bool:
    try:
        return bool(os.listdir(f"/sys/class/net/{bridge}/brif"))
    except FileNotFoundError:
        return False
