"""The plan as the runtime flattens it in Python (runtime/plan_buffer.py)
reads back through the C decoder (native/plan_codec.c) equal to the plan:
every field, at the compiler's offsets."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from plan_decoding import Decoded, decoded, items, strings_of, text_of
from pyrunc._native import ffi, lib  # type: ignore[import-not-found]
from pyrunc.runtime import plan, plan_buffer, seccomp
from pyrunc.runtime.errors import PyruncError
from pyrunc.runtime.hooks import Hook
from pyrunc.runtime.placement import Placement
from pyrunc.runtime.plan_layout import LAYOUTS

paths = st.text(alphabet="abc/._-", min_size=1, max_size=20).map(lambda s: "/" + s)
# C strings end at NUL; the encoder refuses such text (tested below).
texts = st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
                max_size=10)
u16 = st.integers(min_value=0, max_value=2**16 - 1)
u32 = st.integers(min_value=0, max_value=2**32 - 1)
u64 = st.integers(min_value=0, max_value=2**64 - 1)
i32 = st.integers(min_value=-2**31, max_value=2**31 - 1)
fd = st.integers(min_value=-1, max_value=2**20)
words = st.lists(u64, max_size=3)

mount_steps = st.builds(plan.MountStep, kind=st.sampled_from([0, 1, 2]), destination=paths,
                        source=st.none() | paths, fstype=st.none() | st.sampled_from(["tmpfs", "proc"]),
                        flags=u64, remount_flags=u64, propagation=u64, data=st.none() | texts,
                        recursive_readonly=st.booleans(), source_is_dir=st.booleans(), detached_fd=fd,
                        copy_up=st.booleans(), keep_covered_mode=st.booleans(), readonly_later=st.booleans())
devices = st.builds(plan.DeviceNode, path=paths, mode=u32, major=u32, minor=u32, uid=u32, gid=u32,
                    bind_from_host=st.booleans())
processes = st.builds(plan.ProcessPlan, argv=st.lists(texts, min_size=1, max_size=4),
                      envp=st.lists(texts, max_size=4), cwd=paths, uid=u32, gid=u32,
                      additional_gids=st.lists(u32, max_size=3), umask=st.integers(-1, 0o777),
                      rlimits=st.lists(st.tuples(st.integers(0, 15), u64, u64), max_size=3),
                      oom_score_adj=st.none() | st.integers(-1000, 1000), no_new_privileges=st.booleans(),
                      capabilities=st.none() | st.tuples(u64, u64, u64, u64, u64),
                      preserve_fds=st.integers(0, 100))
hooks = st.builds(Hook, path=paths, args=st.lists(texts, max_size=3), env=st.none() | st.lists(texts, max_size=2),
                  timeout=st.integers(0, 3600))


@st.composite
def placements(draw: Any) -> Placement:
    placement = Placement()
    placement.scheduler = draw(st.none() | st.tuples(i32, i32, i32, u64, u64, u64, u64))
    placement.io_priority = draw(i32)
    placement.cpu_initial, placement.cpu_final = draw(words), draw(words)
    placement.personality = draw(st.integers(-1, 2**40))
    placement.memory_policy_mode, placement.memory_policy_nodes = draw(i32), draw(words)
    placement.time_offsets = draw(st.none() | texts)
    placement.apparmor_profile, placement.selinux_label = draw(st.none() | texts), draw(st.none() | texts)
    return placement


@st.composite
def plans(draw: Any) -> plan.Plan:
    p = plan.Plan(namespaces=draw(st.lists(st.tuples(st.integers(1, 2**30), st.none() | paths), max_size=4)),
                  rootfs=draw(paths), process=draw(processes), rootfs_readonly=draw(st.booleans()),
                  rootfs_propagation=draw(u64), no_pivot=draw(st.booleans()),
                  session_keyring=draw(st.none() | texts), session_keyring_perm=draw(u32),
                  mounts=draw(st.lists(mount_steps, max_size=4)),
                  devices=draw(st.lists(devices, max_size=3)), masked_paths=draw(st.lists(paths, max_size=3)),
                  readonly_paths=draw(st.lists(paths, max_size=3)), hostname=draw(st.none() | texts),
                  domainname=draw(st.none() | texts), sysctls=draw(st.lists(st.tuples(paths, texts), max_size=3)),
                  terminal=draw(st.booleans()), console_size=draw(st.none() | st.tuples(u16, u16)),
                  hooks={kind: draw(st.lists(hooks, max_size=2)) for kind in
                         ("prestart", "createRuntime", "createContainer", "startContainer")},
                  placement=draw(placements()),
                  seccomp=draw(st.none() | st.builds(seccomp.Program, bpf=st.binary(max_size=64), flags=u32)),
                  rootfs_setup=draw(st.integers(0, 2)))
    p.staging_dir = draw(st.none() | paths)
    return p


def mask_of(c: Any) -> list[int]:
    return [c.words[i] for i in range(c.n_words)]


def hooks_of(array: Any, count: int) -> list[Hook]:
    return [Hook(text_of(h.path), strings_of(h.argv), None if h.envp == ffi.NULL else strings_of(h.envp), h.timeout)
            for h in items(array, count)]


def assert_reads_back(c: Any, p: plan.Plan) -> None:
    assert [(ns.type, text_of(ns.path)) for ns in items(c.namespaces, c.n_namespaces)] == p.namespaces
    assert (c.rootfs_setup, text_of(c.rootfs), bool(c.rootfs_readonly), c.rootfs_propagation) == (
        p.rootfs_setup, p.rootfs, p.rootfs_readonly, p.rootfs_propagation)
    assert (bool(c.no_pivot), text_of(c.session_keyring), c.session_keyring_perm, text_of(c.staging_dir)) == (
        p.no_pivot, p.session_keyring, p.session_keyring_perm, p.staging_dir)
    assert [plan.MountStep(m.kind, text_of(m.destination), text_of(m.source), text_of(m.fstype), m.flags,
                           m.remount_flags, m.propagation, text_of(m.data), bool(m.recursive_readonly),
                           bool(m.source_is_dir), detached_fd=m.detached_fd, copy_up=bool(m.copy_up),
                           keep_covered_mode=bool(m.keep_covered_mode), readonly_later=bool(m.readonly_later))
            for m in items(c.mounts, c.n_mounts)] == p.mounts
    assert [plan.DeviceNode(text_of(d.path), d.mode, d.major, d.minor, d.uid, d.gid, bool(d.bind_from_host))
            for d in items(c.devices, c.n_devices)] == p.devices
    assert [text_of(path) for path in items(c.masked_paths, c.n_masked_paths)] == p.masked_paths
    assert [text_of(path) for path in items(c.readonly_paths, c.n_readonly_paths)] == p.readonly_paths
    assert (text_of(c.hostname), text_of(c.domainname)) == (p.hostname, p.domainname)
    assert [(text_of(s.key), text_of(s.value)) for s in items(c.sysctls, c.n_sysctls)] == p.sysctls
    proc = c.process
    assert strings_of(proc.argv) == p.process.argv and strings_of(proc.envp) == p.process.envp
    assert (text_of(proc.cwd), proc.uid, proc.gid, proc.umask) == (p.process.cwd, p.process.uid, p.process.gid,
                                                                   p.process.umask)
    assert items(proc.additional_gids, proc.n_additional_gids) == p.process.additional_gids
    assert [(r.resource, r.soft, r.hard) for r in items(proc.rlimits, proc.n_rlimits)] == p.process.rlimits
    assert (bool(proc.no_new_privileges), proc.preserve_fds) == (p.process.no_new_privileges,
                                                                  p.process.preserve_fds)
    assert bool(proc.has_capabilities) == (p.process.capabilities is not None)
    if p.process.capabilities is not None:
        assert (proc.cap_bounding, proc.cap_effective, proc.cap_permitted, proc.cap_inheritable,
                proc.cap_ambient) == p.process.capabilities
    pl = p.placement
    assert bool(proc.has_scheduler) == (pl.scheduler is not None)
    if pl.scheduler is not None:
        s = proc.scheduler
        assert (s.policy, s.nice, s.priority, s.flags, s.runtime, s.deadline, s.period) == pl.scheduler
    assert (proc.io_priority, proc.personality) == (pl.io_priority, pl.personality)
    assert (mask_of(proc.cpu_affinity_initial), mask_of(proc.cpu_affinity_final)) == (pl.cpu_initial, pl.cpu_final)
    assert (text_of(proc.apparmor_profile), text_of(proc.selinux_label)) == (pl.apparmor_profile, pl.selinux_label)
    assert (text_of(c.time_offsets), c.memory_policy_mode) == (pl.time_offsets, pl.memory_policy_mode)
    assert mask_of(c.memory_policy_nodes) == pl.memory_policy_nodes
    assert (bool(c.terminal), (c.console_height, c.console_width)) == (p.terminal, p.console_size or (0, 0))
    assert bool(c.runtime_hooks) == p.runtime_hooks
    assert hooks_of(c.create_container_hooks, c.n_create_container_hooks) == p.hooks["createContainer"]
    assert hooks_of(c.start_container_hooks, c.n_start_container_hooks) == p.hooks["startContainer"]
    if p.seccomp is None:
        assert (c.seccomp_bpf, c.seccomp_bpf_len, c.seccomp_load_at) == (ffi.NULL, 0, 0)
    else:
        assert bytes(ffi.buffer(c.seccomp_bpf, c.seccomp_bpf_len)) == p.seccomp.bpf
        assert (c.seccomp_flags, c.seccomp_load_at) == (p.seccomp.flags, p.seccomp_load_at)


@settings(max_examples=300)
@given(plans(), fd, fd, fd, st.lists(st.integers(3, 2**20), max_size=12), fd)
def test_flattened_plan_reads_back_equal(p: plan.Plan, sync_fd: int, fifo_fd: int, console_fd: int,
                                         cgroup_fds: list[int], cgroup_dir_fd: int) -> None:
    """What pyrunc-init receives, in a buffer at another address."""
    d = decoded(p, sync_fd, fifo_fd, console_fd=console_fd, cgroup_fds=cgroup_fds, cgroup_dir_fd=cgroup_dir_fd)
    c = d.plan
    assert_reads_back(c, p)
    assert (c.sync_fd, c.fifo_fd, c.console_socket_fd, c.cgroup_dir_fd) == (sync_fd, fifo_fd, console_fd,
                                                                            cgroup_dir_fd)
    assert items(c.cgroup_fds, c.n_cgroup_fds) == cgroup_fds


def test_every_field_of_the_plan_is_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """A field added to plan.h and not to plan_buffer.flatten fails here
    (with everything set, flatten names every field of struct pyrunc_plan)."""
    written: set[str] = set()
    fill = plan_buffer.Buffer.fill

    def recording(self: plan_buffer.Buffer, struct: str, at: int, values: dict[str, Any]) -> None:
        written.update(f"{struct}.{name}" for name in values)
        fill(self, struct, at, values)

    monkeypatch.setattr(plan_buffer.Buffer, "fill", recording)
    p = plan.Plan([(1, "/p")], "/r", plan.ProcessPlan(["x"], ["A=1"], capabilities=(1, 2, 3, 4, 5)),
                  mounts=[plan.MountStep(1, "/m", source="/s")], devices=[plan.DeviceNode("/d", 0o20666, 1, 3)],
                  sysctls=[("/proc/sys/k", "v")], hooks={"createContainer": [Hook("/h", ["h"], [], 1)]},
                  seccomp=seccomp.Program(b"\0" * 8), placement=Placement())
    p.placement.scheduler = (0, 0, 0, 0, 0, 0, 0)
    p.process.rlimits = [(7, 1, 2)]
    p.namespaces.append((2, None))
    plan_buffer.flatten(p, 1, 2, console_fd=3, cgroup_fds=[4], cgroup_dir_fd=5)
    for struct, (_size, fields) in LAYOUTS.items():
        assert {f"{struct}.{name}" for name in fields} <= written, struct


@pytest.mark.parametrize("struct", sorted(LAYOUTS))
def test_the_layout_table_is_the_extensions(struct: str) -> None:
    """plan_layout (generated by setup.py) agrees with the compiled
    extension, field by field."""
    size, fields = LAYOUTS[struct]
    assert size == ffi.sizeof(f"struct {struct}")
    for name, (offset, field_size, signed) in fields.items():
        assert offset == ffi.offsetof(f"struct {struct}", *name.split(".")), name
        ctype = ffi.typeof(f"struct {struct}")
        for part in name.split("."):
            ctype = dict(ctype.fields)[part].type
        assert field_size == ffi.sizeof(ctype), name
        assert signed == (ctype.kind == "primitive" and int(ffi.cast(ctype, -1)) < 0), name


@settings(max_examples=300)
@given(plans(), st.data())
def test_corrupt_plans_are_refused_not_followed(p: plan.Plan, data: st.DataObject) -> None:
    """Every offset is bounds-checked: damage anywhere gives an error or a
    plan whose pointers all stay inside the buffer, never a crash."""
    flat = plan_buffer.flatten(p, 5, 6)
    for _ in range(data.draw(st.integers(1, 8))):
        flat[data.draw(st.integers(0, len(flat) - 1))] = data.draw(st.integers(0, 255))
    moved = ffi.new("unsigned char[]", bytes(flat))
    out = ffi.new("struct pyrunc_plan **")
    err = ffi.new("struct pyrunc_error *")
    lib.pyrunc_plan_unflatten(moved, len(flat), out, err)


def test_a_truncated_plan_is_refused() -> None:
    flat = bytes(plan_buffer.flatten(plan.Plan([], "/r", plan.ProcessPlan(["x"], [])), 5, 6))
    with pytest.raises(AssertionError):
        Decoded(flat[:-1])


@pytest.mark.parametrize("text, reason", [("a\0b", "NUL"), ("\ud800", "not valid Unicode")])
def test_strings_c_cannot_carry_are_refused(text: str, reason: str) -> None:
    p = plan.Plan(namespaces=[], rootfs="/r", process=plan.ProcessPlan(argv=[text], envp=[]))
    with pytest.raises(PyruncError, match=reason):
        plan_buffer.flatten(p, 1, 2)


def test_values_out_of_a_fields_range_are_refused() -> None:
    p = plan.Plan(namespaces=[], rootfs="/r", process=plan.ProcessPlan(argv=["x"], envp=[], uid=2**32))
    with pytest.raises(PyruncError, match="process.uid"):
        plan_buffer.flatten(p, 1, 2)
