"""pyrunc spec: write a default config.json (runc's defaults).

With --network, the config gets hooks that give the container a network
(runtime/net)."""
from __future__ import annotations

import os

from .. import jsonio
from ..default_spec import default_config
from ..errors import PyruncError, from_os_error
from .args import Opt, Parsed

SYNOPSIS = "[--bundle DIR] [--rootless] [--network bridge|cni:CONFLIST [--publish HOST:CONTAINER[/PROTO]]... [--ip ADDR]]"
ARGS = (0, 0)
OPTIONS = [
    Opt("bundle", ("b",), True, help="directory to write config.json in"),
    Opt("rootless", help="a config for running as an unprivileged user"),
    Opt("network", takes_value=True,
        help="bridge (pyrunc0, 10.77.0.0/16, outbound NAT) or cni:CONFLIST, set up by pyrunc-net hooks"),
    Opt("publish", ("p",), True, repeat=True,
        help="with --network: publish a container port on the host, HOSTPORT:CONTAINERPORT[/tcp|udp]"),
    Opt("ip", takes_value=True, help="with --network bridge: this address instead of the next free one"),
]


def run(parsed: Parsed, context: object) -> int:
    path = os.path.join(parsed.value("bundle") or ".", "config.json")
    if os.path.exists(path):
        raise PyruncError(f"File {path} exists. Remove it first")
    config = default_config(rootless=parsed.flag("rootless"))
    network, ports, ip = parsed.value("network"), parsed.values_of("publish"), parsed.value("ip")
    if network and parsed.flag("rootless"):
        raise PyruncError("--network needs root: its hooks change the host's links and firewall")
    if network:
        from ..net import options
        config["hooks"] = options.hooks(context.root, network, ports, ip)  # type: ignore[attr-defined]
    elif ports or ip:
        raise PyruncError("--publish and --ip need --network")
    text = jsonio.dumps(config, indent="\t")
    try:
        with open(path, "x") as f:
            f.write(text)
    except OSError as exc:
        raise from_os_error(f"write {path}", exc) from None
    return 0
