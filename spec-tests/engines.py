"""Real container engines driving pyrunc: Debian's containerd (through
`ctr` and containerd-shim-runc-v2), Podman (through conmon) and Docker
(dockerd 20.10, through the containerd it starts and runc's shim).

Everything the engines keep lives under $PYRUNC_ENGINES_DIR (default
/run/pyrunc-engines), so a system containerd, podman or dockerd is never
touched: containerd and dockerd run as daemons of our own on their own
sockets and give pyrunc a --root of their own, podman reads our
containers.conf/storage.conf.  The image is built offline from
bundles/rootfs (static busybox and the /payload probe) as an OCI archive,
which containerd and podman import, and as a docker-archive for Docker.

Benchmarks reuse the set-up: `prepare()` (containerd, podman) or
`prepare_docker({"crun": path})` (pyrunc, Docker's runc and any other
runtime by name), then `time_docker_run(["pyrunc", "runc"], rounds)` or
their own timing of `docker_run_argv(runtime, name)`, and `teardown()`.
"""
from __future__ import annotations

import fcntl
import functools
import glob
import hashlib
import io
import json
import os
import pty
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import termios
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (CGROUP_ROOT, ROOTFS, build_rootfs, mounts_under, ns_inode, poll,  # noqa: E402
                     process_alive, processes_of, pyrunc_executable)

STATE = Path(os.environ.get("PYRUNC_ENGINES_DIR", "/run/pyrunc-engines"))
IMAGE = "localhost/pyrunc/busybox:latest"
ARCHIVE = STATE / "busybox-oci.tar"
TIMEOUT = 60.0

CTR_DIR = STATE / "containerd"
CTR_SOCKET = CTR_DIR / "containerd.sock"
CTR_CONFIG = CTR_DIR / "config.toml"
CTR_PIDFILE = CTR_DIR / "containerd.pid"
CTR_LOG = CTR_DIR / "containerd.log"
CTR_FIFO_DIR = CTR_DIR / "fifo"
# containerd's runc shim keeps its sockets in /run/containerd/s whatever
# containerd's state directory; we remove them when we stop, if we made
# them (the marker says so) and they are empty.
CTR_SHARED_DIRS = (Path("/run/containerd/s"), Path("/run/containerd"))
CTR_MADE_SHARED_DIRS = CTR_DIR / "made-run-containerd"
CTR_NAMESPACE = "pyrunc-test"
CTR_RUNTIME_ROOT = CTR_DIR / "pyrunc"  # pyrunc's --root; the shim adds /<namespace>
# containerd-shim-pyrunc-v2 (runtime io.containerd.pyrunc.v2): found on
# containerd's PATH, keeping its state under our directory.
SHIM_ROOT = CTR_DIR / "pyrunc-shim"
# The CRI plugin's: a pod's sandbox image (built offline, like IMAGE) and
# where it finds CNI configs (written by the CRI tests) and Debian's plugins.
PAUSE_IMAGE = "localhost/pyrunc/pause:latest"
CNI_CONF_DIR = CTR_DIR / "cni" / "net.d"
CNI_BIN_DIR = Path("/usr/lib/cni")

# The clients' working directory: conmon writes an `oom` file into its
# working directory when a container's v1 memory cgroup goes away, and
# that must not land in whatever directory the tests were started from.
CLIENT_CWD = STATE / "cwd"
PODMAN_DIR = STATE / "podman"
PODMAN_CONF = PODMAN_DIR / "containers.conf"
# Podman keeps netavark's state in /run/containers whatever its runroot,
# and gives pyrunc its default --root (see Podman.runtime_root): removed
# when we end, if we made them and they are empty.
PODMAN_NETWORK_DIRS = (Path("/run/containers/networks"), Path("/run/containers"))
PODMAN_MADE_NETWORK_DIRS = STATE / "made-run-containers"
PODMAN_MADE_RUNTIME_ROOT = STATE / "made-runtime-root"
PODMAN_STORAGE_CONF = PODMAN_DIR / "storage.conf"

# A dockerd of our own: its daemon.json names every path it keeps (data
# and exec roots, pidfile, socket); it starts and stops its own containerd.
DOCKER_DIR = STATE / "docker"
DOCKER_SOCKET = DOCKER_DIR / "docker.sock"
DOCKER_CONFIG = DOCKER_DIR / "daemon.json"
DOCKER_PIDFILE = DOCKER_DIR / "dockerd.pid"
DOCKER_LOG = DOCKER_DIR / "dockerd.log"
DOCKER_DATA_ROOT = DOCKER_DIR / "root"
DOCKER_EXEC_ROOT = DOCKER_DIR / "exec"
DOCKER_CONTAINERD_PIDFILE = DOCKER_EXEC_ROOT / "containerd" / "containerd.pid"
# dockerd 20.10 gives every runtime it adds the --root of its runc (and
# containerd's runc shim adds the namespace).
DOCKER_RUNTIME_ROOT = DOCKER_EXEC_ROOT / "runtime-runc" / "moby"
DOCKER_ARCHIVE = STATE / "busybox-docker.tar"
# dockerd 20.10 makes /run/docker/plugins whatever its exec root; we remove
# it when we stop, if we made it (the marker says so) and it is empty.
DOCKER_PLUGIN_DIRS = (Path("/run/docker/plugins"), Path("/run/docker"))
DOCKER_MADE_PLUGIN_DIRS = DOCKER_DIR / "made-run-docker"
# dockerd's containerd puts runc's shim sockets in /run/containerd/s too.
DOCKER_MADE_CTR_SHARED_DIRS = DOCKER_DIR / "made-run-containerd"
DOCKER_RUNTIME = "pyrunc"  # its name in daemon.json
# Our containers' parent cgroup, not the "/docker" a system dockerd uses.
DOCKER_CGROUP_PARENT = "pyrunc-docker"
# Debian's client, of the daemon's version: a newer one elsewhere on PATH
# downgrades its API and may differ in what it prints.
DOCKER = "/usr/bin/docker"

CAP_SYS_RESOURCE = 24


# ---- running commands ----------------------------------------------------------

class Output:
    """One finished command: status and what it printed."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str = "") -> None:
        self.argv, self.returncode = list(argv), returncode
        self.stdout, self.stderr = stdout, stderr

    def __repr__(self) -> str:
        return (f"Output({' '.join(self.argv)!r} -> {self.returncode}, "
                f"stdout={self.stdout[-2000:]!r}, stderr={self.stderr[-2000:]!r})")

    def ok(self) -> Output:
        assert self.returncode == 0, self
        return self

    def jsons(self) -> list[Any]:
        """The payload's JSON lines, in order."""
        return [json.loads(line) for line in self.stdout.splitlines()
                if line.strip().startswith(("{", "["))]

    def json(self) -> Any:
        """The last JSON line the payload printed."""
        found = self.jsons()
        assert found, f"no JSON line in {self!r}"
        return found[-1]


def execute(argv: Sequence[str], *, env: dict[str, str] | None = None,
            timeout: float = TIMEOUT, input: str | None = None) -> Output:
    """Run a client to its end; `input` on its stdin, else nothing."""
    CLIENT_CWD.mkdir(parents=True, exist_ok=True)
    stdin = subprocess.DEVNULL if input is None else None  # None: run() makes a pipe
    proc = subprocess.run(list(argv), stdin=stdin, input=input, capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=CLIENT_CWD)
    return Output(argv, proc.returncode, proc.stdout, proc.stderr)


