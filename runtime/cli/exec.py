"""pyrunc exec: run another process in a running container."""
from __future__ import annotations

from ..errors import PyruncError
from ..exec_process import ExecOptions, exec_process, load_process_file, process_from_flags
from ..integers import UINT32_MAX
from ..state import StateStore
from .args import Opt, Parsed
from .create import MAX_PRESERVE_FDS

SYNOPSIS = "[options] CONTAINER_ID [COMMAND [ARG...]]"
ARGS = (1, None)
REORDER = False         # what follows the id is the command line, flags and all
FAILURE_STATUS = 255    # runc's, when the process could not be run: engines read it
OPTIONS = [
    Opt("process", ("p",), True, help="a JSON file with the OCI process to run"),
    Opt("detach", ("d",), help="do not wait for the process"),
    Opt("pid-file", takes_value=True, help="write the process's host pid to this file"),
    Opt("console-socket", takes_value=True, help="unix socket to receive the pty master"),
    Opt("pidfd-socket", takes_value=True, help="accepted for runc compatibility"),
    Opt("tty", ("t",), help="give the process a terminal"),
    Opt("cwd", takes_value=True, help="working directory in the container"),
    Opt("env", ("e",), True, repeat=True, help="add KEY=VALUE to the environment"),
    Opt("user", ("u",), True, help="UID[:GID] to run as"),
    Opt("additional-gids", ("g",), repeat=True, help="additional group ids", bounds=(0, UINT32_MAX)),
    Opt("cap", ("c",), True, repeat=True, help="add a capability"),
    Opt("no-new-privs", help="set no_new_privs"),
    Opt("preserve-fds", help="pass this many fds after stdio to the process", bounds=(0, MAX_PRESERVE_FDS)),
    Opt("apparmor", takes_value=True, help="AppArmor profile (not supported on this host)"),
    Opt("process-label", takes_value=True, help="SELinux label (not supported on this host)"),
    Opt("ignore-paused", help="allow exec in a paused container"),
    Opt("cgroup", takes_value=True, repeat=True,
        help="run in an existing sub-cgroup: [CONTROLLER[,CONTROLLER]:]PATH"),
]


def run(parsed: Parsed, context: object) -> int:
    container_id, command = parsed.positionals[0], parsed.positionals[1:]
    for unsupported in ("apparmor", "process-label"):
        if parsed.value(unsupported):
            raise PyruncError(f"--{unsupported}: not supported on this host")
    state = StateStore(context.root).load(container_id)  # type: ignore[attr-defined]
    process_file = parsed.value("process")
    if process_file:
        process = load_process_file(process_file)
    else:
        base = state.data.get("config", {}).get("process", {})
        process = process_from_flags(base, command, parsed.values_of("env"), parsed.value("cwd"),
                                     parsed.value("user"), parsed.numbers("additional-gids"),
                                     parsed.values_of("cap"), parsed.flag("no-new-privs"),
                                     parsed.flag("tty"))
    opts = ExecOptions(process, detach=parsed.flag("detach"), pid_file=parsed.value("pid-file"),
                       console_socket=parsed.value("console-socket"), preserve_fds=parsed.number("preserve-fds"),
                       ignore_paused=parsed.flag("ignore-paused"), sub_cgroups=parsed.values_of("cgroup"))
    return exec_process(state, opts)
