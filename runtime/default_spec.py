"""The starter config.json that `pyrunc spec` writes.

It mirrors what current runc (1.2 and later) writes for `runc spec` and
`runc spec --rootless`, so that bundles and habits carry over unchanged;
only the hostname says "pyrunc". Differences from older runc releases are
deliberate and follow upstream: no ambient capabilities (they cannot be
raised without inheritable ones), /sys/devices/virtual/tpm masked, and a
cgroup namespace on cgroup v2 hosts.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:   # typing loads re and collections: a megabyte of `spec`'s peak RSS
    from typing import Any

OCI_VERSION = "1.2.0"
HOSTNAME = "pyrunc"

_CAPABILITIES = ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
_MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
    "/sys/devices/virtual/tpm",
)
_READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
_NAMESPACES = ("pid", "network", "ipc", "uts", "mount")


def default_config(rootless: bool = False) -> dict[str, Any]:
    """A fresh starter config; `rootless` adapts it for an unprivileged user."""
    config = _base_config()
    if rootless:
        _make_rootless(config)
    return config


def cgroup2_unified() -> bool:
    """True on a pure cgroup v2 host (the unified hierarchy at /sys/fs/cgroup)."""
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def _mount(destination: str, kind: str, source: str, options: list[str] | None = None) -> dict[str, Any]:
    # Key order follows runc's output so the written file reads the same.
    mount: dict[str, Any] = {"destination": destination, "type": kind, "source": source}
    if options:
        mount["options"] = options
    return mount


def _mounts() -> list[dict[str, Any]]:
    return [
        _mount("/proc", "proc", "proc"),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        _mount(
            "/dev/pts",
            "devpts",
            "devpts",
            ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        _mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        _mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]),
    ]


def _process() -> dict[str, Any]:
    return {
        "terminal": True,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
        ],
        "cwd": "/",
        "capabilities": {name: list(_CAPABILITIES) for name in ("bounding", "effective", "permitted")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    }


def _base_config() -> dict[str, Any]:
    namespaces = [{"type": kind} for kind in _NAMESPACES]
    if cgroup2_unified():  # runc adds it only on cgroup v2 hosts, and so do we
        namespaces.append({"type": "cgroup"})
    return {
        "ociVersion": OCI_VERSION,
        "process": _process(),
        "root": {"path": "rootfs", "readonly": True},
        "hostname": HOSTNAME,
        "mounts": _mounts(),
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": list(_MASKED_PATHS),
            "readonlyPaths": list(_READONLY_PATHS),
        },
    }


def _identity_mapping(host_id: int) -> list[dict[str, int]]:
    return [{"containerID": 0, "hostID": host_id, "size": 1}]


def _rootless_mount(mount: dict[str, Any]) -> dict[str, Any]:
    if os.path.normpath(mount["destination"]) == "/sys":
        # A new sysfs needs a private network namespace; bind the host's.
        return _mount("/sys", "none", "/sys", ["rbind", "nosuid", "noexec", "nodev", "ro"])
    # An unprivileged user cannot own files as other ids (e.g. gid=5 of devpts).
    options = [o for o in mount.get("options", []) if not o.startswith(("uid=", "gid="))]
    return _mount(mount["destination"], mount["type"], mount["source"], options)


def _make_rootless(config: dict[str, Any]) -> None:
    """Same transformation as runc's `spec --rootless`."""
    linux = config["linux"]
    namespaces = [ns for ns in linux["namespaces"] if ns["type"] not in ("network", "user")]
    namespaces.append({"type": "user"})
    linux.pop("resources", None)  # cgroups are not ours to configure
    # Rebuild so the mappings come first, as in runc's output.
    config["linux"] = {
        "uidMappings": _identity_mapping(os.geteuid()),
        "gidMappings": _identity_mapping(os.getegid()),
        **linux,
        "namespaces": namespaces,
    }
    config["mounts"] = [_rootless_mount(mount) for mount in config["mounts"]]
