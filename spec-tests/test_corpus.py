"""Configs written by the tools people use (runc spec, crun spec, umoci,
ctr, Podman, Buildah, Docker, Docker-style seccomp profiles), not by
`pyrunc spec`: each runs to
completion in a real container, and where runc is installed, runc runs
the same config and both must agree on the exit status and on what the
payload sees from inside (ids, capabilities, rlimits, mounts, ...).

corpus/README.md names each config's generator, version and command;
corpus/capture.py re-captures them.  Captured configs hold neutral values
for what was particular to the capture; `localise` puts in this test's
own, the same for both runtimes.
"""
from __future__ import annotations

import copy
import difflib
import json
import os
import re
import resource
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness import TIMEOUT, Bundle, Runtime, assert_error

CORPUS = Path(__file__).resolve().parent / "corpus"
RUNC = shutil.which("runc")

# What capture.py put in place of the engine's per-container state dir.
STATE_DIR = "/BUNDLE/"
# Files and dirs an engine prepares in its state dir and binds into the
# container; the test makes its own in the bundle (None: a directory).
ENGINE_FILES: dict[str, str | None] = {
    ".containerenv": "engine=\"corpus\"\n",   # Podman: /run/.containerenv
    "hostname": "corpus\n",                   # Podman: /etc/hostname
    "hosts": "127.0.0.1 localhost\n",         # Podman: /etc/hosts
    "resolv.conf": "nameserver 127.0.0.1\n",  # Docker, Podman with a network
    "shm": None,                              # Podman: its own /dev/shm tmpfs
}


# One entry per corpus config; a mark names a known defect that breaks one.
GENERATORS = [
    pytest.param("runc-1.1", id="runc-1.1"),
    pytest.param("runc-latest", id="runc-latest"),
    pytest.param("crun", id="crun"),
    pytest.param("runc-1.1-rootless", id="runc-1.1-rootless"),
    pytest.param("ctr", id="ctr"),
    pytest.param("ctr-seccomp", id="ctr-seccomp"),
    pytest.param("podman", id="podman"),
    pytest.param("podman-options", id="podman-options"),
    pytest.param("buildah", id="buildah"),
    pytest.param("docker", id="docker"),
    pytest.param("docker-options", id="docker-options"),
    pytest.param("umoci", id="umoci"),
    pytest.param("seccomp-allowlist", id="seccomp-allowlist"),
    pytest.param("seccomp-allowlist-nonnp", id="seccomp-allowlist-nonnp"),
]

# Configs runc refuses too, with the JSON path pyrunc's error names.
REFUSED = {
    # crun fills in a user namespace without mappings with the caller's
    # own ids; runc refuses it ("User namespaces enabled, but no uid
    # mappings found"), and so does pyrunc.
    "crun-rootless": "linux.uidMappings",
}


def corpus_config(name: str) -> dict[str, Any]:
    return json.loads((CORPUS / f"{name}.json").read_text())


# ---- making a captured config local -----------------------------------------------

# capture.py's stand-in for the engine's own executable: a hook that calls
# back into the engine (Docker's libnetwork-setkey prestart hook runs
# dockerd itself) needs a daemon the test does not have.
ENGINE_HOOK = "/proc/ENGINE/exe"


