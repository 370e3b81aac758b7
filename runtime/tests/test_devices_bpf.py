"""The cgroup v2 device filter (native/bpf_devices.c through
cgroups/devices_bpf.py).

Without root: the assembled program, run by a small eBPF interpreter
here, agrees with a reference evaluator of the rules for random rule lists
and accesses; and that evaluator over device_rules_v2() agrees with a model
of the v1 devices cgroup, the semantics runc's emulator keeps. As root with
a cgroup2 hierarchy: the real program on temporary cgroups, probed from a
child moved into them; updates replace it; random rule sets cross-checked
against the reference evaluator.
"""
from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pyrunc.runtime.cgroups import device_rules_v2, v2
from pyrunc.runtime.cgroups import devices_bpf as bpf
from pyrunc.runtime.cgroups.base import DEFAULT_ALLOWED_DEVICES, remove_tree, write_file
from pyrunc.runtime.errors import PyruncError

# (type, major, minor, access): one open ("r", "w", "rw") or mknod ("m").
Probe = tuple
ACCESS_SETS = ["", "r", "w", "m", "rw", "rm", "wm", "rwm"]
REQUESTS = ["r", "w", "m", "rw", "rm", "wm", "rwm"]


def rule(allow: bool, kind: str = "a", major: int = -1, minor: int = -1, access: str = "rwm") -> dict:
    return {"allow": allow, "type": kind, "major": major, "minor": minor, "access": access}


# ---------------------------------------------------------------- reference

def decide(rules: list[dict], kind: str, major: int, minor: int, access: str) -> bool:
    """The last rule matching the access decides; none: deny. An allow rule
    matches when it grants every letter asked for, a deny rule when it
    refuses any of them."""
    for r in reversed(rules):
        if r["type"] not in ("a", kind) or r["major"] not in (-1, major) or r["minor"] not in (-1, minor):
            continue
        asked, listed = set(access), set(r["access"])
        if (asked <= listed) if r["allow"] else (asked & listed):
            return bool(r["allow"])
    return False


class V1Cgroup:
    """A v1 devices cgroup as the kernel keeps it (security/device_cgroup.c),
    written independently of DeviceEmulator: a default behaviour plus
    exceptions keyed exactly by (type, major, minor)."""

    def __init__(self) -> None:
        self.allow_default = True
        self.exceptions: dict[tuple[str, int, int], set[str]] = {}

    def write(self, r: dict) -> None:
        """One line written to devices.allow or devices.deny."""
        if r["type"] == "a":
            self.allow_default, self.exceptions = r["allow"], {}
            return
        key = (r["type"], r["major"], r["minor"])
        if r["allow"] == self.allow_default:      # dev_exception_rm: exact key only
            left = self.exceptions.get(key, set()) - set(r["access"])
            if left:
                self.exceptions[key] = left
            else:
                self.exceptions.pop(key, None)
        else:                                     # dev_exception_add
            self.exceptions[key] = self.exceptions.get(key, set()) | set(r["access"])

    def permits(self, kind: str, major: int, minor: int, access: str) -> bool:
        listed = [letters for (t, ma, mi), letters in self.exceptions.items()
                  if t == kind and ma in (-1, major) and mi in (-1, minor)]
        if self.allow_default:    # !match_exception_partial
            return not any(letters & set(access) for letters in listed)
        return any(set(access) <= letters for letters in listed)  # match_exception


# ---------------------------------------------------------------- interpreter

U32, U64 = (1 << 32) - 1, (1 << 64) - 1
LDX_W, ALU_AND_K, ALU_RSH_K, ALU_MOV_X, ALU64_MOV_K = 0x61, 0x54, 0x74, 0xBC, 0xB7
JNE_K, JNE_X, JEQ_K, EXIT = 0x55, 0x5D, 0x15, 0x95
CTX_OFFSETS = {0: "access_type", 4: "major", 8: "minor"}  # struct bpf_cgroup_dev_ctx


def instructions(program: bytes) -> list[tuple[int, int, int, int, int]]:
    """(code, dst, src, off, imm) per struct bpf_insn (little-endian)."""
    insns = []
    for at in range(0, len(program), 8):
        regs = program[at + 1]
        insns.append((program[at], regs & 0x0F, regs >> 4,
                      int.from_bytes(program[at + 2:at + 4], "little", signed=True),
                      int.from_bytes(program[at + 4:at + 8], "little", signed=True)))
    return insns


