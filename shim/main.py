"""containerd-shim-pyrunc-v2: containerd's shim v2 binary protocol.

    containerd-shim-pyrunc-v2 -namespace NS -address A -publish-binary B -id ID [-debug] start
        (cwd: the bundle; env: TTRPC_ADDRESS)  start the shim server, or find
        the running one that serves this container's group; print its address
    containerd-shim-pyrunc-v2 -namespace NS -id ID [-bundle B] delete
        clean up after a shim that is gone; print a DeleteResponse (protobuf)
(The servers are forked by a zygote that `start` starts when need be: zygote.py.)

Flags are Go's: `-name value`, `-name=value`, `--name value`; -debug alone.
"""
from __future__ import annotations

import os
import sys

ROOT = os.environ.get("PYRUNC_SHIM_ROOT", "/run/containerd/pyrunc")
BOOLEAN_FLAGS = {"debug", "v"}


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


def tasks_dir(namespace: str) -> str:
    return os.path.join(ROOT, "tasks", namespace)


def orphans_dir() -> str:
    """Exits the zygote saw of processes whose server died (see zygote.py)."""
    return os.path.join(ROOT, "orphans")


def zygote_dir() -> str:
    return os.path.join(ROOT, "z")


def zygote_socket(ttrpc_address: str) -> str:
    """One zygote per containerd, which its ttrpc address names (by its
    FNV-1a hash, which launcher.c computes too)."""
    return os.path.join(zygote_dir(), f"{fnv1a(ttrpc_address):016x}")


def fnv1a(text: str) -> int:
    value = 0xCBF29CE484222325
    for byte in text.encode():
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def relay_socket(ttrpc_address: str, namespace: str, group: str) -> str:
    """A group's address: its relay's socket (relay.c)."""
    return os.path.join(ROOT, "s", _digest(f"{ttrpc_address}\0{namespace}\0{group}"))


def handout_mark(relay_path: str) -> str:
    """A file a zygote touches each time it hands out a relay an earlier
    zygote spawned, for that relay's server (daemon.py): it has no zygote
    to count handouts for it."""
    return relay_path + ".handout"


def server_socket(ttrpc_address: str, namespace: str, shard: int, generation: str = "") -> str:
    """The socket of a server of a namespace, which only relays reach
    (four fields, where a group's address hashes three).  generation: a
    zygote's own, while an earlier zygote's server is at the first."""
    return os.path.join(ROOT, "s", _digest(f"{ttrpc_address}\0{namespace}\0{shard}\0{generation}"))


def _digest(text: str) -> str:
    # Hashed: socket paths are short (108 bytes) and ids may be long.
    from pyrunc.runtime.digest import sha256_hex
    return sha256_hex(text.encode())[:32]


def encode(fields: dict[str, str]) -> bytes:
    """A request to the zygote: key=value fields, NUL-separated, one packet."""
    return "\0".join(f"{key}={value}" for key, value in fields.items()).encode()


def decode(data: bytes) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in data.decode(errors="replace").split("\0") if item)


def start(args: Args) -> int:
    """Print the address of a server for this container's group: the
    zygote forks one, or names the one that serves the group already."""
    # The zygote reads the bundle's config for the group (its JSON parser
    # is loaded already); the namespace mode is containerd's environment.
    request = encode({"namespace": args.get("namespace"), "id": args.get("id"), "bundle": os.getcwd(),
                      "grouping": os.environ.get("PYRUNC_SHIM_GROUP", ""), "debug": args.get("debug", "false")})
    answer = _ask_zygote(args, request)
    status, _, address = answer.partition(b"\0")
    if status != b"ok":
        sys.stderr.write(f"containerd-shim-pyrunc-v2: {address.decode(errors='replace')}\n")
        return 1
    sys.stdout.write(address.decode())
    _write_address(address.decode())
    return 0


