"""Hand a Plan to the C side: encode it into native/plan.h structs and
spawn the container init.

cffi memory is freed when its Python owner dies, so `encode` returns an
Encoded object that keeps every buffer alive until the spawn is done.
"""
from __future__ import annotations

import errno
import os

from .errors import PyruncError
from .plan import Plan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from pyrunc._native import __file__ as _native_file  # type: ignore[import-not-found]
from pyrunc._native import ffi, lib  # type: ignore[import-not-found]


class Encoded:
    def __init__(self, plan: Any) -> None:
        self.plan = plan                       # struct pyrunc_plan *
        self.keepalive: list[Any] = []

    def cstr(self, text: str | None) -> Any:
        if text is None:
            return ffi.NULL
        if "\0" in text:
            # C would silently cut the string there.
            raise PyruncError(f"string {text!r} contains a NUL character")
        try:
            raw = text.encode()
        except UnicodeEncodeError:      # a lone surrogate from a JSON \ud800 escape
            raise PyruncError(f"string {text!r} is not valid Unicode") from None
        buf = ffi.new("char[]", raw)
        self.keepalive.append(buf)
        return buf

    def cstr_array(self, items: list[str]) -> Any:
        """A NULL-terminated char *[]."""
        array = ffi.new("const char *[]", len(items) + 1)
        for i, item in enumerate(items):
            array[i] = self.cstr(item)
        self.keepalive.append(array)
        return array

    def structs(self, ctype: str, items: list[Any], fill: Any) -> Any:
        if not items:
            return ffi.NULL
        array = ffi.new(f"{ctype}[]", len(items))
        for i, item in enumerate(items):
            fill(array[i], item)
        self.keepalive.append(array)
        return array


def _fill_mount(c: Any, m: Any, enc: Encoded) -> None:
    c.kind = m.kind
    c.source = enc.cstr(m.source)
    c.destination = enc.cstr(m.destination)
    c.fstype = enc.cstr(m.fstype)
    c.flags = m.flags
    c.remount_flags = m.remount_flags
    c.propagation = m.propagation
    c.data = enc.cstr(m.data)
    c.recursive_readonly = int(m.recursive_readonly)
    c.source_is_dir = int(m.source_is_dir)
    c.detached_fd = m.detached_fd
    c.copy_up = int(m.copy_up)
    c.keep_covered_mode = int(m.keep_covered_mode)
    c.readonly_later = int(m.readonly_later)


def _fill_device(c: Any, d: Any, enc: Encoded) -> None:
    c.path = enc.cstr(d.path)
    c.mode, c.major, c.minor, c.uid, c.gid = d.mode, d.major, d.minor, d.uid, d.gid
    c.bind_from_host = int(d.bind_from_host)


def _fill_process(c: Any, plan: Plan, enc: Encoded) -> None:
    p = plan.process
    c.argv = enc.cstr_array(p.argv)
    c.envp = enc.cstr_array(p.envp)
    c.cwd = enc.cstr(p.cwd)
    c.uid, c.gid = p.uid, p.gid
    gids = ffi.new("unsigned int[]", p.additional_gids or [0])
    enc.keepalive.append(gids)
    c.n_additional_gids, c.additional_gids = len(p.additional_gids), gids
    c.umask = p.umask
    c.n_rlimits = len(p.rlimits)
    c.rlimits = enc.structs("struct pyrunc_rlimit", p.rlimits, _fill_rlimit)
    c.no_new_privileges = int(p.no_new_privileges)
    c.has_capabilities = int(p.capabilities is not None)
    if p.capabilities is not None:
        (c.cap_bounding, c.cap_effective, c.cap_permitted,
         c.cap_inheritable, c.cap_ambient) = p.capabilities
    c.preserve_fds = p.preserve_fds


def _fill_hook(c: Any, hook: Any, enc: Encoded) -> None:
    c.path = enc.cstr(hook.path)
    c.argv = enc.cstr_array(hook.args)
    c.envp = ffi.NULL if hook.env is None else enc.cstr_array(hook.env)
    c.timeout = hook.timeout


def _fill_mask(c: Any, words: list[int], enc: Encoded) -> None:
    c.n_words = len(words)
    if words:
        array = ffi.new("unsigned long long[]", words)
        enc.keepalive.append(array)
        c.words = array


