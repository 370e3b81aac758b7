"""Start one planned process and see it through to execve: the part of
create, run and exec that talks to the native side.

The native spawn forks an intermediate that reports the new process's
pid; we place it (cgroup) and say GO; it sets itself up and says READY.
After that, EOF on the channel means it exec'd (the channel is
close-on-exec) and an ERROR message means it could not.
"""
from __future__ import annotations

import os
import time

from . import _spawn, init_program, sync  # type: ignore[attr-defined]
from .errors import PyruncError, from_os_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from .plan import Plan


# What the init's own setup may take between two messages, besides its
# createContainer hooks: far more than any real one, yet not forever.
SETUP_SECONDS = 120.0


class Watch:
    """Bounds each wait for the init's next message: an init that is frozen
    (by a cgroup frozen from outside) or silent for longer than its setup
    can take is an error, never a hang.  seconds None: no time limit (a
    hook without a timeout may run as long as it likes)."""

    def __init__(self, seconds: float | None = SETUP_SECONDS, frozen: Callable[[], bool] | None = None) -> None:
        self.seconds, self.frozen = seconds, frozen

    def wait(self, fd: int, what: str) -> None:
        end = None if self.seconds is None else time.monotonic() + self.seconds
        while not sync.readable(fd, 1.0):
            if self.frozen is not None and self.frozen():
                raise PyruncError(f"the container's cgroup is frozen while {what}: the init cannot go on")
            if end is not None and time.monotonic() > end:
                raise PyruncError(f"the container's init gave no sign for {self.seconds:.0f} s while {what}")


def setup_watch(plan: Plan, frozen: Callable[[], bool] | None = None) -> Watch:
    """The Watch for a plan's setup: createContainer hooks run in it, each
    for at most its timeout (none: unbounded)."""
    timeouts = [hook.timeout for hook in plan.hooks.get("createContainer", [])]
    seconds = None if 0 in timeouts else SETUP_SECONDS + sum(timeouts)
    return Watch(seconds, frozen)


def expect(channel: int, kind: int, what: str, watch: Watch | None = None) -> sync.Message:
    if watch is not None:
        watch.wait(channel, what)
    return _checked(sync.receive(channel), kind, what)


def expect_fd(channel: int, kind: int, what: str, watch: Watch | None = None) -> int:
    """Like expect, for a message carrying an fd; returns the fd."""
    if watch is not None:
        watch.wait(channel, what)
    message, fd = sync.receive_with_fd(channel)
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


def kill_child(pid: int, timeout: float = 10.0) -> None:
    """SIGKILL a child and reap it; a frozen one cannot die, so the wait is
    bounded: the cgroup's cleanup takes it later, and we never hang."""
    import _signal
    import select
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        _signal.pidfd_send_signal(pidfd, _signal.SIGKILL)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if poller.poll(int(timeout * 1000)):
            os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    finally:
        os.close(pidfd)


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
          on_seccomp_fd: Callable[[int, int], None] | None = None,
          frozen: Callable[[], bool] | None = None, patient: bool = False,
          cgroup_fds: list[int] | None = None, cgroup_dir_fd: int = -1) -> tuple[int, sync.Channel]:
    """Spawn and set up; returns (pid, parent end of the channel) once the
    process is READY.  On failure nothing of it is left running.
    go_text(pid) is sent with GO (the hooks' state JSON); on_hooks(pid)
    runs when the init stops for the runtime's hooks; on_seccomp_fd(pid, fd)
    gets the listener of a notify filter (closed after it returns);
    frozen() tells whether the process's cgroup is frozen (see Watch);
    patient: wait as long as it takes (exec --ignore-paused waits for a
    resume, as runc's does); cgroup_fds, cgroup_dir_fd: the cgroup the
    process joins by itself (struct pyrunc_plan); place(pid) does the rest."""
    watch = Watch(None) if patient else setup_watch(plan, frozen)
    try:
        parent, child_fd = sync.channel()
    except OSError as exc:
        raise from_os_error("start the container process", exc) from None
    pid = 0
    try:
        try:
            intermediate = init_program.spawn(plan, child_fd, fifo_fd, console_fd, cgroup_fds, cgroup_dir_fd)
        except OSError as exc:      # out of fds or memory for its memfds
            raise from_os_error("start the container process", exc) from None
        finally:
            os.close(child_fd)
        try:
            if plan.uid_map is not None:
                expect(parent.fd, sync.USERNS, "creating the user namespace", watch)
                write_id_maps(intermediate, plan.uid_map, plan.gid_map or "")
                sync.send(parent.fd, sync.Message(sync.GO))
            pid = expect(parent.fd, sync.PID, "starting", watch).value
        except BaseException:
            kill_child(intermediate)
            raise
        else:
            wait_status(intermediate)
        place(pid)
        if plan.process.oom_score_adj is not None:
            # From here, as runc does: inside a user namespace the init may
            # not write its own /proc files (they stay the host root's).
            _write_proc(f"/proc/{pid}/oom_score_adj", str(plan.process.oom_score_adj))
        sync.send(parent.fd, sync.Message(sync.GO, text=go_text(pid) if go_text else ""))
        if plan.runtime_hooks:
            expect(parent.fd, sync.HOOKS, "setting up the container", watch)
            if on_hooks is not None:
                on_hooks(pid)
            sync.send(parent.fd, sync.Message(sync.GO))
        if plan.seccomp is not None and plan.seccomp.notify:
            _take_seccomp_fd(parent.fd, pid, on_seccomp_fd, watch)
        expect(parent.fd, sync.READY, "setting up the container", watch)
    except BaseException:
        if pid > 0:
            kill_child(pid)
        parent.close()
        raise
    return pid, parent


def _take_seccomp_fd(channel: int, pid: int, on_seccomp_fd: Callable[[int, int], None] | None,
                     watch: Watch) -> None:
    fd = expect_fd(channel, sync.SECCOMP_FD, "loading the seccomp filter", watch)
    try:
        if on_seccomp_fd is None:
            raise PyruncError("a seccomp notify filter needs someone to take its listener fd")
        on_seccomp_fd(pid, fd)
    finally:
        os.close(fd)


def wait_exec(parent: sync.Channel) -> None:
    """Block until the process exec'd (EOF) or reported why it could not."""
    try:
        message = sync.receive(parent.fd)
    finally:
        parent.close()
    if message is not None and message.type == sync.ERROR:
        raise PyruncError(message.text, errno=message.value)


def wait_status(pid: int) -> int:
    """Wait for a child; its exit code, 128+N when killed by signal N (0
    when it is not ours to wait for)."""
    try:
        status: int = _spawn.wait(pid)
    except ChildProcessError:
        return 0
    return status
