"""Tests for the starter config written by `pyrunc spec`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pyrunc.runtime import default_spec, validate

VARIANTS = [False, True]


@pytest.mark.parametrize("rootless", VARIANTS)
def test_default_config_validates_clean(rootless: bool, tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    config = default_spec.default_config(rootless=rootless)
    assert validate.validate_config(config, bundle=str(tmp_path)) == []


@pytest.mark.parametrize("rootless", VARIANTS)
def test_default_config_is_fresh_and_json(rootless: bool) -> None:
    first = default_spec.default_config(rootless=rootless)
    first["process"]["args"].append("mutated")
    first["linux"]["namespaces"].clear()
    second = default_spec.default_config(rootless=rootless)
    assert second["process"]["args"] == ["sh"]
    assert second["linux"]["namespaces"]
    assert json.loads(json.dumps(second)) == second


def _namespace_types(config: dict[str, Any]) -> list[str]:
    return [ns["type"] for ns in config["linux"]["namespaces"]]


def test_rootful_defaults() -> None:
    config = default_spec.default_config()
    assert config["hostname"] == "pyrunc"
    assert config["ociVersion"] == default_spec.OCI_VERSION
    assert config["root"] == {"path": "rootfs", "readonly": True}
    assert config["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    assert config["process"]["noNewPrivileges"] is True
    assert set(config["process"]["capabilities"]) == {"bounding", "effective", "permitted"}
    assert _namespace_types(config)[:5] == ["pid", "network", "ipc", "uts", "mount"]
    assert ("cgroup" in _namespace_types(config)) == default_spec.cgroup2_unified()
    assert [m["destination"] for m in config["mounts"]] == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
    ]


def test_rootless_transformation() -> None:
    config = default_spec.default_config(rootless=True)
    linux = config["linux"]
    types = _namespace_types(config)
    assert "network" not in types and types[-1] == "user"
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert "resources" not in linux
    mounts = {m["destination"]: m for m in config["mounts"]}
    assert mounts["/sys"] == {
        "destination": "/sys",
        "type": "none",
        "source": "/sys",
        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
    }
    assert not any(o.startswith(("uid=", "gid=")) for m in config["mounts"] for o in m.get("options", []))


# ---------------------------------------------------------------- against runc

RUNC = shutil.which("runc")


def _runc_spec(directory: Path, rootless: bool) -> dict[str, Any]:
    command = [RUNC or "runc", "spec"] + (["--rootless"] if rootless else [])
    subprocess.run(command, cwd=directory, check=True, capture_output=True, timeout=60)
    return json.loads((directory / "config.json").read_text())


def _as_current_runc(spec: dict[str, Any]) -> dict[str, Any]:
    """Apply to an older runc's output the changes upstream runc made since.

    Each step is idempotent, so a current runc passes through unchanged.
    """
    spec["ociVersion"] = default_spec.OCI_VERSION
    spec["hostname"] = default_spec.HOSTNAME
    capabilities = spec["process"]["capabilities"]
    for unusable in ("ambient", "inheritable"):  # dropped in runc 1.2
        capabilities.pop(unusable, None)
    masked = spec["linux"]["maskedPaths"]
    if "/sys/devices/virtual/tpm" not in masked:  # added upstream later
        masked.append("/sys/devices/virtual/tpm")
    namespaces = spec["linux"]["namespaces"]
    if default_spec.cgroup2_unified() and {"type": "cgroup"} not in namespaces:
        # runc >= 1.2 appends it right after the mount namespace.
        after = namespaces.index({"type": "mount"}) + 1
        namespaces.insert(after, {"type": "cgroup"})
    return spec


@pytest.mark.skipif(RUNC is None, reason="runc is not installed")
@pytest.mark.parametrize("rootless", VARIANTS)
def test_matches_runc_spec(rootless: bool, tmp_path: Path) -> None:
    expected = _as_current_runc(_runc_spec(tmp_path, rootless))
    assert default_spec.default_config(rootless=rootless) == expected


@pytest.mark.skipif(RUNC is None, reason="runc is not installed")
@pytest.mark.parametrize("rootless", VARIANTS)
def test_runc_spec_validates_clean(rootless: bool, tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    assert validate.validate_config(_runc_spec(tmp_path, rootless), bundle=str(tmp_path)) == []
