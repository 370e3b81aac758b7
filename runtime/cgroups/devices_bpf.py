"""The cgroup v2 device controller: the rule list of `device_rules_v2()`
as an eBPF program (native/bpf_devices.c) attached to the container's
cgroup, replacing the one pyrunc attached there before.

`load_device_program` is the V2Manager's `device_program_loader`. The
native module is imported on first use: hot CLI verbs import this package.
"""
from __future__ import annotations

import errno
import os

from ..errors import PyruncError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .base import CgroupManager

# The kernel's limit of programs per cgroup and attach type.
MAX_ATTACHED = 64
# The identity map: what /proc/self/uid_map shows outside any user namespace.
INITIAL_UID_MAP = ["0", "0", "4294967295"]


def _native() -> tuple[Any, Any]:
    from pyrunc._native import ffi, lib  # type: ignore[import-not-found]
    return ffi, lib


def access_bits(access: str) -> int:
    """"rwm" letters -> PYRUNC_DEVICE_* bits."""
    _, lib = _native()
    letters = {"r": lib.PYRUNC_DEVICE_READ, "w": lib.PYRUNC_DEVICE_WRITE, "m": lib.PYRUNC_DEVICE_MKNOD}
    bits = 0
    for letter in access:
        bits |= letters[letter]
    return bits


def device_type(kind: str) -> int:
    """"a"/"b"/"c" -> PYRUNC_DEVICE_*."""
    _, lib = _native()
    return {"a": lib.PYRUNC_DEVICE_ALL, "b": lib.PYRUNC_DEVICE_BLOCK, "c": lib.PYRUNC_DEVICE_CHAR}[kind]


def encode_rules(rules: list[dict]) -> Any:
    """device_rules_v2() entries -> struct pyrunc_device_rule[] (at least one
    element, so the pointer is never NULL)."""
    ffi, _ = _native()
    array = ffi.new("struct pyrunc_device_rule[]", max(len(rules), 1))
    for c, rule in zip(array, rules):
        c.allow = bool(rule["allow"])
        c.type = device_type(rule["type"])
        c.major, c.minor = rule["major"], rule["minor"]
        c.access = access_bits(rule["access"])
    return array


def _failed(err: Any, what: str) -> PyruncError:
    ffi, _ = _native()
    return PyruncError(f"{what}: {ffi.string(err.msg).decode(errors='replace')}", err.code)


def build_program(rules: list[dict]) -> bytes:
    """The program's instructions (struct bpf_insn[], 8 bytes each), as
    they would be loaded; for tests and debugging."""
    ffi, lib = _native()
    capacity = lib.PYRUNC_DEVICES_PROGRAM_BASE + lib.PYRUNC_DEVICES_PROGRAM_PER_RULE * len(rules)
    buffer = ffi.new("unsigned long long[]", capacity)  # 8-byte aligned, like struct bpf_insn
    program = ffi.new("struct pyrunc_devices_program *", {"insns": buffer, "capacity": capacity})
    err = ffi.new("struct pyrunc_error *")
    if lib.pyrunc_devices_program_build(encode_rules(rules), len(rules), program, err) < 0:
        raise _failed(err, "cannot build the device filter")
    return bytes(ffi.buffer(buffer, program.count * 8))


class _CgroupFd:
    """A cgroup directory opened for bpf(2), closed on leaving the block."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise PyruncError(f"cannot open cgroup {path}: {exc.strerror}", exc.errno) from None

    def __enter__(self) -> int:
        return self.fd

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def attach_device_program(path: str, rules: list[dict]) -> None:
    """Filter device access in the cgroup at `path` by `rules` (last match
    wins, default deny), replacing pyrunc's previous filter there."""
    ffi, lib = _native()
    err = ffi.new("struct pyrunc_error *")
    with _CgroupFd(path) as fd:
        if lib.pyrunc_devices_program_attach(fd, encode_rules(rules), len(rules), err) < 0:
            raise _failed(err, f"cgroup {path}")


def attached_programs(path: str) -> list[tuple[int, bool]]:
    """(program id, loaded by pyrunc) for each device program attached to
    the cgroup at `path` itself."""
    ffi, lib = _native()
    err = ffi.new("struct pyrunc_error *")
    found = ffi.new("struct pyrunc_attached_program[]", MAX_ATTACHED)
    with _CgroupFd(path) as fd:
        count = lib.pyrunc_devices_program_query(fd, found, MAX_ATTACHED, err)
    if count < 0:
        raise _failed(err, f"cgroup {path}")
    return [(found[i].id, bool(found[i].ours)) for i in range(count)]


def detach_device_programs(path: str) -> int:
    """Detach pyrunc's device programs from the cgroup; returns how many."""
    ffi, lib = _native()
    err = ffi.new("struct pyrunc_error *")
    with _CgroupFd(path) as fd:
        count = lib.pyrunc_devices_program_detach(fd, err)
    if count < 0:
        raise _failed(err, f"cgroup {path}")
    return count


def in_user_namespace(uid_map: str = "/proc/self/uid_map") -> bool:
    try:
        with open(uid_map, encoding="ascii") as f:
            return f.read().split() != INITIAL_UID_MAP
    except FileNotFoundError:
        return False  # a kernel without user namespaces


def _skippable(rules: list[dict]) -> bool:
    """When bpf(2) fails, runc and crun go on without a filter in a user
    namespace (which cannot reach host devices anyway) or when the rules
    allow everything."""
    return in_user_namespace() or all(rule["allow"] and rule["access"] == "rwm" for rule in rules)


def load_device_program(manager: CgroupManager, rules: list[dict]) -> None:
    """The cgroup v2 manager's device_program_loader."""
    try:
        attach_device_program(manager.paths["unified"], rules)
    except PyruncError as exc:
        if exc.errno not in (errno.EPERM, errno.EACCES) or not _skippable(rules):
            raise
        manager.warnings.append(f"linux.resources.devices: not applied, no eBPF device filter here ({exc})")