def clamp_rlimits(rlimits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Within this host's hard limits: root cannot raise a hard limit where
    it lacks CAP_SYS_RESOURCE (Podman asks for 1048576 open files)."""
    clamped = []
    for limit in rlimits:
        _, host_hard = resource.getrlimit(getattr(resource, limit["type"]))
        hard = limit["hard"] if host_hard == resource.RLIM_INFINITY else min(limit["hard"], host_hard)
        clamped.append({**limit, "hard": hard, "soft": min(limit["soft"], hard)})
    return clamped


def engine_file(bundle: Path, source: str) -> str:
    """The bundle's stand-in for a file of the engine's state dir."""
    name = source[len(STATE_DIR):]
    assert name in ENGINE_FILES, f"{source}: say in ENGINE_FILES what the engine puts there"
    path = bundle / name
    content = ENGINE_FILES[name]
    if content is None:
        path.mkdir(exist_ok=True)
    else:
        path.write_text(content)
    return str(path)


def localise(config: dict[str, Any], bundle: Bundle, cid: str, payload: str) -> Bundle:
    """The captured config, with what must be local put in:
    - root.path: a private hard-linked copy of the test rootfs (engines
      bind files onto paths the image lacks, and the runtime creates them);
    - process.args: the payload; terminal off (nothing to attach);
    - rlimits within the host's hard limits;
    - cgroupsPath (when the generator writes one): unique to this run;
    - bind sources in the engine's state dir: files of the bundle;
    - hooks that call back into the engine: left out."""
    config = copy.deepcopy(config)
    bundle.config = config
    bundle.private_rootfs()
    process = config["process"]
    process["args"] = ["/payload", payload]
    process["terminal"] = False
    if "rlimits" in process:
        process["rlimits"] = clamp_rlimits(process["rlimits"])
    if "cgroupsPath" in config.get("linux", {}):
        config["linux"]["cgroupsPath"] = f"/{cid}"
    for mount in config.get("mounts", []):
        if mount.get("source", "").startswith(STATE_DIR):
            mount["source"] = engine_file(bundle.path, mount["source"])
    for stage, hooks in config.get("hooks", {}).items():
        config["hooks"][stage] = [hook for hook in hooks if hook["path"] != ENGINE_HOOK]
    return bundle.write()


# ---- running ---------------------------------------------------------------------------

class Outcome:
    """One payload run: exit status, stdout, stderr, and the container id
    and bundle it ran with."""

    def __init__(self, runtime: str, cid: str, bundle: Path, returncode: int, stdout: str,
                 stderr: str) -> None:
        self.runtime, self.cid, self.bundle = runtime, cid, bundle
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def __repr__(self) -> str:
        return f"{self.runtime} -> {self.returncode}: stdout={self.stdout!r} stderr={self.stderr!r}"

    def view(self) -> Any:
        assert self.returncode == 0, self
        return json.loads(self.stdout)


def run_pyrunc(runtime: Runtime, config: dict[str, Any], tmp_path: Path, payload: str) -> Outcome:
    cid = runtime.new_id()
    bundle = localise(config, Bundle(tmp_path / f"pyrunc-{payload}"), cid, payload)
    result = runtime.run(bundle, cid=cid)
    return Outcome("pyrunc", cid, bundle.path, result.returncode, result.stdout, result.stderr)


def run_runc(runtime: Runtime, config: dict[str, Any], tmp_path: Path, payload: str) -> Outcome:
    """`runc run` with a --root of its own, deleted (with whatever runc left
    in it) even when the run fails.  The id goes into the runtime fixture's
    audit, so a process or cgroup runc leaves fails the test too."""
    assert RUNC is not None
    cid = runtime.new_id()
    runtime.cgroup_paths.append(cid)  # runc's cgroup when the config names none
    bundle = localise(config, Bundle(tmp_path / f"runc-{payload}"), cid, payload)
    root = tmp_path / "runc-root"
    out, err = bundle.path / "out", bundle.path / "err"
    try:
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            proc = subprocess.run([RUNC, "--root", str(root), "run", "--bundle", str(bundle.path), cid],
                                  stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                  timeout=TIMEOUT)
    finally:
        subprocess.run([RUNC, "--root", str(root), "delete", "--force", cid],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(root, ignore_errors=True)
    return Outcome("runc", cid, bundle.path, proc.returncode, out.read_text(), err.read_text())


# ---- comparing ------------------------------------------------------------------------

def host_namespaces() -> dict[str, int]:
    return {kind: os.stat(f"/proc/self/ns/{kind}").st_ino for kind in os.listdir("/proc/self/ns")
            if not kind.endswith("_for_children")}


def normalise(outcome: Outcome, tmp_path: Path, config: dict[str, Any]) -> Any:
    """What must differ between two runs made equal: the bundle and scratch
    paths, the container id (in cgroup paths), pipe and namespace inodes
    (a namespace is either the host's or a new one)."""
    view = outcome.view()
    if isinstance(view, dict) and "ns" in view:
        host = host_namespaces()
        view["ns"] = {kind: None if ino is None else ("host" if host.get(kind) == ino else "new")
                      for kind, ino in view["ns"].items()}
    text = json.dumps(view)
    text = text.replace(str(outcome.bundle), "BUNDLE").replace(str(tmp_path), "TMP")
    text = text.replace(outcome.cid, "ID")
    text = re.sub(r"(pipe|socket|anon_inode):\[\d+\]", r"\1:[N]", text)
    return allow_deliberate_differences(json.loads(text), config)


def allow_deliberate_differences(view: Any, config: dict[str, Any]) -> Any:
    """The differences from runc that pyrunc means to have, taken out of
    the payload's view (README.md names them)."""
    if isinstance(view, dict):
        # A foreground `runc run` without a terminal relays the container's
        # stdio through pipes of its own; pyrunc hands the container its own
        # stdio, as both do for create.  Fds past 2 must still agree (leaks).
        view["fds"] = [fd for fd in view["fds"] if fd["fd"] > 2]
        return view
    for mount in view:
        if (mount["mount_point"] == "/sys/fs/cgroup" and mount["fstype"] == "tmpfs"
                and read_only_cgroup_mount(config)):
            # A read-only cgroup v1 mount: runc 1.1 leaves the tmpfs that
            # holds the controllers' binds writable, pyrunc makes it
            # read-only too, as the mount's options ask.
            mount["options"] = re.sub(r"^rw,", "ro,", mount["options"])
            mount["super_options"] = re.sub(r"^rw,", "ro,", mount["super_options"])
    return view


def read_only_cgroup_mount(config: dict[str, Any]) -> bool:
    return any(m["destination"] == "/sys/fs/cgroup" and "ro" in m.get("options", [])
               for m in config.get("mounts", []))


def differences(ours: Any, theirs: Any, where: str = "") -> list[str]:
    """Readable differences between two payload views."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return [line for key in sorted(set(ours) | set(theirs))
                for line in differences(ours.get(key), theirs.get(key), f"{where}.{key}")]
    if ours != theirs:
        return [f"{where or 'view'}: pyrunc {json.dumps(ours)} != runc {json.dumps(theirs)}"]
    return []


def mount_differences(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> list[str]:
    """Mount tables compared line by line.  Not in order: pyrunc mounts
    maskedPaths before readonlyPaths, runc the other way round; the
    container sees the same through them (a read-only path is bound
    recursively, masks below it included)."""
    def lines(mounts: list[dict[str, Any]]) -> list[str]:
        return sorted(" ".join(str(m[k]) for k in ("mount_point", "fstype", "source", "root",
                                                   "options", "super_options", "propagation"))
                      for m in mounts)
    diff = difflib.ndiff(lines(ours), lines(theirs))
    return [line.replace("- ", "pyrunc: ", 1).replace("+ ", "runc:   ", 1)
            for line in diff if line.startswith(("- ", "+ "))]


# ---- checks against the config alone (with or without runc) ----------------------------

def assert_view_follows_config(config: dict[str, Any], view: dict[str, Any]) -> None:
    process = config["process"]
    user = process.get("user", {})
    assert (view["ids"]["uid"], view["ids"]["gid"]) == (user.get("uid", 0), user.get("gid", 0))
    caps = view["caps"]
    assert caps["no_new_privs"] == bool(process.get("noNewPrivileges")), caps
    for limit in clamp_rlimits(process.get("rlimits", [])):
        assert view["rlimits"][limit["type"]] == [limit["soft"], limit["hard"]], limit
    if "hostname" in config:
        assert view["hostname"]["hostname"] == config["hostname"]
    assert view["cwd"] == process["cwd"]


# ---- the tests -----------------------------------------------------------------------------

@pytest.mark.parametrize("generator", GENERATORS)
def test_config_runs_and_matches_runc(generator: str, runtime: Runtime, tmp_path: Path) -> None:
    config = corpus_config(generator)
    ours = {payload: run_pyrunc(runtime, config, tmp_path, payload) for payload in ("all", "mounts")}
    for outcome in ours.values():
        assert outcome.returncode == 0, outcome
    all_view = ours["all"].view()
    assert_view_follows_config(config, all_view)
    if RUNC is None:
        return  # the comparison needs runc; the runs above stand alone
    problems = []
    for payload, mine in ours.items():
        theirs = run_runc(runtime, config, tmp_path, payload)
        assert theirs.returncode == mine.returncode, (mine, theirs)
        mine_view = normalise(mine, tmp_path, config)
        theirs_view = normalise(theirs, tmp_path, config)
        if payload == "mounts":
            problems += mount_differences(mine_view, theirs_view)
        else:
            problems += differences(mine_view, theirs_view)
    assert not problems, "pyrunc and runc differ:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("generator", sorted(REFUSED))
def test_config_is_refused_as_by_runc(generator: str, runtime: Runtime, tmp_path: Path) -> None:
    config = corpus_config(generator)
    cid = runtime.new_id()
    result = runtime.run(localise(config, Bundle(tmp_path / "pyrunc-all"), cid, "all"), cid=cid)
    assert_error(result, REFUSED[generator])
    if RUNC is not None:
        assert run_runc(runtime, config, tmp_path, "all").returncode == 1


def test_every_corpus_config_is_listed_and_documented() -> None:
    """A config added to corpus/ is run here and named in its README."""
    configs = {path.stem for path in CORPUS.glob("*.json") if not path.name.endswith(".profile.json")}
    listed = {param.values[0] for param in GENERATORS} | set(REFUSED)
    assert configs == listed
    readme = (CORPUS / "README.md").read_text()
    assert not [name for name in configs if f"`{name}.json`" not in readme]
