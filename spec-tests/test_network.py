"""Bridge networking (`pyrunc spec --network`, the pyrunc-net hook):
containers on the bridge reach each other and the host, published ports
answer on the host's addresses and 127.0.0.1, parallel starts get
distinct addresses, the CNI path does the same with Debian's bridge and
host-local plugins, and nothing of ours (veth, bridge, nftables table,
record, CNI lease) outlives the containers, even after a runtime was
killed during create."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest
from pyroute2 import IPRoute

from harness import Bundle, MakeBundle, Runtime, assert_error, poll

BRIDGE, GATEWAY = "pyrunc0", "10.77.0.1"
CNI_BRIDGE, CNI_SUBNET, CNI_GATEWAY = "pyrunc-cni0", "10.78.0.0/24", "10.78.0.1"
CNI_PLUGINS = "/usr/lib/cni"
BODY = "hello from httpd"
PARALLEL = 50


# ---- what the host has of ours --------------------------------------------------

def our_links() -> list[str]:
    """Our veths ("pr" + 12 hex digits) and bridges."""
    with IPRoute() as ipr:
        names = [link.get("ifname") for link in ipr.get_links()]
    return sorted(n for n in names if n in (BRIDGE, CNI_BRIDGE) or
                  (len(n) == 14 and n.startswith("pr") and all(c in "0123456789abcdef" for c in n[2:])))


def nft_table_exists() -> bool:
    return subprocess.run(["nft", "list", "table", "ip", "pyrunc"], capture_output=True).returncode == 0


def remove_link(name: str) -> None:
    with IPRoute() as ipr:
        if ipr.link_lookup(ifname=name):
            ipr.link("del", ifname=name)


@pytest.fixture(autouse=True)
def nothing_of_ours_left() -> Iterator[None]:
    """Set up before (so checked after) the runtime fixture's cleanup."""
    before = our_links()
    assert not before and not nft_table_exists(), \
        f"left by something else before this test: {before}, table ip pyrunc: {nft_table_exists()}"
    yield
    # The CNI bridge plugin never removes its bridge; this suite made it.
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=CNI_BRIDGE)
        if index and not ipr.get_links(master=index[0]):
            remove_link(CNI_BRIDGE)
    left = our_links()
    table = nft_table_exists()
    for name in left:
        remove_link(name)
    if table:
        subprocess.run(["nft", "delete", "table", "ip", "pyrunc"], check=False)
    assert not left and not table, f"left behind: links {left}, nftables table ip pyrunc: {table}"


# ---- bundles and helpers ----------------------------------------------------------

def network_bundle(runtime: Runtime, make_bundle: MakeBundle, name: str, args: list[str],
                   *spec_flags: str) -> Bundle:
    """A bundle whose hooks are those `pyrunc spec SPEC_FLAGS` writes."""
    bundle = make_bundle(name)
    spec_dir = bundle.path / "spec"
    spec_dir.mkdir()
    runtime("spec", "--bundle", str(spec_dir), *spec_flags).ok()
    hooks = json.loads((spec_dir / "config.json").read_text())["hooks"]
    return bundle.set("hooks", hooks).set("process.args", args).with_tmp()


def httpd_args(body: str = BODY) -> list[str]:
    return ["sh", "-c", f"echo '{body}' > /tmp/index.html && exec httpd -f -p 80 -h /tmp"]


def record(runtime: Runtime, cid: str) -> dict[str, Any]:
    return json.loads((runtime.root / "net" / f"{cid}.json").read_text())


def records(runtime: Runtime) -> list[str]:
    try:
        return sorted(p.name for p in (runtime.root / "net").iterdir() if p.suffix == ".json")
    except FileNotFoundError:
        return []


def host_address() -> str:
    """An IPv4 address of the host that is not loopback nor on a bridge of ours."""
    with IPRoute() as ipr:
        for addr in ipr.get_addr(family=socket.AF_INET):
            text, label = addr.get("IFA_ADDRESS"), addr.get("IFA_LABEL") or ""
            if not text.startswith("127.") and not label.startswith(("pyrunc", "pr")):
                return text
    raise AssertionError("the host has no IPv4 address but loopback")


