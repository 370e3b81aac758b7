"""config-linux.md "seccomp": actions, errno values, argument conditions,
architectures and flags as the container's process meets them, exec'd
processes filtered too, SCMP_ACT_NOTIFY handing its listener fd and the
container process state to an agent at listenerPath, path-named errors,
and the compiled-filter cache under --root."""
from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import socket
import stat
import struct
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from harness import SECCOMP_CACHE as CACHE_DIR, Bundle, Runtime, assert_error, poll

O_CREAT = 0o100
PER_LINUX32 = 0x0008
SIGSYS = 31


def rule(names: list[str], action: str = "SCMP_ACT_ERRNO", **fields: Any) -> dict[str, Any]:
    return {"names": names, "action": action, **fields}


def with_seccomp(bundle: Bundle, *rules: dict[str, Any], default: str = "SCMP_ACT_ALLOW",
                 **fields: Any) -> Bundle:
    bundle.mount("/tmp")
    return bundle.set("linux.seccomp", {"defaultAction": default, "syscalls": list(rules), **fields})


def shell(bundle: Bundle, script: str) -> Bundle:
    return bundle.set("process.args", ["sh", "-c", script])


MKDIR = ["mkdir", "mkdirat"]


# ---- actions and errno ------------------------------------------------------------

@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_errno_rule_fails_the_call_with_eperm_by_default(runtime: Runtime, bundle: Bundle,
                                                         no_new_privileges: bool) -> None:
    # Without no_new_privs the filter is loaded earlier (it needs CAP_SYS_ADMIN).
    bundle.set("process.noNewPrivileges", no_new_privileges)
    with_seccomp(bundle, rule(MKDIR))
    result = runtime.run(shell(bundle, "mkdir /tmp/x; echo rc=$?; touch /tmp/y && echo touched"))
    assert result.ok().stdout == "rc=1\ntouched\n"
    assert "Operation not permitted" in result.stderr


def test_errno_ret_and_masked_eq_condition(runtime: Runtime, bundle: Bundle) -> None:
    # openat with O_CREAT in its flags fails with EROFS; other opens work.
    with_seccomp(bundle, rule(["openat", "open"], errnoRet=errno.EROFS,
                              args=[{"index": 2, "value": O_CREAT, "valueTwo": O_CREAT,
                                     "op": "SCMP_CMP_MASKED_EQ"}]))
    assert runtime.probe(bundle, "write", "/tmp/f", "x") == {"ok": False, "errno": errno.EROFS}
    assert runtime.probe(bundle, "cat", "/proc/sys/kernel/hostname") == "hello\n"


def test_default_action_errno_with_an_allowlist(runtime: Runtime, bundle: Bundle) -> None:
    # What the static payload needs from execve on (no_new_privs: the
    # filter is loaded once `start` arrives; the init then only answers it
    # and execs).
    allowed = ["execve", "arch_prctl", "brk", "mmap", "munmap", "mprotect", "getrandom",
               "prlimit64", "readlink", "readlinkat", "rseq", "set_robust_list",
               "set_tid_address", "newfstatat", "fstat", "write", "exit", "exit_group"]
    with_seccomp(bundle, rule(allowed, "SCMP_ACT_ALLOW"), default="SCMP_ACT_ERRNO",
                 defaultErrnoRet=errno.EACCES)
    assert runtime.run(bundle.payload("echo", "allowed")).ok().stdout == "allowed\n"
    assert runtime.probe(bundle, "write", "/tmp/f", "x") == {"ok": False, "errno": errno.EACCES}


def test_argument_condition_picks_the_call(runtime: Runtime, bundle: Bundle) -> None:
    # personality(PER_LINUX32) is refused, personality(PER_LINUX) is not.
    with_seccomp(bundle, rule(["personality"], errnoRet=errno.EINVAL,
                              args=[{"index": 0, "value": PER_LINUX32, "op": "SCMP_CMP_EQ"}]))
    result = runtime.run(shell(bundle, "linux32 true; echo $?; linux64 true; echo $?"))
    assert result.ok().stdout == "1\n0\n"
    assert "Invalid argument" in result.stderr


