"""Known runc escapes, tried against pyrunc: each test runs the idea of a
real exploit and checks that it gets nowhere."""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from harness import Bundle, Runtime, assert_error

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
