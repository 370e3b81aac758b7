"""Kubernetes' path to pyrunc: a kubelet's calls on containerd's CRI
plugin, for pods whose RuntimeClass handler is `pyrunc` (our shim).  A
pod on the host's network and one on a CNI bridge network: sandboxes,
two containers each, exec, status, stats, listing, resource updates,
stop and removal; one shim per pod; logs in the CRI format; and nothing
of a pod left on the host once it is removed."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import grpc
import pytest

import cri
import engines
from cri import Client, Pod, log_entries, log_lines, pb
from engines import cgroup_of
from harness import TIMEOUT, ns_inode, poll


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    yield from cri.session()


@pytest.fixture
def pods(client: Client) -> Iterator[list[Pod]]:
    """The test's pods; removed (by the test or here) and audited after."""
    made: list[Pod] = []
    yield made
    problems = [problem for pod in made for problem in pod.remove()]
    problems += [problem for pod in made for problem in cri.settled(pod.leftovers)]
    assert not problems, "test left things behind:\n  " + "\n  ".join(problems)


def shim_of(pod: Pod, *container_ids: str) -> int:
    """The one pyrunc shim (its relay) that serves the pod's sandbox and
    containers; they all hang from one server (their subreaper)."""
    relays = {cri.relay_of(task_id) for task_id in (pod.id, *container_ids)}
    assert len(relays) == 1, relays
    servers = cri.shim_processes()
    pids = [pod.pid(), *(pod.container_pid(c) for c in container_ids)]
    serving = {cri.nearest_shim(pid, servers) for pid in pids}
    assert len(serving) == 1 and None not in serving, (servers, pids, serving)
    return relays.pop()


def relays() -> list[int]:
    return sorted(engines.relay_pids(str(engines.CTR_SOCKET)))


def test_the_runtime_speaks_cri_v1_and_v1alpha2(client: Client) -> None:
    assert client.Version(version="v1").runtime_api_version == "v1"
    old = Client(version="v1alpha2")
    try:
        assert old.Version(version="v1alpha2").runtime_api_version == "v1alpha2"
        assert old.conditions() == {"RuntimeReady": True, "NetworkReady": True}
    finally:
        old.close()
    image = client.ImageStatus(image=pb().ImageSpec(image=cri.engines.PAUSE_IMAGE)).image
    assert cri.engines.PAUSE_IMAGE in image.repo_tags


def test_an_unknown_handler_is_refused(client: Client, pods: list[Pod], tmp_path: Path) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        pods.append(Pod(client, "unknown-handler", tmp_path, handler="no-such-handler", host_network=True))
    assert "no-such-handler" in refused.value.details(), refused.value.details()


# A long-running container that says it started, writes a 40,000-byte
# line (the CRI plugin splits it in P entries of at most 16 KiB) and a line
# on stderr, and exits 42 on SIGTERM.
SERVER = ["sh", "-c", "trap 'echo got TERM; exit 42' TERM; echo started; "
          "head -c 40000 /dev/zero | tr '\\0' x; echo; echo to-stderr >&2; "
          "while :; do sleep 0.1; done"]
# Waits for /tmp/go (an exec makes it), then writes both streams and exits 7.
WORKER = ["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; "
          "echo to-stdout; echo to-stderr >&2; exit 7"]


