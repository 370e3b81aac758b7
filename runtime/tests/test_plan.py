"""Planning: config -> the flat plan the C init executes (no root needed)."""
from __future__ import annotations

import copy
import os

import pytest
from hypothesis import given, settings, strategies as st

from pyrunc.runtime import linux_constants as k
from pyrunc.runtime import plan, spec
from pyrunc.runtime.errors import ConfigError

V1_HOST = plan.Host([("memory", "memory"), ("systemd", "name=systemd")])

BASE = {
    "ociVersion": "1.2.0",
    "root": {"path": "rootfs"},
    "process": {"args": ["sh"], "cwd": "/"},
    "mounts": [],
    "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "uts"}]},
}


@pytest.fixture
def bundle(tmp_path) -> str:  # type: ignore[no-untyped-def]
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "file").write_text("x")
    return str(tmp_path)


def make(bundle: str, host: plan.Host = V1_HOST, **changes: object) -> plan.Plan:
    config = copy.deepcopy(BASE)
    config.update(changes)
    return plan.make_plan(spec.parse(config), bundle, host)


def test_namespaces_become_clone_flags(bundle: str) -> None:
    p = make(bundle, linux={"namespaces": [{"type": "mount"}, {"type": "network", "path": "/run/netns/a"}]})
    assert p.namespaces == [(k.CLONE_NEWNS, None), (k.CLONE_NEWNET, "/run/netns/a")]
    assert p.rootfs == os.path.realpath(os.path.join(bundle, "rootfs"))


@pytest.mark.parametrize("namespaces, path", [
    ([{"type": "mount"}, {"type": "mount"}], "linux.namespaces[1].type"),
    ([{"type": "mount"}, {"type": "bogus"}], "linux.namespaces[1].type"),
    ([{"type": "mount"}, {"type": "net", "path": "relative"}], "linux.namespaces[1].type"),
    ([{"type": "mount"}, {"type": "network", "path": "relative"}], "linux.namespaces[1].path"),
])
def test_namespace_errors_name_the_path(bundle: str, namespaces: list, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        make(bundle, linux={"namespaces": namespaces})
    assert info.value.path == path


def test_mount_options_become_flags_propagation_and_data(bundle: str) -> None:
    p = make(bundle, mounts=[{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                              "options": ["nosuid", "nodev", "ro", "rslave", "size=64k", "mode=1777"]}])
    step = p.mounts[0]
    assert step.kind == plan.MOUNT_FS
    # A read-only tmpfs is mounted writable and made read-only at the end.
    assert step.flags == k.MS_NOSUID | k.MS_NODEV and step.readonly_later
    assert step.propagation == k.MS_SLAVE | k.MS_REC
    assert step.data == "size=64k,mode=1777"
    assert not step.keep_covered_mode      # mode= given


@pytest.mark.parametrize("mount, keep_mode, later", [
    ({"destination": "/t", "type": "tmpfs", "source": "tmpfs"}, True, False),
    ({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["mode=700", "ro"]}, False, True),
    ({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]}, True, True),
    ({"destination": "/dev/", "type": "devtmpfs", "source": "udev", "options": ["ro"]}, False, True),
    ({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]}, False, False),
])
def test_tmpfs_mode_and_late_read_only(bundle: str, mount: dict, keep_mode: bool, later: bool) -> None:
    step = make(bundle, mounts=[mount]).mounts[0]
    assert (step.keep_covered_mode, step.readonly_later) == (keep_mode, later)
    assert bool(step.flags & k.MS_RDONLY) == ("ro" in mount.get("options", []) and not later)


def test_without_a_mount_namespace_the_root_is_a_chroot(bundle: str) -> None:
    p = make(bundle, linux={"namespaces": []})
    assert p.rootfs_setup == plan.ROOTFS_CHROOT and p.namespaces == []
    joined = make(bundle, linux={"namespaces": [{"type": "mount", "path": "/proc/1/ns/mnt"}]})
    assert joined.rootfs_setup == plan.ROOTFS_BUILD