def test_conditions_on_one_argument_are_alternatives(runtime: Runtime, bundle: Bundle) -> None:
    # runc's rule: two tests of the same argument are OR'ed, not AND'ed.
    with_seccomp(bundle, rule(["personality"], args=[
        {"index": 0, "value": PER_LINUX32, "op": "SCMP_CMP_EQ"},
        {"index": 0, "value": 0x10000, "op": "SCMP_CMP_GE"}]))
    result = runtime.run(shell(bundle, "linux32 true; echo $?; linux64 true; echo $?"))
    assert result.ok().stdout == "1\n0\n"


def test_kill_process_dies_by_sigsys(runtime: Runtime, bundle: Bundle) -> None:
    with_seccomp(bundle, rule(MKDIR, "SCMP_ACT_KILL_PROCESS"))
    bundle.set("process.args", ["mkdir", "/tmp/x"])
    assert runtime.run(bundle).returncode == 128 + SIGSYS


def test_unknown_syscall_names_are_skipped(runtime: Runtime, bundle: Bundle) -> None:
    with_seccomp(bundle, rule(["no_such_syscall_at_all", *MKDIR]),
                 architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                 flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                        "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    result = runtime.run(shell(bundle, "mkdir /tmp/x; echo rc=$?"))
    assert result.ok().stdout == "rc=1\n"


def test_the_filter_is_in_place_at_exec(runtime: Runtime, bundle: Bundle) -> None:
    with_seccomp(bundle, rule(MKDIR))
    shell(bundle, "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status")
    assert runtime.run(bundle).ok().stdout == "NoNewPrivs:\t1\nSeccomp:\t2\n"


def test_exec_processes_get_the_filter(runtime: Runtime, bundle: Bundle) -> None:
    with_seccomp(bundle, rule(MKDIR))
    bundle.set("process.args", ["sleep", "30"])
    container = runtime.create(bundle)
    container.start().ok()
    result = runtime("exec", container.cid, "sh", "-c", "mkdir /tmp/x; echo rc=$?")
    assert result.ok().stdout == "rc=1\n"


# ---- what the init itself does around the filter ------------------------------------

def test_a_profile_without_close_range_and_without_no_new_privileges(runtime: Runtime,
                                                                      bundle: Bundle) -> None:
    # Older Docker and Podman profiles deny close_range; without
    # no_new_privs the filter is loaded early, yet the fds are still closed.
    bundle.set("process.noNewPrivileges", False)
    with_seccomp(bundle, rule(["close_range"]))
    assert [entry["fd"] for entry in runtime.probe(bundle, "fds")] == [0, 1, 2]
    container = runtime.create(bundle.payload("sleep", "30"))
    container.start().ok()
    result = runtime("exec", container.cid, "/payload", "fds").ok()
    assert [entry["fd"] for entry in json.loads(result.stdout)] == [0, 1, 2]


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_a_profile_that_denies_getcwd(runtime: Runtime, bundle: Bundle, no_new_privileges: bool) -> None:
    # The working directory is checked before the filter is loaded (as crun).
    bundle.set("process.noNewPrivileges", no_new_privileges).set("process.cwd", "/tmp")
    with_seccomp(bundle, rule(["getcwd"]))
    result = runtime.run(shell(bundle, "readlink /proc/self/cwd; /payload cwd"))
    assert result.stdout.startswith("/tmp\n") and result.returncode != 0
    assert "Operation not permitted" in result.stderr


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_start_container_hooks_run_under_the_filter(runtime: Runtime, bundle: Bundle,
                                                    no_new_privileges: bool) -> None:
    # runc loads the filter before it runs them, with no_new_privs or not.
    bundle.set("process.noNewPrivileges", no_new_privileges)
    with_seccomp(bundle, rule(MKDIR))
    bundle.append("hooks.startContainer", {"path": "/bin/sh", "args": [
        "sh", "-c", "grep ^Seccomp: /proc/self/status > /tmp/hook; mkdir /tmp/d 2>> /tmp/hook; true"]})
    result = runtime.run(shell(bundle, "cat /tmp/hook"))
    assert result.ok().stdout == "Seccomp:\t2\nmkdir: can't create directory '/tmp/d': Operation not permitted\n"


# ---- an engine's default profile, and calls newer than a profile --------------------

ENGINE_PROFILE = Path(__file__).parent / "data" / "engine-default-seccomp.json"
GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x",
           "riscv64": "riscv64"}
