"""Address management: one record per container under <root>/net/, all
read and written under one flock, so parallel starts never hand out one
address twice.  A record is written before anything it describes is made,
so whoever removes it (poststop, delete, or a later start reclaiming the
lease of a dead container) knows everything there is to tear down."""
from __future__ import annotations

import fcntl
import ipaddress
import json
import os

from ..errors import PyruncError, from_os_error
from ..state import process_start_time
from . import STORE_DIR, record_path

Record = dict  # a container's JSON record: its fields are listed in network.py
_SUFFIX = ".json"


class Store:
    """The records of one state root; use as a context manager to hold its lock."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.dir = os.path.join(root, STORE_DIR)
        self._lock = -1

    def __enter__(self) -> Store:
        try:
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            self._lock = os.open(os.path.join(self.dir, ".lock"),
                                 os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise from_os_error(f"open the network store {self.dir}", exc) from None
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._lock)
        self._lock = -1

    def get(self, container_id: str) -> Record | None:
        try:
            with open(record_path(self.root, container_id), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise PyruncError(f"network record of {container_id}: {exc}") from None

    def all(self) -> list[Record]:
        records = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(_SUFFIX):
                record = self.get(name[:-len(_SUFFIX)])
                if record is not None:
                    records.append(record)
        return records

    def save(self, record: Record) -> None:
        path = record_path(self.root, record["id"])
        temp = path + ".tmp"
        try:
            with open(temp, "w", encoding="utf-8") as f:
                json.dump(record, f)
                f.flush()
                os.fsync(f.fileno())
            os.rename(temp, path)
        except OSError as exc:
            raise from_os_error(f"write {path}", exc) from None

    def remove(self, container_id: str) -> None:
        try:
            os.unlink(record_path(self.root, container_id))
        except FileNotFoundError:
            pass


def alive(record: Record) -> bool:
    """Whether the container the record was made for still runs: its init
    pid with the start time seen when the record was written."""
    pid, start = record.get("pid", 0), record.get("start")
    return bool(pid) and start is not None and process_start_time(pid) == start


def allocate(records: list[Record], subnet: ipaddress.IPv4Network, gateway: ipaddress.IPv4Address,
             wanted: ipaddress.IPv4Address | None = None) -> ipaddress.IPv4Address:
    """The wanted address if it is free, else the lowest free host address
    of the subnet (the gateway is never free)."""
    taken = {ipaddress.IPv4Address(r["address"]) for r in records if r.get("address")}
    taken.add(gateway)
    if wanted is not None:
        if wanted not in subnet or wanted in (subnet.network_address, subnet.broadcast_address):
            raise PyruncError(f"address {wanted} is not a host address of {subnet}")
        if wanted in taken:
            raise PyruncError(f"address {wanted} is already in use on {subnet}")
        return wanted
    for address in subnet.hosts():
        if address not in taken:
            return address
    raise PyruncError(f"no free address left in {subnet}")
