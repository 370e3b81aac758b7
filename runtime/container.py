"""Container lifecycle: create, start, run, kill, delete, state, list.

The library behind the CLI verbs (and, later, the shim).  Each operation
takes the state store and plain arguments and raises PyruncError on
failure; a failed create leaves nothing behind.
"""
from __future__ import annotations

import _signal
import os

from . import jsonio
from . import trace
from .errors import ContainerNotFound, PyruncError, from_os_error
from .log import logger
from .integers import INT64_MAX, parse_integer, quote
from .state import CREATED, PAUSED, RUNNING, STOPPED, ContainerState, CorruptState, Lock, StateStore
from .state import cgroup_of, now_rfc3339, process_start_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from . import spec as spec_mod

OCI_VERSION = "1.2.0"
# `list`'s status of a container whose state file is damaged.
UNKNOWN = "unknown"


class CreateOptions:
    """The flags of create/run that shape a container."""

    def __init__(self, bundle: str, pid_file: str | None = None, console_socket: str | None = None,
                 no_pivot: bool = False, no_new_keyring: bool = False, preserve_fds: int = 0,
                 systemd_cgroup: bool = False, rootless: bool = False) -> None:
        self.bundle, self.pid_file, self.console_socket = bundle, pid_file, console_socket
        self.no_pivot, self.no_new_keyring = no_pivot, no_new_keyring
        self.preserve_fds, self.systemd_cgroup = preserve_fds, systemd_cgroup
        self.rootless = rootless    # --rootless: a cgroup the user may not create is skipped


# ---- helpers ---------------------------------------------------------------

def write_pid_file(path: str, pid: int) -> None:
    """Atomically, as engines read it the moment create returns.  The
    temporary name is created exclusively and without following a symlink
    (one planted there must not send our write elsewhere), relative to the
    directory's fd, then renamed over the pid file."""
    from stat import S_ISREG
    path = os.path.abspath(path)
    directory, name = os.path.split(path)
    tmp = f".{name}.tmp"
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise from_os_error(f"write pid file {path}", exc) from None
    try:
        try:
            # A file left by a writer killed half-way would fail every retry;
            # anything else there (a planted symlink) is refused below.
            if S_ISREG(os.stat(tmp, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                os.unlink(tmp, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666,
                     dir_fd=dir_fd)
        try:
            try:
                os.write(fd, str(pid).encode())
            finally:
                os.close(fd)
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError:
            os.unlink(tmp, dir_fd=dir_fd)     # ours: created just now
            raise
    except OSError as exc:
        raise from_os_error(f"write pid file {path}", exc) from None
    finally:
        os.close(dir_fd)


def cgroup_manager(state: ContainerState) -> Any:
    from . import cgroups
    return cgroups.manager_from_state(state.data["cgroup"]) if state.data.get("cgroup") else None


def _is_frozen(state: ContainerState) -> Any:
    manager = cgroup_manager(state)
    return manager.is_frozen if manager is not None else None


def status_of(state: ContainerState) -> str:
    return state.status(_is_frozen(state))


def pidfd_for(state: ContainerState) -> int | None:
    """A pidfd of the init, or None when the init is gone (or its pid reused)."""
    try:
        pidfd = os.pidfd_open(state.pid)
    except OSError:
        return None
    # Holding the pidfd pins the process; now check it is still ours.
    if not state.init_alive():
        os.close(pidfd)
        return None
    return pidfd


def _signal_init(state: ContainerState, sig: int) -> bool:
    pidfd = pidfd_for(state)
    if pidfd is None:
        return False
    try:
        _signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        return False
    except OSError as exc:
        raise from_os_error(f"signal container {state.id}", exc) from None
    finally:
        os.close(pidfd)
    return True


def _wait_pidfd_exit(pidfd: int, timeout: float) -> bool:
    import select
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(int(timeout * 1000)))


def _kill_and_wait(state: ContainerState, timeout: float = 10.0) -> None:
    pidfd = pidfd_for(state)
    if pidfd is None:
        return
    try:
        _signal.pidfd_send_signal(pidfd, _signal.SIGKILL)
        if not _wait_pidfd_exit(pidfd, timeout):
            raise PyruncError(f"container {state.id}: init did not die after SIGKILL")
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)