def http_get(address: str, port: int) -> str:
    with socket.create_connection((address, port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data.decode(errors="replace")


def answers(address: str, port: int) -> str | None:
    try:
        return http_get(address, port)
    except OSError:
        return None


class HostServer:
    """A TCP server on the host that answers each connection with a line."""

    def __init__(self, address: str, reply: bytes) -> None:
        self.sock = socket.create_server((address, 0))
        self.port, self.reply = self.sock.getsockname()[1], reply
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                conn.sendall(self.reply)

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


def client_args(target: str, port: int, request: str) -> list[str]:
    # busybox nc, not wget (the static busybox's wget can crash here).
    return ["sh", "-c", f"printf '{request}' | nc -w 5 {target} {port}"]


def check_network(runtime: Runtime, make_bundle: MakeBundle, gateway: str, port: int,
                  *network: str) -> None:
    """The checks every network path passes: a published port from the host
    on 127.0.0.1 and on the host's address, one container to another, a
    container to a host server on the gateway, events --stats counters."""
    web = runtime.create(network_bundle(runtime, make_bundle, "web", httpd_args(), *network,
                                        "--publish", f"{port}:80"))
    web.start().ok()
    web_address = record(runtime, web.cid)["address"]
    for address in ("127.0.0.1", host_address()):
        reply = poll(lambda: answers(address, port), 15, f"httpd published on {address}:{port}")
        assert BODY in reply, reply

    server = HostServer(gateway, b"pong from the host\n")
    try:
        client = network_bundle(runtime, make_bundle, "client", client_args(web_address, 80,
                                "GET / HTTP/1.0\\r\\n\\r\\n"), *network)
        result = runtime.run(client).ok()
        assert BODY in result.stdout, result
        client.set("process.args", client_args(gateway, server.port, "ping\\n"))
        result = runtime.run(client).ok()
        assert "pong from the host" in result.stdout, result
    finally:
        server.close()

    stats = runtime("events", "--stats", web.cid).ok().json()
    interfaces = {i["name"]: i for i in stats["data"]["network_interfaces"]}
    assert interfaces["eth0"]["rx_bytes"] > 0 and interfaces["eth0"]["tx_packets"] > 0, interfaces
    web.kill("KILL").ok()
    web.wait_status("stopped")
    web.delete().ok()
    assert records(runtime) == [], records(runtime)


# ---- the bridge ----------------------------------------------------------------------

def test_bridge_containers_host_and_published_ports(runtime: Runtime, make_bundle: MakeBundle) -> None:
    check_network(runtime, make_bundle, GATEWAY, 18080, "--network", "bridge")
    assert not our_links(), "the bridge outlived its last container"


def test_a_published_udp_port_is_mapped(runtime: Runtime, make_bundle: MakeBundle) -> None:
    """The rootfs has no UDP server (busybox nc is TCP only): the rule is
    read back from nftables instead."""
    bundle = network_bundle(runtime, make_bundle, "udp", ["sleep", "60"], "--network", "bridge",
                            "--publish", "18085:53/udp", "--publish", "18085:80")
    container = runtime.create(bundle)
    address = record(runtime, container.cid)["address"]
    listing = subprocess.run(["nft", "-j", "list", "map", "ip", "pyrunc", "publish"],
                             capture_output=True, check=True)
    elements = next(item["map"] for item in json.loads(listing.stdout)["nftables"] if "map" in item)["elem"]
    mapped = sorted((key["concat"][0], key["concat"][1], value["concat"][0], value["concat"][1])
                    for key, value in elements)
    assert mapped == [("tcp", 18085, address, 80), ("udp", 18085, address, 53)], mapped
    container.delete("--force").ok()


def test_parallel_starts_get_distinct_addresses(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = network_bundle(runtime, make_bundle, "many", ["sleep", "60"], "--network", "bridge").write()
    calls = [runtime.spawn("create", "--bundle", str(bundle.path), runtime.new_id())
             for _ in range(PARALLEL)]
    for proc, call in calls:
        assert call.result(proc.wait(120)).returncode == 0, call.result(proc.returncode)
    ids = runtime.ids[-PARALLEL:]
    seen = {}
    for cid in ids:     # from the kernel: eth0's address in each container
        pid = runtime.state(cid)["pid"]
        with IPRoute(netns=f"/proc/{pid}/ns/net", flags=0) as ns:
            index = ns.link_lookup(ifname="eth0")[0]
            seen[cid] = ns.get_addr(index=index, family=socket.AF_INET)[0].get("IFA_ADDRESS")
        assert seen[cid] == record(runtime, cid)["address"]
    assert len(set(seen.values())) == PARALLEL, seen
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda cid: runtime("delete", "--force", cid, timeout=120), ids))
    assert all(r.returncode == 0 for r in results), [r for r in results if r.returncode]
    assert records(runtime) == []


def test_leases_of_dead_containers_are_reclaimed(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = network_bundle(runtime, make_bundle, "b", ["sleep", "60"], "--network", "bridge",
                            "--ip", "10.77.0.50", "--publish", "18081:80")
    first = runtime.create(bundle)
    init = first.pid
    assert record(runtime, first.cid)["address"] == "10.77.0.50"
    # The init dies and its poststop never runs (nobody deletes it): the
    # next start on the same address reclaims the lease and the port.
    os.kill(init, signal.SIGKILL)
    first.wait_status("stopped")
    second = runtime.create(bundle)
    assert record(runtime, second.cid)["address"] == "10.77.0.50"
    assert records(runtime) == [f"{second.cid}.json"]
    first.delete().ok()         # its record is gone: nothing of the second one goes
    assert record(runtime, second.cid)["address"] == "10.77.0.50"
    second.delete("--force").ok()
    assert records(runtime) == []


def test_a_published_port_is_taken_once(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = network_bundle(runtime, make_bundle, "b", ["sleep", "60"], "--network", "bridge",
                            "--publish", "18082:80")
    first = runtime.create(bundle)
    links_before = our_links()
    result = runtime.try_create(bundle)
    assert_error(result, "createRuntime hook", "host port 18082/tcp is already published")
    assert our_links() == links_before and records(runtime) == [f"{first.cid}.json"]
    first.delete("--force").ok()


def test_delete_after_the_runtime_was_killed_during_create(runtime: Runtime, make_bundle: MakeBundle,
                                                          tmp_path: Path) -> None:
    """A runtime killed after pyrunc-net's createRuntime hook ran (a second
    hook holds it there): delete --force still removes rules and record."""
    marker = tmp_path / "hook.pid"
    bundle = network_bundle(runtime, make_bundle, "b", ["sleep", "60"], "--network", "bridge",
                            "--publish", "18083:80")
    bundle.append("hooks.createRuntime", {"path": "/bin/sh", "args": [
        "sh", "-c", f"echo $$ > {marker}.tmp && mv {marker}.tmp {marker} && exec sleep 60"]})
    cid = runtime.new_id()
    proc, _ = runtime.spawn("create", "--bundle", str(bundle.write().path), cid)
    hook_pid = None
    try:
        poll(marker.exists, 30, "the second createRuntime hook")
        hook_pid = int(marker.read_text())
        assert record(runtime, cid)["ports"] and nft_table_exists()
    finally:
        proc.kill()
        proc.wait()
        if hook_pid:
            os.kill(hook_pid, signal.SIGKILL)
    result = runtime("delete", "--force", cid)
    assert result.returncode == 0, result
    assert records(runtime) == [] and not our_links() and not nft_table_exists()


# ---- CNI -------------------------------------------------------------------------------

@pytest.fixture
def conflist(tmp_path: Path) -> Iterator[Path]:
    leases = tmp_path / "cni-leases"
    conf = {"cniVersion": "1.0.0", "name": "pyrunc-test", "plugins": [
        {"type": "bridge", "bridge": CNI_BRIDGE, "isGateway": True, "ipMasq": False,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": CNI_SUBNET, "gateway": CNI_GATEWAY}]],
                  "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(leases)}}]}
    path = tmp_path / "test.conflist"
    path.write_text(json.dumps(conf))
    yield path
    left = [p.name for p in leases.glob("pyrunc-test/*") if p.name[0].isdigit()]
    assert not left, f"CNI leases left: {left}"


def test_cni_containers_host_and_published_ports(runtime: Runtime, make_bundle: MakeBundle,
                                                 conflist: Path) -> None:
    assert os.access(f"{CNI_PLUGINS}/bridge", os.X_OK), "containernetworking-plugins is not installed"
    check_network(runtime, make_bundle, CNI_GATEWAY, 18084, "--network", f"cni:{conflist}")


def test_cni_check(runtime: Runtime, make_bundle: MakeBundle, conflist: Path) -> None:
    bundle = network_bundle(runtime, make_bundle, "b", ["sleep", "60"], "--network", f"cni:{conflist}")
    container = runtime.create(bundle)
    hook = bundle.get("hooks.createRuntime.0")
    state = json.dumps({"id": container.cid, "pid": container.pid})
    check = subprocess.run([hook["path"], *hook["args"][1:-1], "check"], input=state.encode(),
                           capture_output=True)
    assert check.returncode == 0, check
    container.delete("--force").ok()
    check = subprocess.run([hook["path"], *hook["args"][1:-1], "check"], input=state.encode(),
                           capture_output=True)
    assert check.returncode == 1 and b"has no network record" in check.stderr, check


# ---- bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("flags, fragment", [
    (["--network", "host"], "invalid --network 'host'"),
    (["--network", "bridge", "--publish", "80"], "expected HOSTPORT:CONTAINERPORT"),
    (["--network", "bridge", "--publish", "80:70000"], "is not a port"),
    (["--network", "bridge", "--publish", "80:80/sctp"], "must be tcp or udp"),
    (["--network", "bridge", "-p", "80:80", "-p", "80:81"], "published twice"),
    (["--network", "bridge", "--ip", "10.99.0.2"], "not in the subnet"),
    (["--publish", "80:80"], "need --network"),
    (["--rootless", "--network", "bridge"], "--network needs root"),
])
def test_spec_refuses_bad_network_flags(runtime: Runtime, tmp_path: Path, flags: list[str],
                                        fragment: str) -> None:
    result = runtime("spec", "--bundle", str(tmp_path), *flags)
    assert_error(result, fragment)
    assert not (tmp_path / "config.json").exists()


def test_hook_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "pyrunc-net"
    for args, stdin, fragment in (
            (["up"], b"not json", "stdin must be the container's OCI state"),
            (["--subnet", "10.77.0.0/31", "up"], b'{"id": "x", "pid": 1}', "too small"),
            (["sideways"], b"{}", "invalid choice"),
            (["--root", str(tmp_path), "up"], b'{"id": "x", "pid": 0}', "the state has no pid")):
        proc = subprocess.run([str(script), *args], input=stdin, capture_output=True)
        lines = proc.stderr.decode().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and fragment in lines[0], proc
        assert lines[0].startswith("pyrunc-net: ")
    assert not (tmp_path / "net").exists() or not list((tmp_path / "net").glob("*.json"))
