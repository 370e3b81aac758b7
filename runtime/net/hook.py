"""pyrunc-net: the OCI hook that gives a container a network.

    pyrunc-net [--root DIR] [--bridge NAME] [--subnet CIDR] [--ip ADDR]
               [--mtu N] [--publish HOST:CONTAINER[/tcp|udp]]...
               [--cni CONFLIST [--cni-path DIRS]]  up|down|check

The container's state comes on stdin, as the runtime gives every hook:
`up` as a createRuntime hook, `down` as a poststop hook; `check` verifies
a running container's network (the CNI plugins' CHECK on that path).
"""
from __future__ import annotations

import argparse
import json
import sys

from ..errors import PyruncError, one_line
from ..state import DEFAULT_ROOT, validate_id
from . import options

COMMANDS = ("up", "down", "check")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:     # one line and status 1, as every pyrunc error
        raise PyruncError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=options.SCRIPT, description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=DEFAULT_ROOT, help="pyrunc's state root (records live in ROOT/net)")
    parser.add_argument("--bridge", default=options.DEFAULT_BRIDGE, help="default %(default)s")
    parser.add_argument("--subnet", default=options.DEFAULT_SUBNET,
                        help="the bridge's; its first address is the gateway (default %(default)s)")
    parser.add_argument("--ip", help="this address instead of the next free one")
    parser.add_argument("--mtu", type=int, default=options.DEFAULT_MTU, help="default %(default)s")
    parser.add_argument("--publish", "-p", action="append", default=[], metavar="HOST:CONTAINER[/PROTO]",
                        help="publish a container port on the host's addresses and 127.0.0.1")
    parser.add_argument("--cni", metavar="CONFLIST", help="run the CNI plugins of this configuration list")
    parser.add_argument("--cni-path", help="where CNI plugins are (default $CNI_PATH, then /usr/lib/cni)")
    parser.add_argument("command", choices=COMMANDS)
    return parser


def _container(stdin: str) -> tuple[str, int]:
    """The id and pid from the OCI state on stdin."""
    try:
        state = json.loads(stdin)
        container_id, pid = state["id"], state.get("pid", 0)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PyruncError("stdin must be the container's OCI state (JSON with id and pid)") from None
    if not isinstance(container_id, str) or not isinstance(pid, int) or isinstance(pid, bool) or pid < 0:
        raise PyruncError("stdin: the state's id must be a string and its pid a number")
    validate_id(container_id)
    return container_id, pid


def main(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    container_id, pid = _container(sys.stdin.read())
    opts = options.Options(args.root, bridge=args.bridge, subnet=args.subnet, ip=args.ip,
                           ports=[options.parse_publish(p) for p in args.publish], mtu=args.mtu,
                           cni=args.cni, cni_path=args.cni_path)
    options.check_unique(opts.ports)
    from . import network    # pyroute2: only once the arguments are good
    if args.command == "up":
        if not pid:
            raise PyruncError("stdin: the state has no pid: `up` is a createRuntime hook")
        network.up(opts, container_id, pid)
    elif args.command == "down":
        network.down(opts.root, container_id)
    else:
        network.check(opts.root, container_id)


def entry() -> None:
    try:
        main(sys.argv[1:])
    except PyruncError as exc:
        print(f"{options.SCRIPT}: {one_line(str(exc))}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
