"""The runtime behind a task: pyrunc's library, called in-process (the
default), or a runc-compatible binary when containerd's runc options name
one (`BinaryName`), so the same shim can be measured on runc.

Both give the service the same calls.  Every call runs under the service's
lock (see reaper.py): the binary's own processes are waited for by
subprocess, never by the reaper.  The processes a binary leaves behind
(the container's init, an exec'd process) are reparented to the shim, the
child subreaper, as the library's are its children from the start.

The options are containerd.runc.v1.Options (Create's `options`, as
containerd's runc shim takes them), or runtimeoptions.v1.Options whose
`config_path` names a TOML file with the same fields in Go's spelling
(`BinaryName = "runc"`), which is what `ctr --runtime-config-path` and the
CRI plugin's `ConfigPath` pass.  They are kept in the bundle's
options.json (as containerd's runc shim does), so `delete` and a
restarted shim use the same runtime.  (The library is imported where it
is called: the `delete` command reads the options without it.)"""
from __future__ import annotations

import os

from pyrunc.runtime.errors import PyruncError
from pyrunc.runtime.state import CREATED, PAUSED, RUNNING, STOPPED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

RUNC_OPTIONS = "containerd.runc.v1.Options"
CONFIG_OPTIONS = "runtimeoptions.v1.Options"
OPTIONS_FILE = "options.json"

# Options field -> its name in Go (TOML files and options.json alike use these
# spellings: TOML the Go field names, options.json the protobuf json names).
FIELDS = {"no_pivot_root": "NoPivotRoot", "no_new_keyring": "NoNewKeyring", "shim_cgroup": "ShimCgroup",
          "io_uid": "IoUid", "io_gid": "IoGid", "binary_name": "BinaryName", "root": "Root",
          "systemd_cgroup": "SystemdCgroup"}
_TYPES = {"no_pivot_root": bool, "no_new_keyring": bool, "shim_cgroup": str, "io_uid": int, "io_gid": int,
          "binary_name": str, "root": str, "systemd_cgroup": bool}


class Options:
    """containerd's runc options, as plain values."""

    def __init__(self, **values: Any) -> None:
        self.no_pivot_root = self.no_new_keyring = self.systemd_cgroup = False
        self.shim_cgroup = self.binary_name = self.root = ""
        self.io_uid = self.io_gid = 0
        for name, value in values.items():
            if name not in _TYPES or not isinstance(value, _TYPES[name]) or \
                    (_TYPES[name] is int and (isinstance(value, bool) or not 0 <= value < 1 << 32)):
                raise PyruncError(f"runtime options: {name} = {value!r} is not a valid value")
            setattr(self, name, value)

    def values(self) -> dict[str, Any]:
        default = Options()
        return {name: getattr(self, name) for name in _TYPES if getattr(self, name) != getattr(default, name)}

    @classmethod
    def from_any(cls, type_url: str, value: bytes) -> Options:
        """From Create's `options` (an Any; empty: the defaults)."""
        if not type_url:
            return cls()
        name = type_url.rsplit("/", 1)[-1]
        if name == RUNC_OPTIONS:
            from pyrunc.shim.proto.options import oci_pb2
            message = oci_pb2.Options()
            message.ParseFromString(value)
            return cls(**{field: getattr(message, field) for field in _TYPES})
        if name == CONFIG_OPTIONS:
            from pyrunc.shim.proto.options import runtimeoptions_pb2
            message = runtimeoptions_pb2.Options()
            message.ParseFromString(value)
            return cls.from_toml(message.config_path) if message.config_path else cls()
        raise PyruncError(f"runtime options of type {name!r} are not supported "
                          f"({RUNC_OPTIONS} and {CONFIG_OPTIONS} are)")

    @classmethod
    def from_toml(cls, path: str) -> Options:
        import tomllib
        try:
            with open(path, "rb") as f:
                table = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise PyruncError(f"runtime options file {path}: {exc}") from None
        by_go_name = {go: name for name, go in FIELDS.items()}
        unknown = sorted(set(table) - set(by_go_name))
        if unknown:
            raise PyruncError(f"runtime options file {path}: unknown option {unknown[0]!r}")
        return cls(**{by_go_name[key]: value for key, value in table.items()})

    def save(self, bundle: str) -> None:
        from pyrunc.runtime import jsonio
        path = os.path.join(bundle, OPTIONS_FILE)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        with open(fd, "w") as f:
            f.write(jsonio.dumps(self.values()))

    @classmethod
    def load(cls, bundle: str) -> Options:
        """What Create saved in the bundle (the defaults when nothing was)."""
        from pyrunc.runtime import jsonio
        try:
            with open(os.path.join(bundle, OPTIONS_FILE), "rb") as f:
                values = jsonio.loads(f.read())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise PyruncError(f"{os.path.join(bundle, OPTIONS_FILE)}: {exc}") from None
        if not isinstance(values, dict):
            raise PyruncError(f"{os.path.join(bundle, OPTIONS_FILE)}: not an object")
        return cls(**values)


