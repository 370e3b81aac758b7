"""One config using every field of the runtime-spec's process and linux
sections (other than cgroup resources, and the security-module labels
this kernel cannot apply, which are refused clearly elsewhere) runs, and
each field is visible from inside."""
from __future__ import annotations

import json
import os
from pathlib import Path

from harness import Bundle, Runtime

CAPS = ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID", "CAP_NET_BIND_SERVICE"]


def everything(bundle: Bundle, tmp_path: Path) -> Bundle:
    marker = tmp_path / "hook-ran"
    bundle.with_tmp()
    bundle.set("process", {
        "terminal": False,
        "consoleSize": {"height": 25, "width": 80},
        "user": {"uid": 1000, "gid": 1000, "umask": 0o027, "additionalGids": [10, 20]},
        "args": ["/payload", "all"],
        "env": ["PATH=/bin:/usr/bin", "FULL=config"],
        "cwd": "/tmp/work",
        "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS,
                         "inheritable": CAPS, "ambient": ["CAP_KILL"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
                    {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}],
        "noNewPrivileges": True,
        "oomScoreAdj": 300,
        "scheduler": {"policy": "SCHED_BATCH", "nice": 3},
        "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 2},
        "execCPUAffinity": {"initial": "0", "final": "0"},
    })
    bundle.set("hostname", "full").set("domainname", "config.example")
    bundle.set("linux.namespaces", [{"type": t} for t in
                                    ("pid", "network", "ipc", "uts", "mount", "cgroup", "user", "time")])
    bundle.set("linux.uidMappings", [{"containerID": 0, "hostID": 400000, "size": 65536}])
    bundle.set("linux.gidMappings", [{"containerID": 0, "hostID": 400000, "size": 65536}])
    bundle.set("linux.timeOffsets", {"monotonic": {"secs": 100, "nanosecs": 0}})
    bundle.set("linux.devices", [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                                  "fileMode": 0o600, "uid": 0, "gid": 0}])
    bundle.set("linux.rootfsPropagation", "rslave")
    bundle.set("linux.sysctl", {"kernel.shmmax": "65536", "net.ipv4.ip_forward": "1"})
    bundle.set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]})
    bundle.set("linux.maskedPaths", ["/proc/timer_list"]).set("linux.readonlyPaths", ["/proc/sys"])
    bundle.set("linux.personality", {"domain": "LINUX"})
    bundle.set("linux.memoryPolicy", {"mode": "MPOL_PREFERRED", "nodes": "0"})
    bundle.set("hooks", {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f"touch {marker}"]}]})
    return bundle


def test_a_config_with_every_process_and_linux_field_runs(runtime: Runtime, bundle: Bundle,
                                                          tmp_path: Path) -> None:
    seen = json.loads(runtime.run(everything(bundle, tmp_path)).ok().stdout)
    assert (seen["ids"]["uid"], seen["ids"]["gid"], seen["ids"]["groups"]) == (1000, 1000, [10, 20])
    assert seen["ids"]["umask"] == 0o027
    assert seen["cwd"] == "/tmp/work" and "FULL=config" in seen["env"]
    assert seen["rlimits"]["RLIMIT_NOFILE"] == [512, 1024]
    assert int(seen["caps"]["ambient"], 16) == 1 << 5 and seen["caps"]["no_new_privs"] is True
    assert seen["oom"] == 300
    assert seen["hostname"] == {"hostname": "full", "domainname": "config.example"}
    assert all(seen["ns"][kind] != os.stat(f"/proc/self/ns/{kind}").st_ino
               for kind in ("pid", "net", "ipc", "uts", "mnt", "cgroup", "user"))
    assert (tmp_path / "hook-ran").exists()


def test_the_same_config_seen_by_a_shell(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    everything(bundle, tmp_path)
    bundle.set("process.args", ["sh", "-c", "cat /proc/sys/kernel/shmmax /proc/self/timens_offsets;"
                                            " mkdir /tmp/work/x 2>&1; ls -l /dev/fuse; cat /proc/timer_list | wc -c"])
    out = runtime.run(bundle).ok().stdout.splitlines()
    assert out[0] == "65536"
    assert out[1].split() == ["monotonic", "100", "0"]
    assert "Operation not permitted" in out[3]            # the seccomp rule
    assert out[4].startswith("crw-------")                # linux.devices, fileMode 0600
    assert out[5].strip() == "0"                          # masked
