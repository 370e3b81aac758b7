#!/usr/bin/env python3
"""Re-capture the corpus configs that tools on this machine generate.

    capture.py GENERATOR...     (runc-1.1, runc-1.1-rootless, crun, crun-rootless,
                                 umoci, ctr, ctr-seccomp, podman, podman-options, buildah, docker,
                                 docker-options, seccomp)

`runc spec` and `crun spec` are run in a scratch directory (runc-latest.json
is written by hand: README.md).  The engines
run a plain container of the test image (bundles/rootfs as an OCI image,
see engines.py) with a wrapper as their runtime: a script that copies the
bundle's config.json and then becomes runc, so the container really runs.
Engines keep everything under $PYRUNC_ENGINES_DIR, set up and taken down
here as the engine tests do.  Docker needs Debian's docker.io (dockerd);
it is captured by hand, never in CI.

What the engines wrote is normalised before it is stored: host paths,
ids and digests become neutral values (see `normalise`); the test fills
in what must be local (test_corpus.py).  Then README.md's table gets the
version and the command by hand.
"""
from __future__ import annotations

import functools
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import engines  # noqa: E402

# Neutral values of what an engine made up for one container; the test
# puts in its own (test_corpus.py: localise).
CONTAINER_ID = "corpus"
BUNDLE = "/BUNDLE"          # the engine's per-container state directory
CGROUPS_PATH = "/CGROUP/corpus"
ROOTFS = "rootfs"
ENGINE_DIR = "/ENGINE"      # the rest of the engine's state ($PYRUNC_ENGINES_DIR)

WRAPPER = """#!/bin/sh
# Keep a copy of the config an engine hands its runtime, then be runc.
previous=
for arg in "$@"; do
    case $previous in --bundle|-b) cp "$arg/config.json" {capture} ;; esac
    case $arg in --bundle=*) cp "${{arg#--bundle=}}/config.json" {capture} ;; esac
    previous=$arg
done
exec runc "$@"
"""


# Generators that write a config.json in the directory they run in.
SPEC_COMMANDS = {
    "runc-1.1": ["runc", "spec"],
    "runc-1.1-rootless": ["runc", "spec", "--rootless"],
    "crun": ["crun", "spec"],
    "crun-rootless": ["crun", "spec", "--rootless"],
}


def spec_of(command: list[str]) -> dict[str, Any]:
    """`TOOL spec` in a scratch directory."""
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(command, cwd=scratch, check=True)
        return json.loads((Path(scratch) / "config.json").read_text())


def with_wrapper(run: Callable[[str], Any]) -> dict[str, Any]:
    """Call run(wrapper_path) and return the config the wrapper saw."""
    with tempfile.TemporaryDirectory(prefix="corpus-capture-") as scratch:
        capture = Path(scratch) / "config.json"
        wrapper = Path(scratch) / "corpus-capture-runc"
        wrapper.write_text(WRAPPER.format(capture=capture))
        wrapper.chmod(0o755)
        # The run itself may fail on this host (Podman's rlimits): the
        # config is copied before runc starts.
        outcome = run(str(wrapper))
        if not capture.exists():
            raise SystemExit(f"capture.py: no config captured: {outcome}")
        return json.loads(capture.read_text())


def capture_ctr(wrapper: str, flags: Sequence[str] = ()) -> Any:
    name = "corpus-capture"
    return engines.execute(engines.ctr_argv(
        "run", "--rm", "--runc-binary", wrapper, "--runc-root", str(engines.CTR_RUNTIME_ROOT),
        *flags, engines.IMAGE, name, "/payload", "all"))


# `run` flags of the "-options" captures: a hardened, limited container
# as people write one (a user, a read-only rootfs with a tmpfs, one
# capability, no new privileges, memory and pids limits).
RUN_OPTIONS = ["--user", "1000:1000", "--read-only", "--tmpfs", "/scratch",
               "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE",
               "--security-opt", "no-new-privileges", "--workdir", "/scratch",
               "--memory", "64m", "--pids-limit", "100"]


