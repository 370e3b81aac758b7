"""pyrunc create: set up a container and leave it waiting for `start`."""
from __future__ import annotations

from ..container import CreateOptions, create
from ..state import StateStore
from .args import Opt, Parsed, exactly

SYNOPSIS = "[options] CONTAINER_ID"
OPTIONS = [
    Opt("bundle", ("b",), True, help="path to the bundle directory (default: current directory)"),
    Opt("pid-file", takes_value=True, help="write the init's host pid to this file"),
    Opt("console-socket", takes_value=True, help="unix socket to receive the pty master"),
    Opt("pidfd-socket", takes_value=True, help="accepted for runc compatibility"),
    Opt("no-pivot", help="use chroot instead of pivot_root"),
    Opt("no-new-keyring", help="do not create a new session keyring"),
    Opt("preserve-fds", takes_value=True, help="pass this many fds after stdio to the container"),
]


def create_options(parsed: Parsed, context: object) -> CreateOptions:
    from ..errors import PyruncError
    preserve = parsed.value("preserve-fds", "0") or "0"
    if not preserve.isdigit():
        raise PyruncError(f"invalid --preserve-fds value {preserve!r}")
    return CreateOptions(
        bundle=parsed.value("bundle") or ".",
        pid_file=parsed.value("pid-file"),
        console_socket=parsed.value("console-socket"),
        no_pivot=parsed.flag("no-pivot"),
        no_new_keyring=parsed.flag("no-new-keyring"),
        preserve_fds=int(preserve),
        systemd_cgroup=getattr(context, "systemd_cgroup", False),
        rootless=getattr(context, "rootless", False),
    )


def run(parsed: Parsed, context: object) -> int:
    (container_id,) = exactly(parsed, 1, SYNOPSIS)
    create(StateStore(context.root), container_id, create_options(parsed, context))  # type: ignore[attr-defined]
    return 0