# ---- create ----------------------------------------------------------------

class Undo:
    """Cleanup steps of a half-done operation, run newest first on failure."""

    def __init__(self) -> None:
        self.steps: list[Any] = []

    def add(self, step: Any) -> None:
        self.steps.append(step)

    def run(self) -> None:
        for step in reversed(self.steps):
            try:
                step()
            except Exception as exc:    # cleanup goes on; the first error is what matters
                logger.warning(f"cleanup: {exc}")


def console_socket(terminal: bool, path: str | None, own_console_fd: int | None) -> Any:
    """The connected --console-socket, if the process gets a terminal;
    own_console_fd is a socket of ours that takes the pty master instead."""
    if terminal and path is None and own_console_fd is None:
        raise PyruncError("cannot allocate tty if pyrunc will detach without setting console socket")
    if not terminal and path is not None:
        raise PyruncError("cannot use console socket if pyrunc will not detach or allocate tty")
    if terminal and path is not None:
        from .console import connect_console_socket
        return connect_console_socket(path)
    return None


def _create_cgroup(spec: spec_mod.Spec, state: ContainerState, opts: CreateOptions, undo: Undo) -> Any:
    """The container's cgroup, made and configured; None when rootless and
    the user may not make it (runc's rule: fine unless limits are asked for)."""
    from . import cgroups, rootless
    manager = cgroups.open_manager(spec.linux.cgroups_path, state.id, systemd=opts.systemd_cgroup)
    undo.add(manager.destroy)   # what it made, even if it fails half-way
    # Should we be killed while making it, delete --force finds it by this.
    state.save_progress({"cgroup": {**manager.to_state(), "created": manager.to_make()}})
    try:
        manager.create()
    except PyruncError as exc:
        if not opts.rootless or exc.errno not in rootless.NO_PERMISSION:
            raise
        rootless.check_limits_without_cgroup(spec.linux.resources, exc)
        logger.debug(f"rootless: going without a cgroup: {exc}")
        manager.destroy()
        return None
    manager.check_before_use()
    resources = spec.linux.resources
    if opts.rootless and "devices" in resources:
        # Device rules may not be the user's to enforce: tried, and a
        # permission error ignored (as runc does).
        try:
            manager.apply({"devices": resources["devices"]})
        except PyruncError as exc:
            if exc.errno not in rootless.NO_PERMISSION:
                raise
            logger.debug(f"rootless: device rules not applied: {exc}")
        resources = {key: value for key, value in resources.items() if key != "devices"}
    if resources:
        manager.apply(resources)
    for warning in manager.warnings:
        logger.warning(warning)
    return manager


def _init_identity(pid: int, manager: Any) -> dict[str, Any]:
    """What tells the init from any other process later, besides its start
    time: its pid namespace when it is not ours, and its cgroup."""
    identity: dict[str, Any] = {}
    try:
        pid_ns = os.stat(f"/proc/{pid}/ns/pid").st_ino
        if pid_ns != os.stat("/proc/self/ns/pid").st_ino:
            identity["initPidNs"] = pid_ns
    except OSError:
        pass
    if manager is not None:
        hierarchy = manager.procs_hierarchy()
        path = cgroup_of(pid, hierarchy)
        if path is not None:
            identity["initCgroup"] = [hierarchy, path]
    return identity


def self_joins(manager: Any, the_plan: Any) -> tuple[list[int], int, list[str]]:
    """How a new process (a create's init, an exec's) joins the container's
    cgroup by itself where the kernel makes that cheap (see
    CgroupManager.init_joins): cloned into a v2 cgroup only by root outside
    a user namespace (the kernel checks the cloner's rights on it then)."""
    from .linux_constants import CLONE_NEWUSER
    clone_into = os.geteuid() == 0 and all(flag != CLONE_NEWUSER for flag, _ in the_plan.namespaces)
    return manager.init_joins(clone_into)


def close_joins(cgroup_fds: list[int], cgroup_dir_fd: int) -> None:
    """Our copies of self_joins' fds, once the process has its own."""
    for fd in cgroup_fds + ([cgroup_dir_fd] if cgroup_dir_fd >= 0 else []):
        os.close(fd)


