"""Tests for config.json validation: schema, semantic rules and robustness."""

from __future__ import annotations

import copy
import json
import os
import string
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrunc.runtime import validate
from pyrunc.runtime.validate import Problem, format_path, validate_config


def minimal() -> dict[str, Any]:
    return {"ociVersion": "1.2.0", "root": {"path": "rootfs"}, "process": {"cwd": "/", "args": ["sh"]}}


def with_linux(**linux: Any) -> dict[str, Any]:
    config = minimal()
    config["linux"] = linux
    return config


def problems_at(config: object, path: str, bundle: str | None = None) -> list[str]:
    return [p.message for p in validate_config(config, bundle) if p.path == path]


def paths(config: object) -> list[str]:
    return [p.path for p in validate_config(config)]


# ---------------------------------------------------------------- basics


def test_minimal_config_is_clean() -> None:
    assert validate_config(minimal()) == []


def test_problem_str_and_immutability() -> None:
    problem = Problem("process.args", "must not be empty")
    assert str(problem) == "process.args: must not be empty"
    with pytest.raises(AttributeError):
        problem.path = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        ((), "(root)"),
        (("process", "args"), "process.args"),
        (("linux", "namespaces", 2, "type"), "linux.namespaces[2].type"),
        (("mounts", 0, "destination"), "mounts[0].destination"),
        (("linux", "sysctl", "net.ipv4.ip_forward"), 'linux.sysctl["net.ipv4.ip_forward"]'),
        (("annotations", "a b"), 'annotations["a b"]'),
    ],
)
def test_format_path(parts: tuple[Any, ...], text: str) -> None:
    assert format_path(parts) == text


@pytest.mark.parametrize("config", [None, [], "x", 3, 2.5, True])
def test_non_object_config(config: object) -> None:
    [problem] = validate_config(config)
    assert problem.path == "(root)"
    assert problem.message.startswith("must be an object")


def test_problems_are_sorted_naturally() -> None:
    config = with_linux(namespaces=[{"type": "pid"}] * 12)
    found = paths(config)
    assert found == sorted(found, key=lambda p: int(p.split("[")[1].split("]")[0]))
    assert found[0] == "linux.namespaces[1].type" and found[-1] == "linux.namespaces[11].type"


def test_module_imports_without_jsonschema() -> None:
    code = "import sys; import pyrunc.runtime.validate; print('jsonschema' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_child_env())
    assert result.stdout.strip() == "False"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


# ---------------------------------------------------------------- schema messages


def test_missing_required_names_the_member() -> None:
    config = minimal()
    del config["root"]["path"]
    del config["ociVersion"]
    assert problems_at(config, "root.path") == ["is required"]
    assert problems_at(config, "ociVersion") == ["is required"]


def test_wrong_type_message() -> None:
    config = minimal()
    config["process"]["terminal"] = "yes"
    assert problems_at(config, "process.terminal") == ["must be a boolean, not a string"]


@pytest.mark.parametrize(
    ("field", "value", "title"),
    [
        (("linux", "namespaces"), [{"type": "pidns"}], "namespace type"),
        (("process", "rlimits"), [{"type": "NOFILE", "soft": 1, "hard": 1}], "rlimit name"),
    ],
)
def test_unknown_enum_values(field: tuple[str, str], value: Any, title: str) -> None:
    config = minimal()
    config.setdefault(field[0], {})[field[1]] = value
    messages = [p.message for p in validate_config(config)]
    assert any(f"is not a known {title}" in m for m in messages), messages


def test_unknown_capability_is_not_a_problem() -> None:
    """create warns about it and goes on (runc does too), so validate agrees."""
    config = minimal()
    config["process"]["capabilities"] = {"bounding": ["CAP_FOO", "CAP_KILL"]}
    assert validate_config(config) == []


