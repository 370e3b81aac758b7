"""Address leases (runtime/net/ipam.py): allocation, the record store and
its lock under real parallel processes."""
from __future__ import annotations

import ipaddress
import multiprocessing
import os
from pathlib import Path

import pytest

from pyrunc.runtime.errors import PyruncError
from pyrunc.runtime.net import ipam
from pyrunc.runtime.state import process_start_time

SUBNET = ipaddress.IPv4Network("10.77.0.0/29")
GATEWAY = ipaddress.IPv4Address("10.77.0.1")


def lease(address: str) -> dict:
    return {"id": address, "address": address}


def test_the_lowest_free_address_past_the_gateway() -> None:
    assert str(ipam.allocate([], SUBNET, GATEWAY)) == "10.77.0.2"
    assert str(ipam.allocate([lease("10.77.0.2"), lease("10.77.0.4")], SUBNET, GATEWAY)) == "10.77.0.3"


def test_a_wanted_address() -> None:
    wanted = ipaddress.IPv4Address("10.77.0.5")
    assert ipam.allocate([lease("10.77.0.2")], SUBNET, GATEWAY, wanted) == wanted
    with pytest.raises(PyruncError, match="10.77.0.5 is already in use"):
        ipam.allocate([lease("10.77.0.5")], SUBNET, GATEWAY, wanted)
    for bad in ("10.77.0.1", "10.77.0.0", "10.77.0.7", "10.78.0.2"):
        with pytest.raises(PyruncError):
            ipam.allocate([], SUBNET, GATEWAY, ipaddress.IPv4Address(bad))


def test_an_exhausted_subnet() -> None:
    full = [lease(f"10.77.0.{i}") for i in range(2, 7)]
    with pytest.raises(PyruncError, match="no free address left in 10.77.0.0/29"):
        ipam.allocate(full, SUBNET, GATEWAY)


def test_store_records(tmp_path: Path) -> None:
    with ipam.Store(str(tmp_path)) as store:
        assert store.all() == [] and store.get("a") is None
        store.save({"id": "a", "address": "10.77.0.2"})
        store.save({"id": "b", "address": "10.77.0.3"})
        assert [r["id"] for r in store.all()] == ["a", "b"]
        store.remove("a")
        store.remove("a")
        assert [r["id"] for r in store.all()] == ["b"]
    assert oct((tmp_path / "net").stat().st_mode & 0o777) == "0o700"


def test_alive_is_the_pid_with_its_start_time() -> None:
    pid = os.getpid()
    assert ipam.alive({"pid": pid, "start": process_start_time(pid)})
    assert not ipam.alive({"pid": pid, "start": process_start_time(pid) - 1})    # pid reused
    assert not ipam.alive({"pid": 0, "start": 0})
    assert not ipam.alive({"pid": pid})


def _take(root: str, name: str) -> None:
    with ipam.Store(root) as store:
        address = ipam.allocate(store.all(), ipaddress.IPv4Network("10.77.0.0/16"),
                                ipaddress.IPv4Address("10.77.0.1"))
        store.save({"id": name, "address": str(address)})


def test_parallel_processes_never_share_an_address(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_take, args=(str(tmp_path), f"c{i}")) for i in range(30)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    with ipam.Store(str(tmp_path)) as store:
        addresses = [r["address"] for r in store.all()]
    assert len(addresses) == 30 and len(set(addresses)) == 30