def _create_in(state: ContainerState, spec: spec_mod.Spec, opts: CreateOptions, console_fd: int,
               undo: Undo) -> Any:
    from . import hooks, idmap, init_program, plan, rootless, spawn, sync

    # The cgroup first: a cgroup mount without a cgroup namespace binds it.
    manager = _create_cgroup(spec, state, opts, undo)
    trace.mark("cgroup")
    host = plan.read_host(manager.paths if manager is not None else {})
    the_plan = plan.make_plan(spec, opts.bundle, host, container_id=state.id, no_pivot=opts.no_pivot,
                              no_new_keyring=opts.no_new_keyring, preserve_fds=opts.preserve_fds,
                              seccomp=seccomp_program(spec, os.path.dirname(state.dir)))
    rootless.check_id_maps(the_plan.uid_map, the_plan.gid_map)
    the_plan.staging_dir = state.dir
    trace.mark("plan")
    try:
        fifo = init_program.make_exec_fifo(state.fifo_path)
    except OSError as exc:      # a full disk under --root
        raise from_os_error(f"make {state.fifo_path}", exc) from None

    def hook_state(pid: int, status: str) -> str:
        return hooks.state_json(OCI_VERSION, state.id, status, pid, opts.bundle, spec.annotations)

    # Every hook before start sees "created": the runtime-spec's lifecycle
    # runs them after the create step (crun's choice; runc 1.1 says "creating").
    def runtime_hooks(pid: int) -> None:
        for kind in ("prestart", "createRuntime"):
            hooks.run_hooks(kind, the_plan.hooks[kind], hook_state(pid, CREATED), opts.bundle)

    def seccomp_agent(pid: int, fd: int) -> None:
        from . import seccomp
        # The agent gets the state the hooks get; the filter is loaded during create.
        seccomp.send_to_agent(the_plan.seccomp, fd, pid, jsonio.loads(hook_state(pid, "creating")))

    def init_hook_state(pid: int) -> str:
        # The init gets it in one sync message, which must not cut it short.
        text = hook_state(pid, CREATED)
        if len(text.encode()) >= sync.MAX_TEXT:
            raise PyruncError(f"the state for createContainer and startContainer hooks is too large: "
                              f"{len(text.encode())} bytes (annotations?), at most {sync.MAX_TEXT - 1}")
        return text

    in_init = the_plan.hooks["createContainer"] or the_plan.hooks["startContainer"]

    cgroup_fds, cgroup_dir_fd, by_pid = self_joins(manager, the_plan) if manager is not None else ([], -1, None)

    def place(pid: int) -> None:
        # Into the cgroup before the init runs a single container step (the
        # init joins what it can itself after GO); a cgroup frozen since it
        # was checked would hold the init for good.
        if manager is not None:
            manager.add_pid(pid, by_pid)
            manager.refuse_frozen()
        # Once READY, the init outlives us: delete --force must find it.
        # (Its cgroup is not part of its identity yet: it may join it later.)
        state.save_progress({"pid": pid, "pidStartTime": process_start_time(pid),
                             "cgroup": manager.to_state() if manager is not None else None,
                             **_init_identity(pid, None)})

    def thawed_if_frozen() -> bool:
        # A cgroup frozen during setup holds the init for good: an error,
        # and a cgroup of ours is thawed so that the init can be killed.
        if not manager.held_frozen():
            return False
        if manager.owned():
            manager.thaw()
        return True

    try:
        with idmap.DetachedMounts(the_plan.mounts):
            pid, parent_sock = spawn.spawn(the_plan, place, fifo, console_fd,
                                           go_text=init_hook_state if in_init else None,
                                           on_hooks=runtime_hooks, on_seccomp_fd=seccomp_agent,
                                           frozen=thawed_if_frozen if manager is not None else None,
                                           cgroup_fds=cgroup_fds, cgroup_dir_fd=cgroup_dir_fd)
    finally:
        os.close(fifo)
        close_joins(cgroup_fds, cgroup_dir_fd)
    trace.mark("spawn")
    undo.add(lambda: spawn.kill_child(pid))
    undo.add(parent_sock.close)
    state.data.update({
        "ociVersion": OCI_VERSION,
        "id": state.id,
        "pid": pid,
        "pidStartTime": process_start_time(pid),
        "bundle": opts.bundle,
        "rootfs": the_plan.rootfs,
        "created": now_rfc3339(),
        "owner": "",
        "annotations": spec.annotations,
        "cgroup": manager.to_state() if manager is not None else None,
        "config": spec.raw,
        "noNewKeyring": opts.no_new_keyring,    # exec joins the container's session keyring, or not
        **_init_identity(pid, manager),
    })
    state.save()
    if opts.pid_file:
        write_pid_file(opts.pid_file, pid)
    trace.mark("state")
    return parent_sock