def test_enum_with_wrong_type() -> None:
    config = with_linux(namespaces=[{"type": 7}])
    assert problems_at(config, "linux.namespaces[0].type") == ["must be a string, not an integer"]


def test_bounds_and_patterns() -> None:
    config = minimal()
    config["process"]["oomScoreAdj"] = 1001
    config["process"]["user"] = {"uid": -1, "gid": 0}
    config["linux"] = {"resources": {"cpu": {"cpus": "0-3,x"}}}
    assert problems_at(config, "process.oomScoreAdj") == ["must be <= 1000 (got 1001)"]
    assert problems_at(config, "process.user.uid") == ["must be >= 0 (got -1)"]
    [message] = problems_at(config, "linux.resources.cpu.cpus")
    assert message.startswith("must be a CPU list")


def test_time_offset_key_is_named() -> None:
    config = with_linux(namespaces=[{"type": "time"}], timeOffsets={"realtime": {"secs": 1}})
    assert problems_at(config, "linux.timeOffsets.realtime") == ['"realtime" is not a known clock name']


def test_unknown_properties_are_allowed() -> None:
    config = minimal()
    config["vendorThing"] = {"x": 1}
    config["process"]["futureField"] = True
    assert validate_config(config) == []


def test_null_members_are_absent() -> None:
    # As in Go (runc) and spec.py: a null member is the same as no member.
    config = minimal()
    config.update(hostname=None, hooks=None, linux={"namespaces": None, "seccomp": None})
    config["process"]["env"] = None
    assert validate_config(config) == []
    config["process"]["cwd"] = None     # create's default "/", so not required
    assert validate_config(config) == []
    config["process"]["args"] = [None]
    assert problems_at(config, "process.args[0]") == ["must be a string, not null"]


# ---------------------------------------------------------------- semantic rules


@pytest.mark.parametrize("version", ["1.0.0", "1.0.2-dev", "1.2.0", "1.3.0+build.1"])
def test_accepted_versions(version: str) -> None:
    config = minimal()
    config["ociVersion"] = version
    assert validate_config(config) == []


@pytest.mark.parametrize("version", ["2.0.0", "1.0", "0.5.0", "v1.0.0", ""])
def test_rejected_versions(version: str) -> None:
    config = minimal()
    config["ociVersion"] = version
    assert paths(config) == ["ociVersion"]


def test_root_path_checked_against_bundle(tmp_path: Path) -> None:
    config = minimal()
    assert problems_at(config, "root.path", str(tmp_path))[0].endswith("does not exist")
    (tmp_path / "rootfs").write_text("")
    assert problems_at(config, "root.path", str(tmp_path))[0].endswith("is not a directory")
    (tmp_path / "rootfs").unlink()
    (tmp_path / "rootfs").mkdir()
    config["linux"] = {"namespaces": [{"type": "mount"}]}
    assert validate_config(config, str(tmp_path)) == []
    # runc refuses a rootfs named through a symlink; so do create and validate.
    (tmp_path / "link").symlink_to("rootfs")
    config["root"]["path"] = "link"
    assert "is a symlink" in problems_at(config, "root.path", str(tmp_path))[0]


# Configs the schema and rules let through but create refused, so that
# `validate` called them valid: validate now runs create's parse and plan.
@pytest.mark.parametrize("change, path", [
    (lambda c: c["process"].update(env=["NOEQUALS"]), "process.env[0]"),
    (lambda c: c["process"].update(oomScoreAdj=5000), "process.oomScoreAdj"),
    (lambda c: c.update(hostname="é" * 40), "hostname"),
    (lambda c: c["linux"].update(devices=[{"path": "/dev/x", "type": "c", "major": 2 ** 32, "minor": 1}]),
     "linux.devices[0].major"),
    (lambda c: c["process"].update(consoleSize={"height": 65536, "width": 1}), "process.consoleSize.height"),
])
def test_validate_refuses_what_create_refuses(tmp_path: Path, change: Any, path: str) -> None:
    from pyrunc.runtime import plan, spec
    from pyrunc.runtime.errors import PyruncError
    (tmp_path / "rootfs").mkdir()
    config = minimal()
    config.update(hostname="h", mounts=[], linux={"namespaces": [{"type": "mount"}, {"type": "uts"}]})
    assert validate_config(config, str(tmp_path)) == []
    change(config)
    problems = validate_config(config, str(tmp_path))
    assert path in [p.path for p in problems], "validate calls valid a config create refuses"
    with pytest.raises(PyruncError):
        plan.make_plan(spec.parse(config), str(tmp_path), plan.read_host())


