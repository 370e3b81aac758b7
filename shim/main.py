"""containerd-shim-pyrunc-v2: containerd's shim v2 binary protocol.

    containerd-shim-pyrunc-v2 -namespace NS -address A -publish-binary B -id ID [-debug] start
        (cwd: the bundle; env: TTRPC_ADDRESS)  start the shim server, or find
        the running one that serves this container's group; print its address
    containerd-shim-pyrunc-v2 -namespace NS -id ID [-bundle B] delete
        clean up after a shim that is gone; print a DeleteResponse (protobuf)
    ... serve        the server itself (started by `start`, with the socket as fd 3)

Flags are Go's: `-name value`, `-name=value`, `--name value`; -debug alone.
"""
from __future__ import annotations

import hashlib
import os
import sys

ROOT = os.environ.get("PYRUNC_SHIM_ROOT", "/run/containerd/pyrunc")
BOOLEAN_FLAGS = {"debug", "v"}
LISTEN_FD = 3
GROUP_ANNOTATIONS = ("io.kubernetes.cri.sandbox-id", "io.containerd.runc.v2.group")


class Args:
    def __init__(self, argv: list[str]) -> None:
        self.flags: dict[str, str] = {}
        self.command = ""
        i = 0
        while i < len(argv):
            arg = argv[i]
            if arg.startswith("-") and arg != "-":
                name, eq, value = arg.lstrip("-").partition("=")
                if not eq and name not in BOOLEAN_FLAGS:
                    i += 1
                    if i >= len(argv):
                        raise SystemExit(f"containerd-shim-pyrunc-v2: flag needs an argument: -{name}")
                    value = argv[i]
                self.flags[name] = value if eq or name not in BOOLEAN_FLAGS else "true"
            elif not self.command:
                self.command = arg
            i += 1

    def get(self, name: str, default: str = "") -> str:
        return self.flags.get(name, default)


def state_root(namespace: str) -> str:
    """pyrunc's --root for this namespace's containers."""
    return os.path.join(ROOT, namespace)


def exits_dir(namespace: str) -> str:
    return os.path.join(ROOT, "exits", namespace)


def socket_path(namespace: str, group: str, ttrpc_address: str) -> str:
    # Hashed: socket paths are short (108 bytes) and ids may be long.
    digest = hashlib.sha256(f"{ttrpc_address}\0{namespace}\0{group}".encode()).hexdigest()[:32]
    return os.path.join(ROOT, "s", digest)


def _group(container_id: str) -> str:
    """Containers of one pod share a shim: the group named by annotation."""
    from pyrunc.runtime import jsonio
    try:
        with open("config.json", "rb") as f:
            annotations = jsonio.loads(f.read()).get("annotations") or {}
    except (OSError, ValueError, AttributeError):
        return container_id
    for key in GROUP_ANNOTATIONS:
        if annotations.get(key):
            return str(annotations[key])
    return container_id


def start(args: Args) -> int:
    """Print the address of a server for this container, starting one if need be."""
    import subprocess

    from . import ttrpc
    from .server import listen
    namespace, container_id = args.get("namespace"), args.get("id")
    path = socket_path(namespace, _group(container_id), os.environ.get("TTRPC_ADDRESS", ""))
    address = "unix://" + path
    try:
        ttrpc.connect(path, timeout=5).close()
        sys.stdout.write(address)      # a live shim serves this group already
        _write_address(address)
        return 0
    except OSError:
        if os.path.exists(path):
            os.unlink(path)     # a dead shim's socket
    listener = listen(path)
    try:
        os.dup2(listener.fileno(), LISTEN_FD)
        flags = [part for name, value in args.flags.items() for part in (f"-{name}", value)]
        argv = [sys.executable, "-m", "pyrunc.shim.main", *flags, "serve"]
        with open(os.devnull, "r+b") as null:
            # Own session, no stdio of containerd's: containerd waits for our
            # output to end, and a shim must outlive the start command.
            subprocess.Popen(argv, stdin=null, stdout=null, stderr=null, pass_fds=(LISTEN_FD,),
                             start_new_session=True, cwd=os.getcwd())
    except BaseException:
        os.unlink(path)
        raise
    finally:
        listener.close()
    sys.stdout.write(address)
    _write_address(address)
    return 0


