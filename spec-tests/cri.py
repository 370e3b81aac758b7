"""Kubernetes' way into pyrunc: containerd's CRI plugin, spoken to over
gRPC as a kubelet does, with the runtime handler `pyrunc` (our shim,
io.containerd.pyrunc.v2) beside `runc` (runc's Go shim).

The client is made at run time from spec-tests/data/cri.proto (the CRI
messages the tests use, with the CRI's field numbers): grpcio-tools'
protoc compiles it into a temporary directory, and each RuntimeService and
ImageService method becomes a call on a grpc channel to containerd's
socket.  The same messages serve runtime.v1 and runtime.v1alpha2.

The containerd is engines.py's (its config enables the CRI plugin); this
module adds what a node has before a kubelet runs pods: the pause image
(native/pause, built by CMake, imported like the test image), a CNI
bridge network `pyrunc-pod0` on 10.79.0.0/24 (Debian's bridge and
host-local plugins) and a pod cgroup parent of our own.  Used by
test_cri.py and bundles/bench_cri.py.
"""
from __future__ import annotations

import functools
import importlib.util
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engines  # noqa: E402
from harness import (CGROUP_ROOT, REPO, TIMEOUT, mounts_under, parent_of, poll, process_alive,  # noqa: E402
                     processes_of)

PROTO = Path(__file__).resolve().parent / "data" / "cri.proto"
NAMESPACE = "k8s.io"            # the CRI plugin's containerd namespace
HANDLER = "pyrunc"              # runtime handler, as a RuntimeClass names it
# The pod network: our own bridge, subnet and lease store.
NETWORK = "pyrunc-pod"
BRIDGE = "pyrunc-pod0"
SUBNET = ipaddress.ip_network("10.79.0.0/24")
CNI_CONF = engines.CNI_CONF_DIR / f"10-{NETWORK}.conflist"
IPAM_DIR = engines.CTR_DIR / "cni" / "ipam"
CNI_CACHE = Path("/var/lib/cni/results")    # libcni's, not configurable in containerd 1.6
CNI_PLUGINS = ("bridge", "host-local", "loopback")
# What a kubelet's pod cgroups hang from (its /kubepods).
CGROUP_PARENT = "pyrunc-cri"
PAUSE_BINARY = REPO / "build" / "pause"
PAUSE_SOURCE = REPO / "native" / "pause" / "pause.c"
PAUSE_ARCHIVE = engines.STATE / "pause-oci.tar"
# A CRI log line: "<RFC3339Nano time> <stream> <F|P> <content>".
LOG_LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) "
                      r"(stdout|stderr) ([FP]) (.*)")


# ---- the client --------------------------------------------------------------------