def test_root_path_not_empty() -> None:
    config = minimal()
    config["root"]["path"] = ""
    assert problems_at(config, "root.path") == ["must not be empty"]


@pytest.mark.parametrize(
    ("process", "path"),
    [
        ({"cwd": "/"}, "process.args"),
        ({"cwd": "/", "args": []}, "process.args"),
        ({"cwd": "/", "args": [""]}, "process.args[0]"),
        ({"cwd": "home", "args": ["sh"]}, "process.cwd"),
        ({"cwd": "/", "args": ["sh"], "env": ["PATH=/bin", "NOEQUALS"]}, "process.env[1]"),
        ({"cwd": "/", "args": ["sh"], "env": ["=value"]}, "process.env[0]"),
    ],
)
def test_process_rules(process: dict[str, Any], path: str) -> None:
    config = minimal()
    config["process"] = process
    assert paths(config) == [path]


def test_rlimit_rules() -> None:
    config = minimal()
    config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20},
        {"type": "RLIMIT_CORE", "soft": 30, "hard": 20},
        {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
    ]
    assert paths(config) == ["process.rlimits[1].soft", "process.rlimits[2].type"]


@pytest.mark.parametrize(
    ("scheduler", "path"),
    [
        ({"policy": "SCHED_FIFO"}, "process.scheduler.priority"),
        ({"policy": "SCHED_RR", "priority": 100}, "process.scheduler.priority"),
        ({"policy": "SCHED_OTHER", "priority": 5}, "process.scheduler.priority"),
        ({"policy": "SCHED_DEADLINE", "deadline": 10}, "process.scheduler.runtime"),
    ],
)
def test_scheduler_rules(scheduler: dict[str, Any], path: str) -> None:
    config = minimal()
    config["process"]["scheduler"] = scheduler
    assert paths(config) == [path]


def test_mount_rules() -> None:
    config = minimal()
    config["mounts"] = [
        {"destination": "relative/ok", "type": "tmpfs", "source": "tmpfs"},
        {"destination": ""},
        {"destination": "/data", "type": "none", "options": ["rbind"]},
        {
            "destination": "/idmapped",
            "type": "bind",
            "source": "/x",
            "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}],
        },
    ]
    assert paths(config) == ["mounts[1].destination", "mounts[2].source", "mounts[3].gidMappings"]


def test_namespace_rules() -> None:
    config = with_linux(
        namespaces=[
            {"type": "pid"},
            {"type": "net", "path": "/proc/1/ns/net"},
            {"type": "pid", "path": "proc/1/ns/pid"},
        ]
    )
    assert paths(config) == ["linux.namespaces[1].type", "linux.namespaces[2].path", "linux.namespaces[2].type"]


@pytest.mark.parametrize("field", ["hostname", "domainname"])
def test_uts_names_need_uts_namespace(field: str) -> None:
    config = with_linux(namespaces=[{"type": "mount"}])
    config[field] = "box"
    assert paths(config) == [field]
    config["linux"]["namespaces"].append({"type": "uts", "path": "/proc/1/ns/uts"})
    assert validate_config(config) == []


def test_empty_hostname_needs_nothing() -> None:
    config = minimal()
    config["hostname"] = ""
    assert validate_config(config) == []


