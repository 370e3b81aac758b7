"""A Plan as pyrunc-init reads it: the structs of native/plan.h in one
buffer, each pointer stored as its target's offset + 1 (0 for NULL), as
native/plan_codec.h lays out.

Written here in Python rather than through cffi so that create and run
need not load the native extension (cffi's backend and the extension add
more to the peak RSS of every create than this module and its layout
table); with int.to_bytes rather than the struct module, whose code is
one more part of the interpreter each create would page in.

The layouts come from plan_layout, which setup.py generates from plan.h
with the compiler's own offsets, so the two sides cannot disagree;
runtime/tests/test_plan_buffer.py reads every buffer back through the C
decoder.
"""
from __future__ import annotations

import sys

from .errors import PyruncError
from .plan_layout import LAYOUTS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from .plan import Plan

NULL = 0
POINTER = LAYOUTS["pyrunc_plan"][1]["rootfs"][1]    # bytes
UINT, INT, U64 = (4, False), (4, True), (8, False)    # unsigned int, int, unsigned long long


def c_string(text: str) -> bytes:
    """text's bytes for a C string (without the NUL), or a PyruncError."""
    if "\0" in text:
        # C would silently cut the string there.
        raise PyruncError(f"string {text!r} contains a NUL character")
    try:
        return text.encode()
    except UnicodeEncodeError:      # a lone surrogate from a JSON \ud800 escape
        raise PyruncError(f"string {text!r} is not valid Unicode") from None


class Buffer:
    def __init__(self) -> None:
        self.data = bytearray(LAYOUTS["pyrunc_plan"][0])    # the plan itself comes first

    def reserve(self, size: int) -> int:
        """Room for size zeroed bytes at the next 8-byte boundary: its offset."""
        at = (len(self.data) + 7) & ~7
        self.data.extend(bytes(at + size - len(self.data)))
        return at

    def fill(self, struct: str, at: int, values: dict[str, Any]) -> None:
        fields = LAYOUTS[struct][1]
        for name, value in values.items():
            offset, size, signed = fields[name]
            self.put(at + offset, size, signed, value, name)

    def put(self, at: int, size: int, signed: bool, value: int, name: str) -> None:
        try:
            self.data[at:at + size] = value.to_bytes(size, sys.byteorder, signed=signed)
        except OverflowError:
            raise PyruncError(f"plan field {name}: {value!r} is out of range") from None

    def raw(self, data: bytes) -> int:
        at = self.reserve(len(data))
        self.data[at:at + len(data)] = data
        return at + 1

    def string(self, text: str | None) -> int:
        return NULL if text is None else self.raw(c_string(text) + b"\0")

    def strings(self, items: list[str]) -> int:
        """A NULL-terminated char *[] (even when empty)."""
        pointers = [self.string(item) for item in items] + [NULL]
        return self.numbers((POINTER, False), pointers, "strings")

    def numbers(self, kind: tuple[int, bool], values: list[int], name: str) -> int:
        """An array of integers of kind (size, signed)."""
        if not values:
            return NULL
        size, signed = kind
        at = self.reserve(size * len(values))
        for i, value in enumerate(values):
            self.put(at + i * size, size, signed, value, f"{name}[{i}]")
        return at + 1

    def structs(self, struct: str, items: list[Any], fields: Callable[[Any], dict[str, Any]]) -> int:
        if not items:
            return NULL
        size = LAYOUTS[struct][0]
        at = self.reserve(size * len(items))
        for i, item in enumerate(items):
            self.fill(struct, at + i * size, fields(item))
        return at + 1

    def mask(self, name: str, words: list[int]) -> dict[str, int]:
        return {f"{name}.n_words": len(words), f"{name}.words": self.numbers(U64, words, name)}