SCMP_ARCH = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "ppc64le": "SCMP_ARCH_PPC64LE",
             "s390x": "SCMP_ARCH_S390X", "riscv64": "SCMP_ARCH_RISCV64"}
# The profile's calls from Linux 5.3 (pidfd_open) on: without them it is a
# profile written before clone3, close_range and openat2.
SINCE_5_3 = frozenset({
    "pidfd_open", "clone3", "close_range", "openat2", "pidfd_getfd", "faccessat2", "process_madvise",
    "epoll_pwait2", "mount_setattr", "quotactl_fd", "landlock_create_ruleset", "landlock_add_rule",
    "landlock_restrict_self", "memfd_secret", "process_mrelease", "futex_waitv",
    "set_mempolicy_home_node", "cachestat", "fchmodat2"})
# x86_64 numbers for the payload's raw `syscall` command.
NR = {"unshare": 272, "kexec_load": 246, "clone3": 435, "close_range": 436, "openat2": 437}
x86_64_only = pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 call numbers")


def engine_profile(caps: list[str], without: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The profile as an engine hands it to the runtime: archMap resolved
    for this machine, includes and excludes for the container's
    capabilities (all must be held / none may be), `without` names gone."""
    with open(ENGINE_PROFILE) as f:
        profile = json.load(f)
    arch = GO_ARCH[os.uname().machine]
    [architectures] = [[entry["architecture"], *entry["subArchitectures"]] for entry in profile["archMap"]
                       if entry["architecture"] == SCMP_ARCH[arch]]
    syscalls = []
    for rule in profile["syscalls"]:
        includes, excludes = rule.pop("includes", {}), rule.pop("excludes", {})
        rule.pop("comment", None)
        if (arch not in includes.get("arches", [arch]) or not set(includes.get("caps", [])) <= set(caps)
                or arch in excludes.get("arches", []) or set(excludes.get("caps", [])) & set(caps)):
            continue
        rule["names"] = [name for name in rule["names"] if name not in without]
        if rule["names"]:
            syscalls.append(rule)
    return {"defaultAction": profile["defaultAction"], "defaultErrnoRet": profile["defaultErrnoRet"],
            "architectures": architectures, "syscalls": syscalls}


def with_engine_profile(bundle: Bundle, *extra_caps: str, without: frozenset[str] = frozenset()) -> Bundle:
    for kind in ("bounding", "effective", "permitted"):
        bundle.append(f"process.capabilities.{kind}", *extra_caps)
    bundle.mount("/tmp")
    return bundle.set("linux.seccomp", engine_profile(bundle.get("process.capabilities.bounding"), without))


def raw_call(runtime: Runtime, bundle: Bundle, name: str, *args: int) -> Any:
    return runtime.probe(bundle, "syscall", str(NR[name]), *map(str, args))


def runc_run(bundle: Bundle, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The same bundle under the installed runc, taken down whatever happens."""
    root, cid = tmp_path / "runc-root", f"pyrunc-test-{secrets.token_hex(4)}"
    bundle.write()
    try:
        return subprocess.run(["runc", "--root", str(root), "run", "--bundle", str(bundle.path), cid],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    finally:
        subprocess.run(["runc", "--root", str(root), "delete", "--force", cid], capture_output=True)


@x86_64_only
@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_an_engine_default_profile(runtime: Runtime, bundle: Bundle, no_new_privileges: bool) -> None:
    with_engine_profile(bundle.set("process.noNewPrivileges", no_new_privileges))
    result = runtime.run(shell(bundle, "mkdir /tmp/d && echo hi > /tmp/d/f && cat /tmp/d/f && ls /tmp/d"))
    assert result.ok().stdout == "hi\nf\n"
    assert set(runtime.probe(bundle, "all")) >= {"ids", "caps", "cwd"}
    # What needs CAP_SYS_ADMIN is refused; clone3 says ENOSYS so libc uses clone.
    assert raw_call(runtime, bundle, "unshare", 0) == {"ok": False, "errno": errno.EPERM}
    assert raw_call(runtime, bundle, "clone3", 0, 0) == {"ok": False, "errno": errno.ENOSYS}
    # exec'd processes too, as another user.
    container = runtime.create(bundle.payload("sleep", "30"))
    container.start().ok()
    result = runtime("exec", "--user", "1000:1000", container.cid, "sh", "-c", "id -u; mkdir /tmp/e && echo ok")
    assert result.ok().stdout == "1000\nok\n"


@x86_64_only
def test_an_engine_default_profile_follows_the_capabilities(runtime: Runtime, bundle: Bundle) -> None:
    with_engine_profile(bundle, "CAP_SYS_ADMIN")
    assert raw_call(runtime, bundle, "unshare", 0) == {"ok": True, "errno": 0}
    assert raw_call(runtime, bundle, "clone3", 0, 0) == {"ok": False, "errno": errno.EINVAL}


@x86_64_only
@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_calls_newer_than_the_profile_get_enosys(runtime: Runtime, bundle: Bundle, tmp_path: Path,
                                                 no_new_privileges: bool) -> None:
    bundle.set("process.noNewPrivileges", no_new_privileges)
    with_engine_profile(bundle, without=SINCE_5_3)
    probes = [("clone3", 0, 0), ("close_range", 100, 99, 0), ("openat2", -1, 0, 0, 0),
              ("kexec_load", 0, 0, 0, 0)]
    expected = [errno.ENOSYS] * 3 + [errno.EPERM]   # kexec_load is older than the profile
    seen = [raw_call(runtime, bundle, *probe)["errno"] for probe in probes]
    assert seen == expected
    # runc says the same.
    runc_seen = []
    for name, *args in probes:
        bundle.payload("syscall", str(NR[name]), *map(str, args))
        result = runc_run(bundle, tmp_path)
        assert result.returncode == 0, result
        runc_seen.append(json.loads(result.stdout)["errno"])
    assert runc_seen == expected


# ---- errors -------------------------------------------------------------------------

@pytest.mark.parametrize("seccomp, fragment", [
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule(["mkdir"]), rule(["rmdir"], "SCMP_ACT_NOPE")]},
     'linux.seccomp.syscalls[1].action: unknown action "SCMP_ACT_NOPE"'),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [rule(["mkdir"], args=[{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}])]},
     "linux.seccomp.syscalls[0].args[0].index: must be between 0 and 5"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]},
     'linux.seccomp.architectures[0]: unknown architecture "SCMP_ARCH_VAX"'),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule(["mkdir"], "SCMP_ACT_NOTIFY")]},
     "linux.seccomp.listenerPath: is required when a rule uses SCMP_ACT_NOTIFY"),
    ({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"},
     "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"),
])
def test_invalid_profiles_name_the_path(runtime: Runtime, bundle: Bundle, seccomp: dict[str, Any],
                                        fragment: str) -> None:
    bundle.set("linux.seccomp", seccomp)
    assert_error(runtime.try_create(bundle), fragment)
    assert runtime.listed_ids() == []