@functools.cache
def pb() -> ModuleType:
    """The CRI messages, compiled from cri.proto now."""
    from grpc_tools import protoc
    with tempfile.TemporaryDirectory(prefix="pyrunc-cri-") as out:
        status = protoc.main(["protoc", f"-I{PROTO.parent}", f"--python_out={out}", str(PROTO)])
        if status != 0:
            raise RuntimeError(f"protoc failed on {PROTO} (status {status})")
        spec = importlib.util.spec_from_file_location("cri_pb2", Path(out) / "cri_pb2.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)   # loaded: the directory can go
    return module


class Client:
    """A kubelet's view of the runtime: `client.RunPodSandbox(config=...)`
    sends a RunPodSandboxRequest (built from the keywords, or given as
    `request=`) and returns the response; failures raise grpc.RpcError.
    `deadline=` bounds one call (seconds)."""

    def __init__(self, socket: Path = engines.CTR_SOCKET, version: str = "v1",
                 timeout: float = TIMEOUT) -> None:
        import grpc
        from google.protobuf import message_factory
        self.channel = grpc.insecure_channel(f"unix://{socket}")
        self.timeout = timeout
        self.methods: dict[str, Callable[..., Any]] = {}
        for service in pb().DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                request = message_factory.GetMessageClass(method.input_type)
                response = message_factory.GetMessageClass(method.output_type)
                call = self.channel.unary_unary(f"/runtime.{version}.{service.name}/{method.name}",
                                                request_serializer=request.SerializeToString,
                                                response_deserializer=response.FromString)
                self.methods[method.name] = functools.partial(self._call, request, call)

    def _call(self, request_type: Any, call: Any, request: Any = None, *, deadline: float | None = None,
              **fields: Any) -> Any:
        # The RPC's own limit is `deadline`: `timeout` is a field of some requests.
        return call(request if request is not None else request_type(**fields),
                    timeout=deadline or self.timeout)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        try:
            return self.methods[name]
        except KeyError:
            raise AttributeError(name) from None

    def close(self) -> None:
        self.channel.close()

    def conditions(self) -> dict[str, bool]:
        return {c.type: c.status for c in self.Status().status.conditions}


# ---- the node: pause image, CNI network, containerd ----------------------------------

def missing_tools() -> list[str]:
    found = [tool for tool in ("containerd", "ctr") if shutil.which(tool) is None]
    found += [str(engines.CNI_BIN_DIR / p) for p in CNI_PLUGINS if not (engines.CNI_BIN_DIR / p).exists()]
    return found


def build_pause_image() -> None:
    """The sandbox image: /pause alone, as an OCI archive, built offline."""
    if not PAUSE_BINARY.exists() or PAUSE_BINARY.stat().st_mtime < PAUSE_SOURCE.stat().st_mtime:
        subprocess.run(["cmake", "--build", str(PAUSE_BINARY.parent), "--target", "pause"],
                       check=True, stdout=subprocess.DEVNULL, timeout=600)
    rootfs = engines.STATE / "pause-rootfs"
    rootfs.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PAUSE_BINARY, rootfs / "pause")
    engines.build_image_archive(rootfs, PAUSE_ARCHIVE, engines.PAUSE_IMAGE, ["/pause"])


def ctr(*args: str) -> engines.Output:
    return engines.execute(["ctr", "--address", str(engines.CTR_SOCKET), "--namespace", NAMESPACE, *args])


def cni_config() -> dict[str, Any]:
    # isGateway: the bridge holds 10.79.0.1, the pods' route to the host.
    # No ipMasq: nothing in the host's firewall is touched.
    return {
        "cniVersion": "1.0.0", "name": NETWORK,
        "plugins": [{
            "type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": str(SUBNET)}]],
                     "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(IPAM_DIR)},
        }],
    }


def prepare() -> Client:
    """containerd with the CRI plugin, both images in its namespace, the
    pod network configured; a client once the runtime and network are ready."""
    engines.prepare()
    build_pause_image()
    for archive in (engines.ARCHIVE, PAUSE_ARCHIVE):
        ctr("images", "import", str(archive)).ok()
    CNI_CONF.parent.mkdir(parents=True, exist_ok=True)
    CNI_CONF.write_text(json.dumps(cni_config(), indent=2))
    client = Client()
    # The CRI plugin reloads CNI configs as they appear: wait as a kubelet does.
    poll(lambda: client.conditions() == {"RuntimeReady": True, "NetworkReady": True}, TIMEOUT,
         "the CRI plugin to report its runtime and network ready")
    return client


def teardown(client: Client | None) -> list[str]:
    """Every pod removed, the bridge and pod cgroups gone, containerd down
    (engines.teardown), whatever fails on the way; what was left."""
    problems = []
    try:
        if client is not None:
            try:
                for sandbox in client.ListPodSandbox().items:
                    problems += remove_pod(client, sandbox.id)
                problems += settled(lambda: node_leftovers(client))
            finally:
                client.close()
    finally:
        if Path(f"/sys/class/net/{BRIDGE}").exists():
            subprocess.run(["ip", "link", "delete", BRIDGE], check=False)
        for hierarchy in CGROUP_ROOT.glob(f"*/{CGROUP_PARENT}"):
            for pod in hierarchy.glob("pod*"):
                problems += _rmdir(pod)
            problems += _rmdir(hierarchy)
        engines.teardown()
    return problems