def flatten(plan: Plan, sync_fd: int, fifo_fd: int, console_fd: int = -1, cgroup_fds: list[int] | None = None,
            cgroup_dir_fd: int = -1) -> bytearray:
    """The plan in one buffer, for pyrunc-init (native/initbin/main.c).
    cgroup_fds, cgroup_dir_fd: see struct pyrunc_plan."""
    buf = Buffer()
    p, pl = plan.process, plan.placement
    values: dict[str, Any] = {
        "n_namespaces": len(plan.namespaces),
        "namespaces": buf.structs("pyrunc_namespace", plan.namespaces,
                                  lambda ns: {"type": ns[0], "path": buf.string(ns[1])}),
        "rootfs_setup": plan.rootfs_setup,
        "rootfs": buf.string(plan.rootfs),
        "rootfs_readonly": int(plan.rootfs_readonly),
        "rootfs_propagation": plan.rootfs_propagation,
        "no_pivot": int(plan.no_pivot),
        "session_keyring": buf.string(plan.session_keyring),
        "session_keyring_perm": plan.session_keyring_perm,
        "staging_dir": buf.string(plan.staging_dir),
        "n_mounts": len(plan.mounts),
        "mounts": buf.structs("pyrunc_mount", plan.mounts, lambda m: _mount(m, buf)),
        "n_devices": len(plan.devices),
        "devices": buf.structs("pyrunc_device", plan.devices, lambda d: {
            "path": buf.string(d.path), "mode": d.mode, "major": d.major, "minor": d.minor, "uid": d.uid,
            "gid": d.gid, "bind_from_host": int(d.bind_from_host)}),
        "n_masked_paths": len(plan.masked_paths),
        "masked_paths": buf.strings(plan.masked_paths),
        "n_readonly_paths": len(plan.readonly_paths),
        "readonly_paths": buf.strings(plan.readonly_paths),
        "hostname": buf.string(plan.hostname),
        "domainname": buf.string(plan.domainname),
        "n_sysctls": len(plan.sysctls),
        "sysctls": buf.structs("pyrunc_sysctl", plan.sysctls,
                               lambda kv: {"key": buf.string(kv[0]), "value": buf.string(kv[1])}),
        "process.argv": buf.strings(p.argv),
        "process.envp": buf.strings(p.envp),
        "process.cwd": buf.string(p.cwd),
        "process.uid": p.uid,
        "process.gid": p.gid,
        "process.n_additional_gids": len(p.additional_gids),
        "process.additional_gids": buf.numbers(UINT, p.additional_gids, "process.additional_gids"),
        "process.umask": p.umask,
        "process.n_rlimits": len(p.rlimits),
        "process.rlimits": buf.structs("pyrunc_rlimit", p.rlimits,
                                       lambda rl: {"resource": rl[0], "soft": rl[1], "hard": rl[2]}),
        "process.no_new_privileges": int(p.no_new_privileges),
        "process.has_capabilities": int(p.capabilities is not None),
        "process.preserve_fds": p.preserve_fds,
        "process.has_scheduler": int(pl.scheduler is not None),
        "process.io_priority": pl.io_priority,
        **buf.mask("process.cpu_affinity_initial", pl.cpu_initial),
        **buf.mask("process.cpu_affinity_final", pl.cpu_final),
        "process.personality": pl.personality,
        "process.apparmor_profile": buf.string(pl.apparmor_profile),
        "process.selinux_label": buf.string(pl.selinux_label),
        "time_offsets": buf.string(pl.time_offsets),
        "memory_policy_mode": pl.memory_policy_mode,
        **buf.mask("memory_policy_nodes", pl.memory_policy_nodes),
        "terminal": int(plan.terminal),
        "console_socket_fd": console_fd,
        "runtime_hooks": int(plan.runtime_hooks),
        "sync_fd": sync_fd,
        "fifo_fd": fifo_fd,
        "n_cgroup_fds": len(cgroup_fds or ()),
        "cgroup_fds": buf.numbers(INT, cgroup_fds or [], "cgroup_fds"),
        "cgroup_dir_fd": cgroup_dir_fd,
    }
    if p.capabilities is not None:
        (values["process.cap_bounding"], values["process.cap_effective"], values["process.cap_permitted"],
         values["process.cap_inheritable"], values["process.cap_ambient"]) = p.capabilities
    if pl.scheduler is not None:
        for field, value in zip(("policy", "nice", "priority", "flags", "runtime", "deadline", "period"),
                                pl.scheduler):
            values[f"process.scheduler.{field}"] = value
    values["console_height"], values["console_width"] = plan.console_size or (0, 0)
    for kind, count, array in (("createContainer", "n_create_container_hooks", "create_container_hooks"),
                               ("startContainer", "n_start_container_hooks", "start_container_hooks")):
        hooks = plan.hooks.get(kind, [])
        values[count] = len(hooks)
        values[array] = buf.structs("pyrunc_hook", hooks, lambda h: {
            "path": buf.string(h.path), "argv": buf.strings(h.args),
            "envp": NULL if h.env is None else buf.strings(h.env), "timeout": h.timeout})
    if plan.seccomp is not None:
        values.update({"seccomp_bpf": buf.raw(plan.seccomp.bpf), "seccomp_bpf_len": len(plan.seccomp.bpf),
                       "seccomp_flags": plan.seccomp.flags, "seccomp_load_at": plan.seccomp_load_at})
    buf.fill("pyrunc_plan", 0, values)
    return buf.data


def _mount(m: Any, buf: Buffer) -> dict[str, Any]:
    return {"kind": m.kind, "source": buf.string(m.source), "destination": buf.string(m.destination),
            "fstype": buf.string(m.fstype), "flags": m.flags, "remount_flags": m.remount_flags,
            "propagation": m.propagation, "data": buf.string(m.data),
            "recursive_readonly": int(m.recursive_readonly), "source_is_dir": int(m.source_is_dir),
            "detached_fd": m.detached_fd, "copy_up": int(m.copy_up), "keep_covered_mode": int(m.keep_covered_mode),
            "readonly_later": int(m.readonly_later)}
