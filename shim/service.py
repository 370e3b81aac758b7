"""containerd.task.v2.Task: the shim's API, over pyrunc's runtime library
called in-process (no interpreter start per operation).

Calls into the library run under `lock`, which the reaper takes too
(see reaper.py), but for the long ones, Create and an exec's Start: the
library runs them in a forked worker and waits for no child of the
server, so they run in parallel, and the pid they return is registered
under the lock afterwards, with its exit if the reaper saw it already
(`early_exits`).  With BinaryName everything runs under the lock: the
binary is a child the reaper must not take.  Wait does not take it: it
waits for its process's exit event, so Kill and State are answered while
a Wait is blocked.

One service serves a namespace; each task belongs to the group of the
relay its Create came through.  A group whose relay died is containerd's
to clean up (it runs the delete command, as for any dead shim): its
tasks are forgotten once their init exits, with no event, unless a new
relay for the group connects first.
"""
from __future__ import annotations

import os
import signal
import struct
import threading
import time

from pyrunc.runtime.errors import ContainerNotFound, PyruncError
from pyrunc.runtime.state import CREATED, PAUSED, RUNNING, process_start_time

from . import exits, records, rootfs
from .log import log
from .runtimes import Options, open_runtime
from .server import calling
from .stdio import Stdio
from .threads import Call, Worker
from .ttrpc import ALREADY_EXISTS, FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED, UNKNOWN, TtrpcError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from .events import Publisher
    from .runtimes import Binary, Library
    from .stdio import Keeper

SERVICE = "containerd.task.v2.Task"
VERSION = "pyrunc-shim 0.1.0"
IO_DRAIN_TIMEOUT = 5.0      # output still open past this (a daemon holds it) is not waited for
UNKNOWN_EXIT = 255     # containerd's exit status for an exit nobody saw
ORPHAN_WAIT = 2.0      # seconds a reloaded process's exit may take to reach the zygote's record
EARLY_EXIT_KEPT = 60.0     # seconds an exit of a pid not known yet is kept for its spawn
UNKNOWN_STATUS, CREATED_STATUS, RUNNING_STATUS, STOPPED_STATUS, PAUSED_STATUS = 0, 1, 2, 3, 4
_STATUS = {CREATED: CREATED_STATUS, RUNNING: RUNNING_STATUS, PAUSED: PAUSED_STATUS}


def _pb() -> Any:
    from pyrunc.shim.proto.task import shim_pb2
    return shim_pb2


def _events() -> Any:
    from pyrunc.shim.proto.events import task_pb2
    return task_pb2


def _empty() -> Any:
    from google.protobuf import empty_pb2
    return empty_pb2.Empty()


class Process:
    """The init (exec_id "") or an exec'd process of a task."""

    def __init__(self, exec_id: str, stdio: Stdio, paths: tuple[str, str, str], terminal: bool,
                 spec: dict[str, Any] | None = None) -> None:
        self.exec_id, self.stdio, self.paths, self.terminal = exec_id, stdio, paths, terminal
        self.spec = spec
        self.pid = 0
        self.start_time: int | None = None     # of the pid, to know it again after a restart
        self.started = False
        self.starting = False   # an exec's Start on its way (outside the lock)
        self.exit_status: int | None = None     # set when reaped
        self.exited_at_ns = 0
        self.exited = threading.Event()         # set once the exit is published

    def record(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_time": self.start_time, "started": self.started,
                "terminal": self.terminal, "stdio": list(self.paths)}

    def timestamp(self) -> Any:
        from google.protobuf import timestamp_pb2
        stamp = timestamp_pb2.Timestamp()
        if self.exited_at_ns:
            stamp.FromNanoseconds(self.exited_at_ns)
        return stamp


class Task:
    def __init__(self, container_id: str, bundle: str, init: Process, mounted: bool,
                 runtime: Library | Binary, group: str) -> None:
        self.id, self.bundle, self.init, self.mounted = container_id, bundle, init, mounted
        self.runtime, self.group = runtime, group
        self.execs: dict[str, Process] = {}
        self.oom: Any = None

    def process(self, exec_id: str) -> Process:
        if not exec_id:
            return self.init
        try:
            return self.execs[exec_id]
        except KeyError:
            raise TtrpcError(NOT_FOUND, f"process {exec_id} does not exist in task {self.id}: not found") from None


