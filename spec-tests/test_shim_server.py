"""The shim server, driven by a Python ttrpc client as containerd drives
it: real containers, real fifos, the real `start` and `delete` commands."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness import (TIMEOUT, base_config, cgroup2_view, cgroup_keyed, cgroup_procs, parent_of, poll,
                     process_alive, server_of_relay)

from pyrunc.shim import ttrpc
from pyrunc.shim.daemon import RETRY
from pyrunc.shim.events import pack
from pyrunc.shim.proto.options import oci_pb2, runtimeoptions_pb2
from pyrunc.shim.proto.task import shim_pb2 as pb

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the shim runs real containers: needs root")

SERVICE = "containerd.task.v2.Task"
NAMESPACE = "shimtest"
SHIM = str(Path(sys.executable).parent / "containerd-shim-pyrunc-v2")


class Shim:
    """One shim serving one container of a bundle in `directory`."""

    def __init__(self, directory: Path, container_id: str, args: list[str], root: Path | None = None,
                 annotations: dict[str, str] | None = None, env: dict[str, str] | None = None,
                 launcher: str = SHIM) -> None:
        self.launcher = launcher
        self.root = root or directory / "root"     # short: the socket path must fit 108 bytes
        self.bundle = directory / "bundle"
        self.bundle.mkdir()
        config = base_config()
        config["process"]["args"] = args
        config["annotations"] = annotations or {}
        (self.bundle / "config.json").write_text(json.dumps(config))
        # The shim's log, a fifo containerd makes and reads.
        os.mkfifo(self.bundle / "log", 0o600)
        self.log_fd = os.open(self.bundle / "log", os.O_RDONLY | os.O_NONBLOCK)
        self.id = container_id
        # The zygote leaves a second after its last server (30 s by default).
        self.closed = False
        self.env = {**os.environ, "PYRUNC_SHIM_ROOT": str(self.root), "TTRPC_ADDRESS": "",
                    "PYRUNC_SHIM_IDLE_EXIT": "1", **(env or {})}
        out = self.command("start")
        self.address = out.stdout.decode()
        assert self.address.startswith("unix://"), out
        self.client = ttrpc.Client.at(self.address, timeout=TIMEOUT)
        self.pid = self.call("Connect", pb.ConnectRequest(id=container_id), pb.ConnectResponse).shim_pid

    def command(self, verb: str) -> subprocess.CompletedProcess[bytes]:
        argv = [self.launcher, "-namespace", NAMESPACE, "-id", self.id, "-address", "", "-publish-binary", "",
                "-bundle", str(self.bundle), verb]
        out = subprocess.run(argv, cwd=self.bundle, env=self.env, capture_output=True, timeout=TIMEOUT)
        assert out.returncode == 0, out
        assert not out.stderr, out
        return out

    def call(self, method: str, request: Any, response_type: Any = None) -> Any:
        from google.protobuf import empty_pb2
        return self.client.call(SERVICE, method, request, response_type or empty_pb2.Empty)

    def fifo(self, name: str) -> tuple[str, int]:
        """A fifo as containerd makes one, with our reading end open."""
        path = str(self.bundle / name)
        os.mkfifo(path, 0o600)
        return path, os.open(path, os.O_RDONLY | os.O_NONBLOCK)

    def close(self) -> None:
        """Whatever the test did: no shim, no container, no state left
        (once: a test may close a shim before the fixture does)."""
        if self.closed:
            return
        self.closed = True
        self.client.close()
        os.close(self.log_fd)
        if process_alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
            poll(lambda: not process_alive(self.pid), TIMEOUT, "the shim to die")
        subprocess.run([self.launcher, "-namespace", NAMESPACE, "-id", self.id, "-bundle", str(self.bundle),
                        "delete"], cwd=self.bundle, env=self.env, capture_output=True, timeout=TIMEOUT)
        leftover = list((self.root / NAMESPACE).glob("*")) if (self.root / NAMESPACE).exists() else []
        assert not [p for p in leftover if "@" not in p.name], leftover


@pytest.fixture
def make_shim() -> Iterator[Any]:
    shims: list[Shim] = []
    directory = Path(tempfile.mkdtemp(prefix="shim", dir="/tmp"))

    def make(args: list[str], container_id: str = "", **options: Any) -> Shim:
        # Unique: a relative cgroup is named by the id, and another user's
        # container "c1" in it would make it not ours to kill.
        container_id = container_id or f"shim-{secrets.token_hex(4)}"
        place = directory / str(len(shims))
        place.mkdir()
        shims.append(Shim(place, container_id, args, **options))
        return shims[-1]
    make.root = directory / "root"      # type: ignore[attr-defined]  # for shims that share one
    try:
        yield make
    finally:
        failures = []
        for shim in shims:      # each, whatever the others left
            try:
                shim.close()
            except AssertionError as failure:
                failures.append(failure)
        try:
            for root in {shim.root for shim in shims}:    # and their zygotes, with their sockets
                poll(lambda: not list((root / "z").glob("*")), TIMEOUT, "the zygote to leave")
        finally:
            shutil.rmtree(directory)
        if failures:
            raise failures[0]


def read_all(fd: int) -> bytes:
    os.set_blocking(fd, True)
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    os.close(fd)
    return data


def any_json(process: dict[str, Any]) -> Any:
    """An OCI process as containerd puts it in Exec's spec."""
    from google.protobuf import any_pb2
    return any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Process",
                       value=json.dumps(process).encode())


def say_hello(stdin: str, out_fd: int) -> None:
    """A line into a `read line; echo got $line` process, and its answer."""
    writer = os.open(stdin, os.O_WRONLY)
    os.write(writer, b"hello\n")
    os.close(writer)
    os.set_blocking(out_fd, True)
    assert os.read(out_fd, 100) == b"got hello\n"


def create(shim: Shim, options: Any = None, **io: str) -> int:
    request = pb.CreateTaskRequest(id=shim.id, bundle=str(shim.bundle), **io)
    if options is not None:
        request.options.CopyFrom(pack(options))
    return shim.call("Create", request, pb.CreateTaskResponse).pid


def test_output_and_exit_status_of_a_process_that_exits_at_once(make_shim: Any) -> None:
    shim = make_shim(["sh", "-c", "echo out; echo err >&2; exit 3"])
    stdout, out_fd = shim.fifo("stdout")
    stderr, err_fd = shim.fifo("stderr")
    pid = create(shim, stdout=stdout, stderr=stderr)
    state = shim.call("State", pb.StateRequest(id=shim.id), pb.StateResponse)
    assert (state.pid, state.status) == (pid, 1)        # CREATED
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    waited = shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse)
    assert waited.exit_status == 3 and waited.exited_at.seconds > 0
    # Drained before the exit was told: everything is in the fifos already.
    os.set_blocking(out_fd, False)
    assert os.read(out_fd, 100) == b"out\n"
    assert os.read(err_fd, 100) == b"err\n"
    state = shim.call("State", pb.StateRequest(id=shim.id), pb.StateResponse)
    assert (state.status, state.exit_status) == (3, 3)      # STOPPED
    # The exit is on disk before anyone hears of it.
    assert (shim.root / "exits" / NAMESPACE / f"{shim.id}.exit").read_text().split()[0] == "3"
    deleted = shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse)
    assert (deleted.pid, deleted.exit_status) == (pid, 3)
    assert not (shim.root / "exits" / NAMESPACE / f"{shim.id}.exit").exists()
    assert not (shim.root / NAMESPACE / shim.id).exists()
    for fd in (out_fd, err_fd):
        os.close(fd)