def _take_terminal() -> None:
    """In the child: make stdin (the pty) the controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def on_pty(argv: Sequence[str], *, input: str = "", env: dict[str, str] | None = None,
           timeout: float = TIMEOUT) -> Output:
    """Run an engine client on a pseudo-terminal, as a person at a shell
    would (`-t` clients insist on one); type `input`, collect the screen."""
    master, slave = pty.openpty()
    CLIENT_CWD.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True, preexec_fn=_take_terminal, cwd=CLIENT_CWD)
    os.close(slave)
    os.write(master, input.encode())
    screen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every holder of the slave has gone
                    break
                if not chunk:
                    break
                screen += chunk
            elif proc.poll() is not None:
                break
        returncode = proc.wait(max(0.1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return Output(argv, returncode, screen.decode(errors="replace").replace("\r\n", "\n"))


@functools.cache
def runtime_path() -> str:
    """pyrunc as an absolute path: the shim and conmon run it from their
    own working directories."""
    return os.path.abspath(pyrunc_executable())


@functools.cache
def runtime_has(verb: str) -> bool:
    """Whether the runtime lists `verb` in its help."""
    try:
        helptext = execute([runtime_path(), "--help"]).stdout
    except (OSError, RuntimeError):  # no runtime: the tests say so themselves
        return False
    return re.search(rf"\b{verb}\b", helptext) is not None


def pending_verb(verb: str) -> pytest.MarkDecorator:
    """Expect failure while pyrunc lacks `verb`, success once it has it."""
    return pytest.mark.xfail(not runtime_has(verb), strict=True, reason="pending cgroup verbs")


def host_has_cap(cap: int) -> bool:
    with open("/proc/self/status") as f:
        bounding = next(line for line in f if line.startswith("CapBnd:"))
    return bool(int(bounding.split()[1], 16) >> cap & 1)


def cgroup_of(pid: int, controller: str) -> Path:
    """The host directory of `pid`'s cgroup in a v1 hierarchy."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                return CGROUP_ROOT / controller / path.lstrip("/")
    raise AssertionError(f"pid {pid} has no {controller} cgroup")


def mount_lines(*needles: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.strip() for line in f if any(needle in line for needle in needles)]


# ---- what the scenarios run in containers -------------------------------------------

# Exits 7 after writing to both streams.
OUTPUT_AND_STATUS = ["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7"]
# As pid 1 of its namespace, a program without a handler ignores SIGTERM.
SLEEPER = ["sleep", "600"]
TERM_TRAPPER = ["sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done"]
# Prints the signal that ends its wait, then exits 0.
SIGNAL_WAITER = ["/payload", "signal"]
# Keeps the last lines of an endless file without newlines: grows until killed.
MEMORY_HOG = ["tail", "/dev/zero"]
# Forks 20 sleeps in a subshell, which dies at the first failed fork;
# prints a line per fork that worked.
FORKER = ["sh", "-c", "(for i in $(seq 20); do sleep 30 & echo forked; done) 2>&1; echo done"]
EROFS, EACCES = 30, 13


def assert_output_and_status(output: Output) -> None:
    """What OUTPUT_AND_STATUS must show through an engine."""
    assert output.returncode == 7, output
    assert output.stdout == "to-stdout\n", output
    assert "to-stderr" in output.stderr, output


def write_probe(*paths: str) -> list[str]:
    """A command that tries to write each path and prints one JSON line
    per path (`{"ok":..., "errno":...}`)."""
    return ["sh", "-c", 'for p in "$@"; do /payload write "$p" x; done', "sh", *paths]


def write_errnos(output: Output, *paths: str) -> dict[str, int]:
    results = output.ok().jsons()
    assert len(results) == len(paths), output
    return {path: result["errno"] for path, result in zip(paths, results)}


# ---- the image -------------------------------------------------------------------

