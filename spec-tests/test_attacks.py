"""Known runc escapes, tried against pyrunc: each test runs the idea of a
real exploit and checks that it gets nowhere."""
from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from cgroup_sandbox import CgroupSandbox, alive, sandbox  # noqa: F401 (a fixture)
from harness import (ROOTFS, TIMEOUT, Bundle, Container, Invocation, Result, Runtime, assert_error, poll,
                     process_alive)

ALL_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
            "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_ADMIN", "CAP_NET_RAW",
            "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_AUDIT_WRITE"]


def interpreter_fingerprint() -> tuple[int, int]:
    st = os.stat(os.path.realpath(sys.executable))
    return st.st_size, st.st_mtime_ns


# ---- CVE-2019-5736: /proc/<pid>/exe of a runtime process ---------------------

def grab_init_exe(runtime: Runtime, bundle: Bundle) -> str:
    """While the init is still pyrunc's (created, not yet exec'd), a process
    exec'd into the container tries to open the init's /proc/1/exe, which
    would be the host's Python interpreter."""
    container = runtime.create(bundle.payload("sleep", "30"))
    attempt = runtime("exec", container.cid, "sh", "-c",
                      "cat /proc/1/exe > /dev/null && echo OPENED; readlink /proc/1/exe || echo NOLINK")
    return attempt.stdout


def test_proc_exe_of_the_init_is_unreachable(runtime: Runtime, bundle: Bundle) -> None:
    before = interpreter_fingerprint()
    out = grab_init_exe(runtime, bundle)
    assert "OPENED" not in out and "NOLINK" in out, out
    assert interpreter_fingerprint() == before


def test_proc_exe_unreachable_even_with_all_caps_in_a_user_namespace(runtime: Runtime, bundle: Bundle) -> None:
    bundle.append("linux.namespaces", {"type": "user"})
    bundle.set("linux.uidMappings", [{"containerID": 0, "hostID": 300000, "size": 65536}])
    bundle.set("linux.gidMappings", [{"containerID": 0, "hostID": 300000, "size": 65536}])
    for name in ("bounding", "effective", "permitted"):
        bundle.set(f"process.capabilities.{name}", ALL_CAPS)
    bundle.set("process.noNewPrivileges", False)
    out = grab_init_exe(runtime, bundle)
    assert "OPENED" not in out and "NOLINK" in out, out


def test_with_ptrace_rights_the_init_is_a_sealed_copy(runtime: Runtime, bundle: Bundle) -> None:
    """A container that may ptrace (CAP_SYS_PTRACE, no user namespace) can
    open the created init's /proc/1/exe: it must find a sealed, read-only
    copy of pyrunc-init, not a host file."""
    for name in ("bounding", "effective", "permitted"):
        bundle.set(f"process.capabilities.{name}", ALL_CAPS)
    bundle.set("process.noNewPrivileges", False)
    container = runtime.create(bundle.payload("sleep", "30"))
    before = interpreter_fingerprint()
    out = runtime("exec", container.cid, "sh", "-c",
                  "readlink /proc/1/exe; echo x >> /proc/1/exe && echo WROTE; "
                  "head -c 4 /proc/1/exe | od -c | head -1").stdout
    assert "memfd:pyrunc-init" in out and "WROTE" not in out, out
    assert "E   L   F" in out, out
    assert interpreter_fingerprint() == before


# ---- CVE-2024-21626: leaked fds and a host working directory ------------------

def test_only_stdio_reaches_the_container(runtime: Runtime, bundle: Bundle) -> None:
    fds = runtime.probe(bundle, "fds")
    assert [entry["fd"] for entry in fds] == [0, 1, 2]


@pytest.mark.parametrize("fd", range(3, 9))
def test_cwd_through_a_leaked_fd_is_refused(runtime: Runtime, bundle: Bundle, fd: int) -> None:
    bundle.set("process.cwd", f"/proc/self/fd/{fd}")
    result = runtime.run(bundle.set("process.args", ["sh", "-c", "pwd; ls .. | head -50"]))
    if result.returncode == 0:
        # Started: then its working directory must be inside the container.
        assert not result.stdout.startswith("/proc/self/fd"), result
        assert "work" not in result.stdout.split() and "root" in result.stdout.split(), result
    else:
        assert_error(result, "/proc/self/fd/")   # refused before it could start


