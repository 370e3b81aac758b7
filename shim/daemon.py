"""One shim server process, from the fork that made it to its exit: it
serves the containers of one namespace (of the groups of one shard of
it: see zygote.py), reached through the relays of their groups
(relay.c), until the last of them is deleted; then it asks its zygote
whether it may go."""
from __future__ import annotations

import array
import os
import signal
import socket as _socket
import threading

from . import reaper
from ._libc import set_name, set_subreaper
from .events import Publisher
from .log import log
from .main import exits_dir, handout_mark, lock_out_starts, relay_socket, state_root, tasks_dir
from .server import Server
from .service import TaskService

NAME = "pyrunc-shimd"        # the servers' comm, as ps and pgrep show it
# Answered in the server's loop, not in a thread of their own: containerd
# asks them often, and they never wait for anything but the service's lock.
INLINE = frozenset({"Connect", "State"})
RETRY = 1.0     # the zygote said "not yet" (a container is on its way): ask again after this


class Request:
    """What the zygote forks a server with: the first container's request,
    and the groups whose relays live (a server forked after its
    predecessor died serves their tasks)."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.namespace, self.id = fields.get("namespace", ""), fields.get("id", "")
        self.bundle = fields.get("bundle", "")
        self.groups = {group for group in fields.get("groups", "").split("\0") if group}
        self.debug = fields.get("debug") == "true"


class ZygoteChannel:
    """Questions to the zygote, one at a time, each answered yes or no;
    and the stdio ends it keeps for a successor (zygote.py), unanswered."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock, self.lock = sock, threading.Lock()
        self.gone = False   # it did not answer: the server removes its own socket

    def ask(self, question: str) -> bool | None:
        """Its yes or no; None when there is no zygote (any more)."""
        with self.lock:
            try:
                self.sock.send(question.encode())
                answer = self.sock.recv(16)
            except OSError:
                answer = b""
            self.gone = not answer
            return None if self.gone else answer != b"no"

    def keep(self, name: str, ends: dict[str, int]) -> None:
        """The zygote holds a copy of these fds under name (ID\0EXEC_ID)."""
        message = f"keep\0{name}\0{''.join(ends)}".encode()
        try:
            self.sock.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", ends.values()))])
        except OSError:
            pass    # no zygote: nothing to keep them for

    def drop(self, name: str, roles: str = "") -> None:
        """It closes its copies of these (all without roles)."""
        try:
            self.sock.send(f"drop\0{name}\0{roles}".encode())
        except OSError:
            pass


def serve(request: Request, listener: _socket.socket, zygote: _socket.socket, containerd_address: str,
          publish_binary: str, kept: dict[str, dict[str, int]]) -> int:
    """The body of a forked server (its parent's threads did not survive
    the fork; it had none).  kept: the stdio ends of a killed
    predecessor's processes, by ID\0EXEC_ID and role (stdio.py)."""
    set_name(NAME)
    try:
        ours: os.stat_result | None = os.stat(listener.getsockname())    # bound by the zygote just now
    except OSError:
        ours = None
    os.chdir("/")   # a bundle's directory goes with its container
    log.open(os.path.join(request.bundle, "log"), debug=request.debug)
    # The library logs to stderr by default, which is a container's while
    # it spawns one: into the shim's log instead.
    from pyrunc.runtime import log as runtime_log
    runtime_log.configure(None, "json", request.debug)
    runtime_log.logger.sink = log.write
    threading.excepthook = lambda hook: log.error(f"thread {hook.thread.name if hook.thread else '?'}: "
                                                  f"{hook.exc_type.__name__}: {hook.exc_value}")
    set_subreaper()
    ttrpc_address = os.environ.get("TTRPC_ADDRESS", "")
    publisher = Publisher(request.namespace, ttrpc_address, containerd_address, publish_binary)
    channel = ZygoteChannel(zygote)
    server: Server | None = None

    def release(group: str) -> None:
        """A group's tasks are all deleted: its relay may go, then this
        server when it has no task left (the zygote says when)."""
        with service.lock:
            if service.in_use(group):
                return
            # As they were when the group had nothing: a Create that came
            # since makes the answer no (the zygote's, or relay_may_go's).
            creates, last_create = service.creates.get(group, 0), service.last_create.get(group, 0.0)
        if group:
            answer = channel.ask(f"release {creates} {group}")
            if not (relay_may_go(group, last_create) if answer is None else answer):
                _later(release, group)
                return
        leave_if_idle()

    def relay_may_go(group: str, last_create: float) -> bool:
        """With no zygote to ask (see _let_relay_go)."""
        with service.relay_lock:
            relayed = group in service.live_groups
        return _let_relay_go(relay_socket(ttrpc_address, request.namespace, group), last_create, relayed)

    def leave_if_idle() -> None:
        with service.lock:
            if server is None or service.tasks or service.creating:
                return
            last_creates = dict(service.last_create)
        answer = channel.ask("exit")
        if answer is None:      # no zygote: none of our relays may be handed out any more
            with service.relay_lock:
                groups = list(service.live_groups)
            answer = all([relay_may_go(group, last_creates.get(group, 0.0)) for group in groups])
        if answer:
            publisher.flush()   # the last events (TaskDelete) before the process goes
            server.stop()
        else:
            _later(leave_if_idle)

    service = TaskService(request.namespace, state_root(request.namespace), exits_dir(request.namespace),
                          publisher, release, tasks_dir(request.namespace), request.groups)
    service.console_dir = os.path.dirname(listener.getsockname())
    service.keeper = channel
    server = Server(listener, service.handlers(), INLINE)
    service.watcher = server
    server.on_hello = service.relay_connected
    reaper.Reaper(service.lock, service.on_exit).install()
    with service.lock:
        service.reload(kept)    # what a killed predecessor served, if any
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    log.info(f"serving {request.namespace} (first {request.id}) on {listener.getsockname()}")
    server.serve()
    if channel.gone:    # else the zygote removed the socket (see zygote.py)
        _remove_if_ours(listener.getsockname(), ours)
    return 0


def _remove_if_ours(path: str, ours: os.stat_result | None) -> None:
    """Our socket's path, unless another server (a new zygote's, after
    ours was killed) is bound there since."""
    try:
        now = os.stat(path)
        if ours is not None and (now.st_dev, now.st_ino) == (ours.st_dev, ours.st_ino):
            os.unlink(path)
    except OSError:
        pass


def _let_relay_go(path: str, last_create: float, relayed: bool) -> bool:
    """With no zygote to ask: a new one hands our relay out while it
    answers, marking each handout (zygote.py).  Under the lock every
    `start` holds while it talks to a zygote, and unless a handout since
    the group's last Create is still to come, remove the relay's socket:
    the next start gets a new relay, and with it a new server.  (Not a
    socket a new zygote bound there since: that one's relay is not ours,
    and ours went with its last connection.)"""
    import time

    from .zygote import GRACE
    lock = lock_out_starts()
    if lock is None:
        return False    # a start is talking to a zygote: ask again
    try:
        mark = handout_mark(path)
        try:
            handed_out = os.stat(mark).st_mtime
        except FileNotFoundError:
            handed_out = 0.0
        if handed_out > last_create and time.time() - handed_out < GRACE:
            return False
        for name in (mark, path) if relayed else (mark,):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
        return True
    finally:
        if lock >= 0:
            os.close(lock)


def _later(function: object, *args: object) -> None:
    retry = threading.Timer(RETRY, function, args)     # type: ignore[arg-type]
    retry.daemon = True
    retry.start()