def seccomp_program(spec: spec_mod.Spec, state_root: str) -> Any:
    """linux.seccomp compiled (or from the cache under the state root)."""
    if spec.linux.seccomp is None:
        return None
    from . import seccomp
    return seccomp.prepare(spec.linux.seccomp, state_root)


def create(store: StateStore, container_id: str, opts: CreateOptions, keep_channel: bool = False,
           console_fd: int | None = None, spec: spec_mod.Spec | None = None) -> tuple[ContainerState, Any]:
    """Create a container blocked on exec.fifo; returns its state and, with
    keep_channel, the parent end of the sync channel (for `run`, which
    starts at once), else None.
    console_fd: a socket to send the pty master to, instead of
    --console-socket (for `run` attaching the user's terminal).  spec:
    the bundle's config when the caller has read it already."""
    opts.bundle = os.path.abspath(opts.bundle)
    if spec is None:
        from . import spec as spec_mod
        spec = spec_mod.load(opts.bundle)
        trace.mark("config")
    terminal = spec.process is not None and spec.process.terminal
    undo = Undo()
    lock = None
    try:
        console = console_socket(terminal, opts.console_socket, console_fd)
        if console is not None:
            undo.add(console.close)
            console_fd = console.fileno()
        # The lock is held until the state file is saved: a directory
        # without one whose lock is free is a create that died half-way
        # (see StateStore.load); and while a failed create cleans up.
        state, lock = store.new(container_id)
        undo.add(lambda: store.remove(state))
        parent_sock = _create_in(state, spec, opts, -1 if console_fd is None else console_fd, undo)
    except OSError as exc:
        # A resource run out (fds, disk, memory) where nothing names it better.
        undo.run()
        raise from_os_error(f"create container {container_id}", exc) from None
    except BaseException:
        undo.run()
        raise
    finally:
        if lock is not None:
            lock.release()
    if console is not None:
        console.close()
    if keep_channel:
        return state, parent_sock
    parent_sock.close()
    return state, None


# ---- start -----------------------------------------------------------------