def test_exec_cwd_through_a_leaked_fd_is_refused(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(bundle.payload("sleep", "30"))
    container.start().ok()
    for fd in range(3, 8):
        result = runtime("exec", "--cwd", f"/proc/self/fd/{fd}", container.cid, "/payload", "cwd")
        if result.returncode == 0:
            assert result.stdout.strip().strip('"').startswith("/"), result
            assert "/proc/self/fd" not in result.stdout


# The caller of the runtime (an engine) holding fds of its own: one on "/",
# and a lock.  None may reach a hook or the container, nor outlive create.

HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def call_holding_fds(runtime: Runtime, lock: Path, *args: str) -> Result:
    """pyrunc ARGS run as `flock LOCK sh -c 'exec 9</; exec pyrunc ...'`:
    with the lock's fd (3) and fd 9 on the host's / open and inheritable."""
    call = Invocation(runtime, args)
    call.argv = ["flock", str(lock), "sh", "-c", 'exec 9</ && exec "$@"', "sh", *call.argv]
    proc = call.popen()
    try:
        return call.result(proc.wait(TIMEOUT))
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def create_holding_fds(runtime: Runtime, bundle: Bundle, lock: Path, *flags: str) -> Container:
    cid = runtime.new_id()
    result = call_holding_fds(runtime, lock, "create", *runtime._bundle_args(bundle), *flags, cid).ok()
    return Container(runtime, cid, result)


def hooks_listing_fds(bundle: Bundle, out: Path) -> None:
    """Hooks of every kind writing the payload's fd list to out/KIND (the
    startContainer hook, inside the container, to the same dir bound at /tmp/out)."""
    out.mkdir()
    bundle.with_tmp()
    bundle.append("mounts", {"destination": "/tmp/out", "type": "bind", "source": str(out),
                             "options": ["rbind"]})
    for kind in HOOK_KINDS:
        payload, target = ("/payload", "/tmp/out") if kind == "startContainer" else \
            (str(ROOTFS.resolve() / "payload"), str(out))
        bundle.append(f"hooks.{kind}", {"path": "/bin/sh",
                                        "args": ["sh", "-c", f"exec {payload} fds > {target}/{kind}"]})


def fds_seen(listing: str) -> dict[int, str | None]:
    return {entry["fd"]: entry["target"] for entry in json.loads(listing)}


def lock_is_free(lock: Path) -> bool:
    return subprocess.run(["flock", "-n", str(lock), "true"]).returncode == 0


def test_caller_fds_reach_no_hook_and_release_with_create(runtime: Runtime, bundle: Bundle,
                                                          tmp_path: Path) -> None:
    out, lock = tmp_path / "out", tmp_path / "lock"
    hooks_listing_fds(bundle, out)
    bundle.payload("fds")
    container = create_holding_fds(runtime, bundle, lock)
    # The created init holds nothing of the caller's: its lock is free.
    assert lock_is_free(lock)
    init_fds = {os.readlink(f"/proc/{container.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{container.pid}/fd")}
    assert "/" not in init_fds and str(lock) not in init_fds, init_fds
    # start and delete (poststart, poststop) from such a caller too.
    call_holding_fds(runtime, lock, "start", container.cid).ok()
    container.wait_status("stopped")
    call_holding_fds(runtime, lock, "delete", container.cid).ok()
    for kind in HOOK_KINDS:
        assert sorted(fds_seen((out / kind).read_text())) == [0, 1, 2], (kind, (out / kind).read_text())
    assert sorted(fds_seen(container.output())) == [0, 1, 2]


def test_preserved_fds_reach_the_program_but_no_hook(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    out, lock = tmp_path / "out", tmp_path / "lock"
    hooks_listing_fds(bundle, out)
    bundle.payload("fds")
    container = create_holding_fds(runtime, bundle, lock, "--preserve-fds", "1")
    assert not lock_is_free(lock)       # fd 3 is the program's, as asked
    container.start().ok()
    container.wait_status("stopped")
    container.delete().ok()
    assert lock_is_free(lock)
    for kind in HOOK_KINDS:
        assert sorted(fds_seen((out / kind).read_text())) == [0, 1, 2], (kind, (out / kind).read_text())
    seen = fds_seen(container.output())
    assert sorted(seen) == [0, 1, 2, 3] and seen[3] == str(lock), seen


def test_runtime_fds_in_a_gap_of_the_preserved_range_do_not_leak(runtime: Runtime, bundle: Bundle,
                                                                  tmp_path: Path) -> None:
    """--preserve-fds 4 with only fd 3 open: the runtime's own fds land in
    the gap (4, 5, 6); the program must find the gap empty, not them."""
    container = create_holding_fds(runtime, bundle.payload("fds"), tmp_path / "lock", "--preserve-fds", "4")
    container.start().ok()
    container.wait_status("stopped")
    seen = fds_seen(container.output())
    assert sorted(seen) == [0, 1, 2, 3], seen


def test_exec_gets_no_fd_of_the_caller(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    container = runtime.create(bundle.payload("sleep", "30"))
    container.start().ok()
    result = call_holding_fds(runtime, tmp_path / "lock", "exec", container.cid, "/payload", "fds").ok()
    assert sorted(fds_seen(result.stdout)) == [0, 1, 2], result


# ---- CVE-2021-30465 family: mount targets that point out of the rootfs -------

@pytest.mark.parametrize("link", ["/", "../../../../..", "/../..", "./../../../"])
def test_mount_through_a_symlink_stays_in_the_rootfs(runtime: Runtime, bundle: Bundle, tmp_path: Path,
                                                     link: str) -> None:
    rootfs = bundle.private_rootfs()
    (rootfs / "evil").symlink_to(link)
    marker = tmp_path / "host-dir"
    marker.mkdir()
    # The destination names a host path through the link.
    bundle.mount(f"/evil{marker}", options=["mode=700"])
    result = runtime.run(bundle.set("process.args", ["sh", "-c", f"grep -c ' {marker} ' /proc/self/mountinfo"]))
    assert result.ok().stdout.strip() == "1"       # mounted, at the in-container path
    assert list(marker.iterdir()) == []            # the host directory was not mounted over or written
    assert not (rootfs.parent / "etc" / "evil").exists()


def test_bind_source_symlink_is_resolved_on_the_host_side_only(runtime: Runtime, bundle: Bundle,
                                                               tmp_path: Path) -> None:
    rootfs = bundle.private_rootfs()
    (rootfs / "data").mkdir()
    (rootfs / "data" / "link").symlink_to("/etc")
    bundle.with_tmp()
    bundle.append("mounts", {"destination": "/tmp/x", "type": "bind", "source": str(rootfs / "data"),
                             "options": ["rbind", "ro"]})
    out = runtime.run(bundle.set("process.args", ["readlink", "/tmp/x/link"])).ok()
    assert out.stdout.strip() == "/etc"


# ---- CVE-2025-31133 / 52565 / 52881: /dev/null, /dev/console, procfs ----------

def dev_from_rootfs(bundle: Bundle) -> Path:
    """A bundle whose /dev comes from the image (no tmpfs), as attackers like."""
    rootfs = bundle.private_rootfs()
    bundle.set("mounts", [m for m in bundle.config["mounts"] if m["destination"] not in
                          ("/dev", "/dev/pts", "/dev/shm", "/dev/mqueue")])
    bundle.mount("/dev/pts", "devpts", "devpts", ["newinstance", "ptmxmode=0666", "mode=0620"])
    return rootfs / "dev"


def test_dev_null_swapped_for_a_symlink_does_not_unmask(runtime: Runtime, bundle: Bundle) -> None:
    dev = dev_from_rootfs(bundle)
    (dev / "null").symlink_to("/proc/sys/kernel/core_pattern")
    bundle.set("linux.maskedPaths", ["/proc/kcore", "/proc/sys/kernel/core_pattern"])
    seen = runtime.run(bundle.set("process.args", ["sh", "-c",
                                                   "ls -l /dev/null; cat /proc/sys/kernel/core_pattern | wc -c"])).ok()
    first, count = seen.stdout.splitlines()
    assert first.startswith("c"), seen       # a real character device, not the link
    assert count.strip() == "0"              # still masked
    with open("/proc/sys/kernel/core_pattern") as f:
        assert f.read().strip()              # and the host's is intact


def test_dev_console_symlink_is_not_followed(runtime: Runtime, bundle: Bundle) -> None:
    dev = dev_from_rootfs(bundle)
    (dev / "console").symlink_to("/proc/sys/kernel/core_pattern")
    with open("/proc/sys/kernel/core_pattern") as f:
        before = f.read()
    bundle.set("process.terminal", True)
    bundle.set("process.args", ["sh", "-c", "grep -c core_pattern /proc/self/mountinfo; ls -l /dev/console"])
    result = runtime.run(bundle, stdin=None)
    with open("/proc/sys/kernel/core_pattern") as f:
        assert f.read() == before
    if result.returncode == 0:
        assert result.stdout.splitlines()[0].strip() == "0", result


def test_sysctl_write_goes_to_procfs_only(runtime: Runtime, bundle: Bundle) -> None:
    """A rootfs whose /proc/sys is shadowed must not redirect sysctl writes."""
    bundle.with_tmp()
    bundle.set("linux.sysctl", {"kernel.shmmax": "123456"})
    out = runtime.run(bundle.set("process.args", ["cat", "/proc/sys/kernel/shmmax"])).ok()
    assert out.stdout.strip() == "123456"
    with open("/proc/sys/kernel/shmmax") as f:
        assert f.read().strip() != "123456"       # the host's ipc namespace is untouched


# ---- --no-pivot: the old root's proc and sysfs -----------------------------------

def nested_mount_attempt(runtime: Runtime, bundle: Bundle, fstype: str, *flags: str) -> dict:
    """An unprivileged process of the container makes user, mount, net and
    pid namespaces of its own and mounts a fresh FSTYPE: the kernel allows
    it only if the mount namespace holds a fully visible one already."""
    bundle.with_tmp().set("process.user", {"uid": 1000, "gid": 1000})
    return runtime.run(bundle.payload("userns-mount", fstype, "/tmp"), *flags).json()


@pytest.mark.parametrize("fstype", ["proc", "sysfs"])
@pytest.mark.parametrize("userns", [False, True], ids=["host-ids", "userns"])
def test_no_pivot_leaves_no_host_proc_to_mount_again(runtime: Runtime, bundle: Bundle, fstype: str,
                                                     userns: bool) -> None:
    """chroot (--no-pivot) keeps the old root in the mount namespace: its
    /proc and /sys, unmasked, would let the nested mount through.  They are
    detached (or, locked in a user namespace, covered), as runc hides them."""
    if userns:
        bundle.append("linux.namespaces", {"type": "user"})
        for key in ("uidMappings", "gidMappings"):
            bundle.set(f"linux.{key}", [{"containerID": 0, "hostID": 300000, "size": 65536}])
    attempt = nested_mount_attempt(runtime, bundle, fstype, "--no-pivot")
    assert attempt == {"mounted": False, "errno": errno.EPERM, "step": "mount"}
    # The same as with pivot_root.
    assert nested_mount_attempt(runtime, bundle, fstype) == attempt


@pytest.fixture
def shared_host_mount(runtime: Runtime, tmp_path: Path) -> Iterator[Path]:
    """A shared mount of the host with a submount (after `runtime`, so it
    is gone before the leftover audit)."""
    shared = tmp_path / "shared"
    (shared / "sub").mkdir(parents=True)
    subprocess.run(["mount", "--bind", "--make-shared", str(shared), str(shared)], check=True)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "spec-shared-sub", str(shared / "sub")], check=True)
        yield shared
    finally:
        subprocess.run(["umount", "-R", "-l", str(shared)], check=True)


@pytest.mark.parametrize("propagation", ["rshared", "rslave"])
def test_no_pivot_detaches_nothing_of_the_hosts(runtime: Runtime, bundle: Bundle, propagation: str,
                                                shared_host_mount: Path) -> None:
    """The old root's mounts are detached in the container's namespace
    only: not even a shared one goes from the host."""
    bundle.set("linux.rootfsPropagation", propagation)
    runtime.run(bundle.payload("echo"), "--no-pivot").ok()
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    assert str(shared_host_mount) in points and str(shared_host_mount / "sub") in points


# ---- ids, state and sockets ---------------------------------------------------

@pytest.mark.parametrize("cid", ["../escape", "a/b", ".", "..", "x" * 1025, "a\tb"])
def test_hostile_container_ids_are_refused(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    result = runtime.try_create(bundle, cid=cid)
    assert_error(result, "invalid container id" if cid else "")
    assert runtime.listed_ids() == []
    assert not (runtime.root.parent / "escape").exists()


def test_state_is_readable_by_root_only(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(bundle.payload("sleep", "30"))
    root_mode = stat.S_IMODE(os.stat(runtime.root).st_mode)
    state_dir = runtime.root / container.cid
    assert root_mode & 0o077 == 0
    assert stat.S_IMODE(os.stat(state_dir).st_mode) & 0o077 == 0
    assert stat.S_IMODE(os.stat(state_dir / "state.json").st_mode) & 0o077 == 0
    assert os.stat(state_dir).st_uid == 0


# ---- cgroups that are not the container's ----------------------------------------

def started_beside_a_host_process(runtime: Runtime, bundle: Bundle,
                                  sandbox: CgroupSandbox) -> tuple[Container, subprocess.Popen[bytes]]:
    """A running container whose cgroupsPath names a cgroup holding a host process."""
    host_process = sandbox.sleeper()
    bundle.set("linux.cgroupsPath", sandbox.path())
    container = runtime.create(bundle.payload("sleep", "600"))
    container.start().ok()
    return container, host_process


def test_delete_spares_the_host_processes_of_an_existing_cgroup(runtime: Runtime, bundle: Bundle,
                                                               sandbox: CgroupSandbox) -> None:
    container, host_process = started_beside_a_host_process(runtime, bundle, sandbox)
    assert {"level": "warning", "msg": "container's cgroup is not empty: 1 process(es) found"}.items() \
        <= container.created.log[0].items()
    sandbox.make("child")   # not before create: v1 refuses a deny-all device rule above a child
    init = container.pid
    container.kill("KILL", all_processes=True).ok()
    container.wait_status("stopped")
    assert alive(host_process)
    container.delete("--force").ok()
    assert alive(host_process) and not process_alive(init)
    assert sandbox.exists() and sandbox.exists("child")


def test_delete_force_of_a_running_container_spares_its_cgroup_neighbours(runtime: Runtime, bundle: Bundle,
                                                                          sandbox: CgroupSandbox) -> None:
    container, host_process = started_beside_a_host_process(runtime, bundle, sandbox)
    init = container.pid
    container.delete("--force").ok()
    assert not process_alive(init) and alive(host_process)
    assert sandbox.exists()


@pytest.mark.parametrize("path", [".", "..", "../..", "x/../..", "./"])
def test_relative_paths_cannot_reach_the_callers_cgroup(runtime: Runtime, bundle: Bundle,
                                                        sandbox: CgroupSandbox, path: str) -> None:
    """pyrunc started from inside the sandbox: a neighbour shares its cgroup."""
    neighbour = sandbox.sleeper("caller")
    bundle.set("linux.cgroupsPath", path).payload("sleep", "600")
    result = runtime.try_create(bundle, preexec_fn=sandbox.enter("caller"))
    assert_error(result, "linux.cgroupsPath", "own cgroup or one above it")
    runtime("delete", "--force", result.argv[-1], preexec_fn=sandbox.enter("caller"))
    assert alive(neighbour)
    assert sandbox.exists("caller")


def test_a_relative_path_nests_below_the_callers_cgroup(runtime: Runtime, bundle: Bundle,
                                                       sandbox: CgroupSandbox) -> None:
    neighbour = sandbox.sleeper("caller")
    bundle.set("linux.cgroupsPath", "inner/../ctr").payload("sleep", "600")
    container = runtime.create(bundle, preexec_fn=sandbox.enter("caller"))
    assert f"{sandbox.path('caller/ctr')}\n" in Path(f"/proc/{container.pid}/cgroup").read_text()
    container.delete("--force").ok()
    assert alive(neighbour) and sandbox.exists("caller") and not sandbox.exists("caller/ctr")


# ---- a state file pointing at a host process ----------------------------------------

def start_time(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return int(stat[stat.rfind(b")") + 2:].split()[19])


@pytest.mark.parametrize("own_pid_namespace", [True, False])
def test_a_state_pointing_at_a_host_process_never_reaches_it(runtime: Runtime, bundle: Bundle,
                                                             own_pid_namespace: bool) -> None:
    if not own_pid_namespace:
        bundle.drop_namespace("pid")
    container = runtime.create(bundle.payload("sleep", "600"))
    state_file = runtime.root / container.cid / "state.json"
    saved = json.loads(state_file.read_text())
    assert ("initPidNs" in saved) == own_pid_namespace and saved["initCgroup"]
    host_process = subprocess.Popen(["sleep", "600"])
    try:
        saved.update(pid=host_process.pid, pidStartTime=start_time(host_process.pid))
        state_file.write_text(json.dumps(saved))
        assert container.state()["status"] == "stopped"
        assert_error(container.kill("KILL"), "container not running")
        assert_error(runtime("exec", container.cid, "true"), "stopped", status=255)
        container.delete("--force").ok()
        assert host_process.poll() is None
    finally:
        host_process.kill()
        host_process.wait()


# ---- sysctls for a namespace that is the host's ---------------------------------------

def host_sysctl(name: str) -> str:
    return Path("/proc/sys", *name.split(".")).read_text().strip()


@pytest.mark.parametrize("kind, proc_name, name", [
    ("network", "net", "net.ipv4.ip_forward"),
    ("ipc", "ipc", "kernel.shmmax"),
    ("uts", "uts", "kernel.domainname"),
])
def test_sysctls_never_reach_a_joined_host_namespace(runtime: Runtime, bundle: Bundle, kind: str,
                                                     proc_name: str, name: str) -> None:
    before = host_sysctl(name)
    bundle.drop_namespace(kind).append("linux.namespaces", {"type": kind, "path": f"/proc/{os.getpid()}/ns/{proc_name}"})
    bundle.set("linux.sysctl", {name: "1" if before == "0" else "0" if name.startswith("net.") else "pwned"})
    result = runtime.try_create(bundle.payload("sleep", "600"))
    assert_error(result, "linux.sysctl", name, f"host's {kind} namespace")
    assert host_sysctl(name) == before
    assert runtime.listed_ids() == []


def test_sysctls_reach_a_joined_namespace_of_its_own(runtime: Runtime, bundle: Bundle) -> None:
    before = host_sysctl("net.ipv4.ip_forward")
    wanted = "1" if before == "0" else "0"
    holder = subprocess.Popen(["unshare", "--net", "sleep", "600"])
    try:
        netns = f"/proc/{holder.pid}/ns/net"
        poll(lambda: os.stat(netns).st_ino != os.stat("/proc/self/ns/net").st_ino, 5, "the new netns")
        bundle.drop_namespace("network").append("linux.namespaces", {"type": "network", "path": netns})
        bundle.set("linux.sysctl", {"net.ipv4.ip_forward": wanted})
        assert runtime.probe(bundle, "sysctl", "net.ipv4.ip_forward") == wanted
        assert host_sysctl("net.ipv4.ip_forward") == before
    finally:
        holder.kill()
        holder.wait()


def test_sysctl_kernel_hostname_conflicts_with_the_hostname_field(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("hostname", "box").set("linux.sysctl", {"kernel.hostname": "other"})
    assert_error(runtime.try_create(bundle), "linux.sysctl", "kernel.hostname", 'conflicts with the OCI "hostname"')


def test_ps_lists_only_the_containers_processes_of_an_existing_cgroup(runtime: Runtime, bundle: Bundle,
                                                                     sandbox: CgroupSandbox) -> None:
    container, host_process = started_beside_a_host_process(runtime, bundle, sandbox)
    assert runtime("ps", "--format", "json", container.cid).json() == [container.pid]
    assert alive(host_process)


# ---- a symlink planted at the pid file's temporary name ---------------------------

def test_pid_file_temporary_name_does_not_follow_a_symlink(runtime: Runtime, bundle: Bundle,
                                                           tmp_path: Path) -> None:
    """Whoever can write the pid file's directory plants
    `.x.pid.tmp -> /victim`; writing the pid through it would overwrite
    the victim.  runc creates the temporary file with O_EXCL and refuses."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    directory = tmp_path / "writable"
    directory.mkdir(mode=0o777)
    (directory / ".x.pid.tmp").symlink_to(victim)
    result = runtime.try_create(bundle.payload("sleep", "30"), "--pid-file", str(directory / "x.pid"))
    assert_error(result, "pid file")
    assert victim.read_text() == "precious\n"
    assert not (directory / "x.pid").exists()
    assert runtime.listed_ids() == []
    # A dangling one too (the symlink's target would be created).
    (directory / ".x.pid.tmp").unlink()
    (directory / ".x.pid.tmp").symlink_to(tmp_path / "created")
    assert_error(runtime.try_create(bundle, "--pid-file", str(directory / "x.pid")), "pid file")
    assert not (tmp_path / "created").exists()
    assert runtime.listed_ids() == []