def _fill_placement(c: Any, plan: Plan, enc: Encoded) -> None:
    pl = plan.placement
    p = c.process
    p.has_scheduler = int(pl.scheduler is not None)
    if pl.scheduler is not None:
        s = p.scheduler
        s.policy, s.nice, s.priority, s.flags, s.runtime, s.deadline, s.period = pl.scheduler
    p.io_priority = pl.io_priority
    _fill_mask(p.cpu_affinity_initial, pl.cpu_initial, enc)
    _fill_mask(p.cpu_affinity_final, pl.cpu_final, enc)
    p.personality = pl.personality
    p.apparmor_profile = enc.cstr(pl.apparmor_profile)
    p.selinux_label = enc.cstr(pl.selinux_label)
    c.time_offsets = enc.cstr(pl.time_offsets)
    c.memory_policy_mode = pl.memory_policy_mode
    _fill_mask(c.memory_policy_nodes, pl.memory_policy_nodes, enc)


def _fill_seccomp(c: Any, plan: Plan, enc: Encoded) -> None:
    program = plan.seccomp
    if program is None:
        return
    bpf = ffi.new("unsigned char[]", program.bpf)
    enc.keepalive.append(bpf)
    c.seccomp_bpf, c.seccomp_bpf_len = bpf, len(program.bpf)
    c.seccomp_flags = program.flags
    c.seccomp_load_at = plan.seccomp_load_at


def _fill_rlimit(c: Any, rl: tuple[int, int, int]) -> None:
    c.resource, c.soft, c.hard = rl


def _fill_namespace(c: Any, ns: tuple[int, str | None], enc: Encoded) -> None:
    c.type, c.path = ns[0], enc.cstr(ns[1])


def _fill_sysctl(c: Any, sysctl: tuple[str, str], enc: Encoded) -> None:
    c.key, c.value = enc.cstr(sysctl[0]), enc.cstr(sysctl[1])


def encode(plan: Plan, sync_fd: int, fifo_fd: int, console_fd: int = -1, cgroup_fds: list[int] | None = None,
           cgroup_dir_fd: int = -1) -> Encoded:
    enc = Encoded(ffi.new("struct pyrunc_plan *"))
    c = enc.plan
    c.n_namespaces = len(plan.namespaces)
    c.namespaces = enc.structs("struct pyrunc_namespace", plan.namespaces,
                               lambda s, ns: _fill_namespace(s, ns, enc))
    c.rootfs_setup = plan.rootfs_setup
    c.rootfs = enc.cstr(plan.rootfs)
    c.rootfs_readonly = int(plan.rootfs_readonly)
    c.rootfs_propagation = plan.rootfs_propagation
    c.no_pivot = int(plan.no_pivot)
    c.new_session_keyring = int(plan.new_session_keyring)
    c.staging_dir = enc.cstr(plan.staging_dir)
    c.n_mounts = len(plan.mounts)
    c.mounts = enc.structs("struct pyrunc_mount", plan.mounts, lambda s, m: _fill_mount(s, m, enc))
    c.n_devices = len(plan.devices)
    c.devices = enc.structs("struct pyrunc_device", plan.devices, lambda s, d: _fill_device(s, d, enc))
    c.n_masked_paths = len(plan.masked_paths)
    c.masked_paths = enc.cstr_array(plan.masked_paths)
    c.n_readonly_paths = len(plan.readonly_paths)
    c.readonly_paths = enc.cstr_array(plan.readonly_paths)
    c.hostname = enc.cstr(plan.hostname)
    c.domainname = enc.cstr(plan.domainname)
    c.n_sysctls = len(plan.sysctls)
    c.sysctls = enc.structs("struct pyrunc_sysctl", plan.sysctls, lambda s, kv: _fill_sysctl(s, kv, enc))
    _fill_process(c.process, plan, enc)
    _fill_placement(c, plan, enc)
    _fill_seccomp(c, plan, enc)
    c.terminal = int(plan.terminal)
    c.console_socket_fd = console_fd
    c.console_height, c.console_width = plan.console_size or (0, 0)
    c.runtime_hooks = int(plan.runtime_hooks)
    for kind, count_field, array_field in (("createContainer", "n_create_container_hooks", "create_container_hooks"),
                                           ("startContainer", "n_start_container_hooks", "start_container_hooks")):
        hooks = plan.hooks.get(kind, [])
        setattr(c, count_field, len(hooks))
        setattr(c, array_field, enc.structs("struct pyrunc_hook", hooks, lambda s, h: _fill_hook(s, h, enc)))
    c.sync_fd = sync_fd
    c.fifo_fd = fifo_fd
    c.n_cgroup_fds = len(cgroup_fds or ())
    if cgroup_fds:
        array = ffi.new("int[]", cgroup_fds)
        enc.keepalive.append(array)     # the owner: the struct's field does not keep it alive
        c.cgroup_fds = array
    c.cgroup_dir_fd = cgroup_dir_fd
    return enc


def _checked(ret: int, err: Any) -> int:
    """A native call's result, or its error (ret < 0) raised."""
    if ret < 0:
        raise PyruncError(ffi.string(err.msg).decode(errors="replace"), errno=err.code)
    return ret