MAPPING = [{"containerID": 0, "hostID": 1000, "size": 1}]


def test_mappings_need_user_namespace() -> None:
    config = with_linux(uidMappings=MAPPING, gidMappings=MAPPING)
    assert paths(config) == ["linux.gidMappings", "linux.uidMappings"]


def test_new_user_namespace_needs_mappings() -> None:
    config = with_linux(namespaces=[{"type": "user"}], uidMappings=MAPPING)
    assert paths(config) == ["linux.gidMappings"]


def test_joined_user_namespace() -> None:
    config = with_linux(namespaces=[{"type": "user", "path": "/proc/1/ns/user"}])
    assert validate_config(config) == []
    config["linux"]["uidMappings"] = MAPPING
    assert paths(config) == ["linux.gidMappings"]


def test_time_offsets_need_new_time_namespace() -> None:
    offsets = {"monotonic": {"secs": 5}}
    assert paths(with_linux(timeOffsets=offsets)) == ["linux.timeOffsets"]
    assert paths(with_linux(timeOffsets=offsets, namespaces=[{"type": "time", "path": "/proc/1/ns/time"}])) == [
        "linux.timeOffsets"
    ]
    assert validate_config(with_linux(timeOffsets=offsets, namespaces=[{"type": "time"}])) == []


@pytest.mark.parametrize(
    ("name", "namespace", "ok"),
    [
        ("net.ipv4.ip_forward", "network", True),
        ("net.ipv4.ip_forward", "ipc", False),
        ("kernel.shmmax", "ipc", True),
        ("fs.mqueue.msg_max", "ipc", True),
        ("kernel.domainname", "uts", True),
        ("kernel.hostname", "pid", False),
        ("kernel.hostname", "uts", False),   # conflicts with the hostname field (runc refuses it)
        ("vm.swappiness", "network", False),
        ("net..x", "network", False),
        ("net/ipv4/ip_forward", "network", False),
        ("", "network", False),
        ("net.", "network", False),
    ],
)
def test_sysctl_rules(name: str, namespace: str, ok: bool) -> None:
    config = with_linux(namespaces=[{"type": namespace}], sysctl={name: "1"})
    assert paths(config) == ([] if ok else [format_path(("linux", "sysctl", name))])


