"""The zygote: a warm parent, one per containerd (its ttrpc address), that
has imported everything a shim server runs (protobuf modules, pyrunc's
runtime library, the native extension), forks the servers of each
namespace (a group's server is the one its shard_of() names), and
starts a relay (relay.c) for each container group: a pod, or a
container alone.  The servers share the zygote's pages copy-on-write
(gc.freeze() keeps the collector from writing to them) and pay no
interpreter start or import; a relay is a few pages of C.

`start` (launcher.c, or main.py) connects to the zygote's socket (0600,
in a 0700 directory; peers must be root) and sends one request; the
answer is the address of the container's group: the socket of its live
relay, or of a new one.

    containerd ---> relay (pyrunc-shim, one per group) ---> server (pyrunc-shimd, SHARDS per namespace)
    containerd-shim-pyrunc-v2 start ---> zygote (pyrunc-zygote) --fork--> server, --spawn--> relays

The zygote is single-threaded (it forks) and blocks in select(): no CPU
while idle.  It leaves when it has had no server and no relay for
IDLE_EXIT seconds (select's timeout is the timer), removing its socket.
Starting and leaving are race-free through one flock on the socket
directory: `start` holds it shared while it talks to the zygote, and
exclusive while it starts one; the zygote leaves only if it gets it
exclusive at once, so it never leaves with a request on its way.

A relay never goes under a container handed out to it: when a group's
last task is deleted and containerd says Shutdown, the server asks
(`release CREATES GROUP`), and the zygote says no while a `start` has
handed the relay out for a container whose Create has not come yet
(counted both sides); otherwise it removes the relay's socket, tells it
to go, and says yes.  A server with no task left asks to `exit`, which
the zygote allows when no relay of its namespace is left.  A server that
dies under live relays is forked again at once; its relays connect to
the new one, which reads the tasks from disk (service.py).

The zygote also keeps a copy of the container's side of each process's
stdio (`keep` with the fds, `drop` when done: stdio.py): the pipes'
other ends and pty masters.  A killed server's processes then neither
get SIGPIPE nor lose what they write, and its successor, which inherits
the copies, goes on copying to containerd's fifos."""
from __future__ import annotations

import gc
import os
import selectors
import socket as _socket
import sys
import time

from .main import Args, cleanup, decode, handout_mark, lock_out_starts, orphans_dir, relay_socket, server_socket

IDLE_EXIT = float(os.environ.get("PYRUNC_SHIM_IDLE_EXIT", "30"))
GRACE = 30.0    # a container handed out this long ago and not created is not coming
# Servers per namespace, each serving the groups whose CRC-32 falls to it:
# one Python process (one GIL) for every pod of a node made starting many
# at once wait for it.
SHARDS = max(1, min(4, os.cpu_count() or 1))
RESTART_AFTER = 1.0     # a server dead younger than this, RESTARTS_YOUNG times in a row,
RESTARTS_YOUNG = 3      # is not forked again: it would only die again
NAME = "pyrunc-zygote"
RELAY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyrunc-relay")

# What servers use, imported once here so that no server imports it again.
# Left out, as what only some servers need: subprocess (hooks, BinaryName,
# the publish binary), urllib.parse (binary:// and file:// logs), tomllib
# (a runtime options file).  Each is a few hundred KiB the rare server that
# needs it imports for itself, not a cost of every shim.
WARM = ("pyrunc.shim.daemon", "pyrunc.shim.oom", "pyrunc.shim.stats", "pyrunc.shim.records", "pyrunc.shim._libc",
        "pyrunc.runtime.idmap", "pyrunc.runtime.rootless", "encodings.ascii",
        "pyrunc.shim.proto.task.shim_pb2", "pyrunc.shim.proto.events.task_pb2",
        "pyrunc.shim.proto.events.ttrpc_events_pb2", "pyrunc.shim.proto.options.oci_pb2",
        "pyrunc.shim.proto.options.runtimeoptions_pb2", "pyrunc.shim.proto.types.task_pb2",
        "pyrunc.shim.proto.cgroups.metrics_pb2", "pyrunc.shim.proto.cgroups.metrics_v2_pb2",
        "pyrunc.shim.proto.ttrpc_pb2", "google.protobuf.empty_pb2", "google.protobuf.timestamp_pb2",
        "google.protobuf.any_pb2", "pyrunc.runtime.container", "pyrunc.runtime.resources",
        "pyrunc.runtime.exec_process", "pyrunc.runtime.spec", "pyrunc.runtime.plan", "pyrunc.runtime.native",
        "pyrunc.runtime.spawn", "pyrunc.runtime.console", "pyrunc.runtime.hooks", "pyrunc.runtime.seccomp",
        "pyrunc.runtime.cgroups.v1", "pyrunc.runtime.cgroups.v2", "pyrunc.runtime.jsonio",
        "fcntl", "termios", "select", "queue")