def _normalized(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Same rootfs, same bytes: the image digest only changes with content."""
    info.mtime = 0
    info.uname = info.gname = ""
    return info


def _layer(rootfs: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        for top, dirs, files in os.walk(rootfs):
            dirs.sort()
            for name in sorted(dirs + files):
                path = Path(top) / name
                layer.add(path, str(path.relative_to(rootfs)), recursive=False, filter=_normalized)
    return buffer.getvalue()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def _add_blob(archive: tarfile.TarFile, data: bytes, media_type: str) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    _add(archive, f"blobs/sha256/{digest}", data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _canonical(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _image(rootfs: Path, cmd: Sequence[str]) -> tuple[bytes, bytes]:
    """An image's one layer and its config."""
    layer = _layer(rootfs)
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": list(cmd)},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }
    return layer, _canonical(config)


def build_image_archive(rootfs: Path, dest: Path, name: str = IMAGE,
                        cmd: Sequence[str] = ("/bin/sh",)) -> dict[str, str]:
    """An OCI image layout (one uncompressed layer) as a tar archive, the
    format `ctr images import` and `podman pull oci-archive:` both read.
    Returns the manifest and config digests."""
    layer, config = _image(rootfs, cmd)
    partial = dest.with_name(dest.name + ".partial")
    with tarfile.open(partial, "w") as archive:
        _add(archive, "oci-layout", _canonical({"imageLayoutVersion": "1.0.0"}))
        config_descriptor = _add_blob(archive, config, "application/vnd.oci.image.config.v1+json")
        manifest = {
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_descriptor,
            "layers": [_add_blob(archive, layer, "application/vnd.oci.image.layer.v1.tar")],
        }
        descriptor = _add_blob(archive, _canonical(manifest),
                               "application/vnd.oci.image.manifest.v1+json")
        descriptor["annotations"] = {"io.containerd.image.name": name,
                                     "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}
        _add(archive, "index.json", _canonical({"schemaVersion": 2, "manifests": [descriptor]}))
    partial.rename(dest)
    return {"manifest": descriptor["digest"], "config": config_descriptor["digest"]}


def build_docker_archive(rootfs: Path, dest: Path, name: str = IMAGE,
                         cmd: Sequence[str] = ("/bin/sh",)) -> str:
    """The same image as `docker save` writes it, the only format Docker
    20.10's `docker load` reads (it takes an OCI layout for a legacy one
    and fails).  Returns the image id (the config's digest)."""
    layer, config = _image(rootfs, cmd)
    config_hex, layer_hex = hashlib.sha256(config).hexdigest(), hashlib.sha256(layer).hexdigest()
    manifest = [{"Config": f"{config_hex}.json", "RepoTags": [name],
                 "Layers": [f"{layer_hex}/layer.tar"]}]
    partial = dest.with_name(dest.name + ".partial")
    with tarfile.open(partial, "w") as archive:
        _add(archive, f"{config_hex}.json", config)
        _add(archive, f"{layer_hex}/layer.tar", layer)
        _add(archive, "manifest.json", _canonical(manifest))
    partial.rename(dest)
    return f"sha256:{config_hex}"


# ---- engine configuration ----------------------------------------------------------

def _write(path: Path, text: str) -> bool:
    """Write `text` unless the file holds it already; whether it changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def containerd_config() -> str:
    # opt's default is /opt/containerd: keep every path under our dir.
    # The CRI plugin (Kubernetes' way in, test_cri.py) with two runtime
    # handlers: runc's shim and ours.  Its pods' network namespaces, CNI
    # configs and runc's state stay under our dir too.
    cri = '[plugins."io.containerd.grpc.v1.cri"'
    # A negative oom_score_adj (the CRI's -998 for sandboxes) needs
    # CAP_SYS_RESOURCE; without it, the CRI keeps scores at containerd's own.
    restrict_oom = str(not host_has_cap(CAP_SYS_RESOURCE)).lower()
    return f"""version = 2
root = "{CTR_DIR / 'root'}"
state = "{CTR_DIR / 'state'}"

[grpc]
  address = "{CTR_SOCKET}"

[ttrpc]
  address = "{CTR_SOCKET}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{CTR_DIR / 'opt'}"

{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = {restrict_oom}
{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
{cri}.containerd.runtimes.runc.options]
  Root = "{CTR_DIR / 'runc'}"
{cri}.containerd.runtimes.pyrunc]
  runtime_type = "io.containerd.pyrunc.v2"
{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{CNI_CONF_DIR}"
"""


def podman_configs() -> dict[Path, str]:
    # cgroupfs: systemd is not pid 1 on CI machines.  No journald either,
    # hence file events and k8s-file logs.  No bridge network (it needs
    # iptables and would reach out): tests pick none or host.  Podman
    # passes --log-format=json only to runtimes it knows by name.
    # Podman's default rlimits (nofile and nproc at 1048576) need
    # CAP_SYS_RESOURCE to raise a hard limit; sandboxed CI hosts lack it,
    # and runc fails there too: then containers inherit podman's limits.
    ulimits = "" if host_has_cap(CAP_SYS_RESOURCE) else "default_ulimits = []\n"
    return {
        PODMAN_CONF: f"""[containers]
netns = "none"
log_driver = "k8s-file"
{ulimits}
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{PODMAN_DIR / 'events.log'}"
tmp_dir = "{PODMAN_DIR / 'tmp'}"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "pyrunc"]

[network]
network_config_dir = "{PODMAN_DIR / 'networks'}"
""",
        PODMAN_STORAGE_CONF: f"""[storage]
driver = "overlay"
graphroot = "{PODMAN_DIR / 'root'}"
runroot = "{PODMAN_DIR / 'runroot'}"
""",
    }


# ctr's commands that make stdio fifos, which it leaves in containerd's own
# /run/containerd/fifo unless told otherwise (a detached exec's, always).
_CTR_FIFO_COMMANDS = (("run",), ("task", "exec"), ("task", "start"))


def ctr_argv(*args: str) -> list[str]:
    for command in _CTR_FIFO_COMMANDS:
        if args[:len(command)] == command:
            args = (*command, "--fifo-dir", str(CTR_FIFO_DIR), *args[len(command):])
            break
    return ["ctr", "--address", str(CTR_SOCKET), "--namespace", CTR_NAMESPACE, *args]


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(PODMAN_CONF),
            "CONTAINERS_STORAGE_CONF": str(PODMAN_STORAGE_CONF)}


def containerd_up() -> bool:
    # Without a deadline ctr waits forever for a socket that is not there.
    return CTR_SOCKET.is_socket() and execute(
        ["ctr", "--connect-timeout", "2s", *ctr_argv("version")[1:]], timeout=10).returncode == 0


def start_containerd() -> None:
    """Start our containerd unless it answers already."""
    if _write(CTR_CONFIG, containerd_config()):
        stop_containerd()  # one of ours on an older config
    if containerd_up():
        return
    _note_if_absent(CTR_SHARED_DIRS, CTR_MADE_SHARED_DIRS)
    with open(CTR_LOG, "ab") as log:
        shim_dir = Path(runtime_path()).parent
        env = {**os.environ, "PATH": f"{shim_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
               "PYRUNC_SHIM_ROOT": str(SHIM_ROOT)}
        daemon = subprocess.Popen(["containerd", "--config", str(CTR_CONFIG)],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                  start_new_session=True, env=env)
    CTR_PIDFILE.write_text(f"{daemon.pid}\n")
    poll(containerd_up, 30, "containerd to answer")


def stop_containerd() -> None:
    try:
        pid = int(CTR_PIDFILE.read_text())
    except (FileNotFoundError, ValueError):
        return
    if process_alive(pid) and b"containerd" in Path(f"/proc/{pid}/comm").read_bytes():
        os.kill(pid, signal.SIGTERM)
        poll(lambda: not process_alive(pid), 30, "containerd to stop")
    CTR_PIDFILE.unlink(missing_ok=True)
    _remove_if_made(CTR_SHARED_DIRS, CTR_MADE_SHARED_DIRS)


def _note_if_absent(dirs: tuple[Path, ...], marker: Path) -> None:
    """Before a daemon that makes `dirs` (innermost first) outside our own
    directory starts: remember whether it is we who make them."""
    if not dirs[-1].exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()


def _remove_if_made(dirs: tuple[Path, ...], marker: Path) -> None:
    """After that daemon stopped: remove `dirs` if we made them and they are empty."""
    if not marker.exists():
        return
    for directory in dirs:
        try:
            directory.rmdir()
        except OSError:
            pass    # not empty (another daemon's) or already gone
    marker.unlink()


def shim_of_task(namespace: str, task_id: str) -> int:
    """The pyrunc shim serving a task, as it says itself (Connect) at the
    address containerd keeps in the task's bundle."""
    from pyrunc.shim import ttrpc
    from pyrunc.shim.proto.task import shim_pb2
    bundle = CTR_DIR / "state" / "io.containerd.runtime.v2.task" / namespace / task_id
    with ttrpc.Client.at((bundle / "address").read_text(), timeout=TIMEOUT) as client:
        return client.call("containerd.task.v2.Task", "Connect", shim_pb2.ConnectRequest(id=task_id),
                           shim_pb2.ConnectResponse).shim_pid


def relay_pids(containerd_socket: str) -> list[int]:
    """The shims of containerd's groups (relays, comm `pyrunc-shim`):
    what containerd connects to, one per pod or lone container."""
    return shim_pids(containerd_socket, names={b"pyrunc-shim"})


def shim_pids(containerd_socket: str, zygote: bool = False, names: set[bytes] | None = None) -> list[int]:
    """The pyrunc shim processes serving the containerd at
    `containerd_socket`: the groups' relays (comm `pyrunc-shim`) and the
    namespaces' servers (`pyrunc-shimd`), and with `zygote` their parent
    too (`pyrunc-zygote`).  Each names containerd's address on its command
    line (`-address SOCKET`): the servers share the zygote's."""
    names = names or {b"pyrunc-shim", b"pyrunc-shimd"} | ({b"pyrunc-zygote"} if zygote else set())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_bytes().strip()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if comm in names and containerd_socket.encode() in argv:
            found.append(int(entry))
    return found


def import_image(digests: dict[str, str]) -> None:
    """Into containerd's namespace and podman's store, unless already there."""
    if containerd_up():
        listed = execute(ctr_argv("images", "ls")).ok().stdout
        if not any(line.split()[:1] == [IMAGE] and digests["manifest"] in line
                   for line in listed.splitlines()):
            execute(ctr_argv("images", "import", str(ARCHIVE))).ok()
    if shutil.which("podman"):
        def podman(*args: str) -> Output:
            return execute(["podman", *args], env=podman_env())
        have = podman("image", "inspect", "--format", "{{.Id}}", IMAGE)
        if have.returncode != 0 or have.stdout.strip() != digests["config"].split(":")[1]:
            image_id = podman("pull", "-q", f"oci-archive:{ARCHIVE}").ok().stdout.strip()
            podman("tag", image_id, IMAGE).ok()
            podman("image", "prune", "-f")  # the image the tag moved from


def docker_config(runtimes: dict[str, str]) -> str:
    # pyrunc and `runtimes` (name -> executable) beside Docker's own runc.
    # No bridge, iptables, masquerading or forwarding: dockerd changes
    # nothing in the host's network, and containers get a namespace with
    # only loopback (or the host's).  cgroupfs: systemd is not pid 1 on CI
    # machines.  The trust key would go to /etc/docker otherwise.
    config = {
        "hosts": [f"unix://{DOCKER_SOCKET}"],
        "data-root": str(DOCKER_DATA_ROOT),
        "exec-root": str(DOCKER_EXEC_ROOT),
        "pidfile": str(DOCKER_PIDFILE),
        "deprecated-key-path": str(DOCKER_DIR / "key.json"),
        "runtimes": {name: {"path": path}
                     for name, path in {DOCKER_RUNTIME: runtime_path(), **runtimes}.items()},
        "storage-driver": "overlay2",
        "exec-opts": ["native.cgroupdriver=cgroupfs"],
        "cgroup-parent": f"/{DOCKER_CGROUP_PARENT}",
        "bridge": "none",
        "iptables": False,
        "ip-masq": False,
        "ip-forward": False,
        "userland-proxy": False,
    }
    return json.dumps(config, indent=2) + "\n"


def docker_argv(*args: str) -> list[str]:
    return [DOCKER, "-H", f"unix://{DOCKER_SOCKET}", *args]


def docker_up() -> bool:
    return DOCKER_SOCKET.is_socket() and execute(docker_argv("version"), timeout=10).returncode == 0


def _pid_of(pidfile: Path, comm: bytes) -> int | None:
    """The live process a pidfile names, if it is still `comm`."""
    try:
        pid = int(pidfile.read_text())
        alive = process_alive(pid) and Path(f"/proc/{pid}/comm").read_bytes().strip() == comm
    except (OSError, ValueError):
        return None
    return pid if alive else None


def start_docker(runtimes: dict[str, str] | None = None) -> None:
    """Start our dockerd (with the runtimes `runtimes` names besides
    pyrunc) unless it answers already with that config."""
    if _write(DOCKER_CONFIG, docker_config(runtimes or {})):
        stop_docker()  # one of ours on an older config
    if docker_up():
        return
    _note_if_absent(DOCKER_PLUGIN_DIRS, DOCKER_MADE_PLUGIN_DIRS)
    _note_if_absent(CTR_SHARED_DIRS, DOCKER_MADE_CTR_SHARED_DIRS)
    with open(DOCKER_LOG, "ab") as log:
        daemon = subprocess.Popen(["dockerd", "--config-file", str(DOCKER_CONFIG)],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                  start_new_session=True, cwd=DOCKER_DIR)

    def answering() -> bool:
        if daemon.poll() is not None:
            tail = DOCKER_LOG.read_text(errors="replace").splitlines()[-5:]
            raise RuntimeError(f"dockerd exited with {daemon.returncode}: " + " | ".join(tail))
        return docker_up()
    poll(answering, 60, "dockerd to answer")


def remove_docker_containers() -> None:
    """Every container of our dockerd (all of them are ours)."""
    if docker_up():
        ids = execute(docker_argv("ps", "--all", "--quiet")).stdout.split()
        if ids:
            execute(docker_argv("rm", "--force", *ids))


def stop_docker() -> None:
    """dockerd, and the containerd it started (which it stops itself,
    unless it died first)."""
    for pidfile, comm in ((DOCKER_PIDFILE, b"dockerd"), (DOCKER_CONTAINERD_PIDFILE, b"containerd")):
        pid = _pid_of(pidfile, comm)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            poll(lambda: not process_alive(pid), 60, f"{comm.decode()} to stop")
    _remove_if_made(DOCKER_PLUGIN_DIRS, DOCKER_MADE_PLUGIN_DIRS)
    _remove_if_made(CTR_SHARED_DIRS, DOCKER_MADE_CTR_SHARED_DIRS)


def load_into_docker(image_id: str) -> None:
    """The image from DOCKER_ARCHIVE, unless our dockerd has it already."""
    have = execute(docker_argv("image", "inspect", "--format", "{{.Id}}", IMAGE))
    if have.returncode != 0 or have.stdout.strip() != image_id:
        execute(docker_argv("load", "--quiet", "--input", str(DOCKER_ARCHIVE))).ok()
        execute(docker_argv("image", "prune", "--force"))  # the image the tag moved from


def prepare_docker(runtimes: dict[str, str] | None = None) -> None:
    """Our dockerd with pyrunc (and `runtimes`: name -> executable) as
    runtimes, and the image loaded; idempotent.  `teardown()` undoes it."""
    DOCKER_DIR.mkdir(parents=True, exist_ok=True)
    image_id = build_docker_archive(build_rootfs(), DOCKER_ARCHIVE)
    start_docker(runtimes)
    load_into_docker(image_id)


def docker_run_argv(runtime: str, name: str, *cmd: str) -> list[str]:
    """`docker run --rm` of the image on `runtime`: a name prepare_docker
    gave, or Docker's own "runc"."""
    return docker_argv("run", "--rm", "--runtime", runtime, "--network", "none", "--name", name,
                       IMAGE, *(cmd or ["true"]))


def time_docker_run(runtimes: Sequence[str], rounds: int) -> dict[str, list[float]]:
    """Wall-clock seconds of `docker run --rm IMAGE true` on each runtime,
    interleaved round by round after one untimed warm-up each (for
    benchmarks: call prepare_docker() first, teardown() after)."""
    times: dict[str, list[float]] = {runtime: [] for runtime in runtimes}
    for i in range(-1, rounds):
        for runtime in runtimes:
            argv = docker_run_argv(runtime, f"bench-{os.getpid()}-{runtime}-{i + 1}")
            began = time.perf_counter()
            execute(argv).ok()
            if i >= 0:
                times[runtime].append(time.perf_counter() - began)
    return times


def podman_runtime_root() -> Path:
    """The --root Podman gives pyrunc: the runtime's default."""
    return Path("/run") / Path(runtime_path()).name


def prepare() -> None:
    """Configs, image and daemon, all idempotent."""
    for path, text in podman_configs().items():
        _write(path, text)
    _note_if_absent(PODMAN_NETWORK_DIRS, PODMAN_MADE_NETWORK_DIRS)
    _note_if_absent((podman_runtime_root(),), PODMAN_MADE_RUNTIME_ROOT)
    digests = build_image_archive(build_rootfs(), ARCHIVE)
    if shutil.which("containerd"):
        start_containerd()
    import_image(digests)


def teardown() -> None:
    """Leave nothing behind: our dockerd and containerd stopped, podman's storage reset
    (which also unmounts it), whatever else is mounted under our directory
    unmounted, the directory and the emptied parent cgroups removed."""
    remove_docker_containers()
    stop_docker()
    stop_containerd()
    if shutil.which("podman") and PODMAN_CONF.exists():
        execute(["podman", "system", "reset", "--force"], env=podman_env())
    _remove_if_made(PODMAN_NETWORK_DIRS, PODMAN_MADE_NETWORK_DIRS)
    _remove_if_made((podman_runtime_root(),), PODMAN_MADE_RUNTIME_ROOT)
    # Deepest first; field 5 of a mountinfo line is the mount point.
    for line in reversed(mounts_under(STATE)):
        subprocess.run(["umount", "--lazy", line.split()[4]], check=False)
    shutil.rmtree(STATE, ignore_errors=True)
    remove_parent_cgroups()


def engine_session(*tools: str, prepare: Callable[[], None] = prepare) -> Iterator[None]:
    """Body of a session fixture: fail without the engine's tools, else
    `prepare` everything, and take it all down at the end."""
    if os.geteuid() != 0:
        pytest.skip("engine tests run real containers and need root")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: run .ci/engines")
    prepare()
    try:
        yield
    finally:
        teardown()


def remove_parent_cgroups() -> None:
    """The engines' containers live under /<CTR_NAMESPACE>/ (ctr),
    /libpod_parent/ (podman) or /<DOCKER_CGROUP_PARENT>/; pyrunc removes each container's cgroup, the
    emptied parents are the session's to remove (as any runtime leaves them)."""
    # Deepest first: podman also keeps its conmon processes' cgroup there.
    for parent in ("libpod_parent/conmon", "libpod_parent", CTR_NAMESPACE, DOCKER_CGROUP_PARENT):
        for hierarchy in glob.glob(f"/sys/fs/cgroup/*/{parent}"):
            try:
                os.rmdir(hierarchy)
            except OSError:
                pass    # not empty (another user's containers) or already gone


# ---- engines as tests use them ---------------------------------------------------------

def label_for(node_name: str) -> str:
    """A container-name-safe prefix from a test's name."""
    label = re.sub(r"[^A-Za-z0-9]+", "-", node_name.removeprefix("test_"))
    return label[:24].strip("-") or "t"  # containerd: no "--" and no "-" at the ends


class Engine(ABC):
    """A client of one engine for one test.  It names the containers it
    makes (a per-test prefix); `cleanup()` removes them all and lists
    whatever is left of them at every level, down to pyrunc's state.
    Statuses are "created", "running", "paused", "stopped" or None."""

    def __init__(self, label: str, scratch: Path) -> None:
        self.prefix = f"{label}-{secrets.token_hex(3)}"
        self.scratch = scratch
        self.names: list[str] = []
        self._lock = threading.Lock()  # tests start containers from threads

    def new_name(self) -> str:
        with self._lock:
            name = f"{self.prefix}-{len(self.names)}"
            self.names.append(name)
        return name

    @abstractmethod
    def argv(self, *args: str) -> list[str]:
        """The client's command line for `args`."""

    def env(self) -> dict[str, str] | None:
        return None

    def __call__(self, *args: str, timeout: float = TIMEOUT, input: str | None = None) -> Output:
        return execute(self.argv(*args), env=self.env(), timeout=timeout, input=input)

    def on_pty(self, *args: str, input: str = "") -> Output:
        return on_pty(self.argv(*args), input=input, env=self.env())

    # -- containers --

    @abstractmethod
    def run(self, *flags: str, cmd: Sequence[str], **options: Any) -> Output:
        """A container in the foreground, removed after: output, status."""

    @abstractmethod
    def run_tty(self, *flags: str, cmd: Sequence[str], input: str) -> Output:
        """An interactive container on a terminal, `input` typed into it."""

    @abstractmethod
    def start(self, *flags: str, cmd: Sequence[str], **options: Any) -> str:
        """A detached container, running; its name."""

    @abstractmethod
    def status(self, name: str) -> str | None: ...

    @abstractmethod
    def pid(self, name: str) -> int: ...

    @abstractmethod
    def logs(self, name: str) -> str:
        """Everything a detached container wrote, both streams."""

    @abstractmethod
    def exec(self, name: str, *flags: str, cmd: Sequence[str], tty: bool = False) -> Output: ...

    @abstractmethod
    def kill(self, name: str, sig: str) -> Output: ...

    @abstractmethod
    def pause(self, name: str) -> Output: ...

    @abstractmethod
    def resume(self, name: str) -> Output: ...

    @abstractmethod
    def stop(self, name: str, timeout: float) -> int:
        """SIGTERM, then SIGKILL after `timeout`; the exit status."""

    @abstractmethod
    def exit_code(self, name: str) -> int:
        """Wait for a container to stop; its exit status."""

    @abstractmethod
    def bind_flags(self, source: Path, destination: str, readonly: bool) -> list[str]: ...

    def wait_status(self, name: str, status: str, timeout: float = 10.0) -> None:
        poll(lambda: self.status(name) == status, timeout, f"{name} to be {status}")

    # -- cleaning up --

    @property
    @abstractmethod
    def runtime_root(self) -> Path:
        """The --root the engine gives pyrunc."""

    @abstractmethod
    def remove(self, name: str) -> list[str]:
        """Remove a container whatever its state; what failed."""

    @abstractmethod
    def listed(self) -> list[str]:
        """This test's containers the engine still knows, as problems."""

    def host_traces(self) -> list[str]:
        """Strings that name this test's containers on the host: in a
        state dir, a process's argv or cgroup, a cgroup dir, a mount."""
        return list(self.names)

    def leftovers(self) -> list[str]:
        traces = self.host_traces()
        states = os.listdir(self.runtime_root) if self.runtime_root.is_dir() else []
        left = sorted(set(states) & set(traces))
        problems = self.listed()
        problems += [f"pyrunc state left in {self.runtime_root}: {left}"] if left else []
        problems += [f"process left: {p}" for p in processes_of(traces)]
        problems += [f"cgroup left: {d}" for trace in traces
                     for d in glob.glob(str(CGROUP_ROOT / "*" / "*" / f"*{trace}*"))]
        problems += [f"mount left: {m}" for m in mount_lines(*traces)]
        return problems

    def cleanup(self) -> list[str]:
        problems = [problem for name in self.names for problem in self.remove(name)]
        if problems:  # reported, but a second try keeps the engine's store clean
            time.sleep(1)
            for name in self.names:
                self.remove(name)
        # Engines finish some clean-up after the client returns (conmon runs
        # `podman container cleanup`, a shim exits): give them a moment.
        deadline = time.monotonic() + 10
        while (left := self.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.2)
        return problems + left


class Ctr(Engine):
    """containerd through `ctr`, with pyrunc as the runc shim's binary.
    `spec=` (run, start) hands ctr a whole OCI spec instead of an image,
    for what ctr has no flag for (user, pids)."""

    @property
    def runtime_root(self) -> Path:
        return CTR_RUNTIME_ROOT / CTR_NAMESPACE  # the shim adds the namespace

    def argv(self, *args: str) -> list[str]:
        return ctr_argv(*args)

    def _run(self, flags: Sequence[str], cmd: Sequence[str], name: str,
             spec: dict[str, Any] | None = None) -> list[str]:
        runtime = ["--runc-binary", runtime_path(), "--runc-root", str(CTR_RUNTIME_ROOT)]
        if spec is None:
            return ["run", *runtime, *flags, IMAGE, name, *cmd]
        # The cgroup ctr would give a container of an image.
        linux = {**spec["linux"], "cgroupsPath": f"/{CTR_NAMESPACE}/{name}"}
        path = self.scratch / f"{name}.json"
        path.write_text(json.dumps({**spec, "linux": linux,
                                    "process": {**spec["process"], "args": list(cmd)}}))
        return ["run", *runtime, *flags, "--config", str(path), name]  # ctr takes only an id

    def run(self, *flags: str, cmd: Sequence[str], **options: Any) -> Output:
        return self(*self._run(["--rm", *flags], cmd, self.new_name(), **options))

    def run_tty(self, *flags: str, cmd: Sequence[str], input: str) -> Output:
        return self.on_pty(*self._run(["--rm", "-t", *flags], cmd, self.new_name()), input=input)

    def start(self, *flags: str, cmd: Sequence[str], **options: Any) -> str:
        name = self.new_name()
        log = f"file://{self._log(name)}"  # ctr itself leaves with -d
        self(*self._run(["-d", "--log-uri", log, *flags], cmd, name, **options)).ok()
        self.wait_status(name, "running")
        return name

    def _log(self, name: str) -> Path:
        return self.scratch / f"{name}.log"

    def logs(self, name: str) -> str:
        path = self._log(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def tasks(self) -> dict[str, tuple[int, str]]:
        """name -> (pid, status) from `ctr task ls`."""
        rows = self("task", "ls").ok().stdout.splitlines()[1:]
        return {name: (int(pid), status.lower()) for name, pid, status in map(str.split, rows)}

    def status(self, name: str) -> str | None:
        task = self.tasks().get(name)
        return task[1] if task else None

    def pid(self, name: str) -> int:
        return self.tasks()[name][0]

    def exec(self, name: str, *flags: str, cmd: Sequence[str], tty: bool = False) -> Output:
        args = ["task", "exec", "--exec-id", secrets.token_hex(4), *flags]
        return self.on_pty(*args, "-t", name, *cmd) if tty else self(*args, name, *cmd)

    def kill(self, name: str, sig: str) -> Output:
        return self("task", "kill", "--signal", sig, name)

    def pause(self, name: str) -> Output:
        return self("task", "pause", name)

    def resume(self, name: str) -> Output:
        return self("task", "resume", name)

    def exit_code(self, name: str) -> int:
        # ctr has no wait: the status shows only when the task is deleted,
        # and then as a warning on stderr when it is not zero.
        self.wait_status(name, "stopped", TIMEOUT)
        deleted = self("task", "delete", name).ok()
        found = re.search(r"exit with non-zero exit code (\d+)", deleted.stderr)
        return int(found.group(1)) if found else 0

    def stop(self, name: str, timeout: float) -> int:
        # What engines built on containerd (nerdctl, Docker) do.
        self.kill(name, "SIGTERM").ok()
        try:
            self.wait_status(name, "stopped", timeout)
        except AssertionError:
            self.kill(name, "SIGKILL").ok()
        return self.exit_code(name)

    def bind_flags(self, source: Path, destination: str, readonly: bool) -> list[str]:
        mode = "ro" if readonly else "rw"
        return ["--mount", f"type=bind,src={source},dst={destination},options=rbind:{mode}"]

    def remove(self, name: str) -> list[str]:
        failed = []
        if self.status(name) is not None:
            failed.append(self("task", "delete", "--force", name))
        if name in self("container", "ls", "-q").stdout.split():
            failed.append(self("container", "delete", name))  # with its snapshot
        return [f"removing {name} failed: {out}" for out in failed if out.returncode != 0]

    def listed(self) -> list[str]:
        mine = set(self.names)
        snapshots = [line.split()[0] for line in self("snapshot", "ls").stdout.splitlines()[1:]]
        return [f"{kind} left in containerd: {sorted(mine & set(names))}"
                for kind, names in (("containers", self("container", "ls", "-q").stdout.split()),
                                    ("tasks", self("task", "ls", "-q").stdout.split()),
                                    ("snapshots", snapshots))
                if mine & set(names)]

    def default_spec(self) -> dict[str, Any]:
        """ctr's default spec on the shared bundles rootfs (read-only:
        other tests use it too)."""
        spec = json.loads(self("oci", "spec").ok().stdout)
        spec["root"] = {"path": str(ROOTFS.resolve()), "readonly": True}
        # What an image's config would add: runc finds no program without it.
        spec["process"]["env"] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
        return spec


class DockerCli(Engine):
    """The command line Docker made and Podman copied: what both clients
    take alike, with pyrunc as the runtime."""

    STATUSES = {"configured": "created", "exited": "stopped", "dead": "stopped",
                "stopping": "running", "restarting": "running", "removing": "stopped"}

    def _run(self, flags: Sequence[str], cmd: Sequence[str], name: str) -> list[str]:
        return ["run", "--pull", "never", "--name", name, "--cidfile", str(self._cidfile(name)),
                *flags, IMAGE, *cmd]

    def _cidfile(self, name: str) -> Path:
        return self.scratch / f"{name}.cid"

    def run(self, *flags: str, cmd: Sequence[str], input: str | None = None,
            **options: Any) -> Output:
        """`input`, if given, is the client's stdin (`-i` passes it on)."""
        return self(*self._run(["--rm", *flags], cmd, self.new_name()), input=input)

    def run_tty(self, *flags: str, cmd: Sequence[str], input: str) -> Output:
        return self.on_pty(*self._run(["--rm", "-it", *flags], cmd, self.new_name()), input=input)

    def start(self, *flags: str, cmd: Sequence[str], **options: Any) -> str:
        name = self.new_name()
        self(*self._run(["-d", *flags], cmd, name)).ok()
        return name

    def logs(self, name: str) -> str:
        out = self("logs", name)
        return out.stdout + out.stderr

    def inspect(self, name: str, template: str) -> str:
        return self("inspect", "--format", template, name).ok().stdout.strip()

    def status(self, name: str) -> str | None:
        found = self("inspect", "--format", "{{.State.Status}}", name)
        state = found.stdout.strip()
        return self.STATUSES.get(state, state) if found.returncode == 0 else None

    def pid(self, name: str) -> int:
        return int(self.inspect(name, "{{.State.Pid}}"))

    def exec(self, name: str, *flags: str, cmd: Sequence[str], tty: bool = False) -> Output:
        if tty:
            return self.on_pty("exec", "-it", *flags, name, *cmd)
        return self("exec", *flags, name, *cmd)

    def kill(self, name: str, sig: str) -> Output:
        return self("kill", "--signal", sig, name)

    def pause(self, name: str) -> Output:
        return self("pause", name)

    def resume(self, name: str) -> Output:
        return self("unpause", name)

    def exit_code(self, name: str) -> int:
        return int(self("wait", name).ok().stdout.strip())

    def stop(self, name: str, timeout: float) -> int:
        self("stop", "--time", str(int(timeout)), name).ok()
        return self.exit_code(name)

    def bind_flags(self, source: Path, destination: str, readonly: bool) -> list[str]:
        return ["--volume", f"{source}:{destination}:{'ro' if readonly else 'rw'}"]

    def listed(self) -> list[str]:
        known = self("ps", "--all", "--format", "{{.Names}}").stdout.split()
        left = sorted(set(self.names) & set(known))
        return [f"containers left in {type(self).__name__}: {left}"] if left else []

    def host_traces(self) -> list[str]:
        # State dirs, cgroups and mounts are named by container id.
        ids = [path.read_text().strip() for name in self.names
               if (path := self._cidfile(name)).exists()]
        return self.names + ids


class Podman(DockerCli):
    """Podman (through conmon) with pyrunc as its OCI runtime."""

    @property
    def runtime_root(self) -> Path:
        # The runtime's default: podman 4.3 drops --runtime-flag root=...
        # from the `delete` of its exit command, so a root of our own
        # would leak every container's state.
        return podman_runtime_root()

    def argv(self, *args: str) -> list[str]:
        return ["podman", "--runtime", runtime_path(), *args]

    def env(self) -> dict[str, str]:
        return podman_env()

    def remove(self, name: str) -> list[str]:
        out = self("rm", "--force", "--time", "0", "--ignore", name)
        return [f"removing {name} failed: {out}"] if out.returncode != 0 else []


class Docker(DockerCli):
    """Our dockerd (through its containerd and runc's shim) with pyrunc
    as an added runtime, chosen per container as users do (`--runtime`)."""

    @property
    def runtime_root(self) -> Path:
        return DOCKER_RUNTIME_ROOT

    def argv(self, *args: str) -> list[str]:
        return docker_argv(*args)

    def _run(self, flags: Sequence[str], cmd: Sequence[str], name: str) -> list[str]:
        return super()._run(["--runtime", DOCKER_RUNTIME, *flags], cmd, name)

    def remove(self, name: str) -> list[str]:
        out = self("rm", "--force", name)
        gone = out.returncode == 0 or "No such container" in out.stderr
        return [] if gone else [f"removing {name} failed: {out}"]

    def leftovers(self) -> list[str]:
        # The overlay and network-namespace mounts of a container are named
        # by ids of their own: with no container left, nothing may be
        # mounted below the daemon's roots but the daemon's own: its data
        # root bound on itself, and the host's network namespace once a
        # container used it (field 5 of a mountinfo line: the mount point).
        problems = super().leftovers()
        if not self("ps", "--all", "--quiet").ok().stdout.split():
            roots = (DOCKER_DATA_ROOT, DOCKER_EXEC_ROOT)
            own = {*map(str, roots), str(DOCKER_EXEC_ROOT / "netns" / "default")}
            problems += [f"mount left: {line}" for line in mounts_under(*roots)
                         if line.split()[4] not in own]
        return problems


AnEngine = TypeVar("AnEngine", bound=Engine)


def audited(engine: AnEngine) -> Iterator[AnEngine]:
    """Body of a per-test fixture: the engine; then, pass or fail, removal
    of everything the test made and an audit of what is left."""
    yield engine
    problems = engine.cleanup()
    assert not problems, "test left things behind:\n  " + "\n  ".join(problems)


# ---- scenarios: what every engine must show ----------------------------------------------

class CommonScenarios:
    """The tests that read the same for every engine.  Each
    test_engine_<name>.py subclasses this (as TestCommon) and provides the
    `engine` fixture; what needs an engine's own flags is written there
    with the check_* functions below."""

    def test_run_prints_output_and_exits_with_the_status(self, engine: Engine) -> None:
        assert_output_and_status(engine.run(cmd=OUTPUT_AND_STATUS))

    def test_run_gives_the_container_its_own_namespaces(self, engine: Engine) -> None:
        inside = engine.run(cmd=["/payload", "ns"]).ok().json()
        for kind in ("pid", "mnt", "uts", "ipc", "net"):
            assert inside[kind] != ns_inode("self", kind), kind

    @pytest.mark.parametrize("cmd, timeout, status", [
        pytest.param(TERM_TRAPPER, 10.0, 42, id="sigterm"),
        pytest.param(SLEEPER, 1.0, 137, id="sigkill-after-timeout"),
    ])
    def test_stop_sends_sigterm_then_sigkill(self, engine: Engine, cmd: list[str],
                                             timeout: float, status: int) -> None:
        """A container that handles SIGTERM stops at once; one that
        ignores it is killed (status 137), only after the timeout."""
        name = engine.start(cmd=cmd)
        began = time.monotonic()
        assert engine.stop(name, timeout) == status
        took = time.monotonic() - began
        assert took >= timeout if status == 137 else took < timeout, took

    def test_kill_delivers_the_signal(self, engine: Engine) -> None:
        name = engine.start(cmd=SIGNAL_WAITER)
        poll(lambda: "waiting for a signal" in engine.logs(name), 10, "the payload to wait")
        engine.kill(name, "SIGUSR1").ok()
        assert engine.exit_code(name) == 0
        assert '"signal":"SIGUSR1"' in engine.logs(name)

    @pending_verb("pause")
    def test_pause_freezes_and_resume_thaws(self, engine: Engine) -> None:
        name = engine.start(cmd=SLEEPER)
        freezer = cgroup_of(engine.pid(name), "freezer") / "freezer.state"
        engine.pause(name).ok()
        assert (engine.status(name), freezer.read_text().strip()) == ("paused", "FROZEN")
        engine.resume(name).ok()
        assert (engine.status(name), freezer.read_text().strip()) == ("running", "THAWED")

    def test_twenty_containers_at_once(self, engine: Engine) -> None:
        with ThreadPoolExecutor(20) as pool:
            names = list(pool.map(lambda _: engine.start(cmd=SLEEPER), range(20)))
            assert len(set(pool.map(engine.pid, names))) == 20
            failed = [problem for problems in pool.map(engine.remove, names)
                      for problem in problems]
            assert not failed, failed
            assert set(pool.map(engine.status, names)) == {None}

    def test_exec_joins_the_container_and_reports_its_status(self, engine: Engine) -> None:
        name = engine.start(cmd=SLEEPER)
        inside = engine.exec(name, cmd=["/payload", "ns"]).ok().json()
        kinds = ("pid", "mnt", "net", "ipc", "uts")
        assert {kind: inside[kind] for kind in kinds} == \
            {kind: ns_inode(engine.pid(name), kind) for kind in kinds}
        assert_output_and_status(engine.exec(name, cmd=OUTPUT_AND_STATUS))

    def test_exec_with_a_tty(self, engine: Engine) -> None:
        name = engine.start(cmd=SLEEPER)
        seen = engine.exec(name, cmd=["/payload", "isatty"], tty=True)
        assert seen.ok().json() == {"stdin": True, "stdout": True, "stderr": True}

    def test_interactive_tty_run(self, engine: Engine) -> None:
        screen = engine.run_tty(cmd=["sh"], input="echo answer=$((6*7)); exit 3\n")
        assert screen.returncode == 3, screen
        assert "answer=42" in screen.stdout.splitlines(), screen

    def test_bind_mounts_read_write_and_read_only(self, engine: Engine, tmp_path: Path) -> None:
        rw, ro = tmp_path / "rw", tmp_path / "ro"
        for host in (rw, ro):
            host.mkdir()
        (ro / "given").write_text("from-host\n")
        cmd = ["sh", "-c", 'cat /ro/given && exec "$@"', "sh", *write_probe("/rw/out", "/ro/out")]
        out = engine.run(*engine.bind_flags(rw, "/rw", False),
                         *engine.bind_flags(ro, "/ro", True), cmd=cmd)
        assert out.stdout.startswith("from-host\n"), out
        assert write_errnos(out, "/rw/out", "/ro/out") == {"/rw/out": 0, "/ro/out": EROFS}
        assert (rw / "out").read_text() == "x"
        assert not (ro / "out").exists()


def check_memory_limit(engine: Engine, *flags: str) -> None:
    """`flags` set a 32 MiB limit: on the container's cgroup, and the OOM
    killer ends a process exec'd into it (charged to the same cgroup)."""
    name = engine.start(*flags, cmd=SLEEPER)
    memory = cgroup_of(engine.pid(name), "memory")
    assert (memory / "memory.limit_in_bytes").read_text().strip() == str(32 << 20)
    assert engine.exec(name, cmd=MEMORY_HOG).returncode == 137
    assert int((memory / "memory.failcnt").read_text()) > 0


def check_pids_limit(engine: Engine, *flags: str, **options: Any) -> None:
    """`flags`/`options` set a limit of 10 pids: on the cgroup, and forks fail."""
    name = engine.start(*flags, cmd=SLEEPER, **options)
    assert (cgroup_of(engine.pid(name), "pids") / "pids.max").read_text().strip() == "10"
    forks = engine.exec(name, cmd=FORKER).ok().stdout
    assert "can't fork" in forks and 0 < forks.count("forked") < 10, forks


def check_read_only_rootfs_with_tmpfs(engine: Engine, *flags: str) -> None:
    """`flags` make the rootfs read-only and put a tmpfs on /scratch."""
    out = engine.run(*flags, cmd=write_probe("/probe", "/scratch/probe"))
    assert write_errnos(out, "/probe", "/scratch/probe") == {"/probe": EROFS, "/scratch/probe": 0}


def check_no_capabilities(engine: Engine, *flags: str) -> None:
    caps = engine.run(*flags, cmd=["/payload", "caps"]).ok().json()
    none = "0" * 16
    assert {caps[s] for s in ("bounding", "effective", "permitted", "ambient")} == {none}, caps


def check_user(engine: Engine, *flags: str, exec_flags: Sequence[str] = (),
               **options: Any) -> None:
    """`flags`/`options` make the container's process 1000:1000, and
    `exec_flags` an exec'd one."""
    name = engine.start(*flags, cmd=SLEEPER, **options)
    status = Path(f"/proc/{engine.pid(name)}/status").read_text()
    assert "Uid:\t1000\t1000\t1000\t1000" in status and "Gid:\t1000\t1000\t1000\t1000" in status
    ids = engine.exec(name, *exec_flags, cmd=["/payload", "ids"]).ok().json()
    assert (ids["uid"], ids["euid"], ids["gid"], ids["egid"]) == (1000, 1000, 1000, 1000), ids


def check_no_new_privs(engine: Engine, flags: Sequence[str], expected: bool) -> None:
    assert engine.run(*flags, cmd=["/payload", "caps"]).ok().json()["no_new_privs"] is expected


def check_network(engine: Engine, flags: Sequence[str], host: bool) -> None:
    """`flags` ask for the host's network namespace, or for one of the
    container's own with nothing but loopback in it."""
    ns, links = engine.run(*flags, cmd=["sh", "-c", "/payload ns && /payload net"]).ok().jsons()
    assert (ns["net"] == ns_inode("self", "net")) is host
    if not host:
        assert [link["name"] for link in links] == ["lo"]


def check_seccomp(engine: Engine, flags: Sequence[str], mode: int) -> None:
    """`flags` ask for the engine's default profile (mode 2) or none (0)."""
    status = engine.run(*flags, cmd=["cat", "/proc/self/status"]).ok().stdout
    assert f"Seccomp:\t{mode}\n" in status, status


def check_runtime_error(engine: Engine, flags: Sequence[str], *fragments: str) -> None:
    """A container the runtime cannot create: the engine fails and shows
    the runtime's error (the last error line of --log) naming `fragments`."""
    out = engine.run(*flags, cmd=["true"])
    assert out.returncode != 0, out
    for fragment in fragments:  # any case: C's strerror is capitalised, Go's is not
        assert fragment.lower() in out.stderr.lower(), f"{fragment!r} not in {out.stderr!r}"


class DockerCliScenarios:
    """The tests that read the same for Docker and Podman, whose flags
    are alike.  test_engine_docker.py and test_engine_podman.py subclass
    this (as TestDockerCli) beside TestCommon."""

    def test_memory_limit_is_set_and_enforced(self, engine: DockerCli) -> None:
        check_memory_limit(engine, "--memory", "32m")

    def test_pids_limit_is_set_and_enforced(self, engine: DockerCli) -> None:
        check_pids_limit(engine, "--pids-limit", "10")

    def test_limits_are_visible_inside(self, engine: DockerCli) -> None:
        # Both mount cgroupfs in the container; on cgroup v1 runc shows
        # there the container's own cgroup at each controller's directory.
        files = ["/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max"]
        seen = engine.run("--memory", "32m", "--pids-limit", "10", cmd=["cat", *files])
        assert seen.ok().stdout.split() == [str(32 << 20), "10"]

    def test_cap_drop_all(self, engine: DockerCli) -> None:
        check_no_capabilities(engine, "--cap-drop", "ALL")

    def test_non_root_user_for_run_and_exec(self, engine: DockerCli) -> None:
        check_user(engine, "--user", "1000:1000")  # exec inherits the user

    @pytest.mark.parametrize("flags, expected", [
        pytest.param([], False, id="default"),
        pytest.param(["--security-opt", "no-new-privileges"], True, id="no-new-privileges"),
    ])
    def test_no_new_privileges(self, engine: DockerCli, flags: list[str], expected: bool) -> None:
        check_no_new_privs(engine, flags, expected)

    @pytest.mark.parametrize("flags, mode", [
        pytest.param([], 2, id="default-profile"),
        pytest.param(["--security-opt", "seccomp=unconfined"], 0, id="unconfined"),
    ])
    def test_seccomp(self, engine: DockerCli, flags: list[str], mode: int) -> None:
        check_seccomp(engine, flags, mode)

    @pytest.mark.parametrize("network", ["none", "host"])
    def test_network(self, engine: DockerCli, network: str) -> None:
        check_network(engine, ["--network", network], network == "host")

    def test_a_runtime_error_reaches_the_user(self, engine: DockerCli) -> None:
        # Above fs.nr_open: setrlimit fails for root too.
        too_many = int(Path("/proc/sys/fs/nr_open").read_text()) + 1
        check_runtime_error(engine, ["--ulimit", f"nofile={too_many}:{too_many}"],
                            "rlimit", "operation not permitted")