@pytest.mark.parametrize(
    ("device", "bad"),
    [
        ({"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}, []),
        ({"path": "/dev/fifo", "type": "p"}, []),
        # Outside /dev too, as runc allows (resolved inside the rootfs).
        ({"path": "/srv/fuse", "type": "c", "major": 10, "minor": 229}, []),
        ({"path": "/dev/../etc/x", "type": "b", "major": 8, "minor": 0}, []),
        ({"path": "/", "type": "b", "major": 8, "minor": 0}, ["path"]),
        ({"path": "/dev/..", "type": "p"}, ["path"]),
        ({"path": "dev/x", "type": "u", "major": 1, "minor": 1}, ["path"]),
        ({"path": "/dev/sda", "type": "b"}, ["major", "minor"]),
        ({"path": "/dev/x", "type": "x"}, ["type"]),
    ],
)
def test_device_rules(device: dict[str, Any], bad: list[str]) -> None:
    config = with_linux(devices=[device])
    assert paths(config) == [f"linux.devices[0].{field}" for field in bad]


def test_seccomp_rules() -> None:
    config = with_linux(
        seccomp={
            "defaultAction": "SCMP_ACT_NOTIFY",
            "defaultErrnoRet": 1,
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1},
                {"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["open"], "action": "SCMP_ACT_FOO"},
            ],
        }
    )
    assert paths(config) == [
        "linux.seccomp.defaultAction",
        "linux.seccomp.listenerPath",
        "linux.seccomp.syscalls[2].action",
    ]


def test_seccomp_requires_default_action() -> None:
    assert paths(with_linux(seccomp={})) == ["linux.seccomp.defaultAction"]


def test_absolute_path_lists() -> None:
    config = with_linux(maskedPaths=["/proc/kcore", "proc/keys"], readonlyPaths=["sys"])
    config["hooks"] = {"prestart": [{"path": "hook"}], "poststop": [{"path": "/bin/true"}]}
    assert paths(config) == ["hooks.prestart[0].path", "linux.maskedPaths[1]", "linux.readonlyPaths[0]"]


def test_hook_timeout_beyond_what_create_takes() -> None:
    config = with_linux()
    config["hooks"] = {"poststop": [{"path": "/bin/true", "timeout": 2 ** 31 - 1},
                                    {"path": "/bin/true", "timeout": 10_000_000_000}]}
    assert paths(config) == ["hooks.poststop[1].timeout"]


def test_memory_swap_below_limit() -> None:
    config = with_linux(resources={"memory": {"limit": 1000, "swap": 500}})
    assert paths(config) == ["linux.resources.memory.swap"]
    config["linux"]["resources"]["memory"]["swap"] = -1
    assert validate_config(config) == []


def test_all_problems_reported_at_once() -> None:
    config = with_linux(namespaces="pid", sysctl={"vm.x": 1})
    config["process"] = {"args": "sh", "cwd": 5}
    config["hostname"] = "h"
    problems = validate_config(config)
    assert len(problems) == len(set(problems))
    found = [p.path for p in problems]
    assert {"process.args", "process.cwd", "linux.namespaces", 'linux.sysctl["vm.x"]'} <= set(found)
    # A malformed namespace list does not cascade into namespace-dependent rules.
    assert "hostname" not in found


# ---------------------------------------------------------------- strategies

names = st.text(alphabet=string.ascii_lowercase + string.digits + "_", min_size=1, max_size=8)
texts = st.text(alphabet=st.characters(blacklist_characters="\0"), max_size=12)  # create refuses NUL
abs_paths = st.lists(names, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
uint32 = st.integers(0, 2**32 - 1)
uint64 = st.integers(0, 2**64 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
cpu_lists = st.lists(st.integers(0, 63), min_size=1, max_size=4).map(lambda cpus: ",".join(map(str, cpus)))

NAMESPACE_TYPES = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"]
RLIMITS = ["RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_STACK", "RLIMIT_RTTIME"]
CAPABILITIES = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]
SYSCTLS = {
    "network": ["net.ipv4.ip_forward", "net.core.somaxconn"],
    "ipc": ["kernel.shmmax", "kernel.sem", "fs.mqueue.msg_max"],
    "uts": ["kernel.domainname"],
}
PLAIN_ACTIONS = ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG"]

id_mappings = st.lists(
    st.fixed_dictionaries({"containerID": uint32, "hostID": uint32, "size": uint32}), min_size=1, max_size=2
)


@st.composite
def rlimits(draw: st.DrawFn) -> list[dict[str, Any]]:
    result = []
    for kind in draw(st.lists(st.sampled_from(RLIMITS), unique=True, max_size=3)):
        hard = draw(uint64)
        result.append({"type": kind, "hard": hard, "soft": draw(st.integers(0, hard))})
    return result


schedulers = st.one_of(
    st.fixed_dictionaries({"policy": st.sampled_from(["SCHED_FIFO", "SCHED_RR"]), "priority": st.integers(1, 99)}),
    st.fixed_dictionaries(
        {"policy": st.sampled_from(["SCHED_OTHER", "SCHED_BATCH", "SCHED_IDLE"])},
        optional={"nice": st.integers(-20, 19), "flags": st.lists(st.just("SCHED_FLAG_RESET_ON_FORK"), max_size=1)},
    ),
    st.fixed_dictionaries(
        {"policy": st.just("SCHED_DEADLINE"), "runtime": st.integers(1, 10**9)},
        optional={"deadline": uint64, "period": uint64},
    ),
)

processes = st.fixed_dictionaries(
    {"cwd": abs_paths, "args": st.lists(names, min_size=1, max_size=3)},
    optional={
        "terminal": st.booleans(),
        "consoleSize": st.fixed_dictionaries({"height": st.integers(0, 65535), "width": st.integers(0, 65535)}),
        "user": st.fixed_dictionaries(
            {"uid": uint32, "gid": uint32},
            optional={"umask": st.integers(0, 0o777), "additionalGids": st.lists(uint32, max_size=3)},
        ),
        "env": st.lists(st.builds(lambda k, v: f"{k}={v}", names, texts), max_size=3),
        "capabilities": st.fixed_dictionaries(
            {},
            optional={
                k: st.lists(st.sampled_from(CAPABILITIES), max_size=3)
                for k in ("bounding", "effective", "permitted", "inheritable", "ambient")
            },
        ),
        "rlimits": rlimits(),
        "noNewPrivileges": st.booleans(),
        "apparmorProfile": texts,
        "selinuxLabel": texts,
        "oomScoreAdj": st.integers(-1000, 1000),
        "ioPriority": st.fixed_dictionaries(
            {
                "class": st.sampled_from(["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"]),
                "priority": st.integers(0, 7),
            }
        ),
        "scheduler": schedulers,
        "execCPUAffinity": st.fixed_dictionaries({}, optional={"initial": cpu_lists, "final": cpu_lists}),
    },
)

mounts = st.lists(
    st.fixed_dictionaries(
        {"destination": abs_paths, "source": names},
        optional={
            "type": st.sampled_from(["bind", "tmpfs", "proc", "sysfs"]),
            "options": st.lists(st.sampled_from(["ro", "rbind", "nosuid", "mode=755"]), max_size=3),
        },
    ),
    max_size=3,
)

hooks = st.fixed_dictionaries(
    {},
    optional={
        stage: st.lists(
            st.fixed_dictionaries(
                {"path": abs_paths},
                optional={
                    "args": st.lists(texts, max_size=2),
                    "env": st.lists(st.just("A=b"), max_size=1),
                    "timeout": st.integers(1, 100),
                },
            ),
            max_size=2,
        )
        for stage in ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
    },
)

devices = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "path": names.map(lambda n: "/dev/" + n),
                "type": st.sampled_from(["c", "b", "u"]),
                "major": st.integers(0, 4095),
                "minor": st.integers(0, 2 ** 20 - 1),
            },
            optional={"fileMode": st.integers(0, 0o7777), "uid": uint32, "gid": uint32},
        ),
        st.fixed_dictionaries({"path": names.map(lambda n: "/dev/" + n), "type": st.just("p")}),
    ),
    max_size=2,
)