GROUP_ANNOTATIONS = ("io.kubernetes.cri.sandbox-id", "io.containerd.runc.v2.group")
NAMESPACE_GROUP = "*"   # no container id: containerd's ids are [A-Za-z0-9_.-]


def group_of(fields: dict[str, str]) -> str:
    """The group whose server serves a container: its pod (named by
    annotation), or with PYRUNC_SHIM_GROUP=namespace (in containerd's
    environment) the whole namespace, else the container alone."""
    if fields.get("grouping") == "namespace":
        return NAMESPACE_GROUP
    from pyrunc.runtime import jsonio
    container_id = fields.get("id", "")
    try:
        with open(os.path.join(fields.get("bundle", ""), "config.json"), "rb") as f:
            config = f.read()
        # Parsed only when it may name a group: the objects a parse makes
        # would land in pages the servers share (each one copied then).
        if not any(key.encode() in config for key in GROUP_ANNOTATIONS):
            return container_id
        annotations = jsonio.loads(config).get("annotations") or {}
    except (OSError, ValueError, AttributeError):
        return container_id
    for key in GROUP_ANNOTATIONS:
        if isinstance(annotations, dict) and annotations.get(key):
            return _group_name(str(annotations[key]))
    return container_id


def _group_name(value: str) -> str:
    """An annotation's group as a name the relay's command line, its hello
    and the records carry: itself when it looks like a containerd id (a
    pod's sandbox id does), else a digest of it.  A config may hold any
    string there, NULs and "*" (the namespace's group) included."""
    if 0 < len(value) <= 76 and all(c.isascii() and (c.isalnum() or c in "_.-") for c in value):
        return value
    from pyrunc.runtime.digest import sha256_hex
    return "sha256-" + sha256_hex(value.encode(errors="surrogatepass"))[:32]


def shard_of(group: str) -> int:
    """Which of a namespace's SHARDS servers serves a group (CRC-32: the
    same for every zygote)."""
    import zlib
    return zlib.crc32(group.encode()) % SHARDS


class Server:
    """The zygote's view of a server it forked: one shard of a namespace."""

    def __init__(self, pid: int, channel: _socket.socket, key: tuple[str, int], path: str, fields: dict[str, str],
                 kept: dict[str, dict[str, int]]) -> None:
        self.pid, self.channel, self.key, self.path, self.fields = pid, channel, key, path, fields
        self.kept = kept    # "ID\0EXEC_ID" -> {role: fd}: the stdio its processes hold (stdio.py)
        self.forked_at = time.monotonic()
        self.young_deaths = 0   # of its predecessors, in a row: each dead within RESTART_AFTER

    def hand_over(self) -> dict[str, dict[str, int]]:
        """Its kept stdio ends, for a successor: no longer closed with it."""
        kept, self.kept = self.kept, {}
        return kept


class Relay:
    """The zygote's view of one group's relay (relay.c)."""

    def __init__(self, pid: int, address: str, channel: _socket.socket, key: tuple[str, str]) -> None:
        self.pid, self.address, self.channel, self.key = pid, address, channel, key
        self.handouts = 1
        self.last_handout = time.monotonic()