def test_kill_and_state_are_answered_while_a_wait_blocks(make_shim: Any) -> None:
    shim = make_shim(["sleep", "100"])
    create(shim)
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    waited: list[Any] = []
    waiter = threading.Thread(target=lambda: waited.append(
        shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse)))
    waiter.start()
    assert shim.call("State", pb.StateRequest(id=shim.id), pb.StateResponse).status == 2   # RUNNING
    assert not waited
    shim.call("Kill", pb.KillRequest(id=shim.id, signal=signal.SIGKILL))
    waiter.join(TIMEOUT)
    assert waited[0].exit_status == 128 + signal.SIGKILL
    with pytest.raises(ttrpc.TtrpcError) as error:   # what containerd reads as "already finished"
        shim.call("Kill", pb.KillRequest(id=shim.id, signal=signal.SIGKILL))
    assert error.value.code == ttrpc.NOT_FOUND
    shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse)


def test_stdin_exec_pids_pause_and_close_io(make_shim: Any) -> None:
    shim = make_shim(["sh", "-c", "read line; echo got $line; sleep 100"])
    stdin = str(shim.bundle / "stdin")
    os.mkfifo(stdin, 0o600)
    stdout, out_fd = shim.fifo("stdout")
    create(shim, stdin=stdin, stdout=stdout)
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    say_hello(stdin, out_fd)

    process = {"args": ["sh", "-c", "cat; exit 4"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
    exec_in = str(shim.bundle / "exec-in")
    os.mkfifo(exec_in, 0o600)
    exec_out, exec_fd = shim.fifo("exec-out")
    shim.call("Exec", pb.ExecProcessRequest(id=shim.id, exec_id="e1", stdin=exec_in, stdout=exec_out,
                                            spec=any_json(process)))
    exec_pid = shim.call("Start", pb.StartRequest(id=shim.id, exec_id="e1"), pb.StartResponse).pid
    pids = shim.call("Pids", pb.PidsRequest(id=shim.id), pb.PidsResponse)
    assert exec_pid in [p.pid for p in pids.processes]
    writer = os.open(exec_in, os.O_WRONLY | os.O_NONBLOCK)
    os.write(writer, b"to exec\n")
    # CloseIO ends the exec's stdin even while our writer stays open.
    shim.call("CloseIO", pb.CloseIORequest(id=shim.id, exec_id="e1", stdin=True))
    waited = shim.call("Wait", pb.WaitRequest(id=shim.id, exec_id="e1"), pb.WaitResponse)
    os.close(writer)
    assert waited.exit_status == 4
    assert read_all(exec_fd) == b"to exec\n"
    shim.call("Delete", pb.DeleteRequest(id=shim.id, exec_id="e1"), pb.DeleteResponse)

    shim.call("Pause", pb.PauseRequest(id=shim.id))
    assert shim.call("State", pb.StateRequest(id=shim.id), pb.StateResponse).status == 4   # PAUSED
    shim.call("Resume", pb.ResumeRequest(id=shim.id))
    assert shim.call("State", pb.StateRequest(id=shim.id), pb.StateResponse).status == 2
    shim.call("Kill", pb.KillRequest(id=shim.id, signal=signal.SIGKILL, all=True))
    assert shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse).exit_status == 137
    shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse)
    os.close(out_fd)


def test_protocol_errors_get_containerds_statuses(make_shim: Any) -> None:
    shim = make_shim(["true"])
    with pytest.raises(ttrpc.TtrpcError) as error:
        shim.call("Checkpoint", pb.CheckpointTaskRequest(id=shim.id))
    assert error.value.code == ttrpc.UNIMPLEMENTED and "not supported" in error.value.message
    with pytest.raises(ttrpc.TtrpcError) as error:
        shim.client.call_raw(SERVICE, "NoSuchMethod", b"")
    assert error.value.code == ttrpc.UNIMPLEMENTED
    with pytest.raises(ttrpc.TtrpcError) as error:
        shim.call("State", pb.StateRequest(id="nope"), pb.StateResponse)
    assert error.value.code == ttrpc.NOT_FOUND

    raw = ttrpc.connect(shim.address, timeout=TIMEOUT)
    with raw:
        # Oversized: answered on its stream, then the connection goes on.
        raw.sendall(struct.pack(">IIBB", ttrpc.MAX_MESSAGE + 1, 5, ttrpc.REQUEST, 0) + b"\0" * (ttrpc.MAX_MESSAGE + 1))
        # Garbage where a Request should be, and an even stream id.
        raw.sendall(ttrpc.encode_frame(7, ttrpc.REQUEST, b"\xff\xff\xff"))
        raw.sendall(ttrpc.encode_frame(8, ttrpc.REQUEST, ttrpc.encode_request(SERVICE, "Connect", b"")))
        raw.sendall(ttrpc.encode_frame(9, ttrpc.REQUEST, ttrpc.encode_request(SERVICE, "Connect", b"")))
        decoder = ttrpc.FrameDecoder()
        frames: dict[int, bytes] = {}
        while len(frames) < 4:
            data = raw.recv(65536)
            assert data, frames
            frames.update((f.stream_id, f.payload) for f in decoder.feed(data))
    codes = {}
    for stream_id, payload in frames.items():
        try:
            ttrpc.decode_response(payload)
            codes[stream_id] = ttrpc.OK
        except ttrpc.TtrpcError as exc:
            codes[stream_id] = exc.code
    assert codes == {5: ttrpc.RESOURCE_EXHAUSTED, 7: ttrpc.INVALID_ARGUMENT, 8: ttrpc.INVALID_ARGUMENT,
                     9: ttrpc.OK}
    # The socket is root's alone.
    path = shim.address[len("unix://"):]
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700


def test_delete_after_the_shim_was_killed_reports_the_recorded_status(make_shim: Any) -> None:
    shim = make_shim(["sh", "-c", "exit 9"])
    pid = create(shim)
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    assert shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse).exit_status == 9
    os.kill(shim.pid, signal.SIGKILL)
    poll(lambda: not process_alive(shim.pid), TIMEOUT, "the shim to die")
    response = pb.DeleteResponse()
    response.ParseFromString(shim.command("delete").stdout)
    assert (response.pid, response.exit_status) == (pid, 9)
    assert not (shim.root / NAMESPACE / shim.id).exists()


def test_start_reuses_the_running_shim_of_a_group(make_shim: Any) -> None:
    shim = make_shim(["true"])
    again = shim.command("start").stdout.decode()
    assert again == shim.address
    assert shim.call("Connect", pb.ConnectRequest(id=shim.id), pb.ConnectResponse).shim_pid == shim.pid


def test_update_then_shutdown_ends_the_shim(make_shim: Any) -> None:
    from google.protobuf import any_pb2
    shim = make_shim(["sleep", "100"])
    pid = create(shim)
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    resources = any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
                            value=json.dumps({"pids": {"limit": 42}}).encode())
    shim.call("Update", pb.UpdateTaskRequest(id=shim.id, resources=resources))
    pids_cgroup = next(line.split(":", 2)[2] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                       if line.split(":")[1] == "pids")
    assert Path(f"/sys/fs/cgroup/pids{pids_cgroup}/pids.max").read_text().strip() == "42"
    # With a task left, Shutdown is refused quietly (containerd asks after each delete).
    shim.call("Shutdown", pb.ShutdownRequest(id=shim.id))
    assert process_alive(shim.pid)
    shim.call("Kill", pb.KillRequest(id=shim.id, signal=signal.SIGKILL))
    shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse)
    shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse)
    shim.call("Shutdown", pb.ShutdownRequest(id=shim.id))
    poll(lambda: not process_alive(shim.pid), TIMEOUT, "the shim to exit")
    assert not Path(shim.address[len("unix://"):]).exists()