def lock_out_starts() -> int | None:
    """The flock every `start` holds on the zygote directory (shared while
    it talks to a zygote, exclusive while it starts one), taken exclusive
    without waiting: its fd, which holds it until closed; -1 when there is
    no directory (no start can be under way); None while a start holds it."""
    import fcntl
    try:
        lock = os.open(zygote_dir(), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return -1
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        return None
    return lock


def _ask_zygote(args: Args, request: bytes) -> bytes:
    """One request, one answer; the zygote is started if it is not there.
    The directory's flock makes that race-free (see zygote.py)."""
    import fcntl
    path = zygote_socket(os.environ.get("TTRPC_ADDRESS", ""))
    os.makedirs(zygote_dir(), mode=0o700, exist_ok=True)
    lock = os.open(zygote_dir(), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for mode in (fcntl.LOCK_SH, fcntl.LOCK_EX):
            fcntl.flock(lock, mode)
            try:
                return _exchange(path, request)
            except (FileNotFoundError, ConnectionRefusedError):
                pass    # no zygote, or a dead one's socket
        _start_zygote(args, path)
        return _exchange(path, request)
    finally:
        os.close(lock)


def _exchange(path: str, request: bytes) -> bytes:
    import _socket     # not socket: its imports (enum, selectors) cost more than the rest of start
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(60)     # a zygote still importing answers in a second or so
        sock.connect(path)
        sock.send(request)
        return sock.recv(65536)
    finally:
        sock.close()


def _start_zygote(args: Args, path: str) -> None:
    """Lock held exclusively: bind its socket, start it detached with the
    socket open (so requests queue up while it warms up)."""
    import socket
    import subprocess
    if os.path.lexists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    old_umask = os.umask(0o177)
    try:
        listener.bind(path)     # 0600, in the 0700 directory
        listener.listen(128)
        argv = [sys.executable, "-m", "pyrunc.shim.zygote", "-address", args.get("address"),
                "-publish-binary", args.get("publish-binary"), "-fd", str(listener.fileno())]
        # Own session, no stdio of containerd's (containerd waits for our
        # output to end), and outliving this command.
        zygote = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, pass_fds=(listener.fileno(),),
                                  start_new_session=True, cwd="/")
        try:
            # Before any request reaches it (we hold the lock): what it
            # forks and spawns, servers, relays, containers, inherits it.
            _rank_above_containerd(zygote.pid)
        except BaseException:
            zygote.kill()
            zygote.wait()
            raise
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.umask(old_umask)
        listener.close()


def _rank_above_containerd(pid: int) -> None:
    """The OOM killer takes the shim before containerd (which runs this
    command): containerd's oom_score_adj plus one, as containerd's runc
    shim sets its own.  A container whose config sets none inherits it,
    as under that shim.  Only lowering a score needs privilege
    (CAP_SYS_RESOURCE): refused, the inherited score stays."""
    with open(f"/proc/{os.getppid()}/oom_score_adj", "rb") as f:
        score = min(int(f.read()) + 1, 1000)
    try:
        with open(f"/proc/{pid}/oom_score_adj", "w") as f:
            f.write(str(score))
    except PermissionError:
        pass


def _write_address(address: str) -> None:
    """containerd reconnects through the bundle's `address` file after a restart."""
    try:
        with open("address", "w") as f:
            f.write(address)
    except OSError:
        pass


def delete(args: Args) -> int:
    """A shim is gone (containerd runs this after every shim's end; the
    launcher asks the zygote first, which does the common case itself):
    remove its container if it is still there, report the recorded exit."""
    bundle = args.get("bundle") or os.getcwd()
    response = cleanup(args.get("namespace"), args.get("id"), bundle, may_delete=True)
    sys.stdout.buffer.write(response or b"")
    sys.stdout.flush()
    return 0


def cleanup(namespace: str, container_id: str, bundle: str, may_delete: bool) -> bytes | None:
    """The delete command's work; its DeleteResponse.  Without may_delete
    (in the zygote, which must not block), None when the container is
    still there: the runtime library's delete is the Python command's.
    The common case, a container its shim deleted, loads neither the
    library nor protobuf."""
    import time

    from pyrunc.runtime.errors import PyruncError

    from . import exits, records, rootfs
    from .runtimes import Options, open_runtime, runtime_root
    try:
        # The runtime Create was given (BinaryName, Root), as the bundle keeps it.
        options = Options.load(bundle)
        if os.path.lexists(os.path.join(runtime_root(options, state_root(namespace), namespace), container_id)):
            if not may_delete:
                return None
            runtime = open_runtime(options, state_root(namespace), namespace)
            runtime.remember(container_id, bundle)
            runtime.delete(container_id)
    except PyruncError as exc:
        if not may_delete:
            return None
        sys.stderr.write(f"pyrunc: {exc}\n")
    rootfs.unmount(os.path.join(bundle, "rootfs"))
    record = exits.read(exits_dir(namespace), container_id)
    # Nothing recorded: the shim died before its init did, and the init
    # was killed just now (containerd-shim-runc-v2 says 128+SIGKILL too).
    status, pid, exited_at = record if record else (128 + 9, 0, time.time_ns())
    exits.remove(exits_dir(namespace), container_id)
    records.remove(tasks_dir(namespace), container_id)
    return exits.delete_response(pid, status, exited_at)


def entry() -> None:
    args = Args(sys.argv[1:])
    commands = {"start": start, "delete": delete}
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