@pytest.mark.parametrize("changes, path", [
    ({"mounts": [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}]}, "mounts"),
    ({"linux": {"maskedPaths": ["/proc/kcore"]}}, "linux.maskedPaths"),
    ({"linux": {"readonlyPaths": ["/proc/sys"]}}, "linux.readonlyPaths"),
    ({"linux": {"rootfsPropagation": "private"}}, "linux.rootfsPropagation"),
    ({"root": {"path": "rootfs", "readonly": True}}, "root.readonly"),
    ({"process": {"args": ["sh"], "cwd": "/", "terminal": True}}, "process.terminal"),
    ({"linux": {"namespaces": [{"type": "user"}],
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}}, "linux.namespaces"),
])
def test_without_a_mount_namespace_nothing_is_mounted(bundle: str, changes: dict, path: str) -> None:
    config = copy.deepcopy(BASE)
    config["linux"]["namespaces"] = []
    for key, value in changes.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    with pytest.raises(ConfigError) as info:
        plan.make_plan(spec.parse(config), bundle, V1_HOST)
    assert info.value.path == path and "mount namespace" in str(info.value)


def test_binds_in_a_user_namespace_are_cloned_by_the_runtime(bundle: str) -> None:
    binds = [{"destination": "/data", "source": "data", "options": ["rbind"]},
             {"destination": "/t", "type": "tmpfs", "source": "tmpfs"}]
    assert [m.clone_source for m in make(bundle, mounts=binds).mounts[:2]] == [False, False]
    userns = make(bundle, mounts=binds, linux={
        "namespaces": [{"type": "mount"}, {"type": "user"}],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]})
    assert [m.clone_source for m in userns.mounts[:2]] == [True, False]


def test_exec_without_a_mount_namespace_chroots_to_the_inits_root(bundle: str) -> None:
    config = copy.deepcopy(BASE)
    config["linux"]["namespaces"] = [{"type": "pid"}]
    p = plan.make_exec_plan(spec.parse(config), 4242)
    assert (p.rootfs_setup, p.rootfs) == (plan.ROOTFS_CHROOT, "/proc/4242/root")
    config["linux"]["namespaces"].append({"type": "mount"})
    assert plan.make_exec_plan(spec.parse(config), 4242).rootfs_setup == plan.ROOTFS_KEEP


def test_bind_mounts_resolve_source_and_remount_for_flags(bundle: str) -> None:
    p = make(bundle, mounts=[
        {"destination": "/data", "source": "data", "options": ["rbind", "ro", "nosuid"]},
        {"destination": "/f", "type": "bind", "source": "file", "options": []},
    ])
    data, single = p.mounts[0], p.mounts[1]
    assert data.kind == plan.MOUNT_BIND and data.source == os.path.join(bundle, "data")
    assert data.flags == k.MS_BIND | k.MS_REC
    assert data.remount_flags == k.MS_RDONLY | k.MS_NOSUID
    assert data.source_is_dir
    assert single.kind == plan.MOUNT_BIND and not single.source_is_dir and single.remount_flags == 0


def test_missing_bind_source_is_an_error(bundle: str) -> None:
    with pytest.raises(ConfigError) as info:
        make(bundle, mounts=[{"destination": "/x", "source": "nope", "options": ["bind"]}])
    assert info.value.path == "mounts[0].source"