def node_leftovers(client: Client) -> list[str]:
    """Traces of any pod on the node, for when none should be left: what
    the CRI and containerd list, shims of either runtime, runtime state,
    container cgroups, mounts and network namespaces."""
    problems = [f"pod left: {p.id}" for p in client.ListPodSandbox().items]
    problems += [f"container left: {c.id}" for c in client.ListContainers().containers]
    problems += [f"{kind} left in containerd: {name}" for kind in ("containers", "tasks")
                 for name in ctr(kind, "ls", "-q").stdout.split()]
    problems += [f"snapshot left: {row[0]}" for row in map(str.split, ctr("snapshots", "ls").stdout.splitlines()[1:])
                 if row[-1:] == ["Active"]]
    problems += [f"{runtime} shim left: pid {pid}" for runtime in ("pyrunc", "runc")
                 for pid in shim_processes(runtime)]
    for root in (engines.SHIM_ROOT / NAMESPACE, engines.CTR_DIR / "runc" / NAMESPACE):
        problems += [f"runtime state left: {root / name}" for name in (os.listdir(root) if root.is_dir() else [])]
    problems += [f"cgroup left: {d}" for d in CGROUP_ROOT.glob(f"*/{CGROUP_PARENT}/pod*/*") if d.is_dir()]
    state = engines.CTR_DIR / "state"
    problems += [f"mount left: {line}" for line in mounts_under(
        state / "io.containerd.runtime.v2.task" / NAMESPACE, state / "io.containerd.grpc.v1.cri")]
    return problems


def _rmdir(path: Path) -> list[str]:
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        return [f"cannot remove {path}: {exc.strerror}"]
    return []


def remove_pod(client: Client, sandbox_id: str) -> list[str]:
    """What a kubelet does to get rid of a pod, whatever its state."""
    import grpc
    problems = []
    for call in ("StopPodSandbox", "RemovePodSandbox"):
        try:
            getattr(client, call)(pod_sandbox_id=sandbox_id)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                problems.append(f"{call} {sandbox_id}: {exc.code().name} {exc.details()}")
    return problems


# ---- shim processes -----------------------------------------------------------------

def _proc(pid: int, name: str) -> bytes:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _flag(argv: list[bytes], name: bytes) -> bytes | None:
    for i, arg in enumerate(argv):
        if arg.lstrip(b"-") == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.lstrip(b"-").startswith(name + b"="):
            return arg.split(b"=", 1)[1]
    return None


def _argv(pid: int) -> list[bytes]:
    return [arg for arg in _proc(pid, "cmdline").split(b"\0") if arg]


def is_shim(pid: int, runtime: str) -> bool:
    """Whether `pid` is a shim process of `runtime` ("pyrunc" or "runc"):
    by its command line or name (pyrunc's relays and servers) or its
    executable (runc's); not the short-lived `start` or `delete`."""
    argv = _argv(pid)
    if runtime == "pyrunc":
        text = b" ".join(argv)
        mine = (b"containerd-shim-pyrunc-v2" in text or b"pyrunc.shim" in text
                or _proc(pid, "comm").strip() in (b"pyrunc-shim", b"pyrunc-shimd"))
    else:
        try:
            mine = os.path.basename(os.readlink(f"/proc/{pid}/exe")) == "containerd-shim-runc-v2"
        except OSError:     # gone, or a kernel thread
            return False
    return mine and argv[-1:] not in ([b"start"], [b"delete"]) and process_alive(pid)


def shim_processes(runtime: str = "pyrunc", namespace: str = NAMESPACE) -> list[int]:
    """Live shim servers of `runtime` for our containerd's `namespace`:
    the containerd address and namespace on their command line (containerd
    passes -address and -namespace) or in their environment (TTRPC_ADDRESS,
    NAMESPACE)."""
    if runtime == "pyrunc":
        # Forked by one zygote per containerd, whose command line (with
        # containerd's address) they share: no namespace on it, and none
        # needed, as only the CRI namespace runs containers here.
        return engines.shim_pids(str(engines.CTR_SOCKET))
    address, ttrpc = str(engines.CTR_SOCKET).encode(), f"{engines.CTR_SOCKET}.ttrpc".encode()
    found = []
    for pid in (int(entry) for entry in os.listdir("/proc") if entry.isdigit()):
        if not is_shim(pid, runtime):
            continue
        argv = _argv(pid)
        env = dict(line.partition(b"=")[::2] for line in _proc(pid, "environ").split(b"\0") if line)
        serves = _flag(argv, b"address") == address or env.get(b"TTRPC_ADDRESS") == ttrpc
        in_namespace = (_flag(argv, b"namespace") or env.get(b"NAMESPACE")) == namespace.encode()
        if serves and in_namespace:
            found.append(pid)
    return found


