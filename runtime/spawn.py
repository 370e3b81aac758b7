"""Start one planned process and see it through to execve: the part of
create, run and exec that talks to the native side.

The native spawn forks an intermediate that reports the new process's
pid; we place it (cgroup) and say GO; it sets itself up and says READY.
After that, EOF on the channel means it exec'd (the channel is
close-on-exec) and an ERROR message means it could not.
"""
from __future__ import annotations

import _signal
import os

from . import native, sync
from .errors import PyruncError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from .plan import Plan


def expect(sock: Any, kind: int, what: str) -> sync.Message:
    return _checked(sync.receive(sock), kind, what)


def expect_fd(sock: Any, kind: int, what: str) -> int:
    """Like expect, for a message carrying an fd; returns the fd."""
    message, fd = sync.receive_with_fd(sock)
    try:
        _checked(message, kind, what)
        if fd < 0:
            raise PyruncError(f"protocol error while {what}: message {kind} carries no fd")
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
    return fd


def _checked(message: sync.Message | None, kind: int, what: str) -> sync.Message:
    if message is None:
        raise PyruncError(f"container process exited while {what}")
    if message.type == sync.ERROR:
        raise PyruncError(message.text, errno=message.value)
    if message.type != kind:
        raise PyruncError(f"protocol error while {what}: unexpected message {message.type}")
    return message


def kill_child(pid: int) -> None:
    try:
        os.kill(pid, _signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _write_proc(path: str, text: str) -> None:
    """One write(2), as the kernel requires for id maps."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    except OSError as exc:
        raise PyruncError(f"write {path.rsplit('/', 1)[-1]} ({text.strip()!r}): {exc.strerror}",
                          errno=exc.errno) from None
    finally:
        os.close(fd)


def write_id_maps(pid: int, uid_map: str, gid_map: str) -> None:
    from .rootless import map_helper, run_map_helper
    helpers = {"uid": map_helper("uid", uid_map), "gid": map_helper("gid", gid_map)}
    if os.geteuid() != 0 and helpers["gid"] is None:
        # Unprivileged writers must give up setgroups before mapping gids.
        _write_proc(f"/proc/{pid}/setgroups", "deny")
    for kind, text in (("uid", uid_map), ("gid", gid_map)):
        helper = helpers[kind]
        if helper is not None:
            run_map_helper(helper, pid, text)
        else:
            _write_proc(f"/proc/{pid}/{kind}_map", text)


def spawn(plan: Plan, place: Callable[[int], None], fifo_fd: int = -1, console_fd: int = -1,
          go_text: Callable[[int], str] | None = None,
          on_hooks: Callable[[int], None] | None = None,
          on_seccomp_fd: Callable[[int, int], None] | None = None) -> tuple[int, Any]:
    """Spawn and set up; returns (pid, parent end of the channel) once the
    process is READY.  On failure nothing of it is left running.
    go_text(pid) is sent with GO (the hooks' state JSON); on_hooks(pid)
    runs when the init stops for the runtime's hooks; on_seccomp_fd(pid, fd)
    gets the listener of a notify filter (closed after it returns)."""
    parent_sock, child_sock = sync.channel()
    pid = 0
    try:
        try:
            intermediate = native.spawn(plan, child_sock.fileno(), fifo_fd, console_fd)
        finally:
            child_sock.close()
        try:
            if plan.uid_map is not None:
                expect(parent_sock, sync.USERNS, "creating the user namespace")
                write_id_maps(intermediate, plan.uid_map, plan.gid_map or "")
                sync.send(parent_sock, sync.Message(sync.GO))
            pid = expect(parent_sock, sync.PID, "starting").value
        except BaseException:
            kill_child(intermediate)
            raise
        else:
            os.waitpid(intermediate, 0)
        place(pid)
        if plan.process.oom_score_adj is not None:
            # From here, as runc does: inside a user namespace the init may
            # not write its own /proc files (they stay the host root's).
            _write_proc(f"/proc/{pid}/oom_score_adj", str(plan.process.oom_score_adj))
        sync.send(parent_sock, sync.Message(sync.GO, text=go_text(pid) if go_text else ""))
        if plan.runtime_hooks:
            expect(parent_sock, sync.HOOKS, "setting up the container")
            if on_hooks is not None:
                on_hooks(pid)
            sync.send(parent_sock, sync.Message(sync.GO))
        if plan.seccomp is not None and plan.seccomp.notify:
            _take_seccomp_fd(parent_sock, pid, on_seccomp_fd)
        expect(parent_sock, sync.READY, "setting up the container")
    except BaseException:
        if pid > 0:
            kill_child(pid)
        parent_sock.close()
        raise
    return pid, parent_sock


def _take_seccomp_fd(sock: Any, pid: int, on_seccomp_fd: Callable[[int, int], None] | None) -> None:
    fd = expect_fd(sock, sync.SECCOMP_FD, "loading the seccomp filter")
    try:
        if on_seccomp_fd is None:
            raise PyruncError("a seccomp notify filter needs someone to take its listener fd")
        on_seccomp_fd(pid, fd)
    finally:
        os.close(fd)


def wait_exec(parent_sock: Any) -> None:
    """Block until the process exec'd (EOF) or reported why it could not."""
    try:
        message = sync.receive(parent_sock)
    finally:
        parent_sock.close()
    if message is not None and message.type == sync.ERROR:
        raise PyruncError(message.text, errno=message.value)


def wait_status(pid: int) -> int:
    """waitpid, as an exit code: 128+N when killed by signal N."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            return 0
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
