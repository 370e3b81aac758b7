"""Helpers for the spec-tests: find pyrunc, build bundles, run containers
through the CLI and check that a test left nothing behind.

Everything here drives the real `pyrunc` executable as an engine would;
nothing is mocked.  Containers run the static probe `/payload`, whose one
JSON line tells what the container sees from the inside.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import glob
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

REPO = Path(__file__).resolve().parent.parent
BUNDLES = REPO / "bundles"
ROOTFS = BUNDLES / "rootfs"
CGROUP_ROOT = Path("/sys/fs/cgroup")

# runtime/seccomp.py's cache directory under --root ('@' is never in an id).
SECCOMP_CACHE = ".seccomp@cache"

# Generous: a loaded CI machine; the suite itself never waits this long.
TIMEOUT = 30.0


# ---- the executable and the rootfs -----------------------------------------

@functools.cache
def pyrunc_executable() -> str:
    """$PYRUNC, else the `pyrunc` of this interpreter's venv, else PATH's."""
    if os.environ.get("PYRUNC"):
        return os.environ["PYRUNC"]
    beside = Path(sys.executable).parent / "pyrunc"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("pyrunc")
    if found is None:
        raise RuntimeError("pyrunc not found: set $PYRUNC or install the package")
    return found


def build_rootfs() -> Path:
    """bundles/rootfs with /payload; the script is idempotent and fast."""
    subprocess.run([str(BUNDLES / "build-rootfs.sh")], check=True, stdout=subprocess.DEVNULL,
                   timeout=600)
    return ROOTFS


@functools.cache
def _hello_config() -> dict[str, Any]:
    with open(BUNDLES / "hello" / "config.json") as f:
        return json.load(f)


def base_config() -> dict[str, Any]:
    """bundles/hello's config on the real shared rootfs (not a symlink)."""
    config = copy.deepcopy(_hello_config())
    config["root"]["path"] = str(ROOTFS.resolve())
    return config


# ---- bundles ----------------------------------------------------------------

def _split(dotted: str) -> list[str | int]:
    """'linux.namespaces.0.type' -> ['linux', 'namespaces', 0, 'type']."""
    return [int(key) if key.isdigit() else key for key in dotted.split(".")]


class Bundle:
    """A bundle directory whose config.json is written from `config`."""

    def __init__(self, path: Path, config: dict[str, Any] | None = None) -> None:
        self.path = path
        self.config = base_config() if config is None else config
        path.mkdir(parents=True, exist_ok=True)

    def _parent(self, dotted: str) -> tuple[Any, str | int]:
        *parents, last = _split(dotted)
        node: Any = self.config
        for key in parents:
            if isinstance(node, dict):
                node = node.setdefault(key, {})
            else:
                node = node[key]
        return node, last

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.config
        for key in _split(dotted):
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                return default
        return node

    def set(self, dotted: str, value: Any) -> Bundle:
        """Set a field by dotted path, creating missing objects."""
        node, last = self._parent(dotted)
        node[last] = value
        return self

    def remove(self, dotted: str) -> Bundle:
        node, last = self._parent(dotted)
        if isinstance(node, dict):
            node.pop(last, None)
        else:
            del node[last]
        return self

    def append(self, dotted: str, *items: Any) -> Bundle:
        """Append to the array at `dotted`, creating it when missing."""
        node, last = self._parent(dotted)
        node.setdefault(last, []).extend(items)
        return self

    def payload(self, *args: str) -> Bundle:
        return self.set("process.args", ["/payload", *args])

    def mount(self, destination: str, type_: str = "tmpfs", source: str = "tmpfs",
              options: Iterable[str] = ()) -> Bundle:
        entry: dict[str, Any] = {"destination": destination, "type": type_, "source": source}
        if options:
            entry["options"] = list(options)
        return self.append("mounts", entry)

    def with_tmp(self) -> Bundle:
        """A tmpfs on /tmp: somewhere to put mount points and files without
        writing into the shared rootfs."""
        return self.mount("/tmp", options=["mode=1777"])

    def namespaces(self) -> list[dict[str, Any]]:
        return self.config["linux"]["namespaces"]

    def drop_namespace(self, type_: str) -> Bundle:
        self.config["linux"]["namespaces"] = [ns for ns in self.namespaces()
                                              if ns["type"] != type_]
        return self

    @property
    def rootfs(self) -> Path:
        return Path(self.config["root"]["path"])

    def private_rootfs(self) -> Path:
        """A rootfs of this bundle's own, for tests that add to it: a
        hard-linked copy (add entries, never change a shared file)."""
        copy_path = self.path / "rootfs"
        subprocess.run(["cp", "-a", "--link", str(ROOTFS.resolve()), str(copy_path)], check=True)
        self.config["root"]["path"] = str(copy_path)
        return copy_path

    def write(self) -> Bundle:
        with open(self.path / "config.json", "w") as f:
            json.dump(self.config, f, indent=1)
        return self