def relay_of(task_id: str) -> int:
    """The pyrunc shim serving a task (a pod's sandbox or container)."""
    return engines.shim_of_task(NAMESPACE, task_id)


def nearest_shim(pid: int, shims: Sequence[int]) -> int | None:
    """The closest ancestor of `pid` among `shims` (the subreaper serving it)."""
    while pid > 1:
        pid = parent_of(pid)
        if pid in shims:
            return pid
    return None


# ---- pods -------------------------------------------------------------------------

def log_entries(path: Path) -> list[tuple[str, str, str, str]]:
    """A CRI container log as (time, stream, tag, content); a line in
    another format fails."""
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        match = LOG_LINE.fullmatch(line)
        assert match, f"not a CRI log line in {path}: {line[:200]!r}"
        stamp, stream, tag, content = match.groups()
        entries.append((stamp, stream, tag, content))
    return entries


def log_lines(path: Path, stream: str) -> list[str]:
    """The lines one stream wrote, partial (P) entries joined to their end (F)."""
    lines, partial = [], ""
    for _, entry_stream, tag, content in log_entries(path):
        if entry_stream != stream:
            continue
        partial += content
        if tag == "F":
            lines.append(partial)
            partial = ""
    return lines + ([partial] if partial else [])


def info(response: Any) -> dict[str, Any]:
    """The JSON of a verbose status (containerd's `info` key)."""
    return json.loads(response.info["info"])


