"""The plan encoder: what Python puts in the C structs is what the plan says."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from pyrunc._native import ffi, lib  # type: ignore[import-not-found]
from pyrunc.runtime import native, plan
from pyrunc.runtime.errors import PyruncError

paths = st.text(alphabet="abc/._-", min_size=1, max_size=20).map(lambda s: "/" + s)
# C strings end at NUL; the encoder refuses such text (tested below).
texts = st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
                max_size=10)
u32 = st.integers(min_value=0, max_value=2**32 - 1)
u64 = st.integers(min_value=0, max_value=2**64 - 1)

mount_steps = st.builds(plan.MountStep, kind=st.sampled_from([0, 1, 2]), destination=paths,
                        source=st.none() | paths, fstype=st.none() | st.sampled_from(["tmpfs", "proc"]),
                        flags=u32, remount_flags=u32, propagation=u32, data=st.none() | texts,
                        recursive_readonly=st.booleans(), source_is_dir=st.booleans())
processes = st.builds(plan.ProcessPlan, argv=st.lists(texts, min_size=1, max_size=4),
                      envp=st.lists(texts, max_size=4), cwd=paths, uid=u32, gid=u32,
                      additional_gids=st.lists(u32, max_size=3),
                      rlimits=st.lists(st.tuples(st.integers(0, 15), u64, u64), max_size=3),
                      oom_score_adj=st.none() | st.integers(-1000, 1000),
                      capabilities=st.none() | st.tuples(u64, u64, u64, u64, u64))
plans = st.builds(plan.Plan, namespaces=st.lists(st.tuples(st.integers(1, 2**30), st.none() | paths), max_size=4),
                  rootfs=paths, process=processes, mounts=st.lists(mount_steps, max_size=4),
                  masked_paths=st.lists(paths, max_size=3), hostname=st.none() | texts,
                  sysctls=st.lists(st.tuples(paths, texts), max_size=3))


def text_of(pointer: object) -> str | None:
    return None if pointer == ffi.NULL else ffi.string(pointer).decode()


def strings_of(array: object) -> list[str]:
    out = []
    while array[len(out)] != ffi.NULL:  # type: ignore[index]
        out.append(ffi.string(array[len(out)]).decode())  # type: ignore[index]
    return out


@given(plans)
def test_encoded_plan_reads_back_equal(p: plan.Plan) -> None:
    assert_reads_back(native.encode(p, sync_fd=5, fifo_fd=6).plan, p)


@given(plans)
def test_flattened_plan_unflattens_equal(p: plan.Plan) -> None:
    """What pyrunc-init receives: the plan through native/plan_codec.c,
    in a buffer at another address."""
    flat = bytes(native.flatten(native.encode(p, sync_fd=5, fifo_fd=6)))
    moved = ffi.new("unsigned char[]", flat)
    out = ffi.new("struct pyrunc_plan **")
    err = ffi.new("struct pyrunc_error *")
    assert lib.pyrunc_plan_unflatten(moved, len(flat), out, err) == 0, ffi.string(err.msg)
    assert_reads_back(out[0], p)


@given(plans, st.lists(st.integers(3, 2**20), max_size=12), st.integers(-1, 2**20))
def test_cgroup_fds_survive_flattening(p: plan.Plan, fds: list[int], dir_fd: int) -> None:
    """The fds the init joins its cgroup through, after other allocations
    (which would reuse an array nobody kept alive)."""
    encoded = native.encode(p, sync_fd=5, fifo_fd=6, cgroup_fds=fds, cgroup_dir_fd=dir_fd)
    litter = [ffi.new("int[]", [-7] * len(fds)) for _ in range(50)]
    flat = bytes(native.flatten(encoded))
    moved = ffi.new("unsigned char[]", flat)
    out = ffi.new("struct pyrunc_plan **")
    err = ffi.new("struct pyrunc_error *")
    assert lib.pyrunc_plan_unflatten(moved, len(flat), out, err) == 0, ffi.string(err.msg)
    assert [out[0].cgroup_fds[i] for i in range(out[0].n_cgroup_fds)] == fds
    assert out[0].cgroup_dir_fd == dir_fd
    del litter


@settings(max_examples=300)
@given(plans, st.data())
def test_corrupt_plans_are_refused_not_followed(p: plan.Plan, data: st.DataObject) -> None:
    """Every offset is bounds-checked: damage anywhere gives an error or a
    plan whose pointers all stay inside the buffer, never a crash."""
    flat = bytearray(native.flatten(native.encode(p, sync_fd=5, fifo_fd=6)))
    for _ in range(data.draw(st.integers(1, 8))):
        flat[data.draw(st.integers(0, len(flat) - 1))] = data.draw(st.integers(0, 255))
    moved = ffi.new("unsigned char[]", bytes(flat))
    out = ffi.new("struct pyrunc_plan **")
    err = ffi.new("struct pyrunc_error *")
    lib.pyrunc_plan_unflatten(moved, len(flat), out, err)


def assert_reads_back(c: object, p: plan.Plan) -> None:
    assert (c.sync_fd, c.fifo_fd, c.n_namespaces) == (5, 6, len(p.namespaces))
    assert [(c.namespaces[i].type, text_of(c.namespaces[i].path)) for i in range(c.n_namespaces)] == p.namespaces
    assert text_of(c.rootfs) == p.rootfs and text_of(c.hostname) == p.hostname
    decoded_mounts = [plan.MountStep(m.kind, text_of(m.destination), text_of(m.source), text_of(m.fstype),
                                     m.flags, m.remount_flags, m.propagation, text_of(m.data),
                                     bool(m.recursive_readonly), bool(m.source_is_dir))
                      for m in (c.mounts[i] for i in range(c.n_mounts))]
    assert decoded_mounts == p.mounts
    assert [text_of(c.masked_paths[i]) for i in range(c.n_masked_paths)] == p.masked_paths
    assert [(text_of(c.sysctls[i].key), text_of(c.sysctls[i].value)) for i in range(c.n_sysctls)] == p.sysctls
    proc = c.process
    assert strings_of(proc.argv) == p.process.argv and strings_of(proc.envp) == p.process.envp
    assert (proc.uid, proc.gid) == (p.process.uid, p.process.gid)
    assert [proc.additional_gids[i] for i in range(proc.n_additional_gids)] == p.process.additional_gids
    assert [(r.resource, r.soft, r.hard) for r in (proc.rlimits[i] for i in range(proc.n_rlimits))] == p.process.rlimits
    assert bool(proc.has_capabilities) == (p.process.capabilities is not None)
    if p.process.capabilities is not None:
        assert (proc.cap_bounding, proc.cap_effective, proc.cap_permitted, proc.cap_inheritable,
                proc.cap_ambient) == p.process.capabilities


@pytest.mark.parametrize("text, reason", [("a\0b", "NUL"), ("\ud800", "not valid Unicode")])
def test_strings_c_cannot_carry_are_refused(text: str, reason: str) -> None:
    p = plan.Plan(namespaces=[], rootfs="/r", process=plan.ProcessPlan(argv=[text], envp=[]))
    with pytest.raises(PyruncError, match=reason):
        native.encode(p, sync_fd=1, fifo_fd=2)
