"""exec: start another process in a running container.

It joins every namespace of the container and its cgroup, and gets the
security settings of a process in the container's config (capabilities,
no_new_privs, rlimits, user) — set up by the same C code as the init, so
no Python runs inside the container here either.
"""
from __future__ import annotations

import os

from . import spec as spec_mod
from .container import (PAUSED, STOPPED, Undo, attach_and_wait, cgroup_manager, close_joins, console_socket,
                        own_console, seccomp_program, self_joins, state_json, status_of, write_pid_file)
from .errors import PyruncError
from .integers import UINT32_MAX, parse_flag
from .linux_constants import CAPABILITY_SETS
from .state import ContainerState

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class ExecOptions:
    """How to run the process; `process` is an OCI process object."""

    def __init__(self, process: dict[str, Any], detach: bool = False, pid_file: str | None = None,
                 console_socket: str | None = None, preserve_fds: int = 0,
                 ignore_paused: bool = False, sub_cgroups: list[str] | None = None) -> None:
        self.process, self.detach, self.pid_file = process, detach, pid_file
        self.console_socket, self.preserve_fds = console_socket, preserve_fds
        self.ignore_paused = ignore_paused
        self.sub_cgroups = sub_cgroups or []    # exec --cgroup values


def process_from_flags(base: dict[str, Any], args: list[str], env: list[str], cwd: str | None,
                       user: str | None, additional_gids: list[int], caps: list[str],
                       no_new_privs: bool, tty: bool) -> dict[str, Any]:
    """runc's exec without --process: the container's process, changed by flags."""
    if not args:
        raise PyruncError("exec needs a command (or --process)")
    process = dict(base)
    process["args"] = args
    process["env"] = list(base.get("env", [])) + env
    process["terminal"] = tty
    if cwd:
        process["cwd"] = cwd
    if user:
        uid, _, gid = user.partition(":")
        process["user"] = {"uid": parse_flag("user", uid, 0, UINT32_MAX),
                           "gid": parse_flag("user", gid or "0", 0, UINT32_MAX)}
    if additional_gids:
        process.setdefault("user", {})["additionalGids"] = additional_gids
    if caps:
        saved = base.get("capabilities") or {}
        current = {name: list(saved.get(name) or []) for name in CAPABILITY_SETS}
        # Ambient needs inheritable too, or the kernel refuses to raise it.
        for name in CAPABILITY_SETS:
            current[name] += [c for c in caps if c not in current[name]]
        process["capabilities"] = current
    if no_new_privs:
        process["noNewPrivileges"] = True
    return process


def load_process_file(path: str) -> dict[str, Any]:
    from . import jsonio
    process = jsonio.read_file(path, PyruncError, "--process")
    if not isinstance(process, dict):
        raise PyruncError(f"--process {path}: must be a process object")
    return process


def exec_process(state: ContainerState, opts: ExecOptions) -> int:
    """Run opts.process in the container whose state the caller loaded."""
    from . import plan, spawn

    status = status_of(state)
    if status == STOPPED:
        raise PyruncError("cannot exec in a stopped container")
    if status == PAUSED and not opts.ignore_paused:
        raise PyruncError("cannot exec in a paused container (use --ignore-paused to override)")
    terminal = bool(opts.process.get("terminal"))
    own_terminal = terminal and opts.console_socket is None and not opts.detach
    if own_terminal and "consoleSize" not in opts.process and os.isatty(0):
        # The init sizes the pty before exec: the program may ask at once.
        size = os.get_terminal_size(0)
        opts.process = {**opts.process, "consoleSize": {"height": size.lines, "width": size.columns}}
    config = dict(state.data["config"])
    config["process"] = opts.process
    spec = spec_mod.parse(config)
    # runc filters exec'd processes with the container's seccomp profile too.
    # The container's session keyring, never the caller's (whose keys the
    # process could read), unless the container was made to keep its own.
    keyring = None if state.data.get("noNewKeyring") else plan.session_keyring_name(state.id)
    the_plan = plan.make_exec_plan(spec, state.pid, opts.preserve_fds,
                                   seccomp=seccomp_program(spec, os.path.dirname(state.dir)),
                                   session_keyring=keyring)
    place, cgroup_fds, cgroup_dir_fd = _placement(state, opts.sub_cgroups, the_plan)

    undo = Undo()
    master = -1
    ours = console = None
    try:
        if own_terminal:
            ours, theirs = own_console()       # we attach the user's terminal ourselves
            undo.add(ours.close)
        else:
            console = console_socket(terminal, opts.console_socket, None)
            if console is not None:
                undo.add(console.close)
        console_fd = (theirs if ours is not None else console).fileno() if (ours or console) else -1
        try:
            pid, parent_sock = spawn.spawn(the_plan, place, console_fd=console_fd,
                                           on_seccomp_fd=lambda pid, fd: _seccomp_agent(the_plan, state, pid, fd),
                                           patient=opts.ignore_paused, cgroup_fds=cgroup_fds,
                                           cgroup_dir_fd=cgroup_dir_fd)
        finally:
            if ours is not None:
                theirs.close()
        undo.add(lambda: spawn.kill_child(pid))
        if ours is not None:
            from .console import receive_pty_master
            _name, master = receive_pty_master(ours)
        spawn.wait_exec(parent_sock)
        if opts.pid_file:
            write_pid_file(opts.pid_file, pid)
    except BaseException:
        undo.run()
        raise
    finally:
        close_joins(cgroup_fds, cgroup_dir_fd)
    for sock in (ours, console):
        if sock is not None:
            sock.close()
    if opts.detach:
        return 0
    return attach_and_wait(pid, master)


def _placement(state: ContainerState, sub_cgroups: list[str], the_plan: Any) -> tuple[Any, list[int], int]:
    """Where the new process goes: the container's cgroup, or the existing
    sub-cgroups of it that --cgroup names.  (place(pid), cgroup fds, cgroup
    dir fd): as the init of a create, the process joins the container's
    cgroup itself where the kernel makes that cheap (see init_joins: a move
    by pid waits for an RCU grace period per v1 hierarchy, ten of them
    here), and place() does the rest."""
    from .cgroups import parse_sub_cgroups
    subs = parse_sub_cgroups(sub_cgroups)
    manager = cgroup_manager(state)
    if manager is None:
        if subs:
            raise PyruncError("--cgroup: the container has no cgroup of its own")
        return (lambda pid: None), [], -1
    if subs:
        return (lambda pid: manager.add_pid_below(pid, subs)), [], -1
    fds, dir_fd, rest = self_joins(manager, the_plan)
    return (lambda pid: manager.add_pid(pid, rest)), fds, dir_fd


def _seccomp_agent(the_plan: Any, state: Any, pid: int, fd: int) -> None:
    from . import seccomp
    seccomp.send_to_agent(the_plan.seccomp, fd, pid, state_json(state))