def _reloaded(exec_id: str, record: dict[str, Any], stdio_of: Callable[[tuple[str, str, str]], Stdio]) -> Process:
    """A process from its record, with the stdio stdio_of(paths) resumes."""
    stdin, stdout, stderr = (str(path) for path in record.get("stdio") or ("", "", ""))
    process = Process(exec_id, stdio_of((stdin, stdout, stderr)), (stdin, stdout, stderr),
                      bool(record.get("terminal")))
    process.pid, process.started = int(record.get("pid") or 0), bool(record.get("started"))
    start_time = record.get("start_time")
    process.start_time = start_time if isinstance(start_time, int) else None
    return process


def records_alive(process: Process) -> bool:
    """The very process the record names (not another with its pid since)."""
    return process_start_time(process.pid) == process.start_time


class _PidfdWatch(Worker):
    """Waits for the exit of a process that is not our child (a reloaded
    one): a pidfd turns readable when it exits; its status is what the
    zygote, its reaper now, recorded (else unknown)."""

    def __init__(self, service: TaskService, task: Task, process: Process) -> None:
        super().__init__("pidfd")
        self.service, self.task, self.process = service, task, process
        self.pidfd = os.pidfd_open(process.pid)

    def run(self) -> None:
        import select
        try:
            if records_alive(self.process):     # not gone between the check and the pidfd
                poller = select.poll()
                poller.register(self.pidfd, select.POLLIN)
                poller.poll()
        finally:
            os.close(self.pidfd)
        self.service._orphan_exited(self.task, self.process, ORPHAN_WAIT)


def _library_error(exc: PyruncError) -> TtrpcError:
    """containerd's errdefs read the status code; the message is shown."""
    if isinstance(exc, ContainerNotFound):
        return TtrpcError(NOT_FOUND, f"{exc}: not found")
    if exc.errno == 17:
        return TtrpcError(ALREADY_EXISTS, f"{exc}: already exists")
    return TtrpcError(UNKNOWN, str(exc))