def runtime_root(options: Options, default_root: str, namespace: str) -> str:
    """The runtime's --root: as containerd's runc shim, Root is the parent
    of one root per namespace."""
    return os.path.join(options.root, namespace) if options.root else default_root


def open_runtime(options: Options, default_root: str, namespace: str) -> Library | Binary:
    root = runtime_root(options, default_root, namespace)
    if options.binary_name:
        return Binary(options, root)
    return Library(options, root)


def in_worker(call: Callable[[], int], fds: list[int] | None, container_id: str) -> int:
    """call() in a child forked for it, which exits after: the library's
    create and exec run a lot of Python, and each page of the zygote's
    that running it writes to (reference counts) would be copied into the
    server for good.  The child's pages go with it.  The processes it
    makes are the server's all the same: the server is the child
    subreaper, and the container's init (a child of the worker) is
    reparented to it when the worker exits; nothing can end before the
    server knows its pid (the init waits on exec.fifo, an exec's pid is
    read under the service's lock, which the reaper needs).  Stdio: the
    library gives the container its caller's fds 0-2, so `fds` become
    the worker's.  The result, or the error, comes back over a pipe."""
    from pyrunc.runtime import jsonio
    from pyrunc.runtime.errors import ContainerNotFound
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        _worker(call, fds, write_end)
    os.close(write_end)
    with open(read_end, "rb") as pipe:
        answer = jsonio.loads(pipe.read() or b"{}")
    if not isinstance(answer, dict) or "result" not in answer:
        answer = answer if isinstance(answer, dict) else {}
        if answer.get("kind") == "ContainerNotFound":
            raise ContainerNotFound(container_id)
        raise PyruncError(str(answer.get("message") or "the runtime's worker died"), errno=answer.get("errno"))
    return int(answer["result"])


def _worker(call: Callable[[], int], fds: list[int] | None, pipe: int) -> None:
    """In the forked child: never returns."""
    import threading

    from pyrunc.runtime import jsonio

    from .log import log
    log.lock = threading.Lock()     # another thread may have held it at the fork
    answer: dict[str, Any]
    try:
        for number, fd in enumerate(fds or []):
            os.dup2(fd, number)
        answer = {"result": call()}
    except PyruncError as exc:
        answer = {"kind": type(exc).__name__, "message": str(exc), "errno": exc.errno}
    except BaseException as exc:
        answer = {"message": f"{type(exc).__name__}: {exc}"}
    try:
        os.write(pipe, jsonio.dumps(answer).encode())
    finally:
        os._exit(0)