def run(program: bytes, kind: str, major: int, minor: int, access: str) -> bool:
    """Run program as the kernel would for one access, knowing only the
    opcodes the assembler is meant to emit."""
    insns = instructions(program)
    ctx = {"access_type": bpf.access_bits(access) << 16 | bpf.device_type(kind), "major": major, "minor": minor}
    regs: list[int | None] = [None] * 11
    pc = 0
    while True:
        code, dst, src, off, imm = insns[pc]
        pc += 1
        if code == LDX_W:
            assert src == 1 and regs[1] is None, "a load not from the context"
            regs[dst] = ctx[CTX_OFFSETS[off]]
        elif code == ALU_AND_K:
            regs[dst] = regs[dst] & imm & U32  # type: ignore[operator]
        elif code == ALU_RSH_K:
            regs[dst] = (regs[dst] & U32) >> imm  # type: ignore[operator]
        elif code == ALU_MOV_X:
            regs[dst] = regs[src] & U32  # type: ignore[operator]
        elif code == ALU64_MOV_K:
            regs[dst] = imm & U64
        elif code in (JNE_K, JNE_X, JEQ_K):
            other = regs[src] if code == JNE_X else imm & U64
            assert off >= 0 and pc + off < len(insns), "jumps go forward, inside the program"
            if (regs[dst] == other) == (code == JEQ_K):
                pc += off
        elif code == EXIT:
            assert regs[0] in (0, 1)
            return regs[0] == 1
        else:
            raise AssertionError(f"unexpected opcode {code:#x} at {pc - 1}")


# ---------------------------------------------------------------- pure tests

NUMBERS = [-1, 1, 3, 5]
oci_rules = st.builds(rule, st.booleans(), st.sampled_from("abc"), st.sampled_from(NUMBERS),
                      st.sampled_from(NUMBERS), st.sampled_from(ACCESS_SETS[1:]))
# Also what only the native side sees: no access, numbers no device has.
any_rules = st.builds(rule, st.booleans(), st.sampled_from("abc"), st.sampled_from(NUMBERS + [1 << 31]),
                      st.sampled_from(NUMBERS + [U32]), st.sampled_from(ACCESS_SETS))
# Every access the rules can tell apart, each time.
ACCESSES = list(itertools.product("bc", NUMBERS[1:], NUMBERS[1:], REQUESTS))


@settings(max_examples=200)
@given(st.lists(any_rules, max_size=8))
@example([rule(True, "c", 1, 3, "rw"), rule(False, "c", 1, 3, "w")])  # a deny refusing part of "rw"
def test_program_matches_reference(rules: list[dict]) -> None:
    program = bpf.build_program(rules)
    for probe in ACCESSES:
        assert run(program, *probe) == decide(rules, *probe), probe


@settings(max_examples=200)
@given(st.lists(oci_rules, max_size=8))
def test_reference_over_emulator_matches_v1(rules: list[dict]) -> None:
    try:
        effective = device_rules_v2(rules)
    except PyruncError as exc:
        assert "punch a hole" in exc.message  # refused, as runc refuses it
        return
    cgroup = V1Cgroup()
    for r in rules:
        cgroup.write(r)
    for probe in ACCESSES:
        assert decide(effective, *probe) == cgroup.permits(*probe), probe


def test_program_shape() -> None:
    rules = device_rules_v2([rule(False), rule(True, "c", 1, 3, "rw")])
    program = instructions(bpf.build_program(rules))
    # Prologue, allow c 1:3 rw (type, access, major, minor, verdict), deny all.
    assert len(program) == 6 + 8 + 2
    assert [insn[0] for insn in program[-4:]] == [ALU64_MOV_K, EXIT, ALU64_MOV_K, EXIT]
    assert program[-4][4] == 1 and program[-2][4] == 0
    with pytest.raises(PyruncError, match="device rule 0: 4294967296:-1 is out of range"):
        bpf.build_program([rule(True, "c", 1 << 32)])


def test_v2_manager_loads_by_default() -> None:
    manager = v2.V2Manager("/sys/fs/cgroup", "/x", {"unified": "/sys/fs/cgroup/x"})
    assert manager.device_program_loader is bpf.load_device_program


class StubManager:
    paths = {"unified": "/nonexistent"}

    def __init__(self) -> None:
        self.warnings: list[str] = []


@pytest.mark.parametrize("userns, rules, lenient", [
    (False, [rule(True)], True),
    (False, [rule(False), rule(True, "c", 1, 3)], False),
    (True, [rule(False), rule(True, "c", 1, 3)], True),
])
def test_bpf_refused(monkeypatch: pytest.MonkeyPatch, userns: bool, rules: list[dict], lenient: bool) -> None:
    """Like runc and crun: without bpf(2), go on only where the filter
    would not matter."""
    def refuse(path: str, rules: list[dict]) -> None:
        raise PyruncError("cannot load the device filter: Operation not permitted", errno.EPERM)

    monkeypatch.setattr(bpf, "attach_device_program", refuse)
    monkeypatch.setattr(bpf, "in_user_namespace", lambda: userns)
    manager = StubManager()
    if lenient:
        bpf.load_device_program(manager, rules)  # type: ignore[arg-type]
        assert "not applied" in manager.warnings[0]
    else:
        with pytest.raises(PyruncError, match="Operation not permitted"):
            bpf.load_device_program(manager, rules)  # type: ignore[arg-type]