def test_a_terminal_and_its_size(make_shim: Any) -> None:
    shim = make_shim(["sh", "-c", "read go; stty size; exit 2"])
    config = json.loads((shim.bundle / "config.json").read_text())
    config["process"]["terminal"] = True
    (shim.bundle / "config.json").write_text(json.dumps(config))
    stdin = str(shim.bundle / "stdin")
    os.mkfifo(stdin, 0o600)
    stdout, out_fd = shim.fifo("stdout")
    create(shim, stdin=stdin, stdout=stdout, terminal=True)
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    shim.call("ResizePty", pb.ResizePtyRequest(id=shim.id, width=91, height=37))
    writer = os.open(stdin, os.O_WRONLY)
    os.write(writer, b"go\n")
    assert shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse).exit_status == 2
    os.close(writer)
    os.set_blocking(out_fd, False)
    assert b"37 91" in os.read(out_fd, 4096)
    os.close(out_fd)
    shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse)


def test_events_fall_back_to_the_publish_binary(tmp_path: Path) -> None:
    """No ttrpc events service: each event goes through `BINARY --address A
    publish --topic T --namespace NS` with the event (an Any) on stdin."""
    from google.protobuf import any_pb2

    from pyrunc.shim.events import Publisher
    from pyrunc.shim.proto.events import task_pb2
    record = tmp_path / "published"
    binary = tmp_path / "publish"
    binary.write_text(f"#!/bin/sh\necho \"$@\" >> {record}\ncat >> {record}\necho >> {record}\n")
    binary.chmod(0o700)
    publisher = Publisher("ns1", str(tmp_path / "no-such-socket"), "/containerd.sock", str(binary))
    publisher.publish(task_pb2.TaskPaused(container_id="c9"))
    publisher.flush(TIMEOUT)
    args, event = record.read_bytes().split(b"\n", 1)
    assert args.decode().split() == ["--address", "/containerd.sock", "publish", "--topic", "/tasks/paused",
                                     "--namespace", "ns1"]
    parsed = any_pb2.Any()
    parsed.ParseFromString(event[:-1])
    assert parsed.type_url == "containerd.events.TaskPaused"
    paused = task_pb2.TaskPaused()
    paused.ParseFromString(parsed.value)
    assert paused.container_id == "c9"


def test_no_fd_of_the_shim_reaches_a_container(make_shim: Any) -> None:
    shim = make_shim(["sh", "-c", "ls /proc/1/fd; true"])  # sh stays pid 1
    stdout, out_fd = shim.fifo("stdout")
    create(shim, stdout=stdout)
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    assert shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse).exit_status == 0
    os.set_blocking(out_fd, False)
    assert os.read(out_fd, 4096).split() == [b"0", b"1", b"2"]
    os.close(out_fd)
    shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse)


def log_bundles(pid: int) -> list[str]:
    """The bundles whose log fifo the shim holds open."""
    links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    return [Path(link).parent.parent.name for link in links if link.endswith("/bundle/log")]


def server_of(shim: Shim) -> int:
    return server_of_relay(shim.pid)


def test_containers_of_one_group_share_a_shim(make_shim: Any) -> None:
    """One server for a pod.  It logs to the bundle of a container it
    serves: when that one is deleted (containerd removes its bundle), to
    another's."""
    pod = {"io.kubernetes.cri.sandbox-id": "pod1"}
    first = make_shim(["sh", "-c", "exit 3"], root=make_shim.root, annotations=pod)
    second = make_shim(["sleep", "100"], root=make_shim.root, annotations=pod)
    assert (second.address, second.pid) == (first.address, first.pid)
    for shim in (first, second):
        create(shim)
        shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    assert log_bundles(server_of(first)) == [first.bundle.parent.name]
    assert first.call("Wait", pb.WaitRequest(id=first.id), pb.WaitResponse).exit_status == 3
    assert second.call("State", pb.StateRequest(id=second.id), pb.StateResponse).status == 2
    first.call("Delete", pb.DeleteRequest(id=first.id), pb.DeleteResponse)
    first.call("Shutdown", pb.ShutdownRequest(id=first.id))
    assert process_alive(first.pid)     # it still serves the second
    assert log_bundles(server_of(first)) == [second.bundle.parent.name]
    second.call("Kill", pb.KillRequest(id=second.id, signal=signal.SIGKILL))
    assert second.call("Wait", pb.WaitRequest(id=second.id), pb.WaitResponse).exit_status == 137
    second.call("Delete", pb.DeleteRequest(id=second.id), pb.DeleteResponse)


@pytest.mark.parametrize("slow_create", [False, True], ids=["create", "slow-create"])
def test_a_shim_handed_out_again_does_not_leave_under_its_new_container(make_shim: Any, slow_create: bool) -> None:
    """containerd deletes a pod's last container and says Shutdown; a start
    for the pod's next container came in between: the shim stays for it
    (the zygote knows a Create is on its way), and leaves after it.  Also
    with that Create longer than the server's wait before it asks again (a
    createRuntime hook that sleeps): a Create under way keeps its group,
    though its task is not in the table yet."""
    pod = {"io.kubernetes.cri.sandbox-id": "pod2"}
    first = make_shim(["true"], root=make_shim.root, annotations=pod)
    create(first)
    first.call("Start", pb.StartRequest(id=first.id), pb.StartResponse)
    first.call("Wait", pb.WaitRequest(id=first.id), pb.WaitResponse)
    first.call("Delete", pb.DeleteRequest(id=first.id), pb.DeleteResponse)
    second = make_shim(["sh", "-c", "exit 5"], root=make_shim.root, annotations=pod)   # its start
    assert second.pid == first.pid
    if slow_create:
        config = json.loads((second.bundle / "config.json").read_text())
        config["hooks"] = {"createRuntime": [{"path": shutil.which("sleep"), "args": ["sleep", str(3 * RETRY)]}]}
        (second.bundle / "config.json").write_text(json.dumps(config))
    first.call("Shutdown", pb.ShutdownRequest(id=first.id))
    assert process_alive(first.pid)
    create(second)
    second.call("Start", pb.StartRequest(id=second.id), pb.StartResponse)
    assert second.call("Wait", pb.WaitRequest(id=second.id), pb.WaitResponse).exit_status == 5
    second.call("Delete", pb.DeleteRequest(id=second.id), pb.DeleteResponse)
    second.call("Shutdown", pb.ShutdownRequest(id=second.id))
    poll(lambda: not process_alive(second.pid), TIMEOUT, "the shim to leave")


def test_one_shim_for_a_whole_namespace_when_asked(make_shim: Any) -> None:
    """PYRUNC_SHIM_GROUP=namespace in containerd's environment: containers
    of no pod share one server all the same."""
    mode = {"PYRUNC_SHIM_GROUP": "namespace"}
    first = make_shim(["sleep", "100"], root=make_shim.root, env=mode)
    second = make_shim(["sleep", "100"], root=make_shim.root, env=mode)
    alone = make_shim(["sleep", "100"], root=make_shim.root)
    assert first.pid == second.pid != alone.pid
    for shim in (first, second):
        create(shim)
        shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
        shim.call("Kill", pb.KillRequest(id=shim.id, signal=signal.SIGKILL))
        assert shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse).exit_status == 137
        shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse)