def use_default_ulimits() -> None:
    """Podman's and Buildah's own default rlimits, not the engine tests'
    (which drop them where root cannot raise hard limits): the test
    clamps them."""
    conf = engines.PODMAN_CONF.read_text()
    engines.PODMAN_CONF.write_text(conf.replace("default_ulimits = []\n", ""))


def capture_podman(wrapper: str, flags: Sequence[str] = ()) -> Any:
    return engines.execute(["podman", "--runtime", wrapper, "run", "--rm", "--pull", "never",
                            *flags, engines.IMAGE, "/payload", "all"], env=engines.podman_env())


DOCKER_DIR = engines.STATE / "docker"
DOCKER_KEY = Path("/etc/docker/key.json")


def capture_docker(wrapper: str, flags: Sequence[str] = ()) -> Any:
    """A dockerd of our own (no bridge, no iptables) on the engines'
    containerd; the image imported from the rootfs."""
    DOCKER_DIR.mkdir(parents=True, exist_ok=True)
    had_key = DOCKER_KEY.exists()
    sock = DOCKER_DIR / "docker.sock"
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    with open(DOCKER_DIR / "dockerd.log", "ab") as log:
        daemon = subprocess.Popen(
            ["dockerd", "--data-root", str(DOCKER_DIR / "root"),
             "--exec-root", str(DOCKER_DIR / "exec"), "--pidfile", str(DOCKER_DIR / "dockerd.pid"),
             "--host", f"unix://{sock}", "--containerd", str(engines.CTR_SOCKET),
             "--containerd-namespace", "corpus-docker", "--bridge", "none", "--iptables=false",
             "--ip-masq=false", "--add-runtime", f"corpus={wrapper}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    try:
        engines.poll(lambda: subprocess.run(["docker", "info"], env=env, capture_output=True)
                     .returncode == 0, 60, "dockerd")
        tar = subprocess.Popen(["tar", "-C", str(engines.ROOTFS), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", "corpus/busybox"], stdin=tar.stdout, env=env,
                       check=True, stdout=subprocess.DEVNULL)
        tar.wait()
        return engines.execute(["docker", "run", "--rm", "--runtime", "corpus", "--network", "none",
                                *flags, "corpus/busybox", "/payload", "all"], env=env)
    finally:
        daemon.terminate()
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        remove_docker_traces(had_key)


def capture_buildah(wrapper: str) -> Any:
    """`buildah run` in a working container of the test image, in Podman's
    store (the engines' storage.conf)."""
    env = engines.podman_env()
    name = engines.execute(["buildah", "from", "--pull-never", engines.IMAGE], env=env).ok().stdout
    try:
        return engines.execute(["buildah", "run", "--runtime", wrapper, "--network", "none",
                                name.strip(), "--", "/payload", "all"], env=env)
    finally:
        engines.execute(["buildah", "rm", name.strip()], env=env)


def capture_umoci() -> dict[str, Any]:
    """`umoci unpack` of the test image: umoci writes a config for the
    image's bundle (its rootfs under the bundle, its own defaults)."""
    with tempfile.TemporaryDirectory(prefix="corpus-umoci-") as scratch:
        layout = Path(scratch) / "layout"
        layout.mkdir()
        subprocess.run(["tar", "-C", str(layout), "-xf", str(engines.ARCHIVE)], check=True)
        tag = engines.IMAGE.rsplit(":", 1)[1]
        bundle = Path(scratch) / "bundle"
        subprocess.run(["umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle)], check=True,
                       stdout=subprocess.DEVNULL)
        return json.loads((bundle / "config.json").read_text())


def remove_docker_traces(had_key: bool) -> None:
    """What dockerd leaves outside its directories: its key (unless there
    was one), its empty plugin dir, and the emptied /docker cgroups."""
    if not had_key:
        DOCKER_KEY.unlink(missing_ok=True)
    for path in ["/run/docker/plugins", "/run/docker", *glob.glob("/sys/fs/cgroup/*/docker")]:
        try:
            os.rmdir(path)
        except OSError:
            pass  # not empty: not only ours


ENGINES: dict[str, Callable[[str], Any]] = {
    "ctr": capture_ctr,
    "ctr-seccomp": functools.partial(capture_ctr, flags=["--seccomp"]),  # containerd's profile
    "podman": capture_podman,
    "podman-options": functools.partial(capture_podman, flags=RUN_OPTIONS),
    "buildah": capture_buildah,
    "docker": capture_docker,
    "docker-options": functools.partial(capture_docker, flags=RUN_OPTIONS),
}


# ---- normalising ----------------------------------------------------------------

HEX_ID = re.compile(r"\b[0-9a-f]{64}\b")
SHORT_ID = re.compile(r"\b[0-9a-f]{12}\b")


def normalise(config: dict[str, Any], state_paths: list[str]) -> dict[str, Any]:
    """Neutral values for what was particular to this capture: the rootfs,
    the cgroup, container ids, digests and the engine's state paths (the
    bundle directory and what is below it)."""
    config["root"]["path"] = ROOTFS
    linux = config.get("linux", {})
    if "cgroupsPath" in linux:
        linux["cgroupsPath"] = CGROUPS_PATH
    text = json.dumps(config)
    for path in sorted(state_paths, key=len, reverse=True):
        text = text.replace(path, BUNDLE)
    text = text.replace(str(engines.STATE), ENGINE_DIR)
    text = re.sub(r"/proc/\d+/exe", "/proc/ENGINE/exe", text)  # Docker's hook: dockerd itself
    text = HEX_ID.sub(CONTAINER_ID, text)
    text = SHORT_ID.sub(CONTAINER_ID, text)
    text = re.sub(r'"HOSTNAME=[^"]*"', '"HOSTNAME=corpus"', text)
    text = re.sub(r'"\d{4}-\d\d-\d\dT[\d:.]+Z"', '"2000-01-01T00:00:00Z"', text)
    return json.loads(text)


def state_paths_of(config: dict[str, Any]) -> list[str]:
    """Directories of the engine's own state that the config names: the
    directories of bind-mount sources that are not system paths."""
    paths = set()
    for mount in config.get("mounts", []):
        source = mount.get("source", "")
        if source.startswith(("/run/", "/var/", "/tmp/")) or source.startswith(str(engines.STATE)):
            paths.add(os.path.dirname(source))
    root = config.get("root", {}).get("path", "")
    if root.startswith("/"):
        paths.add(os.path.dirname(root))
    return sorted(paths)


def seccomp_configs() -> None:
    """Our Docker-style allow-list profile (seccomp-allowlist.profile.json)
    on ctr's config, with and without noNewPrivileges: without it, the
    runtime's own last steps (closing fds, dropping privileges) run under
    the filter too."""
    base = json.loads((HERE / "ctr.json").read_text())
    profile = json.loads((HERE / "seccomp-allowlist.profile.json").read_text())
    for name, no_new_privileges in (("seccomp-allowlist", True), ("seccomp-allowlist-nonnp", False)):
        config = json.loads(json.dumps(base))
        config["process"]["noNewPrivileges"] = no_new_privileges
        config["linux"]["seccomp"] = profile
        store(name, config)


def store(name: str, config: dict[str, Any]) -> None:
    path = HERE / f"{name}.json"
    path.write_text(json.dumps(config, indent=2) + "\n")
    print(f"wrote {path}")


def main(names: list[str]) -> int:
    known = {*SPEC_COMMANDS, "umoci", *ENGINES, "seccomp"}
    if not names or set(names) - known:
        print(__doc__, file=sys.stderr)
        return 2
    for name in names:
        if name in SPEC_COMMANDS:
            store(name, normalise(spec_of(SPEC_COMMANDS[name]), []))
    wanted = [name for name in names if name in ENGINES or name == "umoci"]
    if wanted:
        engines.prepare()
        use_default_ulimits()
        try:
            if "umoci" in wanted:
                store("umoci", normalise(capture_umoci(), []))
                wanted.remove("umoci")
            for name in wanted:
                raw = with_wrapper(ENGINES[name])
                store(name, normalise(raw, state_paths_of(raw)))
        finally:
            engines.teardown()
    if "seccomp" in names:  # after ctr, which it builds on
        seccomp_configs()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