MakeBundle = Callable[[str], Bundle]  # the make_bundle fixture: a new bundle by name


# ---- running pyrunc ----------------------------------------------------------

class Result:
    """One pyrunc invocation: exit status, output and its JSON log lines.
    Output goes to files, not pipes: a container inherits pyrunc's stdio and
    would hold a pipe open long after pyrunc exits."""

    def __init__(self, argv: list[str], returncode: int, out: Path, err: Path, log: Path) -> None:
        self.argv, self.returncode, self.out = argv, returncode, out
        self.stdout = _read_text(out)
        self.stderr = _read_text(err)
        self.log = read_json_log(log)

    def __repr__(self) -> str:
        return (f"Result({' '.join(self.argv[1:])!r} -> {self.returncode}, "
                f"stdout={self.stdout[-2000:]!r}, stderr={self.stderr[-2000:]!r})")

    def json(self) -> Any:
        """The payload's (or state's) JSON output."""
        assert self.returncode == 0, self
        return json.loads(self.stdout)

    def ok(self) -> Result:
        assert self.returncode == 0, self
        return self


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def read_json_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _read_text(path).splitlines() if line.strip()]


def assert_error(result: Result, *fragments: str, logged: bool = True, status: int = 1) -> str:
    """A runc-style failure: exit `status` (runc's: 1, but 255 for exec and 3
    for an unknown command), one `pyrunc: ...` line on stderr naming every
    fragment, no traceback, and (if logged) the same error in the JSON log."""
    assert result.returncode == status, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result
    message = lines[0]
    assert message.startswith("pyrunc: "), result
    assert "Traceback" not in result.stderr and "internal error" not in message, result
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    if not logged:
        return message
    errors = [entry for entry in result.log if entry.get("level") == "error"]
    assert errors, f"no error line in the JSON log: {result.log}"
    assert set(errors[-1]) >= {"level", "msg", "time"}, errors[-1]
    for fragment in fragments:
        assert fragment in errors[-1]["msg"], errors[-1]
    return message


