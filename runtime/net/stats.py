"""A container's network interface counters, as `events --stats` shows
them (runc's `network_interfaces`): read from /proc/<pid>/net/dev, which
shows the interfaces of that process's network namespace."""
from __future__ import annotations

import os

# The columns of /proc/net/dev after the name: receive, then transmit.
_RX = ("bytes", "packets", "errors", "dropped")
_TX_OFFSET = 8


def interfaces(pid: int) -> list[dict[str, object]]:
    """The counters of every interface but loopback in the network
    namespace of `pid`; none when it shares the caller's namespace (the
    host's counters are not the container's)."""
    try:
        if os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino:
            return []
        with open(f"/proc/{pid}/net/dev", encoding="ascii") as f:
            lines = f.read().splitlines()[2:]
    except OSError:
        return []       # the container is gone: no counters
    return parse_net_dev(lines)


def parse_net_dev(lines: list[str]) -> list[dict[str, object]]:
    result: list[dict[str, object]] = []
    for line in lines:
        name, _, rest = line.partition(":")
        name, fields = name.strip(), rest.split()
        if name == "lo" or len(fields) < _TX_OFFSET + len(_RX):
            continue
        entry: dict[str, object] = {"name": name}
        for i, key in enumerate(_RX):
            entry[f"rx_{key}"] = int(fields[i])
            entry[f"tx_{key}"] = int(fields[_TX_OFFSET + i])
        result.append(entry)
    return result