# Installed beside the extension by setup.py (native/initbin/main.c).
INIT_PROGRAM = os.path.join(os.path.dirname(_native_file), "pyrunc-init")
_F_SEAL_ALL = 0x0001 | 0x0002 | 0x0004 | 0x0008   # F_SEAL_SEAL, SHRINK, GROW, WRITE


def _write_memfd(name: str, data: bytes | Any, flags: int) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC | flags)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return fd


def sealed_init() -> int:
    """A sealed memfd holding pyrunc-init.  Container processes start from
    it, so their /proc/<pid>/exe is this read-only copy, never a host file
    that a process in the container could reopen and overwrite
    (CVE-2019-5736) -- and no Python interpreter image enters it at all."""
    import fcntl
    fd = os.memfd_create("pyrunc-init", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        # Copied by the kernel: the program never passes through our memory.
        source = os.open(INIT_PROGRAM, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size, offset = os.fstat(source).st_size, 0
            while offset < size:
                sent = os.sendfile(fd, source, offset, size - offset)
                if sent == 0:
                    raise PyruncError(f"{INIT_PROGRAM} shrank while it was copied")
                offset += sent
        finally:
            os.close(source)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _F_SEAL_ALL)
    except OSError as exc:
        os.close(fd)
        raise PyruncError(f"copy {INIT_PROGRAM}: {exc.strerror}", errno=exc.errno) from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def flatten(enc: Encoded) -> bytes | Any:
    """The plan in one buffer (native/plan_codec.h), sized as it needs."""
    capacity = 1 << 16
    length = ffi.new("size_t *")
    err = ffi.new("struct pyrunc_error *")
    while True:
        buf = ffi.new("unsigned char[]", capacity)
        if lib.pyrunc_plan_flatten(enc.plan, buf, capacity, length, err) == 0:
            return ffi.buffer(buf, length[0])
        if err.code != errno.ENOSPC:
            _checked(-err.code, err)
        capacity *= 4


def spawn(plan: Plan, sync_fd: int, fifo_fd: int, console_fd: int = -1, cgroup_fds: list[int] | None = None,
          cgroup_dir_fd: int = -1) -> int:
    """Start the intermediate process (pyrunc-init); returns its pid.
    cgroup_fds, cgroup_dir_fd: see struct pyrunc_plan."""
    enc = encode(plan, sync_fd, fifo_fd, console_fd, cgroup_fds, cgroup_dir_fd)
    plan_fd = _write_memfd("pyrunc-plan", flatten(enc), 0)
    exe_fd = sealed_init()
    passed = [fd for fd in (sync_fd, fifo_fd, console_fd, plan_fd, exe_fd, cgroup_dir_fd, *(cgroup_fds or ()),
                            *(m.detached_fd for m in plan.mounts))
              if fd >= 0]
    inheritable = {fd: os.get_inheritable(fd) for fd in passed}
    try:
        for fd in passed:
            os.set_inheritable(fd, True)
        return os.posix_spawn(f"/proc/self/fd/{exe_fd}", ["pyrunc-init", str(plan_fd), str(exe_fd)], {})
    except OSError as exc:
        raise PyruncError(f"start {INIT_PROGRAM}: {exc.strerror}", errno=exc.errno) from None
    finally:
        for fd, was in inheritable.items():
            if fd not in (plan_fd, exe_fd):
                os.set_inheritable(fd, was)
        os.close(plan_fd)
        os.close(exe_fd)


def idmap_userns(uid_map: str, gid_map: str) -> int:
    """An fd of a new user namespace with these maps (see native/idmap.h)."""
    enc = Encoded(None)
    err = ffi.new("struct pyrunc_error *")
    return _checked(lib.pyrunc_idmap_userns(enc.cstr(uid_map), enc.cstr(gid_map), err), err)


def clone_mount(source: str, recursive: bool) -> int:
    """A detached clone of the mount at source; its fd (see native/idmap.h)."""
    enc = Encoded(None)
    err = ffi.new("struct pyrunc_error *")
    return _checked(lib.pyrunc_clone_mount(enc.cstr(source), int(recursive), err), err)


def idmap_mount(source: str, userns_fd: int, recursive_tree: bool, recursive_idmap: bool) -> int:
    """A detached idmapped clone of the mount at source; its fd."""
    enc = Encoded(None)
    err = ffi.new("struct pyrunc_error *")
    return _checked(lib.pyrunc_idmap_mount(enc.cstr(source), userns_fd, int(recursive_tree),
                                           int(recursive_idmap), err), err)


def probes() -> dict[str, bool]:
    return {
        "openat2": bool(lib.pyrunc_probe_openat2()),
        "mount_setattr": bool(lib.pyrunc_probe_mount_setattr()),
    }