CGROUP_MOUNT = {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid"]}
WITH_CGROUPNS = {"namespaces": [{"type": "mount"}, {"type": "cgroup"}]}


def test_cgroup_mount_on_v1_in_a_cgroup_namespace_mounts_each_hierarchy(bundle: str) -> None:
    p = make(bundle, mounts=[CGROUP_MOUNT], linux=WITH_CGROUPNS)
    kinds = [(m.destination, m.fstype, m.data) for m in p.mounts if m.kind == plan.MOUNT_FS]
    assert kinds == [("/sys/fs/cgroup", "tmpfs", "mode=755"),
                     ("/sys/fs/cgroup/memory", "cgroup", "memory"),
                     ("/sys/fs/cgroup/systemd", "cgroup", "name=systemd"),
                     ("/sys/fs/cgroup", "tmpfs", "mode=755")]
    assert p.mounts[3].flags & k.MS_REMOUNT and p.mounts[3].flags & k.MS_RDONLY


def test_cgroup_mount_without_a_cgroup_namespace_binds_the_containers_own(bundle: str) -> None:
    host = plan.Host(V1_HOST.cgroup_v1_hierarchies, {
        "memory": "/sys/fs/cgroup/memory/pyrunc/c1", "name=systemd": "/sys/fs/cgroup/systemd/pyrunc/c1",
        "unified": "/sys/fs/cgroup/unified/pyrunc/c1"})
    p = make(bundle, host=host, mounts=[CGROUP_MOUNT])
    binds = [(m.destination, m.source, bool(m.remount_flags & k.MS_RDONLY))
             for m in p.mounts if m.kind == plan.MOUNT_BIND]
    assert binds == [("/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/pyrunc/c1", True),
                     ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/systemd/pyrunc/c1", True)]


def test_cgroup_mount_on_v2_without_namespace_binds_the_unified_cgroup(bundle: str) -> None:
    host = plan.Host([], {"unified": "/sys/fs/cgroup/pyrunc/c1"})
    p = make(bundle, host=host, mounts=[CGROUP_MOUNT])
    assert (p.mounts[0].kind, p.mounts[0].source) == (plan.MOUNT_BIND, "/sys/fs/cgroup/pyrunc/c1")


def test_cgroup_mount_on_v2_is_cgroup2(bundle: str) -> None:
    p = make(bundle, host=plan.Host(), mounts=[{"destination": "/sys/fs/cgroup", "type": "cgroup"}])
    assert p.mounts[0].fstype == "cgroup2"


def test_default_devices_and_links_unless_dev_is_bound(bundle: str) -> None:
    p = make(bundle)
    assert [d.path for d in p.devices] == ["/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                          "/dev/urandom", "/dev/tty"]
    assert (plan.MOUNT_SYMLINK, "/dev/ptmx", "pts/ptmx") in [(m.kind, m.destination, m.source) for m in p.mounts]
    bound = make(bundle, mounts=[{"destination": "/dev", "source": "data", "options": ["rbind"]}])
    assert bound.devices == [] and all(m.kind != plan.MOUNT_SYMLINK for m in bound.mounts)


def test_config_devices_override_defaults(bundle: str) -> None:
    p = make(bundle, linux={**BASE["linux"], "devices": [  # type: ignore[dict-item]
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 5},
        {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0}]})
    null = next(d for d in p.devices if d.path == "/dev/null")
    assert null.mode == k.S_IFCHR | 0o600 and null.uid == 5
    assert next(d for d in p.devices if d.path == "/dev/sda").mode == k.S_IFBLK | 0o666


@pytest.mark.parametrize("path, planned", [("/foo-dev", "/foo-dev"), ("/mnt/", "/mnt"),
                                           ("/dev/../etc/x", "/etc/x"), ("/", None), ("dev/x", None)])
def test_devices_may_live_outside_dev(bundle: str, path: str, planned: str | None) -> None:
    linux = {**BASE["linux"], "devices": [{"path": path, "type": "c", "major": 1, "minor": 3}]}
    if planned is None:
        with pytest.raises(ConfigError) as info:
            make(bundle, linux=linux)
        assert info.value.path == "linux.devices[0].path"
    else:
        assert planned in [d.path for d in make(bundle, linux=linux).devices]


@pytest.mark.parametrize("key, ok", [
    ("kernel.shmmax", True), ("fs.mqueue.msg_max", True), ("net.ipv4.ip_forward", False),
    ("kernel.panic", False), ("vm.swappiness", False), ("../../etc", False), ("kernel..x", False),
])
def test_sysctls_must_be_namespaced(bundle: str, key: str, ok: bool) -> None:
    linux = {"namespaces": [{"type": "mount"}, {"type": "ipc"}], "sysctl": {key: "1"}}
    if ok:
        assert make(bundle, linux=linux).sysctls == [("/proc/sys/" + key.replace(".", "/"), "1")]
    else:
        with pytest.raises(ConfigError) as info:
            make(bundle, linux=linux)
        assert info.value.path == f"linux.sysctl.{key}"


@pytest.mark.parametrize("kind, key", [("network", "net.ipv4.ip_forward"), ("ipc", "kernel.shmmax"),
                                       ("uts", "kernel.domainname")])
def test_sysctls_refused_in_a_joined_host_namespace(bundle: str, kind: str, key: str) -> None:
    own = {"network": "net"}.get(kind, kind)
    linux = {"namespaces": [{"type": "mount"}, {"type": kind, "path": f"/proc/self/ns/{own}"}], "sysctl": {key: "1"}}
    with pytest.raises(ConfigError, match=f"host's {kind} namespace") as info:
        make(bundle, linux=linux)
    assert info.value.path == f"linux.sysctl.{key}"
    linux["namespaces"][1] = {"type": kind}
    assert make(bundle, linux=linux).sysctls == [("/proc/sys/" + key.replace(".", "/"), "1")]


def test_sysctl_kernel_hostname_is_refused(bundle: str) -> None:
    linux = {"namespaces": [{"type": "mount"}, {"type": "uts"}], "sysctl": {"kernel.hostname": "x"}}
    with pytest.raises(ConfigError, match='conflicts with the OCI "hostname" field'):
        make(bundle, linux=linux)


def test_process_fields(bundle: str) -> None:
    p = make(bundle, process={
        "args": ["/bin/x", "a"], "env": ["A=1"], "cwd": "/w/../work",
        "user": {"uid": 7, "gid": 8, "additionalGids": [9], "umask": 0o22},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 5, "hard": 6}],
        "capabilities": {"bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NOT_REAL"], "ambient": ["CAP_KILL"],
                         "permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL"]},
        "noNewPrivileges": True, "oomScoreAdj": 500})
    proc = p.process
    assert (proc.argv, proc.envp, proc.cwd) == (["/bin/x", "a"], ["A=1"], "/work")
    assert (proc.uid, proc.gid, proc.additional_gids, proc.umask) == (7, 8, [9], 0o22)
    assert proc.rlimits == [(k.RLIMITS["RLIMIT_NOFILE"], 5, 6)]
    assert proc.capabilities == ((1 << 5) | 1, 0, 1 << 5, 1 << 5, 1 << 5)
    assert proc.no_new_privileges and proc.oom_score_adj == 500