def test_a_host_network_pod_from_start_to_removal(client: Client, pods: list[Pod], tmp_path: Path) -> None:
    opened = datetime.now(timezone.utc)
    pod = Pod(client, "host-net", tmp_path, host_network=True)
    pods.append(pod)
    status = pod.status().status
    assert (status.state, status.runtime_handler) == (pb().SANDBOX_READY, "pyrunc")
    assert ns_inode(pod.pid(), "net") == ns_inode("self", "net")

    server = pod.container("server", SERVER)
    worker = pod.container("worker", WORKER)
    for container_id in (server, worker):
        state = pod.container_status(container_id)
        assert state.state == pb().CONTAINER_RUNNING and state.started_at > 0, state
    poll(lambda: "to-stderr" in pod.log("server").read_text(), TIMEOUT, "the server's output")
    assert relays() == [shim_of(pod, server, worker)]
    # Containers of a pod share its network (the host's here), not its pid namespace.
    assert ns_inode(pod.container_pid(server), "net") == ns_inode("self", "net")
    assert ns_inode(pod.container_pid(server), "pid") != ns_inode(pod.pid(), "pid")

    # ExecSync: both streams and the exit status, as a probe sees them.
    done = client.ExecSync(container_id=server, cmd=["sh", "-c", "echo out; echo err >&2; exit 5"], timeout=30)
    assert (done.exit_code, done.stdout, done.stderr) == (5, b"out\n", b"err\n")
    assert client.ExecSync(container_id=server, cmd=["true"]).exit_code == 0
    with pytest.raises(grpc.RpcError) as timed_out:
        client.ExecSync(container_id=server, cmd=["sleep", "60"], timeout=1)
    assert timed_out.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, timed_out.value

    # The worker exits 7 when told to, through an exec.
    assert client.ExecSync(container_id=worker, cmd=["touch", "/tmp/go"]).exit_code == 0
    exited = pod.wait_exited(worker)
    assert (exited.exit_code, exited.reason) == (7, "Error"), exited
    assert exited.finished_at >= exited.started_at > 0
    assert exited.log_path == str(pod.log("worker"))
    assert log_lines(pod.log("worker"), "stdout") == ["to-stdout"]
    assert log_lines(pod.log("worker"), "stderr") == ["to-stderr"]

    listed = client.ListContainers(filter=pb().ContainerFilter(pod_sandbox_id=pod.id)).containers
    assert {c.id: c.state for c in listed} == {server: pb().CONTAINER_RUNNING, worker: pb().CONTAINER_EXITED}
    running = client.ListContainers(filter=pb().ContainerFilter(
        state=pb().ContainerStateValue(state=pb().CONTAINER_RUNNING), label_selector={"pyrunc-test": "server"}))
    assert [c.id for c in running.containers] == [server]

    stats = client.ContainerStats(container_id=server).stats
    assert stats.attributes.id == server
    assert stats.cpu.usage_core_nano_seconds.value > 0 and stats.memory.working_set_bytes.value > 0, stats

    # UpdateContainerResources: the new limits reach the container's cgroups.
    client.UpdateContainerResources(container_id=server, linux=pb().LinuxContainerResources(
        memory_limit_in_bytes=96 << 20, cpu_period=100000, cpu_quota=50000, cpu_shares=512))
    pid = pod.container_pid(server)
    assert (cgroup_of(pid, "memory") / "memory.limit_in_bytes").read_text().strip() == str(96 << 20)
    assert (cgroup_of(pid, "cpu") / "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert (cgroup_of(pid, "cpu") / "cpu.shares").read_text().strip() == "512"
    assert cgroup_of(pid, "memory").parent.name == f"pod{pod.uid}"   # under the pod's cgroup parent

    # StopContainer: SIGTERM, which the server handles at once (status 42).
    began = time.monotonic()
    client.StopContainer(container_id=server, timeout=20)
    assert time.monotonic() - began < 20
    stopped = pod.container_status(server)
    assert (stopped.state, stopped.exit_code) == (pb().CONTAINER_EXITED, 42), stopped
    client.StopContainer(container_id=worker, timeout=0)      # already stopped: no error

    entries = log_entries(pod.log("server"))
    stamps = [datetime.fromisoformat(stamp) for stamp, _, _, _ in entries]
    assert all(opened - timedelta(seconds=5) < stamp < datetime.now(timezone.utc) for stamp in stamps), stamps
    assert {stream for _, stream, _, _ in entries} == {"stdout", "stderr"}
    assert any(tag == "P" for _, _, tag, _ in entries), entries[:4]
    assert log_lines(pod.log("server"), "stdout") == ["started", "x" * 40000, "got TERM"]
    assert log_lines(pod.log("server"), "stderr") == ["to-stderr"]

    for container_id in (server, worker):
        client.RemoveContainer(container_id=container_id)
    assert not client.ListContainers(filter=pb().ContainerFilter(pod_sandbox_id=pod.id)).containers
    client.StopPodSandbox(pod_sandbox_id=pod.id)
    assert pod.status().status.state == pb().SANDBOX_NOTREADY
    client.RemovePodSandbox(pod_sandbox_id=pod.id)
    assert cri.settled(pod.leftovers) == []


def test_a_pod_on_a_cni_bridge_network(client: Client, pods: list[Pod], tmp_path: Path) -> None:
    """Debian's bridge + host-local plugins give the pod eth0 on our
    bridge; its containers share that namespace; removal takes back the
    veth, the address and the namespace."""
    pod = Pod(client, "pod-net", tmp_path)
    pods.append(pod)
    address = pod.status().status.network.ip
    assert address and cri.ipaddress.ip_address(address) in cri.SUBNET, address
    pod.record_network()
    assert pod.netns and len(pod.veths) == 1, (pod.netns, pod.veths)

    first = pod.container("first", ["sleep", "600"])
    second = pod.container("second", ["sh", "-c", "echo ready; exec sleep 600"])
    pod_net = ns_inode(pod.pid(), "net")
    assert pod_net != ns_inode("self", "net")
    assert {ns_inode(pod.container_pid(c), "net") for c in (first, second)} == {pod_net}
    assert relays() == [shim_of(pod, first, second)]

    seen = client.ExecSync(container_id=second, cmd=["ip", "-4", "-o", "addr", "show", "eth0"], timeout=30)
    assert seen.exit_code == 0 and f"inet {address}/24" in seen.stdout.decode(), seen
    gateway = str(next(cri.SUBNET.hosts()))
    ping = client.ExecSync(container_id=first, cmd=["ping", "-c", "1", "-W", "5", gateway], timeout=30)
    assert ping.exit_code == 0, ping
    assert log_lines(pod.log("second"), "stdout") == ["ready"]

    # StopPodSandbox kills the containers still running (SIGKILL, status
    # 137) and releases the network.
    client.StopPodSandbox(pod_sandbox_id=pod.id)
    for container_id in (first, second):
        stopped = pod.container_status(container_id)
        assert (stopped.state, stopped.exit_code) == (pb().CONTAINER_EXITED, 137), stopped
    assert not cri.bridge_ports()
    client.RemovePodSandbox(pod_sandbox_id=pod.id)      # removes its containers too
    assert cri.settled(pod.leftovers) == []


def test_two_pods_have_a_shim_each(client: Client, pods: list[Pod], tmp_path: Path) -> None:
    """Grouping is by pod: a second pod's containers get a shim of their
    own, and removing one pod leaves the other's shim serving it."""
    first, second = (Pod(client, f"pod-{n}", tmp_path / str(n), host_network=True) for n in (1, 2))
    pods += [first, second]
    shims = [shim_of(pod, pod.container("main", ["sleep", "600"])) for pod in (first, second)]
    assert shims[0] != shims[1] and relays() == sorted(shims)
    first.remove()
    poll(lambda: relays() == [shims[1]], TIMEOUT, "the first pod's shim to exit")
    main = second.containers[0]
    assert client.ExecSync(container_id=main, cmd=["sh", "-c", "exit 3"]).exit_code == 3
