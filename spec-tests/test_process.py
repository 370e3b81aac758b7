"""config.md "process": args and PATH lookup, env, cwd, user, umask,
rlimits, capabilities, noNewPrivileges, oomScoreAdj and stdio, each as the
container's process sees it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from harness import ROOTFS, Bundle, Runtime, assert_error, hex_mask

CAP = {"CHOWN": 0, "KILL": 5, "NET_BIND_SERVICE": 10, "NET_RAW": 13, "SYS_CHROOT": 18,
       "AUDIT_WRITE": 29}


def cap_names(*names: str) -> list[str]:
    return [f"CAP_{name}" for name in names]


def caps_hex(*names: str) -> str:
    return hex_mask(*(CAP[name] for name in names))


# ---- args, env, cwd ---------------------------------------------------------------------

def test_args_reach_the_program(runtime: Runtime, bundle: Bundle) -> None:
    bundle.payload("echo", "two words", "", "*", "$HOME")
    assert runtime.run(bundle).ok().stdout == "two words  * $HOME\n"


def test_program_is_found_on_the_container_path(runtime: Runtime, bundle: Bundle) -> None:
    # Only the container's PATH (from process.env) can find /payload.
    bundle.set("process.env", ["PATH=/no/such/dir:/"])
    bundle.set("process.args", ["payload", "cwd"])
    assert runtime.run(bundle).json() == "/"


def test_without_path_a_bare_name_is_not_found(runtime: Runtime, bundle: Bundle) -> None:
    """As runc: no PATH in process.env is an empty one (no default list)."""
    bundle.set("process.env", ["TERM=xterm"]).set("process.args", ["sh", "-c", "true"])
    assert_error(runtime.run(bundle), '"sh"', "not found in $PATH")
    assert runtime.run(bundle.set("process.args", ["/bin/sh", "-c", "true"])).returncode == 0


def test_env_is_exactly_the_configured_one(runtime: Runtime, bundle: Bundle) -> None:
    env = ["PATH=/bin", "EMPTY=", "SPACES=a b  c", "EQUALS=x=y", "HOME=/elsewhere"]
    bundle.set("process.env", env)
    # Nothing of pyrunc's own environment leaks in.
    seen = runtime.run(bundle.payload("env"), env={**os.environ, "SPEC_TEST_LEAK": "1"}).json()
    assert seen == env


@pytest.mark.parametrize("uid, home", [(0, "/root"), (1000, "/home/user")])
def test_home_defaults_from_passwd(runtime: Runtime, bundle: Bundle, uid: int, home: str) -> None:
    # As runc: HOME from the container's /etc/passwd when the config has none.
    bundle.set("process.user", {"uid": uid, "gid": uid})
    assert f"HOME={home}" in runtime.probe(bundle, "env")


def test_cwd(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("process.cwd", "/tmp")
    assert runtime.probe(bundle, "cwd") == "/tmp"


def test_missing_cwd_is_created(runtime: Runtime, bundle: Bundle) -> None:
    # In the rootfs, even a read-only one, as runc does.
    rootfs = bundle.private_rootfs()
    bundle.set("process.cwd", "/spec-cwd/a/b")
    assert runtime.probe(bundle, "cwd") == "/spec-cwd/a/b"
    assert (rootfs / "spec-cwd" / "a" / "b").is_dir()


def test_cwd_the_user_cannot_enter(runtime: Runtime, bundle: Bundle) -> None:
    # /root is 0700 root's; runc enters the cwd before it drops privileges.
    assert (ROOTFS / "root").stat().st_mode & 0o777 == 0o700
    bundle.set("process.cwd", "/root").set("process.user", {"uid": 1000, "gid": 1000})
    assert runtime.probe(bundle, "cwd") == "/root"
    container = runtime.create(bundle.payload("sleep", "30"))
    container.start().ok()
    result = runtime("exec", "--cwd", "/root", "--user", "1000:1000", container.cid, "/payload", "cwd")
    assert json.loads(result.ok().stdout) == "/root"


# ---- user -------------------------------------------------------------------------------

def test_user_ids_and_additional_gids(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("process.user", {"uid": 1000, "gid": 1001, "additionalGids": [5, 65534]})
    ids = runtime.probe(bundle, "ids")
    assert (ids["uid"], ids["euid"], ids["gid"], ids["egid"]) == (1000, 1000, 1001, 1001)
    assert sorted(ids["groups"]) == [5, 65534]


def test_root_has_no_supplementary_groups_by_default(runtime: Runtime, bundle: Bundle) -> None:
    # The runtime's own groups must not leak in.
    assert runtime.probe(bundle, "ids")["groups"] == []


@pytest.mark.parametrize("umask", [0o077, 0o002, 0])
def test_umask(runtime: Runtime, bundle: Bundle, umask: int) -> None:
    bundle.set("process.user.umask", umask)
    assert runtime.probe(bundle, "ids")["umask"] == umask


def test_default_umask_is_0022(runtime: Runtime, bundle: Bundle) -> None:
    assert runtime.probe(bundle, "ids")["umask"] == 0o022


# ---- rlimits ------------------------------------------------------------------------------

def test_rlimits(runtime: Runtime, bundle: Bundle) -> None:
    # Within this host's hard limits: raising a hard limit needs
    # CAP_SYS_RESOURCE (open files: hard 20000 here).
    limits = {"RLIMIT_NOFILE": (256, 4096), "RLIMIT_CORE": (0, 1 << 20),
              "RLIMIT_CPU": (1000, 2000), "RLIMIT_NPROC": (512, 1024),
              "RLIMIT_MSGQUEUE": (4096, 8192)}
    bundle.set("process.rlimits", [{"type": name, "soft": soft, "hard": hard}
                                   for name, (soft, hard) in limits.items()])
    seen = runtime.probe(bundle, "rlimits")
    assert {name: tuple(seen[name]) for name in limits} == limits


# ---- capabilities, noNewPrivileges ------------------------------------------------------------

CAPS = {
    "bounding": cap_names("CHOWN", "KILL", "NET_RAW", "NET_BIND_SERVICE", "SYS_CHROOT"),
    "permitted": cap_names("CHOWN", "KILL", "NET_BIND_SERVICE", "SYS_CHROOT"),
    "effective": cap_names("CHOWN", "KILL"),
    "inheritable": cap_names("NET_BIND_SERVICE", "SYS_CHROOT"),
    "ambient": cap_names("NET_BIND_SERVICE"),
}


@pytest.mark.parametrize("uid, effective", [
    # root: execve grants inheritable|bounding, cut to the old permitted
    # set by noNewPrivileges (what runc yields too).
    (0, caps_hex("CHOWN", "KILL", "NET_BIND_SERVICE", "SYS_CHROOT")),
    # others: only the ambient set survives execve.
    (1000, caps_hex("NET_BIND_SERVICE")),
])
def test_all_five_capability_sets(runtime: Runtime, bundle: Bundle, uid: int,
                                  effective: str) -> None:
    bundle.set("process.capabilities", CAPS).set("process.user", {"uid": uid, "gid": uid})
    caps = runtime.probe(bundle, "caps")
    assert caps == {
        "bounding": caps_hex("CHOWN", "KILL", "NET_RAW", "NET_BIND_SERVICE", "SYS_CHROOT"),
        "inheritable": caps_hex("NET_BIND_SERVICE", "SYS_CHROOT"),
        "ambient": caps_hex("NET_BIND_SERVICE"),
        "permitted": effective,
        "effective": effective,
        "no_new_privs": True,
    }


def test_default_capabilities(runtime: Runtime, bundle: Bundle) -> None:
    default = caps_hex("AUDIT_WRITE", "KILL", "NET_BIND_SERVICE")
    caps = runtime.probe(bundle, "caps")
    assert [caps[s] for s in ("bounding", "effective", "permitted")] == [default] * 3
    assert caps["inheritable"] == caps["ambient"] == hex_mask()


def test_no_capabilities_at_all(runtime: Runtime, bundle: Bundle) -> None:
    bundle.remove("process.capabilities")
    caps = runtime.probe(bundle, "caps")
    assert {caps[s] for s in ("bounding", "effective", "permitted", "inheritable",
                              "ambient")} == {hex_mask()}


def test_the_config_runc_spec_writes(runtime: Runtime, bundle: Bundle) -> None:
    # Its ambient set is not in its inheritable one, so the kernel refuses
    # to raise it: runc goes on with an empty ambient set, and so do we.
    subprocess.run(["runc", "spec", "--bundle", str(bundle.path)], check=True)
    with open(bundle.path / "config.json") as f:
        bundle.config = json.load(f)
    assert "inheritable" not in bundle.config["process"]["capabilities"]
    bundle.set("root.path", str(ROOTFS.resolve())).set("process.terminal", False)
    result = runtime("--debug", "run", "--bundle", str(bundle.write().path), runtime.new_id())
    assert result.ok().stdout == ""
    assert any("CAP_AUDIT_WRITE" in entry["msg"] and entry["level"] == "debug"
               for entry in result.log), result.log
    caps = runtime.probe(bundle, "caps")
    default = caps_hex("AUDIT_WRITE", "KILL", "NET_BIND_SERVICE")
    assert [caps[s] for s in ("bounding", "effective", "permitted")] == [default] * 3
    assert caps["inheritable"] == caps["ambient"] == hex_mask()


@pytest.mark.parametrize("enabled", [True, False])
def test_no_new_privileges(runtime: Runtime, bundle: Bundle, enabled: bool) -> None:
    bundle.set("process.noNewPrivileges", enabled)
    assert runtime.probe(bundle, "caps")["no_new_privs"] is enabled


# ---- oomScoreAdj ------------------------------------------------------------------------------

@pytest.mark.parametrize("score", [0, 500, 1000])
def test_oom_score_adj(runtime: Runtime, bundle: Bundle, score: int) -> None:
    # Only raising: lowering needs CAP_SYS_RESOURCE, which this host withholds.
    bundle.set("process.oomScoreAdj", score)
    assert runtime.probe(bundle, "oom") == score


# ---- stdio and fds --------------------------------------------------------------------------------

def test_stdio_is_the_runtime_stdio(runtime: Runtime, bundle: Bundle) -> None:
    """Without a terminal the container gets pyrunc's own stdout: the very
    pipe, not a copy (engines read the container's output from it)."""
    read_end, write_end = os.pipe()
    inode = os.fstat(read_end).st_ino
    with open(read_end, "rb") as pipe:
        try:
            container = runtime.create(bundle.payload("fds"), stdout=write_end)
        finally:
            os.close(write_end)  # EOF once the container's copy closes too
        container.start().ok()
        fds = json.loads(pipe.read())
    assert {fd["fd"]: fd["target"] for fd in fds}[1] == f"pipe:[{inode}]"


def devnull_at_fd_3() -> None:
    """In pyrunc's process before exec: an inheritable fd 3, as a caller
    handing fds over would leave it."""
    os.dup2(os.open(os.devnull, os.O_RDONLY), 3)


@pytest.mark.parametrize("preserve, expected", [(None, [0, 1, 2]), ("1", [0, 1, 2, 3])],
                         ids=["default", "preserve-fds"])
def test_only_stdio_fds_reach_the_program(runtime: Runtime, bundle: Bundle,
                                          preserve: str | None, expected: list[int]) -> None:
    """pyrunc's own fds, and whatever it inherits beyond stdio, stay out of
    the container unless --preserve-fds passes them on (as fd 3...)."""
    flags = ("--preserve-fds", preserve) if preserve else ()
    result = runtime.run(bundle.payload("fds"), *flags, close_fds=False,
                         preexec_fn=devnull_at_fd_3)
    assert [fd["fd"] for fd in result.json()] == expected


def ignoring_and_blocking_signals() -> None:
    """In pyrunc's process before exec: a caller that ignores SIGINT and
    SIGPIPE (Python's own) and blocks SIGUSR1, as daemons and shims do."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})


def signal_masks(status: str) -> dict[str, str]:
    return {line.split(":")[0]: line.split()[1] for line in status.splitlines()
            if line.startswith(("SigIgn:", "SigBlk:"))}


def test_the_program_starts_with_every_signal_at_its_default(runtime: Runtime, bundle: Bundle) -> None:
    """Nothing of the caller's dispositions or mask survives, not even the
    C library's own signals (32 and 33), which posix_spawn leaves ignored
    and the library will not reset: an exec'd process is checked too."""
    calm = {"SigIgn": "0000000000000000", "SigBlk": "0000000000000000"}
    caller = {"restore_signals": False, "preexec_fn": ignoring_and_blocking_signals}
    container = runtime.create(bundle.payload("sleep", "60"), **caller)
    container.start().ok()
    assert signal_masks(Path(f"/proc/{container.pid}/status").read_text()) == calm
    execd = runtime("exec", container.cid, "cat", "/proc/self/status", **caller).ok()
    assert signal_masks(execd.stdout) == calm


def test_no_terminal_means_no_tty(runtime: Runtime, bundle: Bundle) -> None:
    assert runtime.probe(bundle, "isatty") == {"stdin": False, "stdout": False, "stderr": False}