@pytest.mark.parametrize("process, path", [
    ({"args": ["sh"], "cwd": "rel"}, "process.cwd"),
    ({"args": ["sh"], "rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]}, "process.rlimits[0].type"),
    ({"args": ["sh"], "rlimits": [{"type": "RLIMIT_CORE", "soft": 2, "hard": 1}]}, "process.rlimits[0].soft"),
    ({"args": ["sh"], "oomScoreAdj": 5000}, "process.oomScoreAdj"),
])
def test_process_errors_name_the_path(bundle: str, process: dict, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        make(bundle, process=process)
    assert info.value.path == path


def test_hostname_needs_uts(bundle: str) -> None:
    with pytest.raises(ConfigError) as info:
        make(bundle, hostname="x", linux={"namespaces": [{"type": "mount"}]})
    assert info.value.path == "hostname"


def test_rootfs_must_exist(bundle: str) -> None:
    with pytest.raises(ConfigError) as info:
        make(bundle, root={"path": "nope"})
    assert info.value.path == "root.path"


mount_options = st.lists(st.sampled_from(sorted(k.MOUNT_FLAGS) + sorted(k.PROPAGATION) + ["size=1k", "mode=755"]),
                         max_size=8)


@settings(max_examples=200)
@given(mount_options)
def test_last_flag_option_wins(options: list[str]) -> None:
    parsed = plan.parse_mount_options(options, "mounts[0].options")
    for name, (clear, flag) in k.MOUNT_FLAGS.items():
        if not flag:
            continue
        setters = [o for o in options if o in k.MOUNT_FLAGS and k.MOUNT_FLAGS[o][1] & flag]
        if setters and k.MOUNT_FLAGS[setters[-1]][1] == flag:
            last_clear = k.MOUNT_FLAGS[setters[-1]][0]
            assert bool(parsed.flags & flag) == (not last_clear)
    assert parsed.data == [o for o in options if "=" in o]


@given(st.integers(0, 2**41 - 1), st.integers(0, 2**41 - 1), st.integers(0, 2**41 - 1))
def test_only_permitted_and_inheritable_ambient_capabilities_are_raised(ambient: int, permitted: int,
                                                                        inheritable: int) -> None:
    raised = plan.raisable_ambient(ambient, permitted, inheritable)
    assert raised == ambient & permitted & inheritable
