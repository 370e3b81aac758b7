"""linux.seccomp: every valid profile compiles to a loadable BPF program,
every invalid one is refused naming the JSON path of what is wrong, and
compiled programs are cached by content.  No root needed."""
from __future__ import annotations

import copy
import os
import stat
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from pyrunc._native import ffi  # type: ignore[import-not-found]
from plan_decoding import decoded
from pyrunc.runtime import plan, seccomp
from pyrunc.runtime.errors import ConfigError

u64 = st.integers(0, 2**64 - 1)
errnos = st.integers(0, seccomp.MAX_ERRNO_RET)
# Real names (some multiplexed on x86, some of other architectures only)
# and names no architecture has: those are skipped, not refused.
# No socketcall or ipc: on 32-bit x86 socket/connect *are* socketcall with
# a first argument, so a rule for both can legitimately conflict (the
# conflict test below covers that).
SYSCALL_NAMES = [
    "read", "write", "openat", "mkdir", "mkdirat", "personality", "getpid", "clone", "clone3",
    "socket", "connect", "ioctl", "prctl", "kill", "mmap", "arm_fadvise64_64",
    "no_such_syscall", "another_unknown_one"]
syscall_names = st.sampled_from(SYSCALL_NAMES)
FEATURES = seccomp.features()


def _fits_native(arch: str) -> bool:
    try:
        seccomp.prepare({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch]}, None)
    except ConfigError:
        return False
    return True