def _release_init(state: ContainerState) -> None:
    """Open exec.fifo for reading: that unblocks the init, which writes a
    byte and execs.  Removing the fifo marks the container running, and it
    goes before the init can move: a start killed at any point never
    leaves a program running in a container that says it is created (an
    init that writes after we died gets EPIPE and exits)."""
    manager = cgroup_manager(state)
    frozen = manager.held_frozen if manager is not None else None
    try:
        path_fd = os.open(state.fifo_path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        raise PyruncError(f"container {state.id} is not in the created state") from None
    try:
        os.unlink(state.fifo_path)
        fd = os.open(f"/proc/self/fd/{path_fd}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    finally:
        os.close(path_fd)
    try:
        import select
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while True:
            poller.poll(100)
            try:
                answer = os.read(fd, 1)
            except BlockingIOError:
                answer = b""
            if answer:
                break
            if not state.init_alive():
                raise PyruncError(f"container {state.id}: init exited before it started")
            if frozen is not None and frozen():
                # It would wait for good: no frozen init reaches its exec.
                raise PyruncError(f"container {state.id}: its cgroup is frozen, the init cannot start")
        if answer != b"0":      # "E" and why: a startContainer hook failed
            os.set_blocking(fd, True)
            raise PyruncError(os.read(fd, 4096).decode(errors="replace") or "container init failed")
    finally:
        os.close(fd)


def _container_hooks(state: ContainerState, kind: str) -> list[Any]:
    from . import hooks
    return hooks.parse_hooks(state.data.get("config", {}).get("hooks"))[kind]


def _run_poststart(store: StateStore, state: ContainerState, poststart: list[Any]) -> None:
    """A failing poststart hook fails the start, and the container is
    stopped and deleted (as runc does)."""
    if not poststart:
        return
    from . import hooks
    try:
        hooks.run_hooks("poststart", poststart, _hook_state(state, RUNNING), state.data.get("bundle", ""))
    except PyruncError:
        _kill_and_wait(state)
        _destroy(store, state)
        raise


def _hook_state(state: ContainerState, status: str) -> str:
    from . import hooks
    return hooks.state_json(state.data.get("ociVersion", OCI_VERSION), state.id, status,
                            state.pid if status != STOPPED else 0, state.data.get("bundle", ""),
                            state.data.get("annotations") or {})


def start(store: StateStore, container_id: str) -> None:
    state = store.load(container_id)
    with Lock(state.dir):
        status = status_of(state)
        if status != CREATED:
            # runc's words for each state.
            raise PyruncError({STOPPED: "cannot start a container that has stopped",
                               RUNNING: "cannot start an already running container"}.get(
                                   status, f"cannot start a container in the {status} state"))
        poststart = _container_hooks(state, "poststart")    # a bad one before the program runs
        _release_init(state)
        _run_poststart(store, state, poststart)


# ---- kill / delete ---------------------------------------------------------

# The names runc knows (Go's x/sys/unix list for Linux): no SIGIOT, SIGPOLL,
# SIGCLD or SIGRTMIN+n aliases, which it refuses.
SIGNAL_NAMES = ("SIGABRT", "SIGALRM", "SIGBUS", "SIGCHLD", "SIGCONT", "SIGFPE", "SIGHUP", "SIGILL",
                "SIGINT", "SIGIO", "SIGKILL", "SIGPIPE", "SIGPROF", "SIGPWR", "SIGQUIT", "SIGSEGV",
                "SIGSTKFLT", "SIGSTOP", "SIGSYS", "SIGTERM", "SIGTRAP", "SIGTSTP", "SIGTTIN", "SIGTTOU",
                "SIGURG", "SIGUSR1", "SIGUSR2", "SIGVTALRM", "SIGWINCH", "SIGXCPU", "SIGXFSZ")


def parse_signal(text: str) -> int:
    """A signal number from `9`, `KILL`, `sigkill` or `SIGKILL`, as runc's
    parseSignal: any ASCII integer (0 checks liveness; one the kernel
    refuses fails when sent), else a known name in any case."""
    try:
        return parse_integer(text, -INT64_MAX - 1, INT64_MAX, signed=True)
    except ValueError:
        pass
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name in SIGNAL_NAMES:
        return int(getattr(_signal, name))
    raise PyruncError(f"unknown signal {quote(text)}")


def container_process(state: ContainerState) -> Any:
    """For a cgroup pyrunc did not make (so it may hold others' processes):
    whether a pid is the container's. With a pid namespace of its own, its
    members are; without one only the init can be told apart."""
    pid_ns = state.data.get("initPidNs")
    if pid_ns is None:
        return lambda pid: pid == state.pid and state.init_alive()

    def in_namespace(pid: int) -> bool:
        try:
            return os.stat(f"/proc/{pid}/ns/pid").st_ino == pid_ns
        except OSError:
            return False
    return in_namespace


def kill_all(state: ContainerState, manager: Any, sig: int) -> None:
    if not manager.owned():
        logger.warning(f"cgroup {manager.inner} was not made by pyrunc: signalling only the "
                       "container's processes in it")
    manager.kill_all(sig, container_process(state))


def kill(store: StateStore, container_id: str, sig: int, all_processes: bool = False) -> None:
    state = store.load(container_id)
    status = status_of(state)
    if status == STOPPED and not all_processes:
        raise PyruncError("container not running")
    valid = 0 <= sig < _signal.NSIG
    manager = cgroup_manager(state)
    if all_processes and (manager is not None or status == STOPPED):
        # As runc: with --all, a stopped container is no error, and a signal
        # the kernel refuses is only a warning.
        if not valid:
            logger.warning("invalid argument")
        elif manager is not None:
            kill_all(state, manager, sig)
        return
    if not valid:
        raise PyruncError("unable to signal init: invalid argument")
    if not _signal_init(state, sig):
        raise PyruncError("container not running")
    # A frozen process only dies once thawed: SIGKILL means "now" (as runc).
    if sig == _signal.SIGKILL and status == PAUSED and manager is not None:
        manager.thaw()


def _destroy(store: StateStore, state: ContainerState) -> None:
    try:
        poststop = _container_hooks(state, "poststop")
    except PyruncError as exc:      # an edited state: the container still goes
        logger.warning(f"poststop hooks not run: {exc}")
        poststop = []
    if poststop:
        from . import hooks
        hooks.run_hooks_logged("poststop", poststop, _hook_state(state, STOPPED), state.data.get("bundle", ""))
    from .net import release    # what a failed poststop of pyrunc-net left
    try:
        release(store.root, state.id)
    except PyruncError as exc:
        logger.warning(str(exc))
    manager = cgroup_manager(state)
    if manager is not None:
        kill_all(state, manager, _signal.SIGKILL)
        manager.destroy()
    store.remove(state)


def delete(store: StateStore, container_id: str, force: bool = False) -> None:
    try:
        # Everything under the lock: a create or start of the same id
        # finishes first, a delete before us leaves nothing to find.
        with Lock(store.container_dir(container_id)):
            try:
                state = store.load(container_id, locked=True)
            except CorruptState as exc:
                if not force:
                    raise
                _remove_corrupt(store, exc)
                return
            _delete(store, state, force)
    except ContainerNotFound:
        if not force:   # engines delete --force things that may be gone already
            raise


def _delete(store: StateStore, state: ContainerState, force: bool) -> None:
    """Delete the container whose lock the caller holds."""
    status = status_of(state)
    if status in (RUNNING, PAUSED) and not force:
        raise PyruncError(f"cannot delete container {state.id} that is not stopped: {status}")
    if status != STOPPED:
        manager = cgroup_manager(state)
        if status == PAUSED and manager is not None:
            kill_all(state, manager, _signal.SIGKILL)
            manager.thaw()
        _kill_and_wait(state)
    _destroy(store, state)


def _remove_corrupt(store: StateStore, exc: CorruptState) -> None:
    """delete --force of a container whose state file is damaged (under its
    lock): remove what can still be identified safely (the init by its pid
    and start time, the cgroup saved or else the default one named after
    the id, the state directory), and fail naming what could not be."""
    from . import cgroups
    container_id, good = exc.container_id, exc.good
    state = ContainerState(container_id, exc.dir, good)
    failed: list[str] = []
    # A create that died before its cgroup left no process: PDEATHSIG ends
    # an init whose runtime died, and its cgroup (if any) is found below.
    init_known = ("pid" in good and "pidStartTime" in good) or exc.half_made
    if init_known:
        try:
            _kill_and_wait(state)
        except PyruncError as error:
            failed.append(f"the init: {error}")
    manager = None
    try:
        if good.get("cgroup"):
            manager = cgroups.manager_from_state(good["cgroup"])
        else:
            manager = cgroups.open_manager(None, container_id)
            if not any(os.path.isdir(path) for path in manager.paths.values()):
                manager = None
            else:
                # The default place, named after the id, is pyrunc's own.
                manager.created = [path for path in manager.unique_dirs() if os.path.isdir(path)]
    except PyruncError as error:
        failed.append(f"the cgroup: {error}")
    if manager is not None:
        try:
            manager.kill_all(_signal.SIGKILL)
            manager.destroy()
            init_known = True       # whatever ran in the cgroup is gone
        except PyruncError as error:
            failed.append(f"the cgroup: {error}")
    from .net import release    # a create killed after its createRuntime hook ran
    try:
        release(store.root, container_id)
    except PyruncError as error:
        failed.append(str(error))
    try:
        store.remove(state)
    except OSError as error:
        failed.append(f"the state directory {exc.dir}: {getattr(error, 'strerror', None) or error}")
    if not init_known:
        failed.append("its init process: neither its pid nor its cgroup is known")
    if failed:
        raise PyruncError(f"{exc}; could not remove " + "; ".join(failed))


# ---- state / list ----------------------------------------------------------

def state_json(state: ContainerState) -> dict[str, Any]:
    status = status_of(state)
    result: dict[str, Any] = {
        "ociVersion": state.data.get("ociVersion", OCI_VERSION),
        "id": state.id,
        "pid": state.pid if status != STOPPED else 0,
        "status": status,
        "bundle": state.data.get("bundle", ""),
        "rootfs": state.data.get("rootfs", ""),
        "created": state.data.get("created", ""),
        "owner": state.data.get("owner", ""),
    }
    if state.data.get("annotations"):
        result["annotations"] = state.data["annotations"]
    return result


def container_state(store: StateStore, container_id: str) -> dict[str, Any]:
    return state_json(store.load(container_id))


def _owner_name(path: str) -> str:
    """The user owning a state directory, by name (as runc's list shows it)."""
    import pwd
    try:
        uid = os.stat(path).st_uid
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
    except OSError:
        return ""


def list_containers(store: StateStore) -> list[dict[str, Any]]:
    try:
        ids = list(store.ids())
    except OSError as exc:     # --root is a file, or unreadable
        raise from_os_error(f"open {store.root}", exc) from None
    result = []
    for container_id in ids:
        try:
            state = store.load(container_id)
        except ContainerNotFound:
            continue       # deleted while we listed
        except PyruncError as exc:
            # One bad state file must not hide the other containers.
            logger.warning(str(exc))
            directory = os.path.join(store.root, container_id)
            result.append({"ociVersion": OCI_VERSION, "id": container_id, "pid": 0, "status": UNKNOWN,
                           "bundle": "", "rootfs": "", "created": "", "owner": _owner_name(directory)})
            continue
        result.append({**state_json(state), "owner": _owner_name(state.dir)})
    return result


# ---- run and exec ----------------------------------------------------------

_UNFORWARDED = {_signal.SIGCHLD, _signal.SIGKILL, _signal.SIGSTOP, _signal.SIGURG, _signal.SIGWINCH}


def forward_signals(pid: int) -> None:
    """Pass every signal we get on to pid, as runc run/exec do (a C
    handler, _spawn's: see native/pyext/spawnmodule.c)."""
    from . import _spawn  # type: ignore[attr-defined]
    _spawn.forward_signals(pid, tuple(_UNFORWARDED))


def own_console() -> tuple[Any, Any]:
    """A socketpair standing in for --console-socket: (ours, theirs)."""
    import _socket
    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)


def attach_and_wait(pid: int, master: int) -> int:
    """Forward signals, copy the terminal if we hold its master, and wait."""
    from . import spawn
    forward_signals(pid)
    if master >= 0:
        from .console import AttachedTerminal
        with AttachedTerminal(master) as terminal:
            terminal.pump()
        os.close(master)
    return spawn.wait_status(pid)


def run(store: StateStore, container_id: str, opts: CreateOptions, detach: bool = False,
        keep: bool = False) -> int:
    from . import spawn
    from . import spec as spec_mod

    opts.bundle = os.path.abspath(opts.bundle)
    spec = spec_mod.load(opts.bundle)
    trace.mark("config")
    terminal = spec.process is not None and spec.process.terminal
    master = -1
    if terminal and opts.console_socket is None and not detach:   # we attach our own terminal
        from .console import copy_window_size, receive_pty_master
        ours, theirs = own_console()
        try:
            state, parent_sock = create(store, container_id, opts, keep_channel=True,
                                        console_fd=theirs.fileno(), spec=spec)
            theirs.close()
            try:
                _name, master = receive_pty_master(ours)
                # Before the program starts: it may ask for its size at once.
                copy_window_size(0, master)
            except BaseException:
                parent_sock.close()
                delete(store, container_id, force=True)
                raise
        finally:
            theirs.close()
            ours.close()
    else:
        state, parent_sock = create(store, container_id, opts, keep_channel=True, spec=spec)
    try:
        try:
            _release_init(state)
        except PyruncError:
            spawn.wait_exec(parent_sock)    # the init's own error, when it sent one
            raise
        spawn.wait_exec(parent_sock)
        _run_poststart(store, state, _container_hooks(state, "poststart"))
        trace.mark("start")
    except BaseException:
        parent_sock.close()
        delete(store, container_id, force=True)
        raise
    if detach:
        return 0
    status = attach_and_wait(state.pid, master)
    trace.mark("container")
    if not keep:
        delete(store, container_id, force=True)
        trace.mark("delete")
    return status