class Library:
    """pyrunc's runtime library, called in the server's process, where
    it creates and execs in a forked worker (in_worker)."""

    waits_for_children = False  # create and exec run in a worker; status() reads files and the kernel

    def __init__(self, options: Options, root: str) -> None:
        from pyrunc.runtime.state import StateStore
        self.options, self.root = options, root
        self.store = StateStore(root)

    def remember(self, container_id: str, bundle: str) -> None:
        """A container this runtime did not create here (reloaded, or deleted by `delete`)."""

    def create(self, container_id: str, bundle: str, console: str | None, fds: list[int] | None = None) -> int:
        from pyrunc.runtime import container
        opts = container.CreateOptions(bundle=bundle, console_socket=console,
                                       no_pivot=self.options.no_pivot_root,
                                       no_new_keyring=self.options.no_new_keyring,
                                       systemd_cgroup=self.options.systemd_cgroup)
        return in_worker(lambda: container.create(self.store, container_id, opts)[0].pid, fds, container_id)

    def start(self, container_id: str) -> None:
        from pyrunc.runtime import container
        container.start(self.store, container_id)

    def exec(self, container_id: str, spec: dict[str, Any], pid_file: str, console: str | None,
             fds: list[int] | None = None) -> None:
        from pyrunc.runtime.exec_process import ExecOptions, exec_process
        options = ExecOptions(spec, detach=True, pid_file=pid_file, console_socket=console)
        in_worker(lambda: exec_process(self.store.load(container_id), options) and 0, fds, container_id)

    def status(self, container_id: str) -> str:
        from pyrunc.runtime import container
        try:
            return container.status_of(self.store.load(container_id))
        except PyruncError:
            return STOPPED

    def kill(self, container_id: str, sig: int, all_processes: bool) -> None:
        from pyrunc.runtime import container
        container.kill(self.store, container_id, sig, all_processes=all_processes)

    def delete(self, container_id: str) -> None:
        from pyrunc.runtime import container
        container.delete(self.store, container_id, force=True)

    def pause(self, container_id: str) -> None:
        from pyrunc.runtime import resources
        resources.pause(self.store, container_id)

    def resume(self, container_id: str) -> None:
        from pyrunc.runtime import resources
        resources.resume(self.store, container_id)

    def update(self, container_id: str, changes: dict[str, Any]) -> None:
        from pyrunc.runtime import resources
        resources.update(self.store, container_id, changes)

    def pids(self, container_id: str) -> list[int]:
        from pyrunc.runtime import resources
        return resources.container_pids(self.store, container_id)

    def cgroup(self, container_id: str) -> Any:
        """The container's cgroup manager (None without one)."""
        from pyrunc.runtime import container
        try:
            return container.cgroup_manager(self.store.load(container_id))
        except PyruncError:
            return None

    def has_own_pid_namespace(self, container_id: str) -> bool:
        try:
            config = self.store.load(container_id).data.get("config") or {}
        except PyruncError:
            return True
        return _own_pid_namespace(config)


def _own_pid_namespace(config: dict[str, Any]) -> bool:
    namespaces = (config.get("linux") or {}).get("namespaces") or []
    return any(isinstance(ns, dict) and ns.get("type") == "pid" and not ns.get("path") for ns in namespaces)