def test_a_relay_takes_a_connection_per_task_of_a_namespace(make_shim: Any) -> None:
    """containerd connects once per task, and a group may be a whole
    namespace: a relay answers on each of hundreds of connections, some
    closed on the way."""
    shim = make_shim(["true"])
    clients: list[ttrpc.Client] = []
    try:
        for n in range(300):
            clients.append(ttrpc.Client.at(shim.address, timeout=TIMEOUT))
            connected = clients[-1].call(SERVICE, "Connect", pb.ConnectRequest(id=shim.id), pb.ConnectResponse)
            assert connected.shim_pid == shim.pid
            if n % 3 == 0:
                clients[-1].close()
        for client in clients[1::3]:
            state = client.call(SERVICE, "Connect", pb.ConnectRequest(id=shim.id), pb.ConnectResponse)
            assert state.shim_pid == shim.pid
    finally:
        for client in clients:
            client.close()


def test_a_failed_create_is_an_error_and_leaves_nothing(make_shim: Any) -> None:
    shim = make_shim(["/no/such/program"])
    config = json.loads((shim.bundle / "config.json").read_text())
    config["process"]["cwd"] = "relative"       # invalid: must be absolute
    (shim.bundle / "config.json").write_text(json.dumps(config))
    stdout, out_fd = shim.fifo("stdout")
    with pytest.raises(ttrpc.TtrpcError) as error:
        create(shim, stdout=stdout)
    assert error.value.code == ttrpc.UNKNOWN and "cwd" in error.value.message, error.value
    assert not (shim.root / NAMESPACE / shim.id).exists()
    with pytest.raises(ttrpc.TtrpcError) as error:
        shim.call("State", pb.StateRequest(id=shim.id), pb.StateResponse)
    assert error.value.code == ttrpc.NOT_FOUND
    # Its fds are closed: our end of the fifo is its only end.
    assert str(shim.bundle / "stdout") not in [os.readlink(f"/proc/{shim.pid}/fd/{fd}")
                                                for fd in os.listdir(f"/proc/{shim.pid}/fd")]
    os.close(out_fd)


def test_without_a_pid_namespace_the_init_takes_the_rest_with_it(make_shim: Any) -> None:
    shim = make_shim(["sh", "-c", "sleep 600 & echo $!; exit 4"])
    config = json.loads((shim.bundle / "config.json").read_text())
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "pid"]
    (shim.bundle / "config.json").write_text(json.dumps(config))
    stdout, out_fd = shim.fifo("stdout")
    create(shim, stdout=stdout)
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    waited = shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse)
    assert waited.exit_status == 4
    os.set_blocking(out_fd, False)
    sleeper = int(os.read(out_fd, 100))     # a host pid: no pid namespace
    os.close(out_fd)
    poll(lambda: not process_alive(sleeper), TIMEOUT, "the orphan to be killed")
    shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse)


RUNC_WRAPPER = """#!/bin/sh
# runc, with each command line noted; systemd is not this host's init, so
# its cgroup driver is noted and then left out.
echo "$*" >> {log}
for arg; do shift; [ "$arg" = --systemd-cgroup ] || set -- "$@" "$arg"; done
exec runc "$@"
"""


def test_runc_options_run_the_container_on_the_named_binary(make_shim: Any, tmp_path: Path) -> None:
    """containerd's runc options: BinaryName runs every operation through
    that binary (under Root/<namespace>, with --no-pivot, --no-new-keyring
    and --systemd-cgroup as asked); the options stay in the bundle, so
    `delete` uses the same binary."""
    wrapper, calls, runc_root = tmp_path / "runc-wrapper", tmp_path / "calls", tmp_path / "runc"
    wrapper.write_text(RUNC_WRAPPER.format(log=calls))
    wrapper.chmod(0o755)
    options = oci_pb2.Options(binary_name=str(wrapper), root=str(runc_root), no_pivot_root=True,
                              no_new_keyring=True, systemd_cgroup=True)
    shim = make_shim(["sh", "-c", "read line; echo got $line; sleep 100"])
    stdin, stdout = str(shim.bundle / "stdin"), str(shim.bundle / "stdout")
    os.mkfifo(stdin, 0o600)
    _, out_fd = shim.fifo("stdout")
    pid = create(shim, options, stdin=stdin, stdout=stdout)
    state_file = runc_root / NAMESPACE / shim.id / "state.json"
    assert json.loads(state_file.read_text())["init_process_pid"] == pid     # runc's state, not pyrunc's
    create_line = next(line for line in calls.read_text().splitlines() if " create " in line)
    for flag in (f"--root {runc_root / NAMESPACE}", "--systemd-cgroup", "--no-pivot", "--no-new-keyring"):
        assert flag in create_line, create_line
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    say_hello(stdin, out_fd)
    os.close(out_fd)
    exec_spec = {"args": ["sh", "-c", "exit 5"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
    shim.call("Exec", pb.ExecProcessRequest(id=shim.id, exec_id="e1", spec=any_json(exec_spec)))
    shim.call("Start", pb.StartRequest(id=shim.id, exec_id="e1"), pb.StartResponse)
    assert shim.call("Wait", pb.WaitRequest(id=shim.id, exec_id="e1"), pb.WaitResponse).exit_status == 5
    assert len(shim.call("Pids", pb.PidsRequest(id=shim.id), pb.PidsResponse).processes) == 1
    assert shim.call("State", pb.StateRequest(id=shim.id), pb.StateResponse).status == 2     # RUNNING
    # The shim dies; `delete` finds the options in the bundle and asks runc.
    os.kill(shim.pid, signal.SIGKILL)
    poll(lambda: not process_alive(shim.pid), TIMEOUT, "the shim to die")
    shim.command("delete")
    assert not state_file.exists()
    assert not process_alive(pid)
    assert any(line.split()[-2:] == ["--force", shim.id] for line in calls.read_text().splitlines())


def test_runtime_options_from_a_config_file_and_bad_ones(make_shim: Any, tmp_path: Path) -> None:
    """runtimeoptions' ConfigPath names a TOML file of the same options
    (here IoUid/IoGid, which own the process's stdio pipes); one the shim
    cannot use is a clear INVALID_ARGUMENT, and nothing is made."""
    config = tmp_path / "runtime.toml"
    config.write_text('NoNewKeyring = true\nBinaryNam = "runc"\n')
    shim = make_shim(["true"])
    for options, fragment in ((runtimeoptions_pb2.Options(config_path=str(config)), "unknown option 'BinaryNam'"),
                              (runtimeoptions_pb2.Options(config_path=str(tmp_path / "none")), "No such file"),
                              (pb.StateRequest(id="x"), "not supported")):
        with pytest.raises(ttrpc.TtrpcError) as error:
            create(shim, options)
        assert error.value.code == ttrpc.INVALID_ARGUMENT and fragment in error.value.message, error.value
        assert not (shim.root / NAMESPACE / shim.id).exists()
    config.write_text('NoNewKeyring = true\nIoUid = 1000\nIoGid = 1001\n')
    stdout, out_fd = shim.fifo("stdout")
    pid = create(shim, runtimeoptions_pb2.Options(config_path=str(config)), stdout=stdout)
    owner = os.stat(f"/proc/{pid}/fd/1")
    assert (owner.st_uid, owner.st_gid) == (1000, 1001)
    os.close(out_fd)
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    assert shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse).exit_status == 0
    shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse)


