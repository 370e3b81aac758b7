"""The systemd cgroup driver's front door.

pyrunc has no D-Bus client: with `--systemd-cgroup` it checks that systemd
runs, turns "slice:prefix:name" into the path systemd would use and manages
that path through cgroupfs (the caller is told in `manager.warnings`).
Without systemd it refuses clearly, as runc does.
"""
from __future__ import annotations

import errno
import os

from ..errors import PyruncError

DEFAULT_SLICE = "system.slice"
DEFAULT_PREFIX = "pyrunc"
SYSTEMD_BOOTED = "/run/systemd/system"  # what sd_booted() checks
SYSTEM_BUS = "/run/dbus/system_bus_socket"
CGROUPS_PATH = "linux.cgroupsPath"


def check_systemd(booted: str = SYSTEMD_BOOTED, bus: str = SYSTEM_BUS) -> None:
    if not os.path.isdir(booted):
        raise PyruncError("systemd cgroup driver: systemd is not running", errno.ENOTSUP)
    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "")
    if not os.path.exists(bus) and not address:
        raise PyruncError("systemd cgroup driver: no D-Bus system bus to reach systemd", errno.ENOTSUP)


def parse_systemd_path(cgroups_path: str | None, container_id: str) -> tuple[str, str]:
    """"slice:prefix:name" -> (slice, unit); empty parts take runc's defaults."""
    if not cgroups_path:
        return DEFAULT_SLICE, f"{DEFAULT_PREFIX}-{container_id}.scope"
    parts = cgroups_path.split(":")
    if len(parts) != 3:
        raise PyruncError(f"{cgroups_path!r} is not of the form \"slice:prefix:name\" "
                          "that the systemd cgroup driver expects", errno.EINVAL, CGROUPS_PATH)
    slice_name, prefix, name = parts
    name = name or container_id
    if name.endswith(".slice"):
        return slice_name or DEFAULT_SLICE, name  # the container gets a slice of its own
    return slice_name or DEFAULT_SLICE, f"{prefix}-{name}.scope" if prefix else f"{name}.scope"


def expand_slice(slice_name: str) -> str:
    """"a-b.slice" -> "/a.slice/a-b.slice": each dash is a nesting level."""
    stem = slice_name[:-len(".slice")] if slice_name.endswith(".slice") else ""
    if slice_name == "-.slice":
        return "/"
    if (not stem or "/" in stem or "--" in stem or stem.startswith("-") or stem.endswith("-")):
        raise PyruncError(f"{slice_name!r} is not a valid systemd slice name", errno.EINVAL, CGROUPS_PATH)
    path, prefix = "", ""
    for component in stem.split("-"):
        prefix = f"{prefix}-{component}" if prefix else component
        path += f"/{prefix}.slice"
    return path


def systemd_cgroup_path(cgroups_path: str | None, container_id: str) -> str:
    """The cgroup systemd would place the container in; raises when systemd
    cannot be used. The path is checked first, so bad input is named even
    on hosts without systemd."""
    slice_name, unit = parse_systemd_path(cgroups_path, container_id)
    parent = expand_slice(slice_name)
    check_systemd()
    return f"{parent.rstrip('/')}/{unit}"