def test_a_profile_libseccomp_never_finishes_is_an_error_not_a_hang(runtime: Runtime, bundle: Bundle) -> None:
    """libseccomp 2.5 loops for ever adding these two rules (runc's
    create hangs on them): the compile runs in a child with a time limit,
    so create fails with the reason, and leaves nothing."""
    over_32_bits = 1 << 33
    conditioned = [{"index": 2, "value": over_32_bits, "op": "SCMP_CMP_GT"}]
    bundle.set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        rule(["read"], "SCMP_ACT_KILL_PROCESS", args=[*conditioned, {"index": 3, "value": 7, "op": "SCMP_CMP_GT"}]),
        rule(["read"], "SCMP_ACT_KILL_PROCESS", args=[*conditioned, {"index": 3, "value": 7, "op": "SCMP_CMP_EQ"}])]})
    result = runtime.try_create(bundle, env={**os.environ, "PYRUNC_SECCOMP_COMPILE_TIMEOUT": "1"})
    assert_error(result, "linux.seccomp: libseccomp did not finish compiling the filter in 1 s")
    assert runtime.listed_ids() == []


# ---- the cache -------------------------------------------------------------------------

def cached(runtime: Runtime) -> list[Path]:
    directory = runtime.root / CACHE_DIR
    return sorted(directory.glob("*.bpf")) if directory.exists() else []