class Pod:
    """One pod as a kubelet makes it: a sandbox, then containers in it.
    Everything it makes is recorded, so `leftovers()` can check the host
    for traces once it is removed."""

    def __init__(self, client: Client, name: str, log_dir: Path, handler: str = HANDLER,
                 host_network: bool = False) -> None:
        self.client = client
        self.uid = uuid.uuid4().hex
        self.log_dir = log_dir
        metadata = pb().PodSandboxMetadata(name=name, uid=self.uid, namespace="pyrunc-tests")
        network = pb().NODE if host_network else pb().POD
        # As a kubelet: a pod on the host's network keeps the host's name
        # (and its UTS namespace; runtimes refuse a hostname without one).
        self.config = pb().PodSandboxConfig(
            metadata=metadata, hostname="" if host_network else name, log_directory=str(log_dir),
            labels={"pyrunc-test": name},
            linux=pb().LinuxPodSandboxConfig(
                cgroup_parent=f"/{CGROUP_PARENT}/pod{self.uid}",
                security_context=pb().LinuxSandboxSecurityContext(
                    namespace_options=pb().NamespaceOption(network=network, pid=pb().CONTAINER))))
        self.id = client.RunPodSandbox(config=self.config, runtime_handler=handler).pod_sandbox_id
        self.containers: list[str] = []
        self.netns = ""
        self.veths: list[str] = []

    def status(self, verbose: bool = False) -> Any:
        return self.client.PodSandboxStatus(pod_sandbox_id=self.id, verbose=verbose)

    def pid(self) -> int:
        return int(info(self.status(verbose=True))["pid"])

    def container(self, name: str, cmd: Sequence[str], start: bool = True, **config: Any) -> str:
        """Create (and start) a container of the test image running `cmd`;
        its log goes to <log dir>/<name>/0.log, as a kubelet lays it out."""
        (self.log_dir / name).mkdir(parents=True, exist_ok=True)
        # A kubelet gives each container its pod's namespace options.
        namespaces = self.config.linux.security_context.namespace_options
        config.setdefault("linux", pb().LinuxContainerConfig(
            security_context=pb().LinuxContainerSecurityContext(namespace_options=namespaces)))
        container_config = pb().ContainerConfig(
            metadata=pb().ContainerMetadata(name=name), image=pb().ImageSpec(image=engines.IMAGE),
            command=list(cmd), log_path=f"{name}/0.log", labels={"pyrunc-test": name}, **config)
        container_id = self.client.CreateContainer(pod_sandbox_id=self.id, config=container_config,
                                                   sandbox_config=self.config).container_id
        self.containers.append(container_id)
        if start:
            self.client.StartContainer(container_id=container_id)
        return container_id

    def log(self, name: str) -> Path:
        return self.log_dir / name / "0.log"

    def container_status(self, container_id: str) -> Any:
        return self.client.ContainerStatus(container_id=container_id).status

    def container_pid(self, container_id: str) -> int:
        return int(info(self.client.ContainerStatus(container_id=container_id, verbose=True))["pid"])

    def wait_exited(self, container_id: str, timeout: float = TIMEOUT) -> Any:
        return poll(lambda: (s := self.container_status(container_id)).state == pb().CONTAINER_EXITED and s,
                    timeout, f"container {container_id} to exit")

    def record_network(self) -> None:
        """Note the pod's netns and its veth on our bridge, to check later that both are gone."""
        spec = info(self.status(verbose=True))["runtimeSpec"]
        self.netns = next((ns.get("path", "") for ns in spec["linux"]["namespaces"] if ns["type"] == "network"), "")
        self.veths = bridge_ports()

    def remove(self) -> list[str]:
        return remove_pod(self.client, self.id)

    def ids(self) -> list[str]:
        return [self.id, *self.containers]

    def leftovers(self) -> list[str]:
        """Everything that must be gone once the pod is removed."""
        import grpc
        ids = self.ids()
        problems = []
        try:
            self.status()
            problems.append(f"the CRI still knows pod {self.id}")
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                problems.append(f"PodSandboxStatus: {exc.code().name} {exc.details()}")
        listed = self.client.ListContainers(filter=pb().ContainerFilter(pod_sandbox_id=self.id)).containers
        problems += [f"the CRI still lists container {c.id}" for c in listed]
        for kind in ("containers", "tasks", "snapshots"):
            names = ctr(kind, "ls", "-q").stdout.split() if kind != "snapshots" else \
                [line.split()[0] for line in ctr(kind, "ls").stdout.splitlines()[1:]]
            problems += [f"{kind} left in containerd: {i}" for i in ids if i in names]
        problems += [f"shim left: pid {pid}" for pid in shim_processes()]
        state = engines.SHIM_ROOT / NAMESPACE
        problems += [f"pyrunc state left: {state / i}" for i in ids if (state / i).exists()]
        problems += [f"exit record left: {path}" for i in ids
                     for path in [engines.SHIM_ROOT / "exits" / NAMESPACE / i] if path.exists()]
        problems += [f"process left: {p}" for p in processes_of(ids)]
        problems += [f"cgroup left: {d}" for d in CGROUP_ROOT.glob(f"*/{CGROUP_PARENT}/pod{self.uid}/*")
                     if d.is_dir()]
        problems += [f"mount left: {line}" for line in engines.mount_lines(*ids)]
        if self.netns:
            problems += [f"netns left: {self.netns}" for _ in [0] if os.path.exists(self.netns)]
            problems += [f"mount left: {line}" for line in mounts_under(Path(self.netns))]
        problems += [f"veth left: {veth}" for veth in self.veths if Path(f"/sys/class/net/{veth}").exists()]
        problems += [f"CNI result cached: {path}" for path in CNI_CACHE.glob(f"*{self.id}*")]
        problems += [f"address lease left: {path}" for path in (IPAM_DIR / NETWORK).glob("*")
                     if path.is_file() and path.read_text().strip().startswith(self.id)]
        return problems


def bridge_ports() -> list[str]:
    """The interfaces attached to our bridge (the pods' host-side veths)."""
    ports = Path(f"/sys/class/net/{BRIDGE}/brif")
    return sorted(os.listdir(ports)) if ports.exists() else []


def session() -> Iterator[Client]:
    """Body of a session fixture: fail without root or the tools, else a
    ready node; at the end, nothing of it left."""
    assert os.geteuid() == 0, "the CRI tests run real pods and need root"
    missing = missing_tools()
    assert not missing, f"missing: {', '.join(missing)}: run .ci/engines"
    client = None
    try:
        client = prepare()
        yield client
    finally:
        problems = teardown(client)
        assert not problems, "the CRI session left things behind:\n  " + "\n  ".join(problems)


def settled(leftovers: Callable[[], list[str]], timeout: float = 10.0) -> list[str]:
    """What `leftovers()` still finds once things have had `timeout` to
    go (a shim exits just after its last Delete answers)."""
    deadline = time.monotonic() + timeout
    while (left := leftovers()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
