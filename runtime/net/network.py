"""Setting a container's network up and tearing it down: the IPAM
record first, then links (or the CNI plugins), then published ports.

A record (<root>/net/<id>.json) holds:
  id, pid, start        the container's init and its start time (liveness)
  mode                  "bridge" or "cni"
  bridge                the bridge its veth hangs on
  address, prefix, gateway, veth, mtu     (bridge mode)
  cni                   {"conf", "path", "result"}  (CNI mode)
  ports                 [{"protocol", "host", "container"}]
Everything is done under the store's lock, so a teardown never meets a
setup half done, and a bridge is never removed under a starting container.
"""
from __future__ import annotations

import os
import sys

from ..digest import sha256_hex
from ..errors import PyruncError
from ..state import process_start_time
from . import cni, firewall, ipam, links
from .options import Options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable


def veth_name(root: str, container_id: str) -> str:
    """The host end's name: unique per state root and id, within IFNAMSIZ."""
    digest = sha256_hex(f"{root}\0{container_id}".encode())
    return "pr" + digest[:12]


def _own_netns(pid: int) -> None:
    try:
        theirs = os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError as exc:
        raise PyruncError(f"the container's init {pid} is gone: {exc.strerror}") from None
    if theirs == os.stat("/proc/self/ns/net").st_ino:
        raise PyruncError("the container shares the host's network namespace: add a \"network\" "
                          "namespace to linux.namespaces")


def up(opts: Options, container_id: str, pid: int) -> dict[str, Any]:
    start = process_start_time(pid)
    if start is None:
        raise PyruncError(f"the container's init {pid} is not running")
    _own_netns(pid)
    with ipam.Store(opts.root) as store:
        _reclaim(store, container_id, pid)
        record: dict[str, Any] = {"id": container_id, "pid": pid, "start": start, "ports": opts.ports}
        try:
            if opts.cni:
                _cni_up(store, record, opts)
            else:
                _bridge_up(store, record, opts)
            if record["mode"] == "cni" and record.get("bridge") and opts.ports:
                # Published ports reached on 127.0.0.1 (see firewall.py);
                # our own bridge has that from links.ensure_bridge.
                links.allow_localnet(record["bridge"])
                firewall.add_bridge(record["bridge"])
            firewall.publish(opts.ports, record["address"])
        except BaseException:
            _teardown(store, record, _warn)
            raise
    return record


def _bridge_up(store: ipam.Store, record: dict[str, Any], opts: Options) -> None:
    gateway = next(opts.subnet.hosts())
    on_bridge = [r for r in store.all() if r.get("bridge") == opts.bridge]
    address = ipam.allocate(on_bridge, opts.subnet, gateway, opts.ip)
    record.update(mode="bridge", bridge=opts.bridge, address=str(address), prefix=opts.subnet.prefixlen,
                  gateway=str(gateway), veth=veth_name(opts.root, record["id"]), mtu=opts.mtu)
    store.save(record)      # before anything it names exists
    links.ensure_bridge(opts.bridge, str(gateway), opts.subnet.prefixlen, opts.mtu)
    firewall.add_bridge(opts.bridge)
    links.attach(opts.bridge, record["veth"], record["pid"], str(address), opts.subnet.prefixlen,
                 str(gateway), opts.mtu)


def _cni_up(store: ipam.Store, record: dict[str, Any], opts: Options) -> None:
    conf = cni.load(opts.cni or "")
    path = opts.cni_path or os.environ.get("CNI_PATH") or cni.DEFAULT_PATH
    record.update(mode="cni", bridge=cni.bridge_name(conf), cni={"conf": conf, "path": path, "result": None})
    store.save(record)      # before the plugins make anything
    result = cni.add(conf, record["id"], f"/proc/{record['pid']}/ns/net", path)
    record["cni"]["result"] = result
    record["address"], record["prefix"] = cni.address(result)
    store.save(record)


def _reclaim(store: ipam.Store, container_id: str, pid: int) -> None:
    """Tear down the records of containers that are gone (their leases go
    back to the pool), and an old record of this id."""
    for record in store.all():
        if record["id"] == container_id and record.get("pid") == pid and ipam.alive(record):
            raise PyruncError(f"container {container_id} already has a network")
        if record["id"] == container_id or not ipam.alive(record):
            _teardown(store, record, _warn)


def _warn(error: PyruncError) -> None:
    print(f"pyrunc-net: warning: {error}", file=sys.stderr)


def _teardown(store: ipam.Store, record: dict[str, Any], failed: Callable[[PyruncError], None]) -> bool:
    """Remove everything the record names; the record goes only when all
    of it did (a later start or delete tries again).  Each failure is
    passed to `failed`; returns whether everything went."""
    errors: list[PyruncError] = []

    def attempt(step: Callable[..., None], *args: Any) -> None:
        try:
            step(*args)
        except PyruncError as exc:
            errors.append(exc)
            failed(exc)

    if record.get("address") and record.get("ports"):
        attempt(firewall.unpublish, record["ports"], record["address"])
    if record.get("mode") == "cni":
        settings = record["cni"]
        netns = f"/proc/{record['pid']}/ns/net" if ipam.alive(record) else ""
        attempt(cni.delete, settings["conf"], record["id"], netns, settings["path"], settings["result"])
    elif record.get("veth") and links.exists(record["veth"]):     # else gone with the namespace
        attempt(links.remove, record["veth"])
    if errors:
        return False
    store.remove(record["id"])
    bridge = record.get("bridge")
    if bridge and not any(r.get("bridge") == bridge for r in store.all()) and not links.has_ports(bridge):
        attempt(firewall.forget_bridge, bridge)
        if record.get("mode") == "bridge":
            attempt(links.remove, bridge)
    attempt(firewall.remove_table_if_unused)
    return not errors


def down(root: str, container_id: str) -> None:
    with ipam.Store(root) as store:
        record = store.get(container_id)
        if record is None:
            return
        errors: list[PyruncError] = []
        if not _teardown(store, record, errors.append):
            raise PyruncError(f"network of {container_id}: " + "; ".join(str(e) for e in errors))


def check(root: str, container_id: str) -> None:
    """That the network the record describes is in place (CNI: the plugins' CHECK)."""
    with ipam.Store(root) as store:
        record = store.get(container_id)
    if record is None:
        raise PyruncError(f"container {container_id} has no network record")
    if not ipam.alive(record):
        raise PyruncError(f"container {container_id} is not running")
    if record["mode"] == "cni":
        settings = record["cni"]
        cni.check(settings["conf"], container_id, f"/proc/{record['pid']}/ns/net", settings["path"],
                  settings["result"])
        return
    if not links.exists(record["veth"]):
        raise PyruncError(f"veth {record['veth']} of {container_id} is missing")
    found = links.container_address(record["pid"])
    if found != record["address"]:
        raise PyruncError(f"{container_id}'s eth0 has address {found}, not {record['address']}")