def _write_address(address: str) -> None:
    """containerd reconnects through the bundle's `address` file after a restart."""
    try:
        with open("address", "w") as f:
            f.write(address)
    except OSError:
        pass


def serve(args: Args) -> int:
    import signal
    import socket as _socket
    import threading

    from . import reaper
    from .events import Publisher
    from .log import log
    from .server import Server
    from .service import TaskService

    namespace = args.get("namespace")
    log.open(os.path.join(os.getcwd(), "log"), debug=args.get("debug") == "true")
    # The library logs to stderr by default, which is a container's while
    # it spawns one: to a file in the bundle instead (containerd removes it).
    from pyrunc.runtime import log as runtime_log
    runtime_log.configure(os.path.join(os.getcwd(), "pyrunc.log"), "json", args.get("debug") == "true")
    # No stderr here: what a thread did not expect goes to containerd's log.
    threading.excepthook = lambda hook: log.error(f"thread {hook.thread.name if hook.thread else '?'}: "
                                                  f"{hook.exc_type.__name__}: {hook.exc_value}")
    listener = _socket.socket(fileno=LISTEN_FD)
    listener.set_inheritable(False)     # inherited from `start`; no container may get it
    reaper.set_subreaper()
    publisher = Publisher(namespace, os.environ.get("TTRPC_ADDRESS", ""), args.get("address"),
                          args.get("publish-binary"))
    server: Server | None = None

    def shutdown() -> None:
        publisher.flush()
        if server is not None:
            server.stop_after_reply = True

    service = TaskService(namespace, state_root(namespace), exits_dir(namespace), publisher, shutdown)
    service.console_dir = os.path.dirname(listener.getsockname())
    server = Server(listener, service.handlers())
    the_reaper = reaper.Reaper(service.lock, service.on_exit)
    the_reaper.install()
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    log.info(f"serving {args.get('id')} on {listener.getsockname()}")
    server.serve()
    try:
        os.unlink(listener.getsockname())
    except OSError:
        pass
    return 0


def delete(args: Args) -> int:
    """A shim is gone: remove its container, report the recorded exit."""
    import time

    from google.protobuf import timestamp_pb2

    from pyrunc.runtime.errors import PyruncError

    from . import exits, rootfs
    from .proto.task import shim_pb2
    from .runtimes import Options, open_runtime
    namespace, container_id = args.get("namespace"), args.get("id")
    bundle = args.get("bundle") or os.getcwd()
    try:
        # The runtime Create was given (BinaryName, Root), as the bundle keeps it.
        runtime = open_runtime(Options.load(bundle), state_root(namespace), namespace)
        runtime.remember(container_id, bundle)
        runtime.delete(container_id)
    except PyruncError as exc:
        sys.stderr.write(f"pyrunc: {exc}\n")
    rootfs.unmount(os.path.join(bundle, "rootfs"))
    record = exits.read(exits_dir(namespace), container_id)
    # Nothing recorded: the shim died before its init did, and the init
    # was killed just now (containerd-shim-runc-v2 says 128+SIGKILL too).
    status, pid, exited_at = record if record else (128 + 9, 0, time.time_ns())
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(exited_at)
    sys.stdout.buffer.write(shim_pb2.DeleteResponse(pid=pid, exit_status=status, exited_at=stamp).SerializeToString())
    sys.stdout.flush()
    exits.remove(exits_dir(namespace), container_id)
    return 0


def entry() -> None:
    args = Args(sys.argv[1:])
    commands = {"start": start, "delete": delete, "serve": serve}
    if args.command not in commands or not args.get("namespace"):
        sys.stderr.write("usage: containerd-shim-pyrunc-v2 -namespace NS -id ID [-address A] "
                         "[-publish-binary B] [-debug] start|delete\n")
        raise SystemExit(1)
    try:
        raise SystemExit(commands[args.command](args))
    except OSError as exc:
        sys.stderr.write(f"containerd-shim-pyrunc-v2: {exc}\n")
        raise SystemExit(1) from None


if __name__ == "__main__":
    entry()