def test_the_rootfs_mounts_containerd_lists_are_made_and_unmade(make_shim: Any) -> None:
    """Create mounts what containerd lists on <bundle>/rootfs (a read-only
    rbind here: the bind, then a remount for `ro`), Delete unmounts it."""
    from pyrunc.shim.proto.types import mount_pb2
    from harness import ROOTFS
    shim = make_shim(["sh", "-c", "touch /x 2>&1; grep ' / ' /proc/self/mountinfo"])
    target = shim.bundle / "rootfs"
    config = json.loads((shim.bundle / "config.json").read_text())
    config["root"] = {"path": "rootfs", "readonly": False}
    (shim.bundle / "config.json").write_text(json.dumps(config))
    stdout, out_fd = shim.fifo("stdout")
    request = pb.CreateTaskRequest(id=shim.id, bundle=str(shim.bundle), stdout=stdout, rootfs=[
        mount_pb2.Mount(type="bind", source=str(ROOTFS.resolve()), options=["rbind", "ro", "rprivate"])])
    shim.call("Create", request, pb.CreateTaskResponse)
    assert str(target) in Path("/proc/self/mountinfo").read_text()
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse)
    output = read_all(out_fd).decode()
    assert "Read-only file system" in output and " ro," in output.split(" / ", 1)[1], output
    shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse)
    assert str(target) not in Path("/proc/self/mountinfo").read_text()


def sleeper_with_exec(shim: Shim) -> tuple[int, int]:
    """A started `sleep 100` with a started exec of another: their pids."""
    init = create(shim)
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    process = {"args": ["sleep", "100"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
    shim.call("Exec", pb.ExecProcessRequest(id=shim.id, exec_id="e1", spec=any_json(process)))
    return init, shim.call("Start", pb.StartRequest(id=shim.id, exec_id="e1"), pb.StartResponse).pid


def test_a_server_killed_under_its_relays_is_replaced_unseen(make_shim: Any) -> None:
    """The server of a namespace dies: its relay keeps containerd's
    connection, connects to the server the zygote forks at once (which
    knows the tasks from disk) and sends it the requests left unanswered,
    here a Wait.  The processes are not the new server's children: the
    zygote, their reaper now, records their exits for it."""
    shim = make_shim(["sleep", "100"])
    init, exec_pid = sleeper_with_exec(shim)
    waited: list[Any] = []
    waiter = threading.Thread(target=lambda: waited.append(
        shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse)))
    waiter.start()
    old = server_of(shim)
    os.kill(old, signal.SIGKILL)
    poll(lambda: not process_alive(old), TIMEOUT, "the server to die")
    assert process_alive(init) and process_alive(exec_pid)
    # The same connection, the same relay: containerd would notice nothing.
    assert shim.call("Connect", pb.ConnectRequest(id=shim.id), pb.ConnectResponse).shim_pid == shim.pid
    assert server_of(shim) != old
    state = shim.call("State", pb.StateRequest(id=shim.id), pb.StateResponse)
    assert (state.pid, state.status) == (init, 2)       # RUNNING
    state = shim.call("State", pb.StateRequest(id=shim.id, exec_id="e1"), pb.StateResponse)
    assert (state.pid, state.status) == (exec_pid, 2)
    pids = [p.pid for p in shim.call("Pids", pb.PidsRequest(id=shim.id), pb.PidsResponse).processes]
    assert sorted(pids) == sorted([init, exec_pid])
    shim.call("Kill", pb.KillRequest(id=shim.id, exec_id="e1", signal=signal.SIGKILL))
    assert shim.call("Wait", pb.WaitRequest(id=shim.id, exec_id="e1"), pb.WaitResponse).exit_status == 137
    shim.call("Delete", pb.DeleteRequest(id=shim.id, exec_id="e1"), pb.DeleteResponse)
    assert waiter.is_alive()
    shim.call("Kill", pb.KillRequest(id=shim.id, signal=signal.SIGKILL))
    waiter.join(TIMEOUT)
    assert [response.exit_status for response in waited] == [137]     # not 255: unknown
    assert shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse).exit_status == 137
    assert not list((shim.root / "orphans").glob("*")), "claimed exits are removed"
    assert not (shim.root / NAMESPACE / shim.id).exists()
    assert not list((shim.root / "tasks").rglob("*.json"))


def read_until(fd: int, wanted: bytes) -> bytes:
    """What a fifo gives until wanted shows, or TIMEOUT."""
    import select
    data, deadline = b"", time.monotonic() + TIMEOUT
    while wanted not in data and time.monotonic() < deadline:
        if select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            data += os.read(fd, 4096)
    return data


def test_a_killed_servers_processes_keep_their_stdio(make_shim: Any) -> None:
    """The zygote holds the container's side of each process's stdio: the
    processes of a killed server neither get SIGPIPE nor lose what they
    write before its successor is there, and the successor copies on,
    from stdin and to a terminal too; stdin's end is still EOF."""
    shim = make_shim(["sh", "-c", "while read line; do echo got $line; done; echo end; exit 5"])
    stdin, tty_in = str(shim.bundle / "stdin"), str(shim.bundle / "tty-in")
    for fifo in (stdin, tty_in):
        os.mkfifo(fifo, 0o600)
    stdout, out_fd = shim.fifo("stdout")
    create(shim, stdin=stdin, stdout=stdout)
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    writer = os.open(stdin, os.O_WRONLY)
    os.write(writer, b"hello\n")
    assert read_until(out_fd, b"\n") == b"got hello\n"
    late = {"args": ["sh", "-c", "sleep 1; echo late; echo late too >&2"], "cwd": "/", "env": ["PATH=/bin"],
            "user": {"uid": 0, "gid": 0}}
    late_out, late_fd = shim.fifo("late-out")
    late_err, late_err_fd = shim.fifo("late-err")
    shim.call("Exec", pb.ExecProcessRequest(id=shim.id, exec_id="late", stdout=late_out, stderr=late_err,
                                            spec=any_json(late)))
    shim.call("Start", pb.StartRequest(id=shim.id, exec_id="late"), pb.StartResponse)
    tty = {"args": ["sh", "-c", "read go; stty size; exit 2"], "cwd": "/", "env": ["PATH=/bin"],
           "user": {"uid": 0, "gid": 0}, "terminal": True}
    tty_out, tty_fd = shim.fifo("tty-out")
    shim.call("Exec", pb.ExecProcessRequest(id=shim.id, exec_id="tty", stdin=tty_in, stdout=tty_out,
                                            terminal=True, spec=any_json(tty)))
    shim.call("Start", pb.StartRequest(id=shim.id, exec_id="tty"), pb.StartResponse)

    old = server_of(shim)
    os.kill(old, signal.SIGKILL)
    poll(lambda: not process_alive(old), TIMEOUT, "the server to die")
    # Its successor serves (Connect is answered once it reloaded the tasks).
    shim.call("Connect", pb.ConnectRequest(id=shim.id), pb.ConnectResponse)
    assert server_of(shim) != old
    # Written while no server was there, or just after: nothing lost, no SIGPIPE.
    assert shim.call("Wait", pb.WaitRequest(id=shim.id, exec_id="late"), pb.WaitResponse).exit_status == 0
    assert read_until(late_fd, b"late\n") == b"late\n"
    assert read_until(late_err_fd, b"late too\n") == b"late too\n"
    shim.call("Delete", pb.DeleteRequest(id=shim.id, exec_id="late"), pb.DeleteResponse)
    # The terminal: resized, and its input and output copied by the successor.
    shim.call("ResizePty", pb.ResizePtyRequest(id=shim.id, exec_id="tty", width=91, height=37))
    tty_writer = os.open(tty_in, os.O_WRONLY)
    os.write(tty_writer, b"go\n")
    assert shim.call("Wait", pb.WaitRequest(id=shim.id, exec_id="tty"), pb.WaitResponse).exit_status == 2
    os.close(tty_writer)
    assert b"37 91" in read_until(tty_fd, b"37 91")
    shim.call("Delete", pb.DeleteRequest(id=shim.id, exec_id="tty"), pb.DeleteResponse)
    # The init's stdin, copied on; closing it is EOF, the zygote's copy notwithstanding.
    os.write(writer, b"again\n")
    assert read_until(out_fd, b"got again\n") == b"got again\n"
    os.close(writer)
    assert shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse).exit_status == 5
    assert read_until(out_fd, b"end\n") == b"end\n"
    shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse)
    for fd in (out_fd, late_fd, late_err_fd, tty_fd):
        os.close(fd)
    # Its relay leaves as after any last task (the successor never saw the Create).
    shim.call("Shutdown", pb.ShutdownRequest(id=shim.id))
    poll(lambda: not process_alive(shim.pid), 10, "the relay to leave")


