"""config.md "root" and "mounts": filesystem types and their options, bind
mounts (rw, ro, recursive, rro), mount flags, created destinations,
symlinks that try to leave the rootfs, a read-only root and
rootfsPropagation, as the container's /proc/self/mountinfo shows them."""
from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness import Bundle, Runtime, assert_error, mount_by_point, mount_options

NOEXEC_FLAGS = ["nosuid", "nodev", "noexec"]


def mounts_of(runtime: Runtime, bundle: Bundle) -> list[dict[str, Any]]:
    return runtime.probe(bundle, "mounts")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello.txt").write_text("hello from the host")
    return src


@pytest.fixture
def nested_source(runtime: Runtime, source: Path) -> Iterator[Path]:
    """`source` with a tmpfs mounted on its sub/ (after `runtime`, so it is
    unmounted before the leftover audit)."""
    sub = source / "sub"
    sub.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "spec-nested", str(sub)], check=True)
    try:
        (sub / "inner.txt").write_text("inner")
        yield source
    finally:
        subprocess.run(["umount", "-l", str(sub)], check=True)


# ---- filesystems -------------------------------------------------------------------

@pytest.mark.parametrize("point, fstype", [
    ("/proc", "proc"), ("/sys", "sysfs"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"),
    ("/dev/shm", "tmpfs"), ("/dev/mqueue", "mqueue"),
])
def test_default_mounts(runtime: Runtime, bundle: Bundle, point: str, fstype: str) -> None:
    assert mount_by_point(mounts_of(runtime, bundle), point)["fstype"] == fstype


def test_flags_of_the_default_mounts(runtime: Runtime, bundle: Bundle) -> None:
    mounts = mounts_of(runtime, bundle)
    assert {"ro", *NOEXEC_FLAGS} <= mount_options(mount_by_point(mounts, "/sys"))
    assert set(NOEXEC_FLAGS) <= mount_options(mount_by_point(mounts, "/dev/shm"))
    assert {"nosuid", "noexec"} <= mount_options(mount_by_point(mounts, "/dev/pts"))


def test_tmpfs_size_mode_and_flags(runtime: Runtime, bundle: Bundle) -> None:
    bundle.with_tmp().mount("/tmp/data", options=["size=1m", "mode=1750", *NOEXEC_FLAGS])
    mounts = mounts_of(runtime, bundle)
    options = mount_options(mount_by_point(mounts, "/tmp/data"))
    assert {"size=1024k", "mode=1750", *NOEXEC_FLAGS} <= options
    stat = runtime.probe(bundle, "stat", "/tmp/data")
    assert (stat["type"], stat["mode"]) == ("dir", 0o1750)


@pytest.mark.parametrize("options, mode", [([], 0o712), (["mode=1750"], 0o1750)])
def test_tmpfs_without_mode_keeps_the_mode_it_covers(runtime: Runtime, bundle: Bundle,
                                                    options: list[str], mode: int) -> None:
    """As runc: a tmpfs over an existing directory takes that directory's
    mode, unless mode= says otherwise (runc 1.1 overrides mode= too)."""
    rootfs = bundle.private_rootfs()
    (rootfs / "spec-712").mkdir()
    (rootfs / "spec-712").chmod(0o712)
    bundle.mount("/spec-712", options=options)
    assert runtime.probe(bundle, "stat", "/spec-712")["mode"] == mode
    # A directory the mount creates is the tmpfs's own 1777.
    bundle.mount("/spec-new")
    assert runtime.probe(bundle, "stat", "/spec-new")["mode"] == 0o1777


def test_read_only_dev_gets_its_nodes_and_submounts_first(runtime: Runtime, bundle: Bundle) -> None:
    """A read-only /dev (with devpts, shm, mqueue below it): runc mounts it
    writable and makes it read-only once everything is in."""
    bundle.get("mounts.1.options").append("ro")
    mounts = mounts_of(runtime, bundle)
    assert "ro" in mount_by_point(mounts, "/dev")["options"].split(",")
    assert "rw" in mount_by_point(mounts, "/dev/pts")["options"].split(",")
    assert runtime.probe(bundle, "stat", "/dev/null")["type"] == "chr"
    assert runtime.probe(bundle, "write", "/dev/spec-new", "x")["errno"] == errno.EROFS


def test_read_only_tmpcopyup_is_read_only_after_the_copy(runtime: Runtime, bundle: Bundle) -> None:
    bundle.mount("/etc", options=["tmpcopyup", "ro"])
    assert runtime.probe(bundle, "cat", "/etc/passwd").startswith("root:")
    assert runtime.probe(bundle, "write", "/etc/added", "x")["errno"] == errno.EROFS
    assert "ro" in mount_by_point(mounts_of(runtime, bundle), "/etc")["options"].split(",")


def test_sysfs_and_proc_are_this_containers(runtime: Runtime, bundle: Bundle) -> None:
    # /proc belongs to the container's pid namespace: the payload is pid 1.
    assert runtime.probe(bundle, "cat", "/proc/self/stat").split()[0] == "1"


# ---- bind mounts -------------------------------------------------------------------

def test_bind_rw(runtime: Runtime, bundle: Bundle, source: Path) -> None:
    bundle.with_tmp().mount("/tmp/src", "bind", str(source), ["bind"])
    assert runtime.probe(bundle, "cat", "/tmp/src/hello.txt") == "hello from the host"
    assert runtime.probe(bundle, "write", "/tmp/src/new.txt", "from inside") == {
        "ok": True, "errno": 0}
    assert (source / "new.txt").read_text() == "from inside"


def test_bind_ro(runtime: Runtime, bundle: Bundle, source: Path) -> None:
    bundle.with_tmp().mount("/tmp/src", "bind", str(source), ["bind", "ro"])
    assert "ro" in mount_by_point(mounts_of(runtime, bundle), "/tmp/src")["options"].split(",")
    assert runtime.probe(bundle, "write", "/tmp/src/new.txt", "x")["errno"] == errno.EROFS
    assert not (source / "new.txt").exists()


def test_bind_of_a_file(runtime: Runtime, bundle: Bundle, source: Path) -> None:
    bundle.with_tmp().mount("/tmp/dir/file.txt", "bind", str(source / "hello.txt"), ["bind"])
    assert runtime.probe(bundle, "cat", "/tmp/dir/file.txt") == "hello from the host"
    assert runtime.probe(bundle, "stat", "/tmp/dir/file.txt")["type"] == "file"


@pytest.mark.parametrize("option, inner", [("bind", []), ("rbind", ["inner.txt"])])
def test_bind_is_recursive_only_with_rbind(runtime: Runtime, bundle: Bundle, nested_source: Path,
                                           option: str, inner: list[str]) -> None:
    bundle.with_tmp().mount("/tmp/src", "bind", str(nested_source), [option])
    assert runtime.probe(bundle, "ls", "/tmp/src/sub") == inner


def test_flags_on_a_bind_mount(runtime: Runtime, bundle: Bundle, source: Path) -> None:
    bundle.with_tmp().mount("/tmp/src", "bind", str(source), ["rbind", *NOEXEC_FLAGS])
    assert set(NOEXEC_FLAGS) <= mount_options(mount_by_point(mounts_of(runtime, bundle),
                                                             "/tmp/src"))


def test_rro_makes_submounts_read_only(runtime: Runtime, bundle: Bundle,
                                       nested_source: Path) -> None:
    bundle.with_tmp().mount("/tmp/src", "bind", str(nested_source), ["rbind", "rro"])
    mounts = mounts_of(runtime, bundle)
    for point in ("/tmp/src", "/tmp/src/sub"):
        assert "ro" in mount_by_point(mounts, point)["options"].split(","), point
    assert runtime.probe(bundle, "write", "/tmp/src/sub/new", "x")["errno"] == errno.EROFS


def test_bind_onto_the_root_is_the_new_root(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    """A bind mount onto "/" replaces the rootfs; the mounts after it (here
    /proc, /dev, ...) go onto the new root, as with runc."""
    other = tmp_path / "other-root"
    subprocess.run(["cp", "-a", "--link", str(bundle.rootfs), str(other)], check=True)
    (other / "spec-other-root").write_text("")
    bundle.config["mounts"].insert(0, {"destination": "/", "type": "bind", "source": str(other),
                                       "options": ["rbind"]})
    assert "spec-other-root" in runtime.probe(bundle, "ls", "/")
    mounts = mounts_of(runtime, bundle)
    assert mount_by_point(mounts, "/proc")["fstype"] == "proc"
    assert mount_by_point(mounts, "/dev/pts")["fstype"] == "devpts"


def test_an_init_failure_after_ready_names_its_step_and_errno(runtime: Runtime, bundle: Bundle) -> None:
    """No /proc in the root: the init cannot reopen exec.fifo.  runc fails
    too; the error must say where and why, never "exited" alone."""
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/proc"]
    bundle.set("linux.maskedPaths", []).set("linux.readonlyPaths", [])
    assert_error(runtime.run(bundle.payload("echo")), "exec fifo", "No such file or directory")


def test_mount_label_is_ignored_without_selinux(runtime: Runtime, bundle: Bundle) -> None:
    """As crun: a config written for an SELinux host still runs, and the
    debug log says the label was ignored."""
    if os.path.exists("/sys/fs/selinux/enforce"):
        pytest.skip("this host has SELinux; the label applies there")
    bundle.set("linux.mountLabel", "system_u:object_r:container_file_t:s0:c1,c2")
    result = runtime("--debug", "run", "--bundle", str(bundle.payload("echo", "ran").write().path),
                     runtime.new_id()).ok()
    assert result.stdout.strip() == "ran"
    assert any("mountLabel" in entry["msg"] and entry["level"] == "debug" for entry in result.log)


# ---- destinations --------------------------------------------------------------------

def test_missing_destinations_are_created(runtime: Runtime, bundle: Bundle) -> None:
    bundle.with_tmp().mount("/tmp/a/b/c")
    assert mount_by_point(mounts_of(runtime, bundle), "/tmp/a/b/c")["fstype"] == "tmpfs"


def test_missing_destination_in_the_rootfs(runtime: Runtime, bundle: Bundle) -> None:
    rootfs = bundle.private_rootfs()
    bundle.mount("/spec-new/dir")
    assert mount_by_point(mounts_of(runtime, bundle), "/spec-new/dir")["fstype"] == "tmpfs"
    assert (rootfs / "spec-new" / "dir").is_dir()


@pytest.mark.parametrize("destination", ["/evil", "/evil/inner"])
@pytest.mark.parametrize("absolute", [True, False], ids=["absolute", "dotdot"])
@pytest.mark.parametrize("target_exists", [
    True, False], ids=["target", "dangling"])
def test_symlinks_in_the_rootfs_stay_inside(runtime: Runtime, bundle: Bundle, tmp_path: Path,
                                            destination: str, absolute: bool,
                                            target_exists: bool) -> None:
    """rootfs/evil points at a host directory (directly, or by climbing
    with ../): the mount must land at that path *inside* the rootfs and
    nothing may be created or mounted on the host."""
    host = tmp_path / "host"
    host.mkdir()
    rootfs = bundle.private_rootfs()
    in_root = rootfs / str(host).lstrip("/")
    if target_exists:
        in_root.mkdir(parents=True)
    target = str(host) if absolute else "../" * 30 + str(host).lstrip("/")
    (rootfs / "evil").symlink_to(target)
    bundle.mount(destination, options=["size=1m"])
    resolved = str(host) + destination.removeprefix("/evil")
    assert mount_by_point(mounts_of(runtime, bundle), resolved)["fstype"] == "tmpfs"
    assert list(host.iterdir()) == []
    assert (rootfs / resolved.lstrip("/")).is_dir()


# ---- root --------------------------------------------------------------------------

def test_readonly_root(runtime: Runtime, bundle: Bundle) -> None:
    assert "ro" in mount_by_point(mounts_of(runtime, bundle), "/")["options"].split(",")
    assert runtime.probe(bundle, "write", "/spec-file", "x")["errno"] == errno.EROFS


def test_writable_root(runtime: Runtime, bundle: Bundle) -> None:
    rootfs = bundle.private_rootfs()
    bundle.set("root.readonly", False)
    assert runtime.probe(bundle, "write", "/spec-file", "x")["ok"]
    assert (rootfs / "spec-file").read_text() == "x"


@pytest.mark.parametrize("propagation", ["shared", "private", "unbindable", "runbindable"])
def test_rootfs_propagation(runtime: Runtime, bundle: Bundle, propagation: str) -> None:
    bundle.set("linux.rootfsPropagation", propagation)
    mounts = mounts_of(runtime, bundle)
    assert mount_by_point(mounts, "/")["propagation"] == propagation.removeprefix("r")
    if propagation == "runbindable":
        assert mount_by_point(mounts, "/proc")["propagation"] == "unbindable"


def test_container_mounts_do_not_reach_the_host(runtime: Runtime, bundle: Bundle,
                                                source: Path) -> None:
    # With a shared rootfs, mounts made inside still must not show on the
    # host (the leftover audit checks the host's mountinfo afterwards too).
    bundle.set("linux.rootfsPropagation", "shared")
    bundle.with_tmp().mount("/tmp/src", "bind", str(source), ["rbind"])
    container = runtime.create(bundle.payload("sleep", "600"))
    container.start().ok()
    with open("/proc/self/mountinfo") as f:
        assert str(source) not in f.read()


def test_tmpcopyup_starts_the_tmpfs_with_what_was_there(runtime: Runtime, bundle: Bundle) -> None:
    """runc's tmpcopyup (Podman asks for it on every tmpfs): the image's
    files appear in the tmpfs, writable, and the image is untouched."""
    bundle.mount("/etc", options=["tmpcopyup", "nosuid"])
    out = runtime.run(bundle.set("process.args", ["sh", "-c",
                                                  "cat /etc/passwd | head -1; echo new > /etc/added; ls /etc"])).ok()
    lines = out.stdout.split()
    assert lines[0].startswith("root:") and "added" in lines and "passwd" in lines
    assert not (bundle.rootfs / "etc" / "added").exists()
    assert mount_by_point(runtime.probe(bundle, "mounts"), "/etc")["fstype"] == "tmpfs"


def test_tmpcopyup_is_for_tmpfs_only(runtime: Runtime, bundle: Bundle) -> None:
    bundle.mount("/proc2", type_="proc", source="proc", options=["tmpcopyup"])
    assert_error(runtime.try_create(bundle), "mounts[", "tmpcopyup")