@pytest.fixture
def keeper(runtime: Runtime, make_bundle: Any) -> None:
    """A container left created for the test: the cache lives as long as
    any container does under the root."""
    runtime.create(make_bundle("keeper").payload("sleep", "60"))


@pytest.mark.usefixtures("keeper")
def test_compiled_filters_are_cached_by_content(runtime: Runtime, bundle: Bundle) -> None:
    with_seccomp(bundle, rule(MKDIR))
    runtime.run(shell(bundle, "true")).ok()
    first = cached(runtime)
    assert len(first) == 1
    assert stat.S_IMODE(first[0].stat().st_mode) == 0o600
    # Another process, another listener metadata: the same program.
    bundle.set("process.args", ["true"]).set("linux.seccomp.listenerMetadata", "x")
    runtime.run(bundle).ok()
    assert cached(runtime) == first
    bundle.append("linux.seccomp.syscalls", rule(["rmdir"]))
    runtime.run(bundle).ok()
    assert len(cached(runtime)) == 2


def test_the_cache_goes_with_the_last_container(runtime: Runtime, bundle: Bundle) -> None:
    with_seccomp(bundle, rule(MKDIR))
    container = runtime.create(bundle.set("process.args", ["true"]))
    assert len(cached(runtime)) == 1
    container.delete("--force").ok()
    assert runtime.listed_ids() == []


@pytest.mark.usefixtures("keeper")
def test_a_damaged_cache_entry_is_compiled_again(runtime: Runtime, bundle: Bundle) -> None:
    with_seccomp(bundle, rule(MKDIR))
    shell(bundle, "mkdir /tmp/x; echo rc=$?")
    runtime.run(bundle).ok()
    [entry] = cached(runtime)
    entry.write_bytes(b"\0" * 5)
    assert runtime.run(bundle).ok().stdout == "rc=1\n"
    assert entry.stat().st_size % 8 == 0 and entry.stat().st_size > 8


# ---- SCMP_ACT_NOTIFY ---------------------------------------------------------------------

# <linux/seccomp.h>: struct seccomp_notif (80 bytes), struct seccomp_notif_resp (24).
NOTIF = struct.Struct("=QII iIQ6Q")
NOTIF_RESP = struct.Struct("=QqiI")
IOCTL_NOTIF_RECV = 0xC0000000 | NOTIF.size << 16 | ord("!") << 8 | 0
IOCTL_NOTIF_SEND = 0xC0000000 | NOTIF_RESP.size << 16 | ord("!") << 8 | 1