class Zygote:
    def __init__(self, listener: _socket.socket, ttrpc_address: str, containerd_address: str,
                 publish_binary: str) -> None:
        self.listener, self.ttrpc_address = listener, ttrpc_address
        self.containerd_address, self.publish_binary = containerd_address, publish_binary
        self.servers: dict[tuple[str, int], Server] = {}        # by (namespace, shard)
        self.relays: dict[tuple[str, str], Relay] = {}          # by (namespace, group)
        self.selector = selectors.DefaultSelector()
        self.client: _socket.socket | None = None     # the `start` being answered
        self.dying: list[Server] = []   # replaced, not yet reaped
        self.leaving: list[Relay] = []  # told to go, not yet reaped
        # The child subreaper of the servers: a killed server's processes
        # become ours, and we record their exits for its successor.
        import signal
        self.wake_read, self.wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_write, warn_on_full_buffer=False)

    def run(self) -> None:
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.selector.register(self.wake_read, selectors.EVENT_READ, "SIGCHLD")
        timeout = IDLE_EXIT
        while True:
            ready = self.selector.select(None if self.servers or self.relays else timeout)
            if not ready:
                if self._leave():
                    return
                timeout = 1.0   # a `start` holds the lock: its request is on its way
                continue
            timeout = IDLE_EXIT
            for key, _ in ready:
                if key.data is None:
                    self._accept()
                elif key.data == "SIGCHLD":
                    self._reap_orphans()
                elif isinstance(key.data, Relay):
                    self._from_relay(key.data)
                else:
                    self._from_server(key.data)

    def _leave(self) -> bool:
        """Idle: go, unless a `start` is talking to us (it holds the lock).
        With no directory (removed under us) nobody can reach us any more."""
        if lock_out_starts() is None:
            return False
        try:
            os.unlink(self.listener.getsockname())
        except OSError:
            pass
        return True     # the lock goes with the process

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.client = conn
        with conn:
            conn.settimeout(10)
            try:
                if not _peer_is_root(conn):
                    conn.send(b"error\0only root may start shims")
                    return
                fields = decode(conn.recv(65536))
                try:
                    conn.send(self._answer(fields))
                except Exception as exc:    # one bad request must not end the zygote
                    conn.send(f"error\0{exc}".encode())
            except OSError:
                pass    # the client went away

    def _answer(self, fields: dict[str, str]) -> bytes:
        for name in ("namespace", "id"):
            if fields.get(name, "") in ("", ".", "..") or "/" in fields.get(name, ""):
                raise ValueError(f"bad {name} {fields.get(name)!r}")
        if fields.get("op") == "delete":
            # The delete command's common case, done here in a moment;
            # "python" when the container is still there (that delete is
            # the command's: it may take long, and we must not block).
            response = cleanup(fields.get("namespace", ""), fields.get("id", ""), fields.get("bundle", ""),
                               may_delete=False)
            return b"python" if response is None else b"ok\0" + response
        return b"ok\0" + self._relay_for(fields).encode()

    def _relay_for(self, fields: dict[str, str]) -> str:
        """The address of the container's group: its live relay's, or a new one's."""
        fields["group"] = group_of(fields)
        key = (fields["namespace"], fields["group"])
        relay = self.relays.get(key)
        if relay is not None and _exited(relay.pid):
            self._forget_relay(relay, reaped=True)     # killed, its end not read yet
            relay = None
        path = relay_socket(self.ttrpc_address, *key)
        if relay is None and _answers(path):
            # An earlier zygote's relay, which outlived it: it and its server
            # go on serving the group (a second server would serve its tasks
            # twice), and leave with its last client.  The mark tells that
            # server a Create is on its way (daemon.py).
            _touch(handout_mark(path))
            return "unix://" + path
        self._server_of(fields)
        if relay is not None:
            relay.handouts += 1
            relay.last_handout = time.monotonic()
            return relay.address
        return self._spawn_relay(key)

    def _relays_of(self, key: tuple[str, int]) -> list[Relay]:
        """The live relays a server serves."""
        return [relay for (ns, group), relay in self.relays.items() if (ns, shard_of(group)) == key]

    def _server_of(self, fields: dict[str, str]) -> Server:
        """The live server of the group's shard of the namespace, forked
        anew if there is none."""
        key = (fields["namespace"], shard_of(fields["group"]))
        server = self.servers.get(key)
        if server is None:
            return self._fork(fields, key, None, self._server_path(key))
        if _exited(server.pid):
            kept = server.hand_over()   # a killed server's stdio ends go to its successor
            self._forget(server)    # killed, its end not read yet: never count on a dead server
        elif _leader_exited(server.pid):
            # Killed, with its other threads still on their way out: it
            # cannot be reaped yet (its channel's end says when).
            kept = server.hand_over()
            del self.servers[server.key]
            self.dying.append(server)
        else:
            return server
        return self._fork(fields, key, kept, server.path)   # where its relays connect

    def _server_path(self, key: tuple[str, int]) -> str:
        """The socket of a new server of the shard: another one than the
        shard's usual while an earlier zygote's server still answers
        there, which goes on serving its relays (and a new connection of
        theirs must reach it, not ours)."""
        path = server_socket(self.ttrpc_address, *key)
        return server_socket(self.ttrpc_address, *key, generation=str(os.getpid())) if _answers(path) else path

    def _spawn_relay(self, key: tuple[str, str]) -> str:
        from .server import listen
        path = relay_socket(self.ttrpc_address, *key)
        # A relay that died, or one an earlier zygote made (it is ours no more), and its mark.
        for stale in (path, handout_mark(path)):
            if os.path.lexists(stale):
                os.unlink(stale)
        listener = listen(path)
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        try:
            argv = [RELAY, "-address", self.containerd_address,
                    "-server", self.servers[(key[0], shard_of(key[1]))].path, "-group", key[1]]
            pid = os.posix_spawn(RELAY, argv, {}, file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDWR, 0), (os.POSIX_SPAWN_DUP2, 0, 1),
                (os.POSIX_SPAWN_DUP2, 0, 2), (os.POSIX_SPAWN_DUP2, listener.fileno(), 3),
                (os.POSIX_SPAWN_DUP2, theirs.fileno(), 4)])
        except BaseException:
            ours.close()
            os.unlink(path)
            raise
        finally:
            listener.close()
            theirs.close()
        relay = Relay(pid, "unix://" + path, ours, key)
        self.relays[key] = relay
        self.selector.register(ours, selectors.EVENT_READ, relay)
        return relay.address

    def _fork(self, fields: dict[str, str], key: tuple[str, int], kept: dict[str, dict[str, int]] | None,
              path: str) -> Server:
        from .server import listen
        if os.path.lexists(path):
            os.unlink(path)     # a server that died, or one an earlier zygote made
        listener = listen(path)
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        # The groups whose relays live: a server forked after its
        # predecessor died serves their tasks again, and only theirs.  It
        # counts only the Creates it gets (replayed ones among them): the
        # relays' earlier handouts count as created, else every release
        # would wait out GRACE.
        relays = self._relays_of(key)
        for relay in relays:
            relay.handouts = 0
        groups = "\0".join(relay.key[1] for relay in relays)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                ours.close()
                self._forget_all()
                code = self._serve({**fields, "groups": groups}, listener, theirs, kept or {})
            finally:
                os._exit(code)
        listener.close()
        theirs.close()
        server = Server(pid, ours, key, path, dict(fields), kept or {})
        self.servers[key] = server
        self.selector.register(ours, selectors.EVENT_READ, server)
        return server

    def _reap_orphans(self) -> None:
        """SIGCHLD: every child that ended.  Servers and relays are reaped
        where their channel's end is seen; anything else was a killed
        server's process, whose exit its successor claims (exits.py)."""
        import time

        from . import exits
        from .reaper import ended_children
        try:
            while os.read(self.wake_read, 4096):
                pass
        except BlockingIOError:
            pass
        ours = {peer.pid for peer in [*self.servers.values(), *self.dying, *self.relays.values(), *self.leaving]}
        for pid, code in ended_children():
            if pid not in ours:
                os.makedirs(orphans_dir(), mode=0o700, exist_ok=True)
                exits.record_orphan(orphans_dir(), pid, code, time.time_ns())

    def _forget_all(self) -> None:
        """In a new server: nothing of the zygote's stays open."""
        self.selector.close()
        import signal
        signal.set_wakeup_fd(-1)    # before its fd goes: the server sets its own (reaper.py)
        os.close(self.wake_read)
        os.close(self.wake_write)
        self.listener.close()
        if self.client is not None:
            self.client.close()
        for peer in [*self.servers.values(), *self.dying, *self.relays.values(), *self.leaving]:
            peer.channel.close()
        for server in [*self.servers.values(), *self.dying]:
            _close_kept(server.kept)
        self.servers, self.dying, self.relays, self.leaving = {}, [], {}, []

    def _serve(self, fields: dict[str, str], listener: _socket.socket, channel: _socket.socket,
               kept: dict[str, dict[str, int]]) -> int:
        from . import daemon
        gc.enable()
        return daemon.serve(daemon.Request(fields), listener, channel, self.containerd_address, self.publish_binary,
                            kept)

    def _from_server(self, server: Server) -> None:
        if server.channel.fileno() < 0:
            return      # forgotten in this round already
        try:
            message, fds = _receive(server.channel)
        except OSError:
            message, fds = b"", []
        if not message:     # it exited
            kept = server.hand_over()
            self._forget(server)
            try:
                os.waitpid(server.pid, 0)
            except ChildProcessError:
                pass    # reaped already (see _server_of)
            young = server.young_deaths + 1 if time.monotonic() - server.forked_at < RESTART_AFTER else 0
            if self._relays_of(server.key) and server.key not in self.servers and young < RESTARTS_YOUNG:
                # Killed under live relays: they connect to its successor,
                # which goes on copying its processes' stdio.
                self._fork(server.fields, server.key, kept, server.path).young_deaths = young
            else:
                _close_kept(kept)
            return
        if message.startswith((b"keep\0", b"drop\0")):
            _keep_or_drop(server.kept, message, fds)
            return
        for fd in fds:
            os.close(fd)    # none are sent with anything else
        verb, _, rest = message.partition(b" ")
        if verb == b"release":      # "release CREATES GROUP": the group's last task is deleted
            creates, _, group = rest.partition(b" ")
            answer = self._release((server.key[0], group.decode()), int(creates) if creates.isdigit() else 0)
        elif verb == b"exit":       # no task left: the server may go if no relay needs it
            answer = not self._relays_of(server.key)
            if answer and self.servers.get(server.key) is server:
                del self.servers[server.key]      # from now on, a `start` forks anew
                try:    # here, not in the server: the next one may bind the path before it is gone
                    os.unlink(server.path)
                except OSError:
                    pass
        else:
            return
        try:
            server.channel.send(b"yes" if answer else b"no")
        except OSError:
            pass

    def _release(self, key: tuple[str, str], creates: int) -> bool:
        """Unless a `start` handed the relay out for a container whose
        Create has not come yet: tell it to go, and forget it."""
        relay = self.relays.get(key)
        if relay is None:
            return True
        if relay.handouts > creates and time.monotonic() - relay.last_handout < GRACE:
            return False
        del self.relays[key]
        try:
            os.unlink(relay.address[len("unix://"):])    # before it goes: a new relay may take the path
        except OSError:
            pass
        try:
            relay.channel.send(b"exit")
        except OSError:
            pass
        self.leaving.append(relay)
        return True

    def _from_relay(self, relay: Relay) -> None:
        """Its channel's end: it exited (told to, or killed)."""
        if relay.channel.fileno() < 0:
            return
        try:
            if relay.channel.recv(16):
                return      # relays send nothing; ignored
        except OSError:
            pass
        self._forget_relay(relay)

    def _forget_relay(self, relay: Relay, reaped: bool = False) -> None:
        if self.relays.get(relay.key) is relay:
            del self.relays[relay.key]
            try:
                os.unlink(relay.address[len("unix://"):])   # killed: its socket goes with it
            except OSError:
                pass
        if relay in self.leaving:
            self.leaving.remove(relay)
        if relay.channel.fileno() >= 0:
            self.selector.unregister(relay.channel)
            relay.channel.close()
        if not reaped:
            try:
                os.waitpid(relay.pid, 0)
            except ChildProcessError:
                pass

    def _forget(self, server: Server) -> None:
        """Once (its end may be seen twice: by _server_of, then its channel)."""
        if self.servers.get(server.key) is server:
            del self.servers[server.key]
        if server in self.dying:
            self.dying.remove(server)
        _close_kept(server.kept)
        server.kept = {}
        if server.channel.fileno() >= 0:
            self.selector.unregister(server.channel)
            server.channel.close()