class Binary:
    """A runc-compatible binary, run as containerd's runc shim runs it:
    `--root ROOT --log BUNDLE/log.json --log-format json`; a failure is
    the last error line of that log."""

    waits_for_children = True   # every call runs the binary: its exit is the reaper's to race for

    def __init__(self, options: Options, root: str) -> None:
        self.options, self.root = options, root
        self.bundles: dict[str, str] = {}   # container id -> bundle, for the log

    def remember(self, container_id: str, bundle: str) -> None:
        self.bundles[container_id] = bundle

    def _run(self, container_id: str, *args: str, fds: list[int] | None = None, input: bytes | None = None) -> bytes:
        import subprocess
        bundle = self.bundles.get(container_id, "")
        log = os.path.join(bundle, "log.json") if bundle else os.devnull
        argv = [self.options.binary_name, "--root", self.root, "--log", log, "--log-format", "json",
                *(["--systemd-cgroup"] if self.options.systemd_cgroup else []), *args]
        null = subprocess.DEVNULL
        stdin, stdout, stderr = fds if fds else (subprocess.PIPE if input is not None else null, subprocess.PIPE, null)
        try:
            done = subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=stderr, input=input, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            raise PyruncError(f"{self.options.binary_name}: {exc}") from None
        if done.returncode != 0:
            reason = _last_error(log) or f"exit status {done.returncode}"
            raise PyruncError(f"{self.options.binary_name} {args[0]}: {reason}")
        return done.stdout or b""

    def create(self, container_id: str, bundle: str, console: str | None, fds: list[int] | None = None) -> int:
        self.bundles[container_id] = bundle
        pid_file = os.path.join(bundle, "init.pid")
        flags = [*(["--console-socket", console] if console else []),
                 *(["--no-pivot"] if self.options.no_pivot_root else []),
                 *(["--no-new-keyring"] if self.options.no_new_keyring else [])]
        self._run(container_id, "create", "--bundle", bundle, "--pid-file", pid_file, *flags, container_id, fds=fds)
        with open(pid_file) as f:
            return int(f.read())

    def start(self, container_id: str) -> None:
        self._run(container_id, "start", container_id)

    def exec(self, container_id: str, spec: dict[str, Any], pid_file: str, console: str | None,
             fds: list[int] | None = None) -> None:
        from pyrunc.runtime import jsonio
        process_file = pid_file + ".json"
        with open(os.open(process_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600), "w") as f:
            f.write(jsonio.dumps(spec))
        try:
            self._run(container_id, "exec", "--process", process_file, "--detach", "--pid-file", pid_file,
                      *(["--console-socket", console] if console else []), container_id, fds=fds)
        finally:
            os.unlink(process_file)

    def status(self, container_id: str) -> str:
        from pyrunc.runtime import jsonio
        try:
            status = jsonio.loads(self._run(container_id, "state", container_id)).get("status")
        except (PyruncError, ValueError, AttributeError):
            return STOPPED
        return status if status in (CREATED, RUNNING, PAUSED) else STOPPED

    def kill(self, container_id: str, sig: int, all_processes: bool) -> None:
        self._run(container_id, "kill", *(["--all"] if all_processes else []), container_id, str(sig))

    def delete(self, container_id: str) -> None:
        self._run(container_id, "delete", "--force", container_id)

    def pause(self, container_id: str) -> None:
        self._run(container_id, "pause", container_id)

    def resume(self, container_id: str) -> None:
        self._run(container_id, "resume", container_id)

    def update(self, container_id: str, changes: dict[str, Any]) -> None:
        from pyrunc.runtime import jsonio
        self._run(container_id, "update", "--resources", "-", container_id, input=jsonio.dumps(changes).encode())

    def pids(self, container_id: str) -> list[int]:
        from pyrunc.runtime import jsonio
        found = jsonio.loads(self._run(container_id, "ps", "--format", "json", container_id))
        return [pid for pid in found if isinstance(pid, int)] if isinstance(found, list) else []

    def cgroup(self, container_id: str) -> Any:
        """The cgroup the binary made, read with pyrunc's managers (for
        Stats and OOM): the config's cgroupsPath resolves alike for both."""
        if self.options.systemd_cgroup:
            return None
        config = self._config(container_id)
        from pyrunc.runtime import cgroups
        path = (config.get("linux") or {}).get("cgroupsPath")
        try:
            return cgroups.open_manager(path if isinstance(path, str) else None, container_id)
        except PyruncError:
            return None

    def has_own_pid_namespace(self, container_id: str) -> bool:
        return _own_pid_namespace(self._config(container_id))

    def _config(self, container_id: str) -> dict[str, Any]:
        from pyrunc.runtime import jsonio
        try:
            with open(os.path.join(self.bundles.get(container_id, ""), "config.json"), "rb") as f:
                config = jsonio.loads(f.read())
        except (OSError, ValueError):
            return {}
        return config if isinstance(config, dict) else {}


def _last_error(log: str) -> str:
    """The last error message a runc-style --log holds."""
    from pyrunc.runtime import jsonio
    try:
        with open(log, "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        try:
            entry = jsonio.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") == "error":
            return str(entry.get("msg", ""))
    return ""
