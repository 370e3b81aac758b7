"""pyrunc create: set up a container and leave it waiting for `start`."""
from __future__ import annotations

from ..container import CreateOptions, create
from ..state import StateStore
from .args import Opt, Parsed

# The kernel's default ceiling on open files (fs.nr_open): more cannot exist.
MAX_PRESERVE_FDS = 1 << 20

SYNOPSIS = "[options] CONTAINER_ID"
ARGS = (1, 1)
OPTIONS = [
    Opt("bundle", ("b",), True, help="path to the bundle directory (default: current directory)"),
    Opt("pid-file", takes_value=True, help="write the init's host pid to this file"),
    Opt("console-socket", takes_value=True, help="unix socket to receive the pty master"),
    Opt("pidfd-socket", takes_value=True, help="accepted for runc compatibility"),
    Opt("no-pivot", help="use chroot instead of pivot_root"),
    Opt("no-new-keyring", help="do not create a new session keyring"),
    Opt("preserve-fds", help="pass this many fds after stdio to the container", bounds=(0, MAX_PRESERVE_FDS)),
]


def create_options(parsed: Parsed, context: object) -> CreateOptions:
    return CreateOptions(
        bundle=parsed.value("bundle") or ".",
        pid_file=parsed.value("pid-file"),
        console_socket=parsed.value("console-socket"),
        no_pivot=parsed.flag("no-pivot"),
        no_new_keyring=parsed.flag("no-new-keyring"),
        preserve_fds=parsed.number("preserve-fds"),
        systemd_cgroup=getattr(context, "systemd_cgroup", False),
        rootless=getattr(context, "rootless", False),
    )


def run(parsed: Parsed, context: object) -> int:
    (container_id,) = parsed.positionals
    create(StateStore(context.root), container_id, create_options(parsed, context))  # type: ignore[attr-defined]
    return 0
