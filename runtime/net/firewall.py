"""nftables rules in a table of our own, `ip pyrunc`; nothing else in the
host's firewall is touched.

- `bridges`: our bridges.  Traffic from one of them leaving by another
  interface is masqueraded (containers reach out with the host's address).
- `publish`: published ports, `protocol . host port : address . port`.
  A packet to any local address of the host (prerouting: from elsewhere;
  output: from the host itself, 127.0.0.1 included) is DNATed by it.
- A connection to 127.0.0.1 keeps its loopback source after DNAT.  The
  kernel routes such a packet out of a bridge only with route_localnet set
  on that bridge (links.allow_localnet), and the container could not
  answer a loopback address, so such packets are masqueraded to the
  bridge's address on the way out.

Elements are added with `create`, which fails when the key is taken: a
host port is published once.  Each change is one nft transaction."""
from __future__ import annotations

import json
import subprocess

from ..errors import PyruncError

TABLE = "pyrunc"
FAMILY = "ip"
_T = f"{FAMILY} {TABLE}"

_CREATE = f"""create table {_T}
add set {_T} bridges {{ type ifname; }}
add map {_T} publish {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
add chain {_T} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
add chain {_T} output {{ type nat hook output priority -100; policy accept; }}
add chain {_T} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
add rule {_T} prerouting fib daddr type local dnat to meta l4proto . th dport map @publish
add rule {_T} output fib daddr type local dnat to meta l4proto . th dport map @publish
add rule {_T} postrouting ip saddr 127.0.0.0/8 oifname @bridges masquerade
add rule {_T} postrouting iifname @bridges oifname != @bridges masquerade
"""


def _nft(script: str, what: str, missing_ok: bool = False, exists_ok: bool = False) -> None:
    try:
        proc = subprocess.run(["nft", "-f", "-"], input=script.encode(), capture_output=True)
    except OSError as exc:
        raise PyruncError(f"{what}: cannot run nft: {exc.strerror} (install nftables)",
                          errno=exc.errno) from None
    if proc.returncode == 0:
        return
    error = proc.stderr.decode(errors="replace")
    if (missing_ok and "No such file or directory" in error) or (exists_ok and "File exists" in error):
        return
    lines = [line for line in error.splitlines() if line.startswith("Error:")]
    raise PyruncError(f"{what}: nft: {(lines or error.splitlines() or ['failed'])[0]}")


def ensure_table() -> None:
    # One transaction: whoever creates the table first creates all of it;
    # the others fail with "File exists" and find it complete.
    _nft(_CREATE, f"create nftables table {_T}", exists_ok=True)


def add_bridge(name: str) -> None:
    ensure_table()
    _nft(f'add element {_T} bridges {{ "{name}" }}\n', f"add {name} to nftables set bridges")


def forget_bridge(name: str) -> None:
    _nft(f'delete element {_T} bridges {{ "{name}" }}\n', f"remove {name} from nftables set bridges",
         missing_ok=True)


def _key(port: dict) -> str:
    return f"{port['protocol']} . {port['host']}"


def publish(ports: list[dict], address: str) -> None:
    if not ports:
        return
    ensure_table()
    elements = ", ".join(f"{_key(p)} : {address} . {p['container']}" for p in ports)
    try:
        _nft(f"create element {_T} publish {{ {elements} }}\n", "publish ports")
    except PyruncError:
        taken = published()
        for port in ports:
            if (port["protocol"], port["host"]) in taken:
                raise PyruncError(f"host port {port['host']}/{port['protocol']} is already published") from None
        raise


def unpublish(ports: list[dict], address: str) -> None:
    """Remove the elements of `ports` that still lead to `address`."""
    if not ports:
        return
    mine = [p for p in ports if published().get((p["protocol"], p["host"])) == address]
    for port in mine:   # one by one: one gone meanwhile must not keep the others
        _nft(f"delete element {_T} publish {{ {_key(port)} }}\n",
             f"unpublish {port['host']}/{port['protocol']}", missing_ok=True)


def _elements() -> dict[str, list]:
    """The elements of the table's sets and maps, by name (none when the
    table is not there): one listing."""
    proc = subprocess.run(["nft", "-j", "list", "table", *_T.split()], capture_output=True)
    if proc.returncode != 0:
        return {}
    result: dict[str, list] = {}
    for item in json.loads(proc.stdout).get("nftables", []):
        body = item.get("set") or item.get("map")
        if body is not None:
            result[body["name"]] = body.get("elem", [])
    return result


def published() -> dict[tuple[str, int], str]:
    """(protocol, host port) -> the container address it leads to."""
    result: dict[tuple[str, int], str] = {}
    for elem in _elements().get("publish", []):
        key, value = elem  # [{"concat": [proto, port]}, {"concat": [addr, port]}]
        protocol, port = key["concat"]
        result[(protocol, int(port))] = value["concat"][0]
    return result


def remove_table_if_unused() -> None:
    """Drop the table once no bridge and no published port is left in it."""
    if any(_elements().values()):
        return
    _nft(f"delete table {_T}\n", f"delete nftables table {_T}", missing_ok=True)