syscall_rules = st.one_of(
    st.fixed_dictionaries({"names": st.lists(names, min_size=1, max_size=3), "action": st.sampled_from(PLAIN_ACTIONS)}),
    st.fixed_dictionaries(
        {"names": st.lists(names, min_size=1, max_size=3), "action": st.just("SCMP_ACT_ERRNO")},
        optional={
            "errnoRet": uint32,
            "args": st.lists(
                st.fixed_dictionaries(
                    {
                        "index": st.integers(0, 5),
                        "value": uint64,
                        "op": st.sampled_from(["SCMP_CMP_EQ", "SCMP_CMP_MASKED_EQ"]),
                    },
                    optional={"valueTwo": uint64},
                ),
                max_size=2,
            ),
        },
    ),
)

seccomps = st.fixed_dictionaries(
    {"defaultAction": st.sampled_from(PLAIN_ACTIONS)},
    optional={
        "architectures": st.lists(
            st.sampled_from(["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64", "SCMP_ARCH_X86"]), max_size=2
        ),
        "flags": st.lists(st.just("SECCOMP_FILTER_FLAG_LOG"), max_size=1),
        "syscalls": st.lists(syscall_rules, max_size=3),
    },
)

resources = st.fixed_dictionaries(
    {},
    optional={
        "devices": st.lists(
            st.fixed_dictionaries(
                {"allow": st.booleans()},
                optional={
                    "type": st.sampled_from("acb"),
                    "major": int64,
                    "minor": int64,
                    "access": st.sampled_from(["rwm", "r", ""]),
                },
            ),
            max_size=2,
        ),
        "memory": st.fixed_dictionaries(
            {}, optional={"reservation": int64, "swappiness": st.integers(0, 100), "disableOOMKiller": st.booleans()}
        ),
        "cpu": st.fixed_dictionaries(
            {}, optional={"shares": uint64, "quota": int64, "period": uint64, "cpus": cpu_lists, "mems": cpu_lists}
        ),
        "pids": st.fixed_dictionaries({"limit": int64}),
        "blockIO": st.fixed_dictionaries(
            {},
            optional={
                "weight": st.integers(10, 1000),
                "weightDevice": st.lists(
                    st.fixed_dictionaries({"major": int64, "minor": int64}, optional={"weight": st.integers(10, 1000)}),
                    max_size=1,
                ),
                "throttleReadBpsDevice": st.lists(
                    st.fixed_dictionaries({"major": int64, "minor": int64, "rate": uint64}), max_size=1
                ),
            },
        ),
        "hugepageLimits": st.lists(
            st.fixed_dictionaries({"pageSize": st.sampled_from(["2MB", "1GB", "64KB"]), "limit": uint64}), max_size=2
        ),
        "network": st.fixed_dictionaries(
            {},
            optional={
                "classID": uint32,
                "priorities": st.lists(st.fixed_dictionaries({"name": names, "priority": uint32}), max_size=2),
            },
        ),
        "rdma": st.dictionaries(
            names, st.fixed_dictionaries({}, optional={"hcaHandles": uint32, "hcaObjects": uint32}), max_size=1
        ),
        "unified": st.dictionaries(names, texts, max_size=2),
    },
)