def test_a_start_before_the_zygote_saw_its_server_die(make_shim: Any) -> None:
    """A start for the group reaches the zygote before the end of the
    group's killed server does: the server it forks for the start (it
    finds the old one dead) gets the kept stdio ends, and the pod's
    first container talks on through them."""
    pod = {"io.kubernetes.cri.sandbox-id": "pod-keep"}
    first = make_shim(["sh", "-c", "read line; echo got $line; exit 6"], root=make_shim.root, annotations=pod)
    stdin = str(first.bundle / "stdin")
    os.mkfifo(stdin, 0o600)
    stdout, out_fd = first.fifo("stdout")
    create(first, stdin=stdin, stdout=stdout)
    first.call("Start", pb.StartRequest(id=first.id), pb.StartResponse)
    writer = os.open(stdin, os.O_WRONLY)
    zygote, old = parent_of(first.pid), server_of(first)
    started: list[Any] = []
    os.kill(zygote, signal.SIGSTOP)
    try:
        # The request first (the zygote reads its ready fds in that order).
        starter = threading.Thread(target=lambda: started.append(
            make_shim(["sleep", "100"], root=make_shim.root, annotations=pod)))
        starter.start()
        time.sleep(0.2)     # its request waits in the zygote's socket
        os.kill(old, signal.SIGKILL)
        poll(lambda: Path(f"/proc/{old}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z", TIMEOUT,
             "the server to be a zombie")
    finally:
        os.kill(zygote, signal.SIGCONT)
    starter.join(TIMEOUT)
    assert started and started[0].pid == first.pid     # the group's relay, handed out again
    first.call("Connect", pb.ConnectRequest(id=first.id), pb.ConnectResponse)
    assert server_of(first) != old
    os.write(writer, b"hello\n")
    assert read_until(out_fd, b"got hello\n") == b"got hello\n"
    os.close(writer)
    assert first.call("Wait", pb.WaitRequest(id=first.id), pb.WaitResponse).exit_status == 6
    first.call("Delete", pb.DeleteRequest(id=first.id), pb.DeleteResponse)
    os.close(out_fd)


def test_a_relay_started_again_serves_its_group_as_before(make_shim: Any) -> None:
    """A group's relay dies (containerd would take the shim for dead and
    run the delete command); a `start` for the group before that gets a
    new relay, through which the server goes on serving the group's
    tasks: their output and their real exit statuses."""
    shim = make_shim(["sh", "-c", "read line; echo got $line; sleep 100"])
    stdin, _ = shim.fifo("stdin")
    stdout, out_fd = shim.fifo("stdout")
    process = {"args": ["sleep", "100"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
    init = create(shim, stdin=stdin, stdout=stdout)
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    shim.call("Exec", pb.ExecProcessRequest(id=shim.id, exec_id="e1", spec=any_json(process)))
    shim.call("Start", pb.StartRequest(id=shim.id, exec_id="e1"), pb.StartResponse)
    old, server = shim.pid, server_of(shim)
    shim.client.close()
    os.kill(old, signal.SIGKILL)
    poll(lambda: not process_alive(old), TIMEOUT, "the relay to die")
    shim.address = shim.command("start").stdout.decode()
    shim.client = ttrpc.Client.at(shim.address, timeout=TIMEOUT)
    shim.pid = shim.call("Connect", pb.ConnectRequest(id=shim.id), pb.ConnectResponse).shim_pid
    assert shim.pid != old and server_of(shim) == server
    say_hello(stdin, out_fd)
    shim.call("Kill", pb.KillRequest(id=shim.id, exec_id="e1", signal=signal.SIGTERM))
    assert shim.call("Wait", pb.WaitRequest(id=shim.id, exec_id="e1"), pb.WaitResponse).exit_status == 143
    shim.call("Delete", pb.DeleteRequest(id=shim.id, exec_id="e1"), pb.DeleteResponse)
    shim.call("Kill", pb.KillRequest(id=shim.id, signal=signal.SIGKILL))
    assert shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse).exit_status == 137
    assert shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse).pid == init
    os.close(out_fd)


def test_a_dead_relays_tasks_are_left_to_the_delete_command(make_shim: Any) -> None:
    """No new relay comes: the server forgets the group's tasks as their
    inits end (no event: containerd reports the exit the delete command
    prints), and leaves with the last; its other groups go on."""
    shim = make_shim(["sleep", "100"], root=make_shim.root)
    other = make_shim(["sleep", "100"], root=make_shim.root)
    for each in (shim, other):
        create(each)
        each.call("Start", pb.StartRequest(id=each.id), pb.StartResponse)
    servers = {server_of(shim), server_of(other)}     # one, or two shards
    shim.client.close()
    os.kill(shim.pid, signal.SIGKILL)
    response = pb.DeleteResponse.FromString(shim.command("delete").stdout)
    assert response.exit_status == 137
    assert not (shim.root / NAMESPACE / shim.id).exists()
    assert other.call("State", pb.StateRequest(id=other.id), pb.StateResponse).status == 2

    def forgotten() -> bool:
        try:
            other.call("State", pb.StateRequest(id=shim.id), pb.StateResponse)
        except ttrpc.TtrpcError as error:
            return error.code == ttrpc.NOT_FOUND
        return False
    poll(forgotten, TIMEOUT, "the server to forget the dead relay's task")
    other.call("Kill", pb.KillRequest(id=other.id, signal=signal.SIGKILL))
    assert other.call("Wait", pb.WaitRequest(id=other.id), pb.WaitResponse).exit_status == 137
    other.call("Delete", pb.DeleteRequest(id=other.id), pb.DeleteResponse)
    other.call("Shutdown", pb.ShutdownRequest(id=other.id))
    poll(lambda: not any(map(process_alive, [*servers, other.pid])), TIMEOUT, "the shim to leave")


LOGGER = """#!/usr/bin/python3
# A logging binary as containerd's protocol has it: stdout on fd 3, stderr
# on fd 4, readiness on fd 5; notes its arguments and environment.
import json, os, select, sys
dest = sys.argv[sys.argv.index("dest") + 1]
with open(dest + ".meta", "w") as f:
    json.dump({"argv": sys.argv[1:], "env": dict(os.environ)}, f)
os.write(5, b"r")
os.close(5)
open_fds = {3: "out", 4: "err"}
with open(dest, "w") as f:
    while open_fds:
        for fd in select.select(list(open_fds), [], [])[0]:
            data = os.read(fd, 65536)
            if not data:
                del open_fds[fd]
            for line in data.decode().splitlines():
                f.write(open_fds.get(fd, "?") + ": " + line + "\\n")
"""


def test_binary_log_uri_hands_the_output_to_a_logging_binary(make_shim: Any, tmp_path: Path) -> None:
    logger, dest = tmp_path / "logger", tmp_path / "log"
    logger.write_text(LOGGER)
    logger.chmod(0o755)
    shim = make_shim(["sh", "-c", "echo one; echo two >&2; echo three"])
    uri = f"binary://{logger}?dest={dest}&flag="
    create(shim, stdout=uri, stderr=uri)
    meta = json.loads((tmp_path / "log.meta").read_text())     # ready before Create returned
    assert meta["argv"] == ["dest", str(dest), "flag"], meta
    meta["env"].pop("LC_CTYPE", None)   # Python's own, in a C locale
    assert meta["env"] == {"CONTAINER_ID": shim.id, "CONTAINER_NAMESPACE": NAMESPACE}, meta
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    assert shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse).exit_status == 0
    poll(lambda: len(dest.read_text().splitlines()) == 3, TIMEOUT, "the logger to write")
    assert sorted(dest.read_text().splitlines()) == ["err: two", "out: one", "out: three"]
    shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse)
    with pytest.raises(ttrpc.TtrpcError) as error:      # a logger that is not there
        create(shim, stdout=f"binary://{tmp_path}/none", stderr=f"binary://{tmp_path}/none")
    assert error.value.code == ttrpc.INVALID_ARGUMENT and "No such file" in error.value.message