class Agent:
    """A seccomp agent on a unix socket: takes runc's message (state JSON +
    listener fd), then answers every notification with `reply_errno`."""

    def __init__(self, path: Path, reply_errno: int) -> None:
        self.path, self.reply_errno = path, reply_errno
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.server.settimeout(30)
        self.message: dict[str, Any] | None = None
        self.fd_kind = ""
        self.notified: list[int] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
            with conn:
                data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 4)
            self.message = json.loads(data)
            [listener] = fds
            self.fd_kind = os.readlink(f"/proc/self/fd/{listener}")
            try:
                self._answer(listener)
            finally:
                os.close(listener)
        except BaseException as exc:       # reported by the test
            self.error = exc

    def _answer(self, listener: int) -> None:
        while True:
            request = bytearray(NOTIF.size)
            try:
                fcntl.ioctl(listener, IOCTL_NOTIF_RECV, request)
            except OSError as exc:
                if exc.errno == errno.ENOENT:      # every filtered process is gone
                    return
                raise
            notif_id, _pid, _flags, nr, *_rest = NOTIF.unpack(request)
            self.notified.append(nr)
            response = bytearray(NOTIF_RESP.pack(notif_id, 0, -self.reply_errno, 0))
            try:
                fcntl.ioctl(listener, IOCTL_NOTIF_SEND, response)
            except OSError as exc:
                if exc.errno != errno.ENOENT:      # the caller died meanwhile
                    raise

    def finish(self) -> None:
        self.thread.join(30)
        self.server.close()
        assert not self.thread.is_alive(), "the agent did not finish"
        if self.error is not None:
            raise self.error


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_notify_sends_listener_and_state_to_the_agent(runtime: Runtime, bundle: Bundle, tmp_path: Path,
                                                      no_new_privileges: bool) -> None:
    agent = Agent(tmp_path / "agent.sock", reply_errno=errno.ENOMEDIUM)
    bundle.set("process.noNewPrivileges", no_new_privileges)
    bundle.set("annotations", {"org.example.k": "v"})
    with_seccomp(bundle, rule(MKDIR, "SCMP_ACT_NOTIFY"), rule(["rmdir"]),
                 listenerPath=str(agent.path), listenerMetadata="meta=1",
                 flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    shell(bundle, "mkdir /tmp/x; echo rc=$?; rmdir /tmp; echo rc=$?")
    container = runtime.create(bundle)
    # The agent had it all before create returned.
    message = poll(lambda: agent.message, what="the agent's message")
    pid = container.pid
    assert message == {
        "ociVersion": message["ociVersion"],
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": "meta=1",
        "state": {"ociVersion": message["ociVersion"], "id": container.cid, "status": "creating",
                  "pid": pid, "bundle": str(bundle.path), "annotations": {"org.example.k": "v"}},
    }
    assert agent.fd_kind == "anon_inode:seccomp notify"
    container.start().ok()
    container.wait_status("stopped")
    agent.finish()
    # mkdir went to the agent, which said ENOMEDIUM; rmdir got EPERM from the filter.
    assert len(agent.notified) == 1
    assert container.output() == "rc=1\nrc=1\n"
    assert "No medium found" in container.errors() and "Operation not permitted" in container.errors()


def test_an_unreachable_agent_fails_create(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    with_seccomp(bundle, rule(MKDIR, "SCMP_ACT_NOTIFY"), listenerPath=str(tmp_path / "nobody.sock"))
    assert_error(runtime.try_create(bundle), "failed to connect with seccomp agent",
                 str(tmp_path / "nobody.sock"), "No such file or directory")
    assert runtime.listed_ids() == []


@pytest.mark.parametrize("name", ["write", "sendmsg"])
def test_notify_cannot_take_the_calls_the_init_needs(runtime: Runtime, bundle: Bundle,
                                                     tmp_path: Path, name: str) -> None:
    # runc refuses write; our init also passes the listener fd with sendmsg.
    with_seccomp(bundle, rule(["getpid", name], "SCMP_ACT_NOTIFY"), listenerPath=str(tmp_path / "a"))
    assert_error(runtime.try_create(bundle), "linux.seccomp.syscalls[0].names[1]",
                 f"SCMP_ACT_NOTIFY cannot be used for the {name} syscall")