def poll(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Wait for predicate() to be truthy, checking often; its value."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


class Invocation:
    """The files of one pyrunc call: argv, stdout, stderr and JSON log."""

    def __init__(self, runtime: Runtime, args: tuple[str, ...], json_log: bool = True) -> None:
        runtime.calls += 1
        stem = runtime.scratch / f"call-{runtime.calls}"
        self.out, self.err, self.log = (stem.with_suffix(s) for s in (".out", ".err", ".log"))
        log_flags = ["--log", str(self.log), "--log-format", "json"] if json_log else []
        self.argv = [*runtime.wrapper, pyrunc_executable(), "--root", str(runtime.root), *log_flags, *args]

    def popen(self, stdin: Any = subprocess.DEVNULL, stdout: Any = None,
              **popen: Any) -> subprocess.Popen[bytes]:
        with open(self.err, "wb") as err, open(self.out, "wb") as out:
            return subprocess.Popen(self.argv, stdin=stdin, stdout=out if stdout is None else stdout,
                                    stderr=err, **popen)

    def result(self, returncode: int) -> Result:
        return Result(self.argv, returncode, self.out, self.err, self.log)


class Runtime:
    """pyrunc with its own --root, a JSON log per call and a record of every
    container id it handed out, so `cleanup()` can audit them."""

    def __init__(self, root: Path, scratch: Path, label: str = "st") -> None:
        self.root, self.scratch = root, scratch
        self.prefix = f"{label[:24]}-{secrets.token_hex(3)}"
        self.ids: list[str] = []
        self.cgroup_paths: list[str] = []
        self.calls = 0
        # What every call runs under (nsenter into cgroup2_view's namespace),
        # and where the calls' /sys/fs/cgroup is seen from the tests.
        self.wrapper: list[str] = []
        self.cgroup_root_on_host = CGROUP_ROOT

    def new_id(self) -> str:
        cid = f"{self.prefix}-{len(self.ids)}"
        self.ids.append(cid)
        return cid

    def spawn(self, *args: str, json_log: bool = True,
              **popen: Any) -> tuple[subprocess.Popen[bytes], Invocation]:
        """Start pyrunc ARGS (after --root and, by default, a JSON --log)."""
        call = Invocation(self, args, json_log)
        return call.popen(**popen), call

    def __call__(self, *args: str, timeout: float = TIMEOUT, json_log: bool = True,
                 **popen: Any) -> Result:
        proc, call = self.spawn(*args, json_log=json_log, **popen)
        try:
            return call.result(proc.wait(timeout))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def _bundle_args(self, bundle: Bundle) -> list[str]:
        bundle.write()
        path = bundle.get("linux.cgroupsPath")
        if isinstance(path, str) and path:
            self.cgroup_paths.append(path)
        return ["--bundle", str(bundle.path)]

    # -- verbs --

    def try_create(self, bundle: Bundle, *flags: str, cid: str | None = None,
                   **popen: Any) -> Result:
        cid = self.new_id() if cid is None else cid
        return self("create", *self._bundle_args(bundle), *flags, cid, **popen)

    def create(self, bundle: Bundle, *flags: str, **popen: Any) -> Container:
        """A created container; its stdio is the create call's files."""
        result = self.try_create(bundle, *flags, **popen).ok()
        return Container(self, result.argv[-1], result)

    def run(self, bundle: Bundle, *flags: str, cid: str | None = None,
            timeout: float = TIMEOUT, **popen: Any) -> Result:
        cid = self.new_id() if cid is None else cid
        return self("run", *self._bundle_args(bundle), *flags, cid, timeout=timeout, **popen)

    def spawn_run(self, bundle: Bundle, *flags: str) -> tuple[subprocess.Popen[bytes], Container]:
        """A foreground `run` left running; the caller waits for it."""
        cid = self.new_id()
        proc, call = self.spawn("run", *self._bundle_args(bundle), *flags, cid)
        return proc, Container(self, cid, call.result(0))

    def probe(self, bundle: Bundle, *payload_args: str) -> Any:
        """Run `/payload ARGS...` in a fresh container; its parsed JSON."""
        return self.run(bundle.payload(*payload_args)).json()

    def state(self, cid: str) -> dict[str, Any]:
        return self("state", cid).json()

    def listed_ids(self) -> list[str]:
        try:
            return sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []

    # -- the audit behind "a test leaves nothing behind" --

    def cleanup(self, base: Path) -> list[str]:
        """Force-delete everything, then list whatever is still there
        (after a moment's grace: SIGKILLed processes take a while to go)."""
        ids = sorted(set(self.listed_ids()) | set(self.ids))
        pids = []
        for cid in self.listed_ids():
            result = self("state", cid)
            if result.returncode == 0:
                pids.append(int(json.loads(result.stdout).get("pid") or 0))
            self("delete", "--force", cid)

        def audit() -> list[str]:
            return leftovers(self.root, ids, [p for p in pids if p > 0], self.cgroup_paths, base)
        try:
            poll(lambda: not audit(), 3)
        except AssertionError:
            pass
        return audit()


HYBRID_CGROUP2 = CGROUP_ROOT / "unified"


@contextlib.contextmanager
def cgroup2_view() -> Iterator[tuple[list[str], Path]]:
    """(wrapper, where its /sys/fs/cgroup is on the host): calls under the
    wrapper see a cgroup v2 host.  On a v2 host that is the host itself; on
    a hybrid one, a mount namespace of its own where the cgroup2 hierarchy
    (mounted at /sys/fs/cgroup/unified) is bound over /sys/fs/cgroup.  Its
    cgroups are the host's, so the leftover checks see them."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        yield [], CGROUP_ROOT
        return
    assert (HYBRID_CGROUP2 / "cgroup.controllers").exists(), "no cgroup2 hierarchy here for the v2 tests"
    holder = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f"mount --bind {HYBRID_CGROUP2} {CGROUP_ROOT} && echo ready && exec sleep infinity"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"ready\n"
        yield ["nsenter", f"--mount=/proc/{holder.pid}/ns/mnt", "--"], HYBRID_CGROUP2
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


class Container:
    """A container made by create (or a spawned run): verbs by its id, and
    the output its process wrote to the stdio it inherited."""

    def __init__(self, runtime: Runtime, cid: str, created: Result) -> None:
        self.runtime, self.cid, self.created = runtime, cid, created

    def start(self) -> Result:
        return self.runtime("start", self.cid)

    def kill(self, *signal: str, all_processes: bool = False) -> Result:
        return self.runtime("kill", *(["--all"] if all_processes else []), self.cid, *signal)

    def delete(self, *flags: str) -> Result:
        return self.runtime("delete", *flags, self.cid)

    def state(self) -> dict[str, Any]:
        return self.runtime.state(self.cid)

    @property
    def pid(self) -> int:
        return int(self.state()["pid"])

    def wait_status(self, status: str, timeout: float = 10.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            result = self.runtime("state", self.cid)  # a spawned run may not exist yet
            state = json.loads(result.stdout) if result.returncode == 0 else {}
            return state if state.get("status") == status else None
        return poll(reached, timeout, f"{self.cid} to be {status}")

    def output(self) -> str:
        return _read_text(self.created.out)

    def errors(self) -> str:
        return _read_text(self.created.out.with_suffix(".err"))


# ---- what a test may leave behind ---------------------------------------------

def process_alive(pid: int) -> bool:
    """Alive and not a zombie (a zombie has nothing left to clean up)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


def parent_of(pid: int) -> int:
    """Its parent's pid; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0
    return int(stat[stat.rfind(b")") + 2:].split()[1])


def _fd_links(pid: int) -> set[str]:
    """What a process's fds are, as far as they stay open while read."""
    links = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass
    return links


def server_of_relay(relay: int) -> int:
    """The pid of the pyrunc shim server behind a relay: the process with
    the socket the relay connects to (`-server PATH` on its command line)
    open, a child of the zygote named pyrunc-shimd."""
    argv = Path(f"/proc/{relay}/cmdline").read_bytes().split(b"\0")
    path = argv[argv.index(b"-server") + 1].decode()
    inodes = {line.split()[6] for line in Path("/proc/net/unix").read_text().splitlines()[1:]
              if line.split()[7:] == [path]}
    zygote = parent_of(relay)
    for entry in os.listdir("/proc"):
        if entry.isdigit() and process_alive(int(entry)) and parent_of(int(entry)) == zygote \
                and Path(f"/proc/{entry}/comm").read_text().strip() == "pyrunc-shimd":
            if any(f"socket:[{inode}]" in _fd_links(int(entry)) for inode in inodes):
                return int(entry)
    raise AssertionError(f"no server beside relay {relay}")


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def processes_of(ids: Iterable[str]) -> list[str]:
    """Live processes in a cgroup named after one of the ids, or with one
    of the ids as an argument (a stray `pyrunc run ID`)."""
    wanted = {cid.encode() for cid in ids}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        argv = set(_read(f"/proc/{entry}/cmdline").split(b"\0"))
        cgroups = {part for line in _read(f"/proc/{entry}/cgroup").splitlines()
                   for part in line.rsplit(b":", 1)[-1].split(b"/")}
        hits = wanted & (argv | cgroups)
        if hits and process_alive(int(entry)):
            found.append(f"pid {entry} ({b','.join(hits).decode()})")
    return found


def own_cgroups() -> set[str]:
    """This process's cgroups, which the pyrunc it starts inherits, plus the
    unified one's parent: relative cgroupsPaths (and the default, the id)
    hang from there (v1: our cgroup; v2: its parent, as runc's)."""
    found = set()
    for line in _read("/proc/self/cgroup").decode().splitlines():
        _, controllers, path = line.split(":", 2)
        found.add(path)
        if not controllers:
            found.add(os.path.dirname(path))
    return found


def default_cgroup(controller: str, cid: str) -> Path:
    """The cgroup directory of a container without cgroupsPath, in the v1
    hierarchy of `controller`: the id below our own cgroup there (as runc)."""
    for line in _read("/proc/self/cgroup").decode().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return CGROUP_ROOT / controller / path.lstrip("/") / cid
    raise AssertionError(f"no {controller} hierarchy")


def cgroup_dirs(ids: Iterable[str], paths: Iterable[str] = ()) -> list[str]:
    paths = [path for path in paths if ":" not in path]
    inner = {path for path in paths if path.startswith("/")}
    relative = [os.path.normpath(path) for path in [*ids, *(p for p in paths if not p.startswith("/"))]]
    inner |= {os.path.join(base, path) for base in own_cgroups() for path in relative
              if path != "." and not path.startswith("..")}
    patterns = [str(CGROUP_ROOT / pattern / path.strip("/")) for path in inner for pattern in ("*", ".")
                if path.strip("/")]
    return sorted({hit for pattern in patterns for hit in glob.glob(pattern)})


def cgroup_keyed(directory: Path, name: str) -> dict[str, int]:
    """A cgroup file of "key value" lines (cgroup.events, cpu.stat, ...)."""
    return {key: int(value) for key, value in (line.split() for line in (directory / name).read_text().splitlines())}


def cgroup_procs(directory: Path) -> list[int]:
    """The pids cgroup.procs lists; none when the cgroup is gone."""
    path = directory / "cgroup.procs"
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def mounts_under(*paths: Path) -> list[str]:
    """Host mountinfo lines whose root or mount point is one of the paths
    or below it (a leaked mount)."""
    needles = [str(path) for path in paths]

    def below(field: str) -> bool:
        return any(field == n or field.startswith(n + "/") for n in needles)

    lines = _read("/proc/self/mountinfo").decode(errors="replace").splitlines()
    return [line for line in lines if any(below(field) for field in line.split()[3:5])]


def tree(path: Path) -> set[str]:
    """Every path below `path`, relative to it (symlinks not followed)."""
    return {os.path.relpath(os.path.join(parent, name), path)
            for parent, dirs, files in os.walk(path) for name in dirs + files}


def leftovers(root: Path, ids: list[str], pids: list[int], cgroup_paths: list[str],
              base: Path) -> list[str]:
    problems = []
    state_dirs = sorted(os.listdir(root)) if root.exists() else []
    if state_dirs:
        problems.append(f"state dirs left in --root: {state_dirs}")
    problems += [f"init pid {pid} still alive" for pid in pids if process_alive(pid)]
    problems += [f"process left: {p}" for p in processes_of(ids)]
    problems += [f"cgroup left: {d}" for d in cgroup_dirs(ids, cgroup_paths)]
    problems += [f"mount left: {m}" for m in mounts_under(base, ROOTFS.resolve())]
    return problems


# ---- small host-side helpers ---------------------------------------------------

def ns_inode(pid: int | str, kind: str) -> int:
    """The inode of /proc/PID/ns/KIND (as the payload's `ns` reports it)."""
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def mount_by_point(mounts: list[dict[str, Any]], point: str) -> dict[str, Any]:
    """The topmost mount at `point` in the payload's `mounts` list."""
    matches = [m for m in mounts if m["mount_point"] == point]
    assert matches, f"nothing mounted at {point}: {[m['mount_point'] for m in mounts]}"
    return matches[-1]


def mount_options(mount: dict[str, Any]) -> set[str]:
    """Per-mount and superblock options together: 'ro', 'nosuid', 'size=..'."""
    return set(mount["options"].split(",")) | set(mount["super_options"].split(","))


def hex_mask(*bits: int) -> str:
    """A capability set as /proc/PID/status prints it."""
    return f"{sum(1 << bit for bit in bits):016x}"