def test_one_zygote_answers_every_start(make_shim: Any, tmp_path: Path) -> None:
    """`start` (the C launcher) finds the zygote the first start (Python,
    which started it) made, at the socket both name alike: one zygote
    starts both relays, named pyrunc-shim, and forks the namespace's
    servers, pyrunc-shimd.  A launcher with no python3 beside it
    shows that no Python was needed."""
    from pyrunc.shim.main import fnv1a
    first = make_shim(["true"], root=make_shim.root)
    alone = tmp_path / "containerd-shim-pyrunc-v2"
    shutil.copy(SHIM, alone)
    second = make_shim(["true"], root=make_shim.root, launcher=str(alone))
    assert [path.name for path in (first.root / "z").iterdir()] == [f"{fnv1a(''):016x}"]
    zygote = parent_of(first.pid)
    assert parent_of(second.pid) == zygote and first.pid != second.pid
    assert Path(f"/proc/{zygote}/comm").read_text().strip() == "pyrunc-zygote"
    for shim in (first, second):
        assert Path(f"/proc/{shim.pid}/comm").read_text().strip() == "pyrunc-shim"
    assert parent_of(server_of(first)) == parent_of(server_of(second)) == zygote


def relay_server_path(shim: Shim) -> str:
    """The server socket a shim's relay connects to (`-server PATH`)."""
    argv = Path(f"/proc/{shim.pid}/cmdline").read_bytes().split(b"\0")
    return argv[argv.index(b"-server") + 1].decode()


def test_a_killed_zygote_leaves_its_shims_serving(make_shim: Any) -> None:
    """The zygote killed: its relay and server go on serving their
    container, and leave with it, removing their sockets but not what a
    new zygote (the next start's) made since.  The new zygote's server of
    the same shard (both containers' groups fall to one) listens at
    another path, so a new connection to the old relay (containerd's
    after a restart, say) still reaches the old server, which knows its
    task."""
    from pyrunc.shim.zygote import shard_of
    first_id = f"shim-{secrets.token_hex(4)}"
    second_id = next(name for name in (f"shim-{secrets.token_hex(4)}" for _ in range(100))
                     if shard_of(name) == shard_of(first_id))
    first = make_shim(["sh", "-c", "read line; echo got $line; exit 7"], first_id, root=make_shim.root)
    stdin = str(first.bundle / "stdin")
    os.mkfifo(stdin, 0o600)
    stdout, out_fd = first.fifo("stdout")
    create(first, stdin=stdin, stdout=stdout)
    first.call("Start", pb.StartRequest(id=first.id), pb.StartResponse)
    old_server = server_of(first)
    zygote = parent_of(first.pid)
    os.kill(zygote, signal.SIGKILL)
    poll(lambda: not process_alive(zygote), TIMEOUT, "the zygote to die")
    second = make_shim(["sleep", "100"], second_id, root=make_shim.root)
    assert parent_of(second.pid) not in (0, zygote)
    assert relay_server_path(second) != relay_server_path(first) and server_of(second) != old_server
    create(second)
    second.call("Start", pb.StartRequest(id=second.id), pb.StartResponse)
    with ttrpc.Client.at(first.address, timeout=TIMEOUT) as again:
        state = again.call(SERVICE, "State", pb.StateRequest(id=first.id), pb.StateResponse)
        assert (state.status, state.pid) == (2, first.call("State", pb.StateRequest(id=first.id),
                                                            pb.StateResponse).pid)
    # The first container, served as before; its server and relay leave after it.
    say_hello(stdin, out_fd)
    assert first.call("Wait", pb.WaitRequest(id=first.id), pb.WaitResponse).exit_status == 7
    first.call("Delete", pb.DeleteRequest(id=first.id), pb.DeleteResponse)
    first.call("Shutdown", pb.ShutdownRequest(id=first.id))
    poll(lambda: not process_alive(old_server), TIMEOUT, "the old server to leave")
    first.client.close()
    poll(lambda: not process_alive(first.pid), TIMEOUT, "the old relay to leave")
    os.close(out_fd)
    theirs = {Path(second.address[len("unix://"):]).name, Path(relay_server_path(second)).name}
    assert {path.name for path in (make_shim.root / "s").iterdir()} == theirs
    assert second.call("State", pb.StateRequest(id=second.id), pb.StateResponse).status == 2
    second.call("Kill", pb.KillRequest(id=second.id, signal=signal.SIGKILL))
    assert second.call("Wait", pb.WaitRequest(id=second.id), pb.WaitResponse).exit_status == 137
    second.call("Delete", pb.DeleteRequest(id=second.id), pb.DeleteResponse)


def test_a_relay_whose_zygote_and_server_were_killed_closes_at_once(make_shim: Any) -> None:
    """The zygote killed, then the server: nothing forks a server for
    the relay again, so it closes containerd's connection at once (its
    GIVE_UP is a minute) and leaves, as a dead Go shim's connection
    closes; containerd's delete command then kills the container."""
    shim = make_shim(["sleep", "100"])
    create(shim)
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    server, zygote = server_of(shim), parent_of(shim.pid)
    os.kill(zygote, signal.SIGKILL)
    poll(lambda: not process_alive(zygote), TIMEOUT, "the zygote to die")
    os.kill(server, signal.SIGKILL)
    poll(lambda: not process_alive(server), TIMEOUT, "the server to die")
    with pytest.raises((ttrpc.ProtocolError, OSError)):    # closed, before or after the request
        shim.call("State", pb.StateRequest(id=shim.id), pb.StateResponse)
    poll(lambda: not process_alive(shim.pid), 10, "the relay to leave")
    assert not Path(shim.address[len("unix://"):]).exists()
    response = pb.DeleteResponse.FromString(shim.command("delete").stdout)
    assert response.exit_status == 137
    assert not (shim.root / NAMESPACE / shim.id).exists()
    for socket in (shim.root / "z").glob("*"):
        socket.unlink()     # the killed zygote's: the next start would replace it


