"""One shim server process, from the fork that made it to its exit: it
serves the containers of one group (a pod, a single container, or a
whole namespace) until the last of them is deleted and containerd says
Shutdown, then asks its zygote whether it may go (see zygote.py)."""
from __future__ import annotations

import os
import signal
import socket as _socket
import threading

from . import reaper
from .libc import set_name, set_subreaper
from .events import Publisher
from .log import log
from .main import exits_dir, state_root, tasks_dir
from .server import Server
from .service import TaskService

NAME = "pyrunc-shim"         # the servers' comm, as ps and pgrep show it
# Answered in the server's loop, not in a thread of their own: containerd
# asks them often, and they never wait for anything but the service's lock.
INLINE = frozenset({"Connect", "State"})
RETRY_EXIT = 60.0   # told to stay for a container that never came: ask again after this


class Request:
    """What `start` asked for: a server for one container's group."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.namespace, self.id = fields.get("namespace", ""), fields.get("id", "")
        self.group, self.bundle = fields.get("group", ""), fields.get("bundle", "")
        self.debug = fields.get("debug") == "true"


def serve(request: Request, listener: _socket.socket, zygote: _socket.socket, containerd_address: str,
          publish_binary: str) -> int:
    """The body of a forked server (its parent's threads did not survive
    the fork; it had none)."""
    set_name(NAME)
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
    publisher = Publisher(request.namespace, os.environ.get("TTRPC_ADDRESS", ""), containerd_address,
                          publish_binary)
    server: Server | None = None

    def leave_if_idle(after_reply: bool) -> None:
        with service.lock:
            if server is None or service.tasks:
                return
            if not _may_exit(zygote, service.creates):
                retry = threading.Timer(RETRY_EXIT, leave_if_idle, (False,))
                retry.daemon = True
                retry.start()
            elif after_reply:
                server.stop_after_reply = True
            else:
                server.stop()

    def shutdown() -> None:
        publisher.flush()
        leave_if_idle(True)

    service = TaskService(request.namespace, state_root(request.namespace), exits_dir(request.namespace),
                          publisher, shutdown, tasks_dir(request.namespace), request.group)
    service.console_dir = os.path.dirname(listener.getsockname())
    server = Server(listener, service.handlers(), INLINE)
    reaper.Reaper(service.lock, service.on_exit).install()
    with service.lock:
        service.reload()    # what a killed predecessor served, if any
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    log.info(f"serving {request.namespace}/{request.group} (first {request.id}) on {listener.getsockname()}")
    server.serve()
    try:
        os.unlink(listener.getsockname())
    except OSError:
        pass
    return 0


def _may_exit(zygote: _socket.socket, creates: int) -> bool:
    """Whether no `start` handed this server out for a container whose
    Create has not come yet: then the zygote forgets it and it may go."""
    try:
        zygote.send(f"exit {creates}".encode())
        return zygote.recv(16) != b"no"
    except OSError:
        return True     # no zygote: nobody hands this server out any more