class TaskService:
    def __init__(self, namespace: str, state_root: str, exits_dir: str, publisher: Publisher,
                 on_shutdown: Callable[[str], None], tasks_dir: str = "", groups: set[str] | None = None) -> None:
        self.namespace, self.state_root = namespace, state_root
        self.exits_dir = exits_dir
        self.tasks_dir = tasks_dir      # the durable task table (records.py)
        self.publisher, self.on_shutdown = publisher, on_shutdown
        self.lock = threading.RLock()
        self.tasks: dict[str, Task] = {}
        self.by_pid: dict[int, tuple[Task, Process]] = {}
        self.console_dir = ""
        self.creates: dict[str, int] = {}     # per group: each one a `start` handed its relay out for
        self.last_create: dict[str, float] = {}     # per group: when (time.time()) its latest Create came
        self.creating: dict[str, str] = {}    # id: group, of each Create under way (outside the lock)
        self.early_exits: dict[int, tuple[int, float]] = {}    # pid: (exit code, when), of pids not known then
        # Relays, kept under a lock of their own: the server's loop keeps
        # them, and must never wait for `lock` (a Create holds it long).
        self.relay_lock = threading.Lock()
        self.live_groups = set(groups or ())   # whose relays are there
        self.relays: dict[int, tuple[str, int]] = {}    # relay pid: (group, pidfd)
        self.watcher: Any = None        # the Server, whose loop watches the relays' pidfds
        self.keeper: Keeper | None = None   # keeps the processes' stdio ends for a successor (stdio.py)

    def handlers(self) -> dict[str, dict[str, Any]]:
        pb = _pb()
        methods = {
            "State": pb.StateRequest, "Create": pb.CreateTaskRequest, "Start": pb.StartRequest,
            "Delete": pb.DeleteRequest, "Pids": pb.PidsRequest, "Pause": pb.PauseRequest,
            "Resume": pb.ResumeRequest, "Checkpoint": pb.CheckpointTaskRequest, "Kill": pb.KillRequest,
            "Exec": pb.ExecProcessRequest, "ResizePty": pb.ResizePtyRequest, "CloseIO": pb.CloseIORequest,
            "Update": pb.UpdateTaskRequest, "Wait": pb.WaitRequest, "Stats": pb.StatsRequest,
            "Connect": pb.ConnectRequest, "Shutdown": pb.ShutdownRequest,
        }
        return {SERVICE: {name: (request_type, getattr(self, name.lower()))
                          for name, request_type in methods.items()}}

    # ---- helpers ---------------------------------------------------------------

    def of_group(self, group: str) -> list[Task]:
        return [task for task in self.tasks.values() if task.group == group]

    def in_use(self, group: str) -> bool:
        """A task of the group, or a Create of one under way (its task is
        not in the table until it is done)."""
        return bool(self.of_group(group)) or group in self.creating.values()

    def relay_connected(self, connection: Any) -> None:
        """From the server's loop: a relay said hello; its end is watched."""
        group, pid = connection.group, connection.relay_pid
        with self.relay_lock:
            self.live_groups.add(group)
            if pid in self.relays or not pid:
                return
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                return
            self.relays[pid] = (group, pidfd)
        self.watcher.watch(pidfd, lambda: self._relay_died(pid))

    def _relay_died(self, pid: int) -> None:
        """From the server's loop.  A relay told to go leaves no task; one
        killed leaves its group's to containerd's delete command."""
        with self.relay_lock:
            group, pidfd = self.relays.pop(pid)
            self.watcher.unwatch(pidfd)
            os.close(pidfd)
            if any(other == group for other, _ in self.relays.values()):
                return
            self.live_groups.discard(group)
        Call("relay gone", self._group_gone, group).start()

    def _group_gone(self, group: str) -> None:
        with self.lock:
            if self._relayed(group):
                return      # a new relay came meanwhile
            self.creates.pop(group, None)   # a new relay of the group counts its own
            for task in self.of_group(group):
                if task.init.exit_status is not None or not task.init.pid:
                    self._forget(task)
            log.info(f"the relay of {group} is gone")
        self.on_shutdown(group)

    def _relayed(self, group: str) -> bool:
        with self.relay_lock:
            return group in self.live_groups

    def _forget(self, task: Task) -> None:
        """Lock held: a task of a dead relay's group.  Its container, mounts
        and records are the delete command's (containerd runs it)."""
        for process in [task.init, *task.execs.values()]:
            process.stdio.close()
            self.by_pid.pop(process.pid, None)
        if task.oom is not None:
            task.oom.stop()
        self.tasks.pop(task.id, None)
        log.info(f"task {task.id} left to the delete command")

    def _task(self, container_id: str) -> Task:
        try:
            return self.tasks[container_id]
        except KeyError:
            raise TtrpcError(NOT_FOUND, f"task {container_id} does not exist: not found") from None

    def _library(self) -> Any:
        return _LibraryCall(self.lock)

    def _calling(self, runtime: Library | Binary) -> Any:
        """For a spawn: the lock only for a runtime that waits for children
        of its own (the reaper must not take their exits)."""
        return _LibraryCall(self.lock if runtime.waits_for_children else None)

    def _save(self, task: Task) -> None:
        """Lock held: the task as a restarted server needs it."""
        if not self.tasks_dir:
            return
        records.write(self.tasks_dir, task.id, {
            "id": task.id, "bundle": task.bundle, "group": task.group, "mounted": task.mounted,
            **task.init.record(), "execs": {exec_id: process.record() for exec_id, process in task.execs.items()}})

    def reload(self, kept: dict[str, dict[str, int]] | None = None) -> None:
        """A server started after its predecessor died: the tasks of the
        groups whose relays live, from the records (the others are the
        delete command's).  Their stdio goes on from the ends the zygote
        kept (kept, by ID\0EXEC_ID); a process still alive is watched
        through a pidfd (it is not our child), and an exit nobody saw is
        255, containerd's status for unknown."""
        from .runtimes import Options
        kept = dict(kept or {})
        for record in records.of_groups(self.tasks_dir, self.live_groups):
            try:
                runtime = open_runtime(Options.load(str(record.get("bundle"))), self.state_root, self.namespace)
                container_id = str(record["id"])
                init = _reloaded("", record, lambda paths: self._resumed(kept, f"{container_id}\0", paths))
                task = Task(container_id, str(record.get("bundle")), init, bool(record.get("mounted")), runtime,
                            str(record.get("group")))
                runtime.remember(task.id, task.bundle)
                for exec_id, process in (record.get("execs") or {}).items():
                    task.execs[str(exec_id)] = _reloaded(str(exec_id), process, lambda paths: self._resumed(
                        kept, f"{container_id}\0{exec_id}", paths))
            except (PyruncError, KeyError, TypeError, AttributeError, ValueError) as exc:
                log.warning(f"task record {record.get('id')}: {exc}: left to the delete command")
                continue
            self.tasks[task.id] = task
            recorded = exits.read(self.exits_dir, task.id)
            for process in [init, *task.execs.values()]:
                if not process.pid:
                    continue
                if process is init and recorded is not None:
                    process.exit_status, _, process.exited_at_ns = recorded
                    process.exited.set()
                elif process.start_time is not None and records_alive(process):
                    try:
                        _PidfdWatch(self, task, process).start()
                    except ProcessLookupError:
                        Call("orphan", self._orphan_exited, task, process, ORPHAN_WAIT).start()
                else:   # ended while no server was there: the zygote's record may be on its way
                    Call("orphan", self._orphan_exited, task, process, ORPHAN_WAIT).start()
            self._watch_oom(task)
            log.info(f"reloaded task {task.id} (init {init.pid})")

        for name, ends in kept.items():     # of no task served here any more
            for fd in ends.values():
                os.close(fd)
            if self.keeper is not None:
                self.keeper.drop(name)

    def _resumed(self, kept: dict[str, dict[str, int]], name: str, paths: tuple[str, str, str]) -> Stdio:
        """A reloaded process's stdio: copying goes on from its kept ends."""
        ends = kept.pop(name, None)
        if ends and self.keeper is not None:
            try:
                return Stdio.resumed(paths, ends, self.keeper, name)
            except (OSError, TtrpcError) as exc:
                log.warning(f"{name.replace(chr(0), ' ')}: its stdio cannot be resumed: {exc}")
        return Stdio("", "", "", terminal=True)     # terminal: no pipes made

    def _orphan_exited(self, task: Task, process: Process, wait: float = 0.0) -> None:
        """A reloaded process ended: with the status the zygote recorded
        (it reaps what a killed server left), else 255."""
        from .main import orphans_dir
        recorded = exits.claim_orphan(orphans_dir(), process.pid, wait)
        with self.lock:
            self._exited(task, process, *(recorded or (UNKNOWN_EXIT,)))

    def on_exit(self, pid: int, code: int) -> None:
        """From the reaper (lock held): record, then publish once output is
        copied.  An unknown pid may be a process whose spawn has not
        registered it yet: kept a while (workers' exits too, and orphans')."""
        found = self.by_pid.pop(pid, None)
        if found is None:
            now = time.monotonic()
            if len(self.early_exits) > 64:
                self.early_exits = {pid: seen for pid, seen in self.early_exits.items()
                                    if now - seen[1] < EARLY_EXIT_KEPT}
            self.early_exits[pid] = (code, now)
            return
        task, process = found
        self._exited(task, process, code)

    def _register(self, task: Task, process: Process, since: float) -> None:
        """Lock held: a process spawned (from `since`) outside the lock;
        its exit comes to it from now on, or now if the reaper saw it."""
        early = self.early_exits.pop(process.pid, None)
        if early is not None and early[1] >= since:
            self._exited(task, process, early[0])
        else:
            self.by_pid[process.pid] = (task, process)

    def _exited(self, task: Task, process: Process, code: int, exited_at_ns: int = 0) -> None:
        """Lock held."""
        process.exit_status, process.exited_at_ns = code, exited_at_ns or time.time_ns()
        if process is task.init:
            exits.write(self.exits_dir, task.id, code, process.pid, process.exited_at_ns)
            self._kill_orphans(task)
        Call("exit", self._publish_exit, task, process).start()

    def _kill_orphans(self, task: Task) -> None:
        """Without a pid namespace of its own, nothing ends the rest of a
        container with its init: kill what is left in its cgroup (as
        containerd-shim-runc-v2 does), so it cannot hold the output open."""
        if task.runtime.has_own_pid_namespace(task.id):
            return      # the kernel killed them with the init
        manager = task.runtime.cgroup(task.id)
        if manager is not None:
            try:
                manager.kill_all(signal.SIGKILL)
            except PyruncError as exc:
                log.warning(f"{task.id}: killing what the init left: {exc}")

    def _publish_exit(self, task: Task, process: Process) -> None:
        if not process.stdio.wait_output(IO_DRAIN_TIMEOUT):
            log.warning(f"{task.id} {process.exec_id}: output still open {IO_DRAIN_TIMEOUT}s after exit")
        process.exited.set()
        with self.lock:
            if not self._relayed(task.group):     # containerd took its shim for dead
                if process is task.init:
                    self._forget(task)
                    Call("release", self.on_shutdown, task.group).start()
                return
        self.publisher.publish(_events().TaskExit(
            container_id=task.id, id=process.exec_id or task.id, pid=process.pid,
            exit_status=process.exit_status, exited_at=process.timestamp()))

    def _status(self, task: Task, process: Process) -> int:
        if process.exit_status is not None:
            return STOPPED_STATUS
        if process is not task.init:
            return RUNNING_STATUS if process.started else CREATED_STATUS
        if task.runtime.waits_for_children:
            with self._library():
                status = task.runtime.status(task.id)
        else:   # a read: State, answered in the server's loop, need not wait for a Create
            status = task.runtime.status(task.id)
        return _STATUS.get(status, STOPPED_STATUS)

    # ---- the API ---------------------------------------------------------------

    def create(self, req: Any) -> Any:
        group = _group()
        with self.lock:
            self.creates[group] = self.creates.get(group, 0) + 1    # see daemon.py
            self.last_create[group] = time.time()
        if req.checkpoint or req.parent_checkpoint:
            raise TtrpcError(UNIMPLEMENTED, "checkpoint/restore is not supported by pyrunc")
        try:
            options = Options.from_any(req.options.type_url, req.options.value)
        except PyruncError as exc:
            raise TtrpcError(INVALID_ARGUMENT, str(exc)) from None
        paths = (req.stdin, req.stdout, req.stderr)
        runtime = open_runtime(options, self.state_root, self.namespace)
        init = Process("", Stdio(*paths, terminal=req.terminal, owner=(options.io_uid, options.io_gid),
                                 container=(req.id, self.namespace)), paths, req.terminal)
        if self.keeper is not None:
            init.stdio.keep_with(self.keeper, f"{req.id}\0")
        with self.lock:
            if req.id in self.tasks or req.id in self.creating:
                init.stdio.close()
                raise TtrpcError(ALREADY_EXISTS, f"task {req.id}: already exists")
            self.creating[req.id] = group
        since = time.monotonic()
        try:
            with self._calling(runtime):
                try:
                    options.save(req.bundle)    # for `delete` and a restarted shim
                    mounted = rootfs.mount_all(req.rootfs, os.path.join(req.bundle, "rootfs"))
                    try:
                        self._spawn(init, runtime, lambda console, fds: setattr(
                            init, "pid", runtime.create(req.id, req.bundle, console, fds)),
                            on_failure=lambda: runtime.delete(req.id))
                    except BaseException:
                        if mounted:
                            rootfs.unmount(os.path.join(req.bundle, "rootfs"))
                        raise
                except BaseException:
                    init.stdio.close()
                    raise
            with self.lock:
                task = Task(req.id, req.bundle, init, mounted, runtime, group)
                init.start_time = process_start_time(init.pid)
                self.tasks[req.id] = task
                self._save(task)
                if log.fd < 0:
                    log.open(os.path.join(req.bundle, "log"))
                exits.remove(self.exits_dir, req.id)    # a record of an earlier task of this id
                self._register(task, init, since)
                self._watch_oom(task)
        finally:
            with self.lock:
                del self.creating[req.id]
        events = _events()
        self.publisher.publish(events.TaskCreate(
            container_id=req.id, bundle=req.bundle, rootfs=req.rootfs, checkpoint=req.checkpoint, pid=init.pid,
            io=events.TaskIO(stdin=req.stdin, stdout=req.stdout, stderr=req.stderr, terminal=req.terminal)))
        return _pb().CreateTaskResponse(pid=init.pid)

    def _spawn(self, process: Process, runtime: Any, spawn: Callable[[str | None, list[int] | None], None],
               on_failure: Callable[[], None] | None = None) -> None:
        """spawn(console_socket, fds) starts the process; then its stdio is
        wired: the pty master it sent, or the pipes it holds.  The caller
        registers its pid (_register)."""
        from pyrunc.runtime.console import receive_pty_master

        from .server import listen
        console = listener = None
        try:
            if process.terminal:
                console = os.path.join(self.console_dir, f"{os.getpid()}-{threading.get_ident()}.console")
                listener = listen(console)
            spawn(console, process.stdio.process_fds or None)
            try:
                if listener is not None:
                    listener.settimeout(30)
                    connection, _ = listener.accept()
                    with connection:
                        _name, master = receive_pty_master(connection)
                    process.stdio.attach_terminal(master)
                else:
                    process.stdio.close_child_side()
                    process.stdio.start()
            except BaseException:
                if on_failure is not None:
                    on_failure()
                raise
        finally:
            if listener is not None:
                listener.close()
                os.unlink(console)

    def _watch_oom(self, task: Task) -> None:
        from .oom import OomWatcher
        manager = task.runtime.cgroup(task.id)
        if manager is None:
            return
        task.oom = OomWatcher(manager, lambda: self.publisher.publish(_events().TaskOOM(container_id=task.id)))
        task.oom.start()

    def start(self, req: Any) -> Any:
        task = self._task(req.id)
        process = task.process(req.exec_id)
        if process is task.init:
            with self._library():
                if process.started:
                    raise TtrpcError(FAILED_PRECONDITION, f"process {req.id} already started")
                task.runtime.start(task.id)
                process.started = True
                self._save(task)
        else:
            self._start_exec(task, process)
        events = _events()
        if process is task.init:
            self.publisher.publish(events.TaskStart(container_id=task.id, pid=process.pid))
        else:
            self.publisher.publish(events.TaskExecStarted(container_id=task.id, exec_id=process.exec_id,
                                                          pid=process.pid))
        return _pb().StartResponse(pid=process.pid)

    def _start_exec(self, task: Task, process: Process) -> None:
        with self.lock:
            if process.started or process.starting:
                raise TtrpcError(FAILED_PRECONDITION, f"process {process.exec_id} already started")
            if task.init.exit_status is not None:
                raise TtrpcError(FAILED_PRECONDITION, f"container {task.id} has stopped")
            process.starting = True
        pid_file = os.path.join(self.console_dir, f"{os.getpid()}-{threading.get_ident()}.pid")

        def spawn(console: str | None, fds: list[int] | None) -> None:
            task.runtime.exec(task.id, process.spec or {}, pid_file, console, fds)
            with open(pid_file) as f:
                process.pid = int(f.read())
            process.start_time = process_start_time(process.pid)
        since = time.monotonic()
        try:
            with self._calling(task.runtime):
                self._spawn(process, task.runtime, spawn)
            with self.lock:
                self._register(task, process, since)
                process.started = True
                self._save(task)
        finally:
            process.starting = False
            if os.path.exists(pid_file):
                os.unlink(pid_file)

    def exec(self, req: Any) -> Any:
        from pyrunc.runtime import jsonio
        task = self._task(req.id)
        try:
            spec = jsonio.loads(req.spec.value)
        except ValueError as exc:
            raise TtrpcError(INVALID_ARGUMENT, f"exec {req.exec_id}: process spec is not JSON: {exc}") from None
        if not isinstance(spec, dict):
            raise TtrpcError(INVALID_ARGUMENT, f"exec {req.exec_id}: process spec must be an object")
        spec["terminal"] = req.terminal
        with self._library():
            if req.exec_id in task.execs:
                raise TtrpcError(ALREADY_EXISTS, f"id {req.exec_id}: already exists")
            paths = (req.stdin, req.stdout, req.stderr)
            owner = (task.runtime.options.io_uid, task.runtime.options.io_gid)
            stdio = Stdio(*paths, terminal=req.terminal, owner=owner, container=(task.id, self.namespace))
            if self.keeper is not None:
                stdio.keep_with(self.keeper, f"{task.id}\0{req.exec_id}")
            task.execs[req.exec_id] = Process(req.exec_id, stdio, paths, req.terminal, spec)
        self.publisher.publish(_events().TaskExecAdded(container_id=task.id, exec_id=req.exec_id))
        return _empty()

    def state(self, req: Any) -> Any:
        task = self._task(req.id)
        process = task.process(req.exec_id)
        stdin, stdout, stderr = process.paths
        return _pb().StateResponse(
            id=process.exec_id or task.id, bundle=task.bundle, pid=process.pid,
            status=self._status(task, process), stdin=stdin, stdout=stdout, stderr=stderr,
            terminal=process.terminal, exit_status=process.exit_status or 0,
            exited_at=process.timestamp(), exec_id=process.exec_id)

    def kill(self, req: Any) -> Any:
        task = self._task(req.id)
        process = task.process(req.exec_id)
        with self._library():
            if process.exit_status is not None or (process is not task.init and not process.started):
                raise TtrpcError(NOT_FOUND, "process already finished: not found")
            if process is task.init:
                task.runtime.kill(task.id, req.signal, req.all)
            else:
                # Not reaped yet (the reaper needs the lock we hold): the pid is still ours.
                os.kill(process.pid, req.signal)
        return _empty()

    def delete(self, req: Any) -> Any:
        task = self._task(req.id)
        process = task.process(req.exec_id)
        if process is not task.init:
            if process.started and not process.exited.is_set():
                raise TtrpcError(FAILED_PRECONDITION, f"cannot delete a running process {process.exec_id}")
            with self._library():
                task.execs.pop(process.exec_id, None)
                process.stdio.close()
                self._save(task)
            return _pb().DeleteResponse(pid=process.pid, exit_status=process.exit_status or 0,
                                        exited_at=process.timestamp())
        with self._library():
            try:
                task.runtime.delete(task.id)
            except PyruncError as exc:
                raise _library_error(exc) from None
        # A created (never started) init was killed just now: its exit comes
        # through the reaper like any other.
        if process.pid and not process.exited.wait(IO_DRAIN_TIMEOUT + 5):
            log.warning(f"{task.id}: init {process.pid} not reaped after delete")
        with self._library():
            process.stdio.close()
            for other in task.execs.values():
                other.stdio.close()
            if task.oom is not None:
                task.oom.stop()
            if task.mounted:
                rootfs.unmount(os.path.join(task.bundle, "rootfs"))
            exits.remove(self.exits_dir, task.id)
            if self.tasks_dir:
                records.remove(self.tasks_dir, task.id)
            self.tasks.pop(task.id, None)
            self._move_log(task)
        self.publisher.publish(_events().TaskDelete(
            container_id=task.id, id=task.id, pid=process.pid, exit_status=process.exit_status or 0,
            exited_at=process.timestamp()))
        return _pb().DeleteResponse(pid=process.pid, exit_status=process.exit_status or 0,
                                    exited_at=process.timestamp())

    def _move_log(self, deleted: Task) -> None:
        """Lock held: containerd removes a deleted task's bundle, and with
        it the log fifo we may write to; another task's, if any, then."""
        if not log.path.startswith(deleted.bundle.rstrip("/") + "/"):
            return
        others = [task for task in self.tasks.values() if os.path.exists(os.path.join(task.bundle, "log"))]
        if others:
            log.open(os.path.join(others[0].bundle, "log"))

    def pids(self, req: Any) -> Any:
        from pyrunc.shim.proto.options import oci_pb2
        from pyrunc.shim.proto.types import task_pb2

        from .events import pack
        task = self._task(req.id)
        with self._library():
            pids = task.runtime.pids(task.id)
            exec_ids = {process.pid: exec_id for exec_id, process in task.execs.items() if process.pid}
        response = _pb().PidsResponse()
        for pid in pids:
            info = task_pb2.ProcessInfo(pid=pid)
            if pid in exec_ids:
                info.info.CopyFrom(pack(oci_pb2.ProcessDetails(exec_id=exec_ids[pid])))
            response.processes.append(info)
        return response

    def pause(self, req: Any) -> Any:
        task = self._task(req.id)
        with self._library():
            task.runtime.pause(task.id)
        self.publisher.publish(_events().TaskPaused(container_id=task.id))
        return _empty()

    def resume(self, req: Any) -> Any:
        task = self._task(req.id)
        with self._library():
            task.runtime.resume(task.id)
        self.publisher.publish(_events().TaskResumed(container_id=task.id))
        return _empty()

    def checkpoint(self, req: Any) -> Any:
        raise TtrpcError(UNIMPLEMENTED, "checkpoint is not supported by pyrunc")

    def resizepty(self, req: Any) -> Any:
        import fcntl
        import termios
        process = self._task(req.id).process(req.exec_id)
        if process.stdio.master < 0:
            raise TtrpcError(FAILED_PRECONDITION, f"process {req.exec_id or req.id} has no terminal")
        fcntl.ioctl(process.stdio.master, termios.TIOCSWINSZ, struct.pack("HHHH", req.height, req.width, 0, 0))
        return _empty()

    def closeio(self, req: Any) -> Any:
        process = self._task(req.id).process(req.exec_id)
        if req.stdin:
            process.stdio.close_stdin()
        return _empty()

    def update(self, req: Any) -> Any:
        from pyrunc.runtime import jsonio
        task = self._task(req.id)
        try:
            changes = jsonio.loads(req.resources.value) if req.resources.value else {}
        except ValueError as exc:
            raise TtrpcError(INVALID_ARGUMENT, f"update: resources are not JSON: {exc}") from None
        if not isinstance(changes, dict):
            raise TtrpcError(INVALID_ARGUMENT, "update: resources must be an object")
        with self._library():
            task.runtime.update(task.id, changes)
        return _empty()

    def wait(self, req: Any) -> Any:
        process = self._task(req.id).process(req.exec_id)
        process.exited.wait()
        return _pb().WaitResponse(exit_status=process.exit_status or 0, exited_at=process.timestamp())

    def stats(self, req: Any) -> Any:
        from pyrunc.runtime.cgroups.v2 import V2Manager

        from .events import pack
        from .stats import metrics, metrics_v2
        task = self._task(req.id)
        with self._library():
            manager = task.runtime.cgroup(task.id)
            if manager is None:
                raise TtrpcError(FAILED_PRECONDITION, f"task {task.id} has no cgroup")
            found = metrics_v2(manager.path) if isinstance(manager, V2Manager) else metrics(manager.stats())
        response = _pb().StatsResponse()
        response.stats.CopyFrom(pack(found))
        return response

    def connect(self, req: Any) -> Any:
        """The shim's pid is the relay's: containerd's connection lives and
        dies with it."""
        task = self.tasks.get(req.id)
        connection = getattr(calling, "connection", None)
        return _pb().ConnectResponse(shim_pid=getattr(connection, "relay_pid", 0) or os.getpid(),
                                     task_pid=task.init.pid if task else 0, version=VERSION)

    def shutdown(self, req: Any) -> Any:
        """containerd asks after each task's delete: once the relay's group
        has none left, the relay may go (after this answer reaches it)."""
        group = _group()
        with self.lock:
            if self.of_group(group) and not req.now:
                return _empty()
        calling.then = lambda: self.on_shutdown(group)
        return _empty()


def _group() -> str:
    """The group of the relay the call came through."""
    return getattr(getattr(calling, "connection", None), "group", "")


class _LibraryCall:
    """The lock (if any), with the library's errors turned into ttrpc statuses."""

    def __init__(self, lock: threading.RLock | None) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        if self.lock is not None:
            self.lock.acquire()

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        if self.lock is not None:
            self.lock.release()
        if isinstance(exc, PyruncError):
            raise _library_error(exc) from None
        return False