def _receive(channel: _socket.socket) -> tuple[bytes, list[int]]:
    """One message from a server, with the fds it carries (close-on-exec:
    the relays spawned later must not get them)."""
    import array
    fds = array.array("i")
    message, ancillary, _, _ = channel.recvmsg(4096, _socket.CMSG_SPACE(16 * fds.itemsize), _socket.MSG_CMSG_CLOEXEC)
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    return message, list(fds)


def _keep_or_drop(kept: dict[str, dict[str, int]], message: bytes, fds: list[int]) -> None:
    """`keep\0ID\0EXEC_ID\0ROLES` with an fd per role letter, or
    `drop\0ID\0EXEC_ID\0ROLES` (no roles: all of the process's)."""
    parts = message.split(b"\0")
    if len(parts) != 4:
        parts = [b"", b"", b"", b""]
    name, roles = (parts[1] + b"\0" + parts[2]).decode(errors="replace"), parts[3].decode(errors="replace")
    if parts[0] == b"keep" and len(roles) == len(fds) == len(set(roles)):
        _close_kept({name: kept.pop(name, {})})
        kept[name] = dict(zip(roles, fds))
        return
    for fd in fds:
        os.close(fd)
    if parts[0] != b"drop":
        return
    ends = kept.get(name, {})
    for role in roles or list(ends):
        fd = ends.pop(role, -1)
        if fd >= 0:
            os.close(fd)
    if not ends:
        kept.pop(name, None)