# libseccomp mixes only architectures of the native byte order in a filter.
SUPPORTED_ARCHS = [arch for arch in FEATURES["archs"] if _fits_native(arch)]
SUPPORTED_FLAGS = FEATURES["supportedFlags"]
NON_NOTIFY = sorted(set(seccomp.ACTIONS) - {"SCMP_ACT_NOTIFY"})


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict holding any subset of fields."""
    return st.fixed_dictionaries({}, optional=fields)


args = st.builds(lambda required, extra: {**required, **extra},
                 st.fixed_dictionaries({"index": st.integers(0, 5), "value": u64,
                                        "op": st.sampled_from(sorted(seccomp.OPERATORS))}),
                 optional(valueTwo=u64))


@st.composite
def rules(draw: st.DrawFn, notify: bool, names: st.SearchStrategy[list[str]], max_args: int = 4) -> dict[str, Any]:
    action = draw(st.sampled_from(sorted(seccomp.ACTIONS) if notify else NON_NOTIFY))
    names = draw(names)
    if action == "SCMP_ACT_NOTIFY":
        names = [n for n in names if n not in seccomp.RESERVED_FOR_NOTIFY] or ["getpid"]
    rule = {"names": names, "action": action}
    rule.update(draw(optional(errnoRet=errnos, args=st.lists(args, max_size=max_args))))
    return rule


@st.composite
def profiles(draw: st.DrawFn, shared_names: bool = False) -> dict[str, Any]:
    """Profiles libseccomp takes: without shared_names no two rules name
    the same syscall, as two rules with one condition and two actions
    conflict (runc refuses those too; see the test below)."""
    notify = draw(st.booleans())
    profile: dict[str, Any] = {"defaultAction": draw(st.sampled_from(NON_NOTIFY))}
    profile.update(draw(optional(
        defaultErrnoRet=errnos,
        architectures=st.lists(st.sampled_from(SUPPORTED_ARCHS), max_size=3),
        flags=st.lists(st.sampled_from(SUPPORTED_FLAGS), max_size=4, unique=True),
        listenerMetadata=st.text(max_size=8).filter(lambda t: "\0" not in t))))
    if shared_names:
        # At most one rule with conditions per syscall: libseccomp 2.5
        # never finishes adding two that share a syscall and compare one
        # argument with GT or GE each and another one differently (runc
        # hangs on them alike; pyrunc gives up after a time limit, see
        # spec-tests/test_seccomp.py).
        syscalls = draw(st.lists(rules(notify, st.lists(syscall_names, min_size=1, max_size=4),
                                       max_args=2), max_size=4))
        conditioned: set[str] = set()
        for rule in syscalls:
            if rule.get("args"):
                if conditioned & set(rule["names"]):
                    del rule["args"]
                else:
                    conditioned |= set(rule["names"])
        profile["syscalls"] = syscalls
    else:
        pool = draw(st.permutations(SYSCALL_NAMES))
        sizes = draw(st.lists(st.integers(1, 3), max_size=6))
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        profile["syscalls"] = [draw(rules(notify, st.just(pool[start:start + size])))
                               for start, size in zip(starts, sizes) if pool[start:start + size]]
    if notify:
        profile["listenerPath"] = "/run/agent.sock"
    return profile


def is_program(bpf: bytes) -> bool:
    return 0 < len(bpf) <= seccomp.MAX_PROGRAM_BYTES and len(bpf) % 8 == 0


# ---- valid profiles ------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(profiles())
def test_every_valid_profile_compiles(profile: dict[str, Any]) -> None:
    program = seccomp.prepare(profile, None)
    assert is_program(program.bpf)
    notify = any(r["action"] == "SCMP_ACT_NOTIFY" for r in profile["syscalls"])
    assert program.notify == notify
    assert program.listener_path == profile.get("listenerPath")
    # TSYNC never beside a listener; WAIT_KILLABLE_RECV never without one.
    if notify:
        assert not program.flags & seccomp.FLAG_TSYNC
    else:
        assert not program.flags & (seccomp.FLAG_WAIT_KILLABLE_RECV | seccomp.FLAG_NEW_LISTENER)


@settings(max_examples=200, deadline=None)
@given(profiles(shared_names=True))
def test_rules_that_conflict_are_named(profile: dict[str, Any]) -> None:
    try:
        assert is_program(seccomp.prepare(profile, None).bpf)
    except ConfigError as exc:
        assert exc.path is not None and exc.path.startswith("linux.seccomp.syscalls[")
        assert "File exists" in exc.message


def test_actions_and_defaults() -> None:
    f = seccomp.parse({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_KILL"},
        {"names": ["rmdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 38},
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}]})
    assert f.default_action == seccomp.ACT_ERRNO and f.default_errno_ret == 1     # EPERM
    assert [r.action for r in f.rules] == [0, seccomp.ACT_TRACE, seccomp.ACT_ERRNO]
    assert [r.errno_ret for r in f.rules] == [1, 38, 1]
    assert f.rules[2].args == [seccomp.Arg(1, seccomp.OPERATORS["SCMP_CMP_EQ"], 9, 0)]


def test_more_architectures_make_a_longer_program() -> None:
    profile: dict[str, Any] = {"defaultAction": "SCMP_ACT_ALLOW",
                               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    native_only = seccomp.prepare(profile, None).bpf
    profile["architectures"] = ["SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"]
    assert len(seccomp.prepare(profile, None).bpf) > len(native_only)


def test_an_architecture_of_the_other_byte_order_is_named() -> None:
    other = next(arch for arch in FEATURES["archs"] if arch not in SUPPORTED_ARCHS)
    with pytest.raises(ConfigError) as info:
        seccomp.prepare({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [SUPPORTED_ARCHS[0], other]}, None)
    assert info.value.path == "linux.seccomp.architectures[1]"
    assert "byte order" in info.value.message


def test_redundant_rules_are_dropped() -> None:
    # A rule with the default action changes nothing (libseccomp refuses it).
    # ENOSYS as the default: no -ENOSYS stub, which would count mkdir.
    base = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": ENOSYS}
    same = {**base, "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS}]}
    assert seccomp.prepare(same, None).bpf == seccomp.prepare(base, None).bpf


# ---- the -ENOSYS stub ----------------------------------------------------------------------

ENOSYS = 38
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
AUDIT_ARCH_X86_64, AUDIT_ARCH_I386 = 0xC000003E, 0x40000003
X32_BIT = 0x40000000
# x86_64 numbers; x32 has the same ones with X32_BIT for these.
NR = {"read": 0, "write": 1, "getpid": 39, "mkdir": 83, "exit_group": 231, "statx": 332,
      "clone3": 435, "close_range": 436, "openat2": 437}
BPF_INSN = struct.Struct("=HBBI")


def run_bpf(bpf: bytes, nr: int, arch: int = AUDIT_ARCH_X86_64) -> int:
    """What a classic BPF seccomp program returns for a call without
    arguments: the loads and jumps libseccomp and our stub use."""
    data = struct.pack("=IIQ6Q", nr, arch, 0, *[0] * 6)
    insns = [BPF_INSN.unpack_from(bpf, i) for i in range(0, len(bpf), BPF_INSN.size)]
    a, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:                            # ld [k]
            a = struct.unpack_from("=I", data, k)[0]
        elif code == 0x06:                          # ret #k
            return k
        elif code == 0x05:                          # ja
            pc += k
        elif code & 0x07 == 0x05:                   # jeq/jgt/jge/jset #k
            test = {0x10: a == k, 0x20: a > k, 0x30: a >= k, 0x40: a & k != 0}[code & 0xF0]
            pc += jt if test else jf
        elif code == 0x54:                          # and #k
            a &= k
        else:
            raise AssertionError(f"opcode {code:#x} not emulated")


def old_profile(default: str = "SCMP_ACT_ERRNO", **fields: Any) -> dict[str, Any]:
    """A profile from before clone3, close_range and openat2 (statx is its newest)."""
    return {"defaultAction": default, **fields,
            "syscalls": [{"names": ["read", "write", "getpid", "exit_group", "statx"],
                          "action": "SCMP_ACT_ALLOW"}]}


x86_64_only = pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 call numbers")


@x86_64_only
@pytest.mark.parametrize("default, errno_ret", [("SCMP_ACT_ERRNO", 1), ("SCMP_ACT_KILL_PROCESS", None)])
def test_calls_newer_than_the_profile_get_enosys(default: str, errno_ret: int | None) -> None:
    bpf = seccomp.prepare(old_profile(default), None).bpf
    denied = RET_ERRNO | errno_ret if errno_ret else 0x80000000
    assert run_bpf(bpf, NR["getpid"]) == run_bpf(bpf, NR["statx"]) == RET_ALLOW
    assert run_bpf(bpf, NR["mkdir"]) == denied
    for name in ("clone3", "close_range", "openat2"):
        assert run_bpf(bpf, NR[name]) == RET_ERRNO | ENOSYS
    assert run_bpf(bpf, NR["statx"] + 1) == RET_ERRNO | ENOSYS
    assert run_bpf(bpf, 1000) == RET_ERRNO | ENOSYS


@x86_64_only
def test_each_architecture_has_its_own_newest_call() -> None:
    profile = old_profile(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    profile["syscalls"].append({"names": ["close_range"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9})
    bpf = seccomp.prepare(profile, None).bpf
    # close_range (436) is named: openat2 is the first newer call on x86_64 ...
    assert run_bpf(bpf, NR["close_range"]) == RET_ERRNO | 9
    assert run_bpf(bpf, NR["openat2"]) == RET_ERRNO | ENOSYS
    assert run_bpf(bpf, NR["mkdir"]) == RET_ERRNO | 1
    # ... and on x32, whose numbers carry bit 30 ...
    assert run_bpf(bpf, X32_BIT | NR["openat2"]) == RET_ERRNO | ENOSYS
    assert run_bpf(bpf, X32_BIT | NR["mkdir"]) == RET_ERRNO | 1
    # ... and on i386, where close_range is 436 too and mkdir is 39.
    assert run_bpf(bpf, 437, AUDIT_ARCH_I386) == RET_ERRNO | ENOSYS
    assert run_bpf(bpf, 39, AUDIT_ARCH_I386) == RET_ERRNO | 1


@x86_64_only
@pytest.mark.parametrize("profile", [
    old_profile("SCMP_ACT_ALLOW"), old_profile("SCMP_ACT_LOG"), old_profile("SCMP_ACT_TRACE"),
    old_profile(defaultErrnoRet=ENOSYS),
])
def test_no_stub_for_permissive_defaults_or_enosys(profile: dict[str, Any]) -> None:
    # runc's rule: a tracer handles new calls itself.
    bpf = seccomp.prepare(profile, None).bpf
    assert run_bpf(bpf, NR["openat2"]) == run_bpf(bpf, NR["mkdir"])


# ---- invalid profiles --------------------------------------------------------------------

VALID: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64"],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["personality", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 1, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}]},
    ],
}

# (path, bad value); None removes the field.
BREAKAGES: list[tuple[tuple[Any, ...], Any]] = [
    (("defaultAction",), "SCMP_ACT_SOMETIMES"),
    (("defaultAction",), None),
    (("defaultAction",), 5),
    (("defaultAction",), "SCMP_ACT_NOTIFY"),
    (("defaultErrnoRet",), -1),
    (("defaultErrnoRet",), 2**16),
    (("syscalls", 1, "errnoRet"), 4095),        # ERRNO: libseccomp's bound
    (("architectures", 0), "SCMP_ARCH_VAX"),
    (("architectures", 0), 3),
    (("flags", 0), "SECCOMP_FILTER_FLAG_NEW_LISTENER"),
    (("syscalls", 1, "action"), "allow"),
    (("syscalls", 1, "action"), None),
    (("syscalls", 1, "names"), []),
    (("syscalls", 1, "names"), None),
    (("syscalls", 1, "names", 1), ""),
    (("syscalls", 1, "names", 1), 7),
    (("syscalls", 1, "errnoRet"), True),
    (("syscalls", 1, "args", 1, "index"), 6),
    (("syscalls", 1, "args", 1, "index"), -1),
    (("syscalls", 1, "args", 1, "op"), "SCMP_CMP_ALMOST"),
    (("syscalls", 1, "args", 1, "value"), 2**64),
    (("syscalls", 1, "args", 1, "value"), "8"),
    (("syscalls", 1, "args", 1, "valueTwo"), -2),
    (("syscalls", 1, "args", 0), "index=0"),
    (("syscalls", 1), ["getpid"]),
    (("syscalls",), {"names": ["getpid"]}),
    (("listenerPath",), 1),
]


def json_path(parts: tuple[Any, ...]) -> str:
    path = "linux.seccomp"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def broken(parts: tuple[Any, ...], value: Any) -> dict[str, Any]:
    profile = copy.deepcopy(VALID)
    node = profile
    for part in parts[:-1]:
        node = node[part]
    if value is None:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return profile


def test_the_valid_base_is_valid() -> None:
    assert is_program(seccomp.prepare(VALID, None).bpf)


@pytest.mark.parametrize("parts, value", BREAKAGES, ids=lambda x: repr(x))
def test_invalid_field_is_named(parts: tuple[Any, ...], value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        seccomp.prepare(broken(parts, value), None)
    assert info.value.path == json_path(parts)
    assert str(info.value).startswith(json_path(parts) + ": ")


@settings(max_examples=200, deadline=None)
@given(profiles(), st.data())
def test_breaking_a_valid_profile_names_the_spot(profile: dict[str, Any], data: st.DataObject) -> None:
    parts, value = data.draw(st.sampled_from(list(_breakable(profile))))
    node = profile
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    with pytest.raises(ConfigError) as info:
        seccomp.prepare(profile, None)
    assert info.value.path == json_path(parts)


def _breakable(profile: dict[str, Any]) -> Any:
    """Every field of profile with a value it must not have."""
    yield ("defaultAction",), "SCMP_ACT_NOPE"
    for i, rule in enumerate(profile["syscalls"]):
        yield ("syscalls", i, "action"), "SCMP_ACT_NOPE"
        yield ("syscalls", i, "names"), []
        for j in range(len(rule["names"])):
            yield ("syscalls", i, "names", j), ""
        yield ("syscalls", i, "errnoRet"), 2**16
        for j in range(len(rule.get("args", []))):
            yield ("syscalls", i, "args", j, "index"), 6
            yield ("syscalls", i, "args", j, "op"), "SCMP_CMP_NOPE"
            yield ("syscalls", i, "args", j, "value"), -1
    for i in range(len(profile.get("architectures", []))):
        yield ("architectures", i), "SCMP_ARCH_NOPE"
    for i in range(len(profile.get("flags", []))):
        yield ("flags", i), "SECCOMP_FILTER_FLAG_NOPE"


def test_notify_needs_a_listener_path_and_spares_sendmsg() -> None:
    notify = {"defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_NOTIFY"}]}
    with pytest.raises(ConfigError) as info:
        seccomp.prepare(notify, None)
    assert info.value.path == "linux.seccomp.listenerPath"
    notify["syscalls"][0]["names"].append("sendmsg")
    with pytest.raises(ConfigError) as info:
        seccomp.prepare({**notify, "listenerPath": "/a"}, None)
    assert info.value.path == "linux.seccomp.syscalls[0].names[1]"


def test_errors_from_libseccomp_name_the_rule() -> None:
    f = seccomp.parse(VALID)
    f.rules[1].args[0].op = 99      # past what the parser lets through
    with pytest.raises(ConfigError) as info:
        seccomp.compile_filter(f)
    assert info.value.path == "linux.seccomp.syscalls[1]"
    assert "operator" in info.value.message


# ---- the cache ----------------------------------------------------------------------------

def cache_files(root: Path) -> list[Path]:
    return sorted((root / seccomp.CACHE_DIR).glob("*.bpf"))


def test_a_cached_program_is_not_compiled_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program = seccomp.prepare(VALID, str(tmp_path))
    [entry] = cache_files(tmp_path)
    assert entry.read_bytes() == program.bpf
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / seccomp.CACHE_DIR).stat().st_mode) == 0o700
    assert not [p for p in (tmp_path / seccomp.CACHE_DIR).iterdir() if p.suffix != ".bpf"]

    def no_compiling(*_args: Any) -> bytes:
        raise AssertionError("compiled again")

    monkeypatch.setattr(seccomp, "compile_filter", no_compiling)
    assert seccomp.prepare(VALID, str(tmp_path)) == program


def test_the_key_is_what_the_program_depends_on() -> None:
    key = seccomp.cache_key(seccomp.parse(VALID))
    # Listener and load flags do not change the program...
    same = {**VALID, "listenerMetadata": "m", "listenerPath": "/x", "flags": []}
    assert seccomp.cache_key(seccomp.parse(same)) == key
    # ...rules, errno values, arguments and architectures do.
    for parts, value in [(("syscalls", 0, "errnoRet"), 2), (("syscalls", 1, "args", 0, "value"), 9),
                         (("architectures",), ["SCMP_ARCH_X86"]), (("defaultAction",), "SCMP_ACT_LOG")]:
        assert seccomp.cache_key(seccomp.parse(broken(parts, value))) != key


def test_a_damaged_entry_is_replaced(tmp_path: Path) -> None:
    program = seccomp.prepare(VALID, str(tmp_path))
    [entry] = cache_files(tmp_path)
    for damage in (b"", b"\1" * 7, b"\0" * (seccomp.MAX_PROGRAM_BYTES + 8)):
        entry.write_bytes(damage)
        assert seccomp.prepare(VALID, str(tmp_path)) == program
        assert entry.read_bytes() == program.bpf


def test_the_cache_keeps_the_newest_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seccomp, "CACHE_ENTRIES", 3)
    for errno_ret in range(5):
        seccomp.prepare(broken(("syscalls", 0, "errnoRet"), errno_ret), str(tmp_path))
    assert len(cache_files(tmp_path)) == 3
    # The newest one is still there: a hit.
    monkeypatch.setattr(seccomp, "compile_filter", lambda *_: pytest.fail("compiled again"))
    seccomp.prepare(broken(("syscalls", 0, "errnoRet"), 4), str(tmp_path))


def test_an_unwritable_cache_costs_only_time(tmp_path: Path) -> None:
    (tmp_path / seccomp.CACHE_DIR).write_text("not a directory")
    assert is_program(seccomp.prepare(VALID, str(tmp_path)).bpf)


# ---- plan and encoding ----------------------------------------------------------------------

@pytest.mark.parametrize("notify, no_new_privs, expected", [
    (False, False, plan.SECCOMP_BEFORE_IDENTITY),
    (True, False, plan.SECCOMP_BEFORE_IDENTITY),
    (False, True, plan.SECCOMP_BEFORE_START_HOOKS),
    (True, True, plan.SECCOMP_BEFORE_READY),
])
def test_load_point_follows_runc(notify: bool, no_new_privs: bool, expected: int) -> None:
    program = seccomp.Program(b"\0" * 8, seccomp.FLAG_NEW_LISTENER if notify else 0)
    assert plan.seccomp_load_point(program, no_new_privs) == expected
    assert plan.seccomp_load_point(None, no_new_privs) == plan.SECCOMP_NONE


def test_the_plan_carries_the_program_to_c() -> None:
    program = seccomp.prepare({**VALID, "flags": ["SECCOMP_FILTER_FLAG_LOG"]}, None)
    the_plan = plan.Plan([], "/", plan.ProcessPlan(["sh"], [], no_new_privileges=True), seccomp=program)
    d = decoded(the_plan)
    c = d.plan
    assert bytes(ffi.buffer(c.seccomp_bpf, c.seccomp_bpf_len)) == program.bpf
    assert c.seccomp_flags == seccomp.FLAGS["SECCOMP_FILTER_FLAG_LOG"]
    assert c.seccomp_load_at == plan.SECCOMP_BEFORE_START_HOOKS
    assert decoded(plan.Plan([], "/", plan.ProcessPlan(["sh"], []))).plan.seccomp_bpf_len == 0


# ---- features -------------------------------------------------------------------------------

def test_features_are_what_compiles() -> None:
    features = FEATURES
    assert features["enabled"] is True
    assert set(features["actions"]) <= set(seccomp.ACTIONS)
    assert {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL"} <= set(features["actions"])
    assert features["operators"] == sorted(seccomp.OPERATORS)
    native_arch = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}.get(os.uname().machine)
    assert native_arch is None or native_arch in features["archs"]
    assert set(features["supportedFlags"]) <= set(features["knownFlags"]) == set(seccomp.FLAGS)
    for action in features["actions"]:
        seccomp.prepare({"defaultAction": "SCMP_ACT_ALLOW" if action != "SCMP_ACT_ALLOW" else "SCMP_ACT_LOG",
                         "listenerPath": "/a", "syscalls": [{"names": ["getpid"], "action": action}]}, None)
