"""The CNI protocol side of runtime/net/cni.py, against a plugin that
records what it is given (the real plugins run in spec-tests)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyrunc.runtime.errors import PyruncError
from pyrunc.runtime.net import cni

# Appends its command, env and config to $LOG (from the config), answers ADD
# with prevResult plus its name in "seen", fails when the config says so.
PLUGIN = """#!/usr/bin/env python3
import json, os, sys
conf = json.load(sys.stdin)
with open(conf["log"], "a") as f:
    f.write(json.dumps({"env": {k: v for k, v in os.environ.items() if k.startswith("CNI_")},
                        "conf": conf}) + "\\n")
if conf.get("fail"):
    print(json.dumps({"cniVersion": "1.0.0", "code": 11, "msg": "it failed", "details": "on purpose"}))
    sys.exit(1)
if os.environ["CNI_COMMAND"] == "ADD":
    result = conf.get("prevResult") or {"cniVersion": "1.0.0", "ips": [{"address": "10.78.0.5/24"}]}
    result.setdefault("seen", []).append(conf["id"])
    print(json.dumps(result))
"""


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    plugin = directory / "recorder"
    plugin.write_text(PLUGIN)
    plugin.chmod(0o755)
    return directory


def conflist(tmp_path: Path, *plugin_extra: dict) -> dict:
    log = str(tmp_path / "log")
    return {"cniVersion": "1.0.0", "name": "net1",
            "plugins": [dict({"type": "recorder", "id": i, "log": log}, **extra)
                        for i, extra in enumerate(plugin_extra)]}


def calls(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "log").read_text().splitlines()]


def test_add_chains_results_and_del_runs_in_reverse(tmp_path: Path, plugins: Path) -> None:
    conf = conflist(tmp_path, {}, {})
    result = cni.add(conf, "c1", "/proc/1/ns/net", str(plugins))
    assert result["seen"] == [0, 1] and cni.address(result) == ("10.78.0.5", 24)
    cni.check(conf, "c1", "/proc/1/ns/net", str(plugins), result)
    cni.delete(conf, "c1", "", str(plugins), result)
    log = calls(tmp_path)
    assert [(c["env"]["CNI_COMMAND"], c["conf"]["id"]) for c in log] == [
        ("ADD", 0), ("ADD", 1), ("CHECK", 0), ("CHECK", 1), ("DEL", 1), ("DEL", 0)]
    assert log[0]["env"] == {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/proc/1/ns/net",
                             "CNI_IFNAME": "eth0", "CNI_PATH": str(plugins)}
    assert log[-1]["env"]["CNI_NETNS"] == ""
    assert "prevResult" not in log[0]["conf"] and log[1]["conf"]["prevResult"]["seen"] == [0]
    assert all(c["conf"]["name"] == "net1" and c["conf"]["cniVersion"] == "1.0.0" for c in log)
    assert log[4]["conf"]["prevResult"] == result


def test_an_error_object_becomes_one_message(tmp_path: Path, plugins: Path) -> None:
    with pytest.raises(PyruncError, match=r"CNI plugin recorder ADD: it failed \(code 11\): on purpose"):
        cni.add(conflist(tmp_path, {"fail": True}), "c1", "/proc/1/ns/net", str(plugins))


def test_del_asks_every_plugin_even_after_a_failure(tmp_path: Path, plugins: Path) -> None:
    with pytest.raises(PyruncError, match="it failed"):
        cni.delete(conflist(tmp_path, {}, {"fail": True}), "c1", "", str(plugins), None)
    assert [c["conf"]["id"] for c in calls(tmp_path)] == [1, 0]


def test_a_missing_plugin(tmp_path: Path) -> None:
    with pytest.raises(PyruncError, match=f"CNI plugin recorder not found in {tmp_path}"):
        cni.add(conflist(tmp_path, {}), "c1", "", str(tmp_path))


@pytest.mark.parametrize("text, fragment", [
    ("{", "not JSON"),
    ("[]", "must be a JSON object"),
    ('{"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}]}', "name must be a non-empty string"),
    ('{"cniVersion": "1.0.0", "name": "n", "plugins": []}', "plugins must be a non-empty array"),
    ('{"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "../x"}]}', "plugins[0].type"),
])
def test_load_refuses(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.conflist"
    path.write_text(text)
    with pytest.raises(PyruncError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        cni.load(str(path))
    with pytest.raises(PyruncError, match="No such file"):
        cni.load(str(tmp_path / "missing"))


def test_bridge_name_and_address() -> None:
    assert cni.bridge_name({"plugins": [{"type": "bridge", "bridge": "br9"}]}) == "br9"
    assert cni.bridge_name({"plugins": [{"type": "bridge"}]}) == "cni0"
    assert cni.bridge_name({"plugins": [{"type": "macvlan"}]}) is None
    with pytest.raises(PyruncError, match="no IPv4 address"):
        cni.address({"ips": [{"address": "fd00::2/64"}]})


def test_check_is_for_version_0_4_and_later_unless_disabled(tmp_path: Path, plugins: Path) -> None:
    conf = dict(conflist(tmp_path, {}), cniVersion="0.3.1")
    with pytest.raises(PyruncError, match="CHECK needs cniVersion 0.4.0 or later, not 0.3.1"):
        cni.check(conf, "c1", "/proc/1/ns/net", str(plugins), None)
    cni.check(dict(conf, disableCheck=True), "c1", "/proc/1/ns/net", str(plugins), None)
    cni.check(dict(conf, cniVersion="0.4.0"), "c1", "/proc/1/ns/net", str(plugins), None)
    assert [c["env"]["CNI_COMMAND"] for c in calls(tmp_path)] == ["CHECK"]
