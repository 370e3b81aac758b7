"""The fast config.json parser: types checked, JSON paths named."""
from __future__ import annotations

import copy

import pytest
from hypothesis import given, strategies as st

from pyrunc.runtime import spec
from pyrunc.runtime.errors import ConfigError

BASE = {
    "ociVersion": "1.2.0",
    "root": {"path": "rootfs", "readonly": True},
    "process": {
        "args": ["sh"],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "user": {"uid": 1000, "gid": 100, "additionalGids": [5, 6], "umask": 18},
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}],
        "noNewPrivileges": True,
        "oomScoreAdj": 100,
        "consoleSize": {"height": 24, "width": 80},
    },
    "hostname": "h",
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]}],
    "linux": {
        "namespaces": [{"type": "mount"}, {"type": "network", "path": "/run/netns/x"}],
        "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}],
        "sysctl": {"net.ipv4.ip_forward": "1"},
        "maskedPaths": ["/proc/kcore"],
    },
    "annotations": {"a": "b"},
}


def test_parses_every_field() -> None:
    s = spec.parse(copy.deepcopy(BASE))
    assert s.root_path == "rootfs" and s.root_readonly
    assert s.process is not None
    assert s.process.user.additional_gids == [5, 6]
    assert s.process.user.umask == 18
    assert s.process.capabilities is not None and s.process.capabilities.effective == ["CAP_KILL"]
    assert s.process.capabilities.ambient == []
    assert s.process.rlimits == [spec.Rlimit("RLIMIT_NOFILE", 10, 20)]
    assert s.process.console_size == (24, 80)
    assert s.linux.namespaces[1] == spec.Namespace("network", "/run/netns/x")
    assert s.linux.devices[0].file_mode == 438
    assert s.mounts[0].options == ["nosuid"]
    assert s.annotations == {"a": "b"}


@pytest.mark.parametrize("path, value, expected", [
    (("process", "args"), "sh", "process.args"),
    (("process", "args"), [], "process.args"),
    (("process", "args"), ["sh", 1], "process.args[1]"),
    (("process", "user", "uid"), -1, "process.user.uid"),
    (("process", "user", "uid"), "0", "process.user.uid"),
    (("process", "terminal"), 1, "process.terminal"),
    (("process", "rlimits"), [{"type": "RLIMIT_NOFILE", "soft": True, "hard": 1}], "process.rlimits[0].soft"),
    (("linux", "namespaces"), [{"path": "/x"}], "linux.namespaces[0].type"),
    (("linux", "sysctl"), {"a.b": 1}, "linux.sysctl.a.b"),
    (("mounts",), [{"type": "tmpfs"}], "mounts[0].destination"),
    (("root",), None, "root"),
    (("annotations",), {"k": 3}, "annotations.k"),
])
def test_bad_field_names_its_path(path: tuple[str, ...], value: object, expected: str) -> None:
    config = copy.deepcopy(BASE)
    target = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ConfigError) as info:
        spec.parse(config)
    assert info.value.path == expected


def test_root_must_be_an_object() -> None:
    with pytest.raises(ConfigError, match="must be an object"):
        spec.parse([1, 2])


def test_load_reports_bad_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "config.json").write_text("{ nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        spec.load(str(tmp_path))
    with pytest.raises(ConfigError, match="cannot read"):
        spec.load(str(tmp_path / "missing"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=10,
)


@given(st.sampled_from(["process", "root", "linux", "mounts", "hostname", "annotations", "hooks"]),
       json_values)
def test_any_value_parses_or_raises_config_error(key: str, value: object) -> None:
    config = copy.deepcopy(BASE)
    config[key] = value
    try:
        spec.parse(config)
    except ConfigError as exc:
        assert exc.path


# Values the kernel's types cannot hold were OverflowErrors deep in the
# native encoder (after the cgroup was made); now each is a path-named
# refusal at parse time.
@pytest.mark.parametrize("where, value, path", [
    ("linux.devices", [{"path": "/dev/x", "type": "c", "major": 2 ** 32, "minor": 1}], "linux.devices[0].major"),
    ("linux.devices", [{"path": "/dev/x", "type": "c", "major": 1, "minor": -1}], "linux.devices[0].minor"),
    ("linux.devices", [{"path": "/dev/x", "type": "c", "major": 4096, "minor": 1}], "linux.devices[0].major"),
    ("process.consoleSize", {"height": 65536, "width": 80}, "process.consoleSize.height"),
    ("process.oomScoreAdj", -1001, "process.oomScoreAdj"),
    ("process.env", ["PATH=/bin", "NOEQUALS"], "process.env[1]"),
    ("process.env", ["=value"], "process.env[0]"),
    ("hostname", "h" * 100_000, "hostname"),
    ("domainname", "d" * 65, "domainname"),
    ("process.args", ["", "x"], "process.args[0]"),
    ("root.path", "", "root.path"),
])
def test_out_of_range_values_are_refused_by_path(where: str, value: object, path: str) -> None:
    config = copy.deepcopy(BASE)
    *parents, last = where.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    with pytest.raises(ConfigError) as error:
        spec.parse(config)
    assert error.value.path == path
    assert len(str(error.value)) < 200