def test_uid_map(tmp_path: Path) -> None:
    uid_map = tmp_path / "uid_map"
    uid_map.write_text("         0          0 4294967295\n")
    assert not bpf.in_user_namespace(str(uid_map))
    uid_map.write_text("         0     100000      65536\n")
    assert bpf.in_user_namespace(str(uid_map))


# ---------------------------------------------------------------- kernel

def cgroup2_root() -> str | None:
    for path in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(path, "cgroup.controllers")):
            return path
    return None


def free_majors() -> list[int]:
    """Majors no driver has here (from the ranges for local use), so opening
    a node of one reaches no device: nothing is touched, whatever is allowed."""
    with open("/proc/devices", encoding="ascii") as f:
        used = {int(words[0]) for words in map(str.split, f) if words and words[0].isdigit()}
    return [major for major in (*range(240, 255), *range(60, 64), *range(120, 128)) if major not in used]


ROOT = cgroup2_root()
FREE = free_majors()[:2]
needs_kernel = pytest.mark.skipif(os.geteuid() != 0 or ROOT is None or len(FREE) < 2,
                                  reason="needs root, a cgroup2 hierarchy and two unused majors")
NULL, ZERO = ("c", 1, 3), ("c", 1, 5)
# Devices safe to open: /dev/null, /dev/zero and driverless numbers.
OPENABLE = [NULL, ZERO] + [(kind, major, minor) for kind in "bc" for major in FREE for minor in (3, 5)]
MKNODABLE = [(kind, major, minor) for kind in "bc" for major in [1] + FREE for minor in (3, 5)]
ALL_PROBES = ([(*device, access) for device in OPENABLE for access in ("r", "w", "rw")]
              + [(*device, "m") for device in MKNODABLE])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where device nodes are made; device nodes work there."""
    path = tmp_path_factory.mktemp("nodes")
    if os.statvfs(path).f_flag & os.ST_NODEV:
        pytest.skip(f"{path} is mounted nodev")
    return path


@contextlib.contextmanager
def temporary_cgroup() -> Iterator[str]:
    assert ROOT is not None
    path = tempfile.mkdtemp(prefix="pyrunc-test-devices-", dir=ROOT)
    try:
        yield path
    finally:
        remove_tree(path)


def _try(probe: Probe, node: Path) -> bool:
    kind, major, minor, access = probe
    try:
        if access == "m":
            os.mknod(node, (stat.S_IFBLK if kind == "b" else stat.S_IFCHR) | 0o600, os.makedev(major, minor))
            os.unlink(node)
        else:
            flags = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}[access]
            os.close(os.open(node, flags | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC))
    except OSError as exc:
        return exc.errno != errno.EPERM  # past the filter, the driver may still refuse (ENXIO)
    return True


def probe_in(cgroup: str, scratch: Path, probes: list[Probe]) -> list[bool]:
    """Whether each probe is allowed, tried by a child moved into cgroup."""
    directory = Path(tempfile.mkdtemp(dir=scratch))
    try:
        nodes = [directory / f"node-{i}" for i in range(len(probes))]
        for (kind, major, minor, access), node in zip(probes, nodes):
            if access != "m":
                os.mknod(node, (stat.S_IFBLK if kind == "b" else stat.S_IFCHR) | 0o600, os.makedev(major, minor))
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                write_file(cgroup, "cgroup.procs", "0")
                os.write(write_end, bytes(b"1"[0] if _try(p, n) else b"0"[0] for p, n in zip(probes, nodes)))
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as reader:
            outcome = reader.read()
        os.waitpid(pid, 0)
    finally:
        shutil.rmtree(directory)
    assert len(outcome) == len(probes), "the probing child failed"
    return [c == ord("1") for c in outcome]


def ours(cgroup: str) -> list[int]:
    return [prog_id for prog_id, mine in bpf.attached_programs(cgroup) if mine]


def check_decisions(cgroup: str, scratch: Path, rules: list[dict], probes: list[Probe]) -> None:
    outcome = probe_in(cgroup, scratch, probes)
    expected = [decide(rules, *probe) for probe in probes]
    assert dict(zip(probes, outcome)) == dict(zip(probes, expected))


@needs_kernel
def test_allowed_and_denied(scratch: Path) -> None:
    free = FREE[0]
    rules = device_rules_v2([rule(False), rule(True, "c", 1, 3), rule(True, "c", 1, 5, "r"),
                             rule(True, "b", free, -1, "m")])
    with temporary_cgroup() as cgroup:
        bpf.attach_device_program(cgroup, rules)
        probes = [(*NULL, "rw"), (*ZERO, "r"), (*ZERO, "w"), (*ZERO, "rw"), (*NULL, "m"), (*ZERO, "m"),
                  ("b", free, 3, "m"), ("b", free, 3, "r"), ("c", free, 3, "m")]
        assert probe_in(cgroup, scratch, probes) == [True, True, False, False, True, False, True, False, False]


@needs_kernel
def test_deny_rule_refuses_partial_access(scratch: Path) -> None:
    """Denying "w" also refuses an open for "rw", as v1 does (runc's own
    program would let that through)."""
    rules = device_rules_v2([rule(False, "c", 1, 5, "w")])
    with temporary_cgroup() as cgroup:
        bpf.attach_device_program(cgroup, rules)
        assert probe_in(cgroup, scratch, [(*ZERO, "r"), (*ZERO, "w"), (*ZERO, "rw"), (*NULL, "rw")]) \
            == [True, False, False, True]


@needs_kernel
def test_wildcards(scratch: Path) -> None:
    one, other = FREE
    rules = [rule(False), rule(True, "c", one, -1, "rw"), rule(True, "c", -1, 5, "r"), rule(True, "a", other, 3, "m")]
    probes = [("c", one, 3, "rw"), ("c", one, 5, "w"), ("c", other, 5, "r"), ("c", other, 5, "w"),
              ("b", one, 3, "r"), (*NULL, "r"), (*ZERO, "r"), ("b", other, 3, "m"), ("c", other, 3, "m"),
              ("c", other, 5, "m")]
    with temporary_cgroup() as cgroup:
        bpf.attach_device_program(cgroup, rules)
        assert probe_in(cgroup, scratch, probes) == [True, True, True, False, False, False, True, True, True, False]
        check_decisions(cgroup, scratch, rules, ALL_PROBES)


@needs_kernel
def test_update_replaces_the_program(scratch: Path) -> None:
    with temporary_cgroup() as cgroup:
        seen: list[int] = []
        for allow_zero in (True, False, True):
            rules = [rule(False), rule(True, *NULL)] + ([rule(True, *ZERO)] if allow_zero else [])
            bpf.attach_device_program(cgroup, rules)
            attached = bpf.attached_programs(cgroup)
            assert len(attached) == 1 and attached[0][1], attached
            assert attached[0][0] not in seen
            seen.append(attached[0][0])
            assert probe_in(cgroup, scratch, [(*ZERO, "r")]) == [allow_zero]
        assert bpf.detach_device_programs(cgroup) == 1
        assert bpf.attached_programs(cgroup) == []


@needs_kernel
def test_through_the_manager(scratch: Path) -> None:
    """`update` as the CLI does it: the manager's default loader, runc's
    default devices appended, the program replaced."""
    assert ROOT is not None
    free = FREE[0]
    with temporary_cgroup() as cgroup:
        manager = v2.V2Manager(ROOT, "/" + os.path.basename(cgroup), {"unified": cgroup})
        manager.apply({"devices": [{"allow": False, "access": "rwm"}]})
        first = ours(cgroup)
        probes = [(*NULL, "rw"), (*ZERO, "rw"), ("c", free, 3, "r"), ("b", free, 3, "m"), ("b", free, 3, "w")]
        assert probe_in(cgroup, scratch, probes) == [True, True, False, True, False]
        manager.apply({"devices": [{"allow": True, "access": "rwm"}]}, "update")
        assert len(ours(cgroup)) == 1 and ours(cgroup) != first
        assert all(probe_in(cgroup, scratch, probes))
        assert not manager.warnings


@needs_kernel
def test_not_a_cgroup(tmp_path: Path) -> None:
    with pytest.raises(PyruncError) as info:
        bpf.attach_device_program(str(tmp_path), [rule(True)])
    assert info.value.errno == errno.EBADF and str(tmp_path) in info.value.message


rules_on_free = st.builds(
    rule, st.booleans(), st.sampled_from("abc"), st.sampled_from([-1, 1] + FREE),
    st.sampled_from([-1, 3, 5]), st.sampled_from(ACCESS_SETS))


@needs_kernel
@settings(max_examples=20, deadline=None)
@given(st.lists(rules_on_free, max_size=6), st.booleans())
def test_kernel_matches_reference(scratch: Path, rules: list[dict], with_defaults: bool) -> None:
    if with_defaults:  # what the manager adds after the spec's rules
        rules = rules + [rule(*default) for default in DEFAULT_ALLOWED_DEVICES]
    with temporary_cgroup() as cgroup:
        bpf.attach_device_program(cgroup, rules)
        check_decisions(cgroup, scratch, rules, ALL_PROBES)