def _close_kept(kept: dict[str, dict[str, int]]) -> None:
    for ends in kept.values():
        for fd in ends.values():
            os.close(fd)
    kept.clear()


def _touch(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.utime(fd)
    finally:
        os.close(fd)


def _answers(path: str) -> bool:
    """Something listens at this socket path."""
    if not os.path.lexists(path):
        return False
    probe = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    probe.settimeout(1)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _exited(pid: int) -> bool:
    """Whether a child ended (reaped now, or already: see _reap_orphans)."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True


def _leader_exited(pid: int) -> bool:
    """The process's main thread is a zombie: it was killed, and waits
    for its other threads before it can be reaped."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False    # reaped already, or unreadable: waitpid decides
    return stat[stat.rfind(b")") + 2:][:1] in (b"Z", b"X")


def _peer_is_root(conn: _socket.socket) -> bool:
    import struct
    creds = conn.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == 0 or uid == os.geteuid()


def _leave_callers_cgroup() -> None:
    """Into the cgroups of pid 1 (where a daemon started at boot lives):
    not containerd's (a containerd stopped with its cgroup must not take
    the shims along), and never charged to it."""
    try:
        with open("/proc/1/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return
    for line in lines:
        _, controllers, path = line.split(":", 2)
        name = controllers.removeprefix("name=") if controllers else ""
        mount = "/sys/fs/cgroup" if not controllers else f"/sys/fs/cgroup/{name.split(',')[0]}"
        if not controllers and os.path.isdir("/sys/fs/cgroup/unified"):
            mount = "/sys/fs/cgroup/unified"    # v1 hybrid: the v2 hierarchy is here
        try:
            with open(os.path.join(mount, path.lstrip("/"), "cgroup.procs"), "w") as f:
                f.write("0")
        except OSError:
            pass    # a hierarchy we may not move in: stay


def _open_files_to_the_hard_limit() -> None:
    """A server has a connection per task of its namespace, and fds per
    process (stdio): as many as it may (its relays do the same)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def warm() -> None:
    """Import what servers run, and use each message type once: protobuf
    builds parts of a type's Python side on first use, which each server
    would otherwise build for itself, in memory of its own."""
    import importlib
    for name in WARM:
        module = importlib.import_module(name)
        for message in getattr(getattr(module, "DESCRIPTOR", None), "message_types_by_name", {}).values():
            cls = getattr(module, message.name)
            cls.FromString(cls().SerializeToString())


def main() -> None:
    """`python -m pyrunc.shim.zygote -address A -publish-binary B -fd N`,
    N its listening socket, TTRPC_ADDRESS in the environment (main.start)."""
    from ._libc import set_name, set_subreaper
    args = Args(sys.argv[1:])
    set_name(NAME)
    set_subreaper()
    os.chdir("/")
    _leave_callers_cgroup()
    _open_files_to_the_hard_limit()
    listener = _socket.socket(fileno=int(args.get("fd")))
    listener.set_inheritable(False)
    warm()
    # Everything imported so far is shared with the servers: the collector
    # must not touch it (its writes would copy each page into each server).
    gc.collect()
    gc.freeze()
    gc.disable()
    Zygote(listener, os.environ.get("TTRPC_ADDRESS", ""), args.get("address"),
           args.get("publish-binary")).run()


if __name__ == "__main__":
    main()
