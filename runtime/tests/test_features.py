"""`pyrunc features` is a valid features document and claims only what
the planner, the init and the seccomp compiler really do."""
from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from pyrunc.runtime import hooks, plan, seccomp, spec
from pyrunc.runtime import linux_constants as k
from pyrunc.runtime.errors import ConfigError
from pyrunc.runtime.features import OCI_VERSION_MAX, OCI_VERSION_MIN, features, features_header_source

SCHEMA = json.loads((Path(plan.__file__).parent / "schema" / "features.schema.json").read_text())


@pytest.fixture(scope="module")
def document() -> dict:
    return features()


def test_validates_against_the_features_schema(document: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(document)


def test_every_mount_option_listed_is_acted_on(document: dict) -> None:
    for option in document["mountOptions"]:
        parsed = plan.parse_mount_options([option], "mounts[0].options")
        assert option not in parsed.data, f"{option} would reach the kernel as filesystem data"


def test_every_namespace_listed_is_planned(document: dict, tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    for ns_type in document["linux"]["namespaces"]:
        namespaces = [{"type": "mount"}] + ([] if ns_type == "mount" else [{"type": ns_type}])
        config = {"ociVersion": "1.2.0", "root": {"path": "rootfs"}, "process": {"args": ["true"]},
                  "linux": {"namespaces": namespaces}}
        if ns_type == "user":
            config["linux"]["uidMappings"] = config["linux"]["gidMappings"] = [
                {"containerID": 0, "hostID": 1000, "size": 1}]
        planned = plan.make_plan(spec.parse(config), str(tmp_path), plan.Host())
        assert k.NAMESPACES[ns_type] in [flag for flag, _ in planned.namespaces]


def test_unlisted_namespaces_are_refused(document: dict) -> None:
    assert set(document["linux"]["namespaces"]) == set(k.NAMESPACES) - plan.UNSUPPORTED_NAMESPACES


def test_hooks_and_capabilities(document: dict) -> None:
    assert document["hooks"] == list(hooks.KINDS)
    assert document["linux"]["capabilities"] == k.CAPABILITIES
    for name in document["linux"]["capabilities"]:
        assert plan.capability_mask([name], "process.capabilities.bounding") == 1 << k.CAPABILITY_BITS[name]


def test_seccomp_entries_are_accepted_by_the_compiler(document: dict) -> None:
    listed = document["linux"]["seccomp"]
    assert listed["enabled"] is True
    for action in listed["actions"]:
        extra = {"listenerPath": "/run/agent.sock"} if action == "SCMP_ACT_NOTIFY" else {}
        seccomp.parse({"defaultAction": "SCMP_ACT_ALLOW", **extra,
                       "syscalls": [{"names": ["getpid"], "action": action}]})
    for operator in listed["operators"]:
        seccomp.parse({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": operator}]}]})
    assert set(listed["supportedFlags"]) <= set(listed["knownFlags"])


def test_a_label_is_only_claimed_where_it_can_be_applied(document: dict, tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    config = {"ociVersion": "1.2.0", "root": {"path": "rootfs"},
              "process": {"args": ["true"], "apparmorProfile": "p"}, "linux": {"namespaces": [{"type": "mount"}]}}
    if document["linux"]["apparmor"]["enabled"]:
        plan.make_plan(spec.parse(config), str(tmp_path), plan.Host())
    else:
        with pytest.raises(ConfigError):
            plan.make_plan(spec.parse(config), str(tmp_path), plan.Host())


def _c_rows(source: str, array: str) -> list[tuple]:
    """The rows of a generated C array: each a tuple of its values (str,
    int, None for NULL); the sentinel row dropped."""
    body = re.search(rf" {array}\[\] = {{\n(.*?)\n}};", source, re.S)
    assert body, array
    rows = []
    for line in body.group(1).splitlines():
        items = [item.strip() for item in line.strip().rstrip(",").strip("{} ").split(",")]
        rows.append(tuple(None if item == "NULL" else json.loads(item) if item.startswith('"')
                          else int(item.rstrip("u")) for item in items))
    assert rows[-1][0] is None, array
    return rows[:-1]


def test_the_launchers_tables_are_the_python_tables() -> None:
    """The header the launcher is built with (its `features` answer in C)
    holds the tables as they are, rows the host's probes drop included;
    spec-tests/test_fast_path.py checks the two answers are the same bytes."""
    source = features_header_source()

    def names(array: str) -> list[str]:
        return [row[0] for row in _c_rows(source, array)]

    assert names("features_hooks") == list(hooks.KINDS)
    assert names("features_mount_options") == plan.supported_mount_options(False)
    assert names("features_mount_options_setattr") == plan.supported_mount_options(True)
    assert names("features_namespaces") == plan.supported_namespaces()
    assert names("features_capabilities") == k.CAPABILITIES
    assert names("features_seccomp_operators") == sorted(seccomp.OPERATORS)
    actions = _c_rows(source, "features_seccomp_actions")
    assert [row[0] for row in actions] == sorted(seccomp.ACTIONS)
    for name, *probe in actions:
        f = seccomp.action_probe(seccomp.ACTIONS[name])
        assert probe == [f.default_action, f.default_errno_ret, f.rules[0].action, f.rules[0].errno_ret,
                         *f.rules[0].names]
    assert _c_rows(source, "features_seccomp_archs") == sorted(seccomp.ARCHITECTURES.items())
    assert _c_rows(source, "features_seccomp_flags") == [(name, seccomp.flag_probe_bits(name))
                                                         for name in seccomp.FLAGS]
    assert f'#define FEATURES_OCI_VERSION_MIN "{OCI_VERSION_MIN}"' in source
    assert f'#define FEATURES_OCI_VERSION_MAX "{OCI_VERSION_MAX}"' in source