def test_a_pod_whose_zygote_was_killed_stays_with_its_relay(make_shim: Any) -> None:
    """A new zygote hands a later container of the pod the relay the
    killed one left, which still serves the pod (a relay and server of
    its own would serve the pod's tasks twice); both containers report
    their real statuses, and relay, server and socket leave after them."""
    pod = {"io.kubernetes.cri.sandbox-id": "pod-orphan"}
    first = make_shim(["sleep", "100"], root=make_shim.root, annotations=pod)
    create(first)
    first.call("Start", pb.StartRequest(id=first.id), pb.StartResponse)
    server, zygote = server_of(first), parent_of(first.pid)
    os.kill(zygote, signal.SIGKILL)
    poll(lambda: not process_alive(zygote), TIMEOUT, "the zygote to die")
    second = make_shim(["sh", "-c", "exit 3"], root=make_shim.root, annotations=pod)
    assert (second.address, second.pid) == (first.address, first.pid)
    assert server_of(second) == server
    create(second)
    second.call("Start", pb.StartRequest(id=second.id), pb.StartResponse)
    assert second.call("Wait", pb.WaitRequest(id=second.id), pb.WaitResponse).exit_status == 3
    second.call("Delete", pb.DeleteRequest(id=second.id), pb.DeleteResponse)
    first.call("Kill", pb.KillRequest(id=first.id, signal=signal.SIGKILL))
    assert first.call("Wait", pb.WaitRequest(id=first.id), pb.WaitResponse).exit_status == 137
    first.call("Delete", pb.DeleteRequest(id=first.id), pb.DeleteResponse)
    first.call("Shutdown", pb.ShutdownRequest(id=first.id))
    poll(lambda: not process_alive(server), TIMEOUT, "the server to leave")
    for shim in (first, second):
        shim.client.close()
    poll(lambda: not process_alive(first.pid), TIMEOUT, "the relay to leave")
    assert not list((make_shim.root / "s").iterdir())


def test_a_pod_shim_without_its_zygote_stays_for_a_container_handed_out(make_shim: Any) -> None:
    """The zygote killed, a new one hands the pod's relay out for the next
    container just as containerd deletes the pod's last one and says
    Shutdown: the server, with no zygote to ask, stays for the Create on
    its way (the new zygote marked the handout), and relay, server, socket
    and mark leave after that container."""
    pod = {"io.kubernetes.cri.sandbox-id": "pod-orphan-handout"}
    first = make_shim(["true"], root=make_shim.root, annotations=pod)
    create(first)
    first.call("Start", pb.StartRequest(id=first.id), pb.StartResponse)
    first.call("Wait", pb.WaitRequest(id=first.id), pb.WaitResponse)
    server, zygote = server_of(first), parent_of(first.pid)
    os.kill(zygote, signal.SIGKILL)
    poll(lambda: not process_alive(zygote), TIMEOUT, "the zygote to die")
    first.call("Delete", pb.DeleteRequest(id=first.id), pb.DeleteResponse)
    second = make_shim(["sh", "-c", "exit 3"], root=make_shim.root, annotations=pod)   # its start
    assert (second.address, second.pid) == (first.address, first.pid)
    first.call("Shutdown", pb.ShutdownRequest(id=first.id))
    time.sleep(2 * RETRY)   # the server asks itself again each RETRY: it stays all along
    assert process_alive(server)
    create(second)
    second.call("Start", pb.StartRequest(id=second.id), pb.StartResponse)
    assert second.call("Wait", pb.WaitRequest(id=second.id), pb.WaitResponse).exit_status == 3
    second.call("Delete", pb.DeleteRequest(id=second.id), pb.DeleteResponse)
    second.call("Shutdown", pb.ShutdownRequest(id=second.id))
    poll(lambda: not process_alive(server), TIMEOUT, "the server to leave")
    assert not list((make_shim.root / "s").iterdir())   # its socket, the relay's and the mark
    for shim in (first, second):
        shim.client.close()
    poll(lambda: not process_alive(first.pid), TIMEOUT, "the relay to leave")


def test_the_zygote_answers_a_delete_with_nothing_left_to_delete(make_shim: Any, tmp_path: Path) -> None:
    """containerd runs `delete` after every shim's end; when the shim has
    deleted the container already, the zygote answers it (the launcher
    here has no python3 to fall back on)."""
    alone = tmp_path / "containerd-shim-pyrunc-v2"
    shutil.copy(SHIM, alone)
    shim = make_shim(["sh", "-c", "exit 7"])
    create(shim)
    shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
    shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse)
    shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse)
    shim.launcher = str(alone)
    response = pb.DeleteResponse.FromString(shim.command("delete").stdout)
    assert response.exit_status == 137      # nothing recorded any more: containerd ignores it
    shim.launcher = SHIM


def test_a_container_on_cgroup_v2_and_its_v2_metrics(make_shim: Any, tmp_path: Path) -> None:
    """The shim on a cgroup v2 host (harness.cgroup2_view: its start, so its
    zygote and servers, in the v2 view): the container in a v2 cgroup, Stats
    as containerd's v2 metrics (CPU time from cpu.stat, which needs no
    controller), the OOM watch of a cgroup without memory.events no error,
    and the cgroup gone with the task."""
    from pyrunc.shim.proto.cgroups import metrics_v2_pb2
    with cgroup2_view() as (wrapper, host_root):
        launcher = tmp_path / "shim-in-v2"
        launcher.write_text("#!/bin/sh\nexec " + " ".join([*wrapper, SHIM]) + ' "$@"\n')
        launcher.chmod(0o755)
        shim = make_shim(["sh", "-c", "while :; do :; done"], launcher=str(launcher))
        pid = create(shim)
        shim.call("Start", pb.StartRequest(id=shim.id), pb.StartResponse)
        line = next(entry for entry in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if entry.startswith("0::"))
        directory = host_root / line[3:].lstrip("/")
        assert directory != host_root and cgroup_procs(directory) == [pid]
        poll(lambda: cgroup_keyed(directory, "cpu.stat")["usage_usec"] > 20000, 10, "some CPU time")
        stats = shim.call("Stats", pb.StatsRequest(id=shim.id), pb.StatsResponse).stats
        assert stats.type_url.endswith("io.containerd.cgroups.v2.Metrics"), stats.type_url
        metrics = metrics_v2_pb2.Metrics.FromString(stats.value)
        assert metrics.cpu.usage_usec >= 20000, metrics
        shim.call("Kill", pb.KillRequest(id=shim.id, signal=signal.SIGKILL))
        assert shim.call("Wait", pb.WaitRequest(id=shim.id), pb.WaitResponse).exit_status == 137
        shim.call("Delete", pb.DeleteRequest(id=shim.id), pb.DeleteResponse)
        assert not directory.exists()
        shim.close()    # its delete command in the v2 view, while that lives