linux_extras = {
    "devices": devices,
    "cgroupsPath": abs_paths,
    "resources": resources,
    "rootfsPropagation": st.sampled_from(["private", "rslave", "shared", "unbindable"]),
    "seccomp": seccomps,
    "maskedPaths": st.lists(abs_paths, max_size=3),
    "readonlyPaths": st.lists(abs_paths, max_size=3),
    "mountLabel": texts,
    "intelRdt": st.fixed_dictionaries(
        {}, optional={"closID": names, "l3CacheSchema": texts, "enableMBM": st.booleans()}
    ),
    "personality": st.fixed_dictionaries({"domain": st.sampled_from(["LINUX", "LINUX32"])}),
    "memoryPolicy": st.fixed_dictionaries(
        {"mode": st.sampled_from(["MPOL_BIND", "MPOL_INTERLEAVE"])},
        optional={"nodes": cpu_lists, "flags": st.lists(st.just("MPOL_F_STATIC_NODES"), max_size=1)},
    ),
}


@st.composite
def namespace_setups(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Namespaces plus the linux fields that depend on which are present."""
    kinds = draw(st.lists(st.sampled_from(NAMESPACE_TYPES), unique=True))
    namespaces, linux = [], {}
    for kind in kinds:
        entry = {"type": kind}
        if draw(st.booleans()):
            entry["path"] = f"/proc/1/ns/{kind}"
        namespaces.append(entry)
    joined = {ns["type"]: "path" in ns for ns in namespaces}
    if joined.get("user") is False or (joined.get("user") and draw(st.booleans())):
        linux["uidMappings"], linux["gidMappings"] = draw(id_mappings), draw(id_mappings)
    if joined.get("time") is False:
        linux["timeOffsets"] = draw(
            st.dictionaries(
                st.sampled_from(["monotonic", "boottime"]),
                st.fixed_dictionaries({}, optional={"secs": int64, "nanosecs": st.integers(0, 999_999_999)}),
            )
        )
    allowed = [name for kind in joined for name in SYSCTLS.get(kind, [])]
    if allowed:
        linux["sysctl"] = draw(st.dictionaries(st.sampled_from(allowed), texts, max_size=3))
    return namespaces, linux


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    namespaces, linux = draw(namespace_setups())
    linux.update(draw(st.fixed_dictionaries({}, optional=linux_extras)))
    if namespaces or draw(st.booleans()):
        linux["namespaces"] = namespaces
    config = {
        "ociVersion": draw(st.sampled_from(["1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.3.0"])),
        "root": draw(st.fixed_dictionaries({"path": st.just("rootfs")}, optional={"readonly": st.booleans()})),
    }
    config.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "process": processes,
                    "mounts": mounts,
                    "hooks": hooks,
                    "annotations": st.dictionaries(texts, texts, max_size=3),
                },
            )
        )
    )
    if any(ns["type"] == "uts" for ns in namespaces):
        config.update(draw(st.fixed_dictionaries({}, optional={"hostname": names, "domainname": names})))
    if linux or draw(st.booleans()):
        config["linux"] = linux
    return config


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)

CONFIG_KEYS = ["ociVersion", "root", "process", "mounts", "hooks", "hostname", "domainname", "linux", "annotations"]
LINUX_KEYS = list(linux_extras) + ["namespaces", "uidMappings", "gidMappings", "timeOffsets", "sysctl"]


def all_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path inside a JSON value, the value itself excluded."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield prefix + (key,)
        yield from all_paths(child, prefix + (key,))


def replaced(config: dict[str, Any], path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    result = copy.deepcopy(config)
    holder = result
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = new
    return result


def wrong_type_for(value: Any) -> Any:
    """A value whose JSON type differs from `value`'s (and from any alternative the schema allows)."""
    return "wrong-type" if isinstance(value, dict) else {"wrong": "type"}


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- properties


@PROPERTY_SETTINGS
@given(valid_configs())
def test_valid_configs_validate_clean(config: dict[str, Any]) -> None:
    assert validate_config(config) == []


@PROPERTY_SETTINGS
@given(st.data())
def test_wrong_type_is_reported_at_its_path(data: st.DataObject) -> None:
    config = data.draw(valid_configs())
    candidates = list(all_paths(config))
    if not candidates:
        return
    path = data.draw(st.sampled_from(candidates))
    broken = replaced(config, path, wrong_type_for(_get(config, path)))
    assert format_path(path) in [p.path for p in validate_config(broken)]


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


@PROPERTY_SETTINGS
@given(json_values)
def test_never_raises_on_arbitrary_json(value: Any) -> None:
    result = validate_config(value, bundle="/nonexistent-bundle")
    assert all(isinstance(p, Problem) for p in result)
    assert result == sorted(result, key=validate._sort_key)
    if not isinstance(value, dict):
        assert [p.path for p in result] == ["(root)"]


@PROPERTY_SETTINGS
@given(
    st.dictionaries(st.sampled_from(CONFIG_KEYS), json_values),
    st.dictionaries(st.sampled_from(LINUX_KEYS), json_values),
)
def test_never_raises_on_config_shaped_junk(config: dict[str, Any], linux: dict[str, Any]) -> None:
    config["linux"] = linux
    assert all(isinstance(p, Problem) for p in validate_config(config))


@PROPERTY_SETTINGS
@given(st.data())
def test_never_raises_on_junk_inside_valid_config(data: st.DataObject) -> None:
    config = data.draw(valid_configs())
    candidates = list(all_paths(config))
    if candidates:
        path = data.draw(st.sampled_from(candidates))
        config = replaced(config, path, data.draw(json_values))
    result = validate_config(config)
    assert len(result) == len(set(result))
    json.dumps([str(p) for p in result])
