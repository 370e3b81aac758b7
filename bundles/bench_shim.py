#!/usr/bin/env python3
"""Benchmark the shim: `ctr run --rm IMAGE true` through one containerd on
pyrunc's shim against containerd's own runc shim, and the shims' memory.

Not a test.  Uses the engine tests' set-up (spec-tests/engines.py): a
containerd of its own and the offline busybox image, all under
$PYRUNC_ENGINES_DIR (default /run/pyrunc-engines), taken down at the end.
Needs root.

Time: every round runs each configuration once, in an order that rotates,
after one warm-up round that is not counted:
  pyrunc-shim         io.containerd.pyrunc.v2 (pyrunc's library in-process)
  pyrunc-shim+runc    io.containerd.pyrunc.v2 with BinaryName=runc
  runc-shim+runc      io.containerd.runc.v2 with runc (containerd's default)
  runc-shim+pyrunc    io.containerd.runc.v2 with BinaryName=pyrunc

Memory: N containers (`sleep`) running at once per shim, for N in
--counts, and the PSS (/proc/PID/smaps_rollup) summed over the shim
processes that serve this containerd: pyrunc's zygote, servers and relays, or the
containerd-shim-runc-v2 processes; then the CPU time those processes used
in --idle seconds with nothing to do.  With --grouped, pyrunc's shim also
runs with PYRUNC_SHIM_GROUP=namespace (one server for all).  Last, for
comparison, the PSS of a lone interpreter (measured before any shim
runs): bare, with protobuf and containerd's messages loaded, and with
all a server imports: the floor of a shim in Python.

    PYRUNC_ENGINES_DIR=/run/pyrunc-engines-bench python3 bundles/bench_shim.py [--runs 30] [--counts 1,10,100]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "spec-tests"))

import engines  # noqa: E402
from engines import CTR_SOCKET, IMAGE, ctr_argv  # noqa: E402

PYRUNC_SHIM = "io.containerd.pyrunc.v2"
RUNC_SHIM = "io.containerd.runc.v2"
TICK = os.sysconf("SC_CLK_TCK")


def configurations(scratch: Path) -> dict[str, list[str]]:
    """Name -> the ctr run flags that choose it."""
    on_runc = scratch / "runc.toml"
    on_runc.write_text(f'BinaryName = "runc"\nRoot = "{scratch / "runc-root-a"}"\n')
    return {
        "pyrunc-shim": ["--runtime", PYRUNC_SHIM],
        "pyrunc-shim+runc": ["--runtime", PYRUNC_SHIM, "--runtime-config-path", str(on_runc)],
        "runc-shim+runc": ["--runtime", RUNC_SHIM, "--runc-binary", "runc",
                           "--runc-root", str(scratch / "runc-root-b")],
        "runc-shim+pyrunc": ["--runtime", RUNC_SHIM, "--runc-binary", engines.runtime_path(),
                             "--runc-root", str(scratch / "pyrunc-root")],
    }


def ctr(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(ctr_argv(*args), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def run_once(flags: list[str], name: str) -> float:
    began = time.perf_counter()
    done = ctr("run", "--rm", *flags, IMAGE, name, "true")
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"ctr run {' '.join(flags)}: {done.stderr.strip()[-300:]}")
    return took


def time_runs(configs: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    names = list(configs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(runs + 1):
        order = names[round_ % len(names):] + names[:round_ % len(names)]
        for name in order:
            took = run_once(configs[name], f"bench-{round_}-{names.index(name)}")
            if round_:      # round 0 warms up (page cache, pyrunc's zygote)
                times[name].append(took)
    return times


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0


def cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])    # utime + stime


def go_shim_pids() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[0].endswith(b"containerd-shim-runc-v2") and str(CTR_SOCKET).encode() in argv:
                found.append(int(entry))
    return found


def no_servers_left() -> None:
    """The servers of the row before leave after their containers (a shim
    is told to shut down after its Delete): none may count in the next."""
    deadline = time.monotonic() + 60
    while (engines.shim_pids(str(CTR_SOCKET)) or go_shim_pids()) and time.monotonic() < deadline:
        time.sleep(0.2)


def shim_memory(flags: list[str], count: int, pids_of: object, idle: float) -> tuple[float, float, int]:
    """(total PSS MiB, idle CPU ms, processes) with `count` containers running."""
    no_servers_left()
    names = [f"mem-{count}-{i}" for i in range(count)]
    with ThreadPoolExecutor(4) as pool:
        try:
            started = list(pool.map(lambda name: ctr("run", "-d", *flags, IMAGE, name, "sleep", "3600"), names))
            failed = [out.stderr for out in started if out.returncode != 0]
            if failed:
                raise RuntimeError(f"ctr run -d: {failed[0].strip()[-300:]}")
            time.sleep(2)   # settled: the last starts' threads gone
            pids = pids_of()    # type: ignore[operator]
            total = sum(pss_kib(pid) for pid in pids) / 1024
            before = {pid: cpu_ticks(pid) for pid in pids}
            time.sleep(idle)
            after = {pid: cpu_ticks(pid) for pid in pids}
            cpu_ms = sum(after[pid] - before[pid] for pid in pids if after[pid] and before[pid]) * 1000 / TICK
            return total, cpu_ms, len(pids)
        finally:
            list(pool.map(lambda name: ctr("task", "kill", "--signal", "SIGKILL", name), names))
            list(pool.map(lambda name: ctr("task", "delete", "--force", name), names))
            list(pool.map(lambda name: ctr("container", "delete", name), names))


def memory_row(name: str, flags: list[str], count: int, pids_of: object, idle: float) -> None:
    total, cpu_ms, processes = shim_memory(flags, count, pids_of, idle)
    print(f"| {name} | {count} | {processes} | {total:.1f} MiB | {total / count:.2f} MiB | {cpu_ms:.0f} ms |")
    sys.stdout.flush()


def lone_interpreter_kib(modules: list[str]) -> int:
    """PSS of one interpreter (the shim's) that imported `modules` and waits."""
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint(flush=True)\nsys.stdin.read()"
    process = subprocess.Popen([sys.executable, "-c", code, *modules], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE)
    try:
        process.stdout.readline()     # type: ignore[union-attr]
        return pss_kib(process.pid)
    finally:
        process.kill()
        process.wait()


def floor_pss() -> list[tuple[str, float]]:
    """What any shim in Python pays before it serves anything: the
    interpreter, protobuf's runtime with containerd's messages, and with
    them the rest of what a server imports (the zygote's WARM list).
    Measured while no shim runs: no shim process shares its pages."""
    from pyrunc.shim.zygote import WARM
    messages = [name for name in WARM if name.endswith("_pb2")]
    rows = (("python, bare", []), ("python + protobuf + containerd's messages", messages),
            ("python + all a server imports (the runtime library too)", list(WARM)))
    return [(name, lone_interpreter_kib(modules) / 1024) for name, modules in rows]


def print_floor(rows: list[tuple[str, float]]) -> None:
    print("\nA lone interpreter that only imports, for comparison (the floor of a shim in Python):")
    print("| process | PSS |")
    print("|---|---|")
    for name, mib in rows:
        print(f"| {name} | {mib:.1f} MiB |")
    sys.stdout.flush()


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--counts", default="1,10,100")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measurement")
    parser.add_argument("--grouped", action="store_true", help="also PYRUNC_SHIM_GROUP=namespace")
    parser.add_argument("--skip-time", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_shim.py runs containers: run it as root")
    counts = [int(count) for count in args.counts.split(",") if count]
    os.environ.pop("PYRUNC_SHIM_GROUP", None)
    if engines.shim_pids(str(CTR_SOCKET), zygote=True):
        sys.exit("pyrunc shim processes of an earlier run still serve this address: "
                 "wait 30 s for its zygote to leave, or use another PYRUNC_ENGINES_DIR")
    floor = floor_pss()
    engines.prepare()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-shim-") as scratch:
            configs = configurations(Path(scratch))
            if not args.skip_time:
                times = time_runs(configs, args.runs)
                reference = median_ms(times["runc-shim+runc"])
                print(f"`ctr run --rm {IMAGE} true`, {args.runs} interleaved rounds (medians):")
                print(f"| {'configuration':<18} | median | p90 | vs runc-shim+runc |")
                print("|---|---|---|---|")
                for name, values in times.items():
                    p90 = sorted(values)[int(len(values) * 0.9) - 1] * 1000
                    print(f"| {name:<18} | {median_ms(values):.0f} ms | {p90:.0f} ms | "
                          f"{median_ms(values) / reference:.2f}x |")
                sys.stdout.flush()
            shims = [("pyrunc-shim", configs["pyrunc-shim"],
                      lambda: engines.shim_pids(str(CTR_SOCKET), zygote=True)),
                     ("runc-shim+runc", configs["runc-shim+runc"], go_shim_pids)]
            print(f"\nShim memory (PSS summed over the shim processes) and CPU in {args.idle:.0f} s idle:")
            print("| shim | containers | processes | total PSS | per container | idle CPU |")
            print("|---|---|---|---|---|---|")
            for count in counts:
                for name, flags, pids_of in shims:
                    memory_row(name, flags, count, pids_of, args.idle)
            if args.grouped:
                os.environ["PYRUNC_SHIM_GROUP"] = "namespace"     # containerd's, for the shim's start
                engines.stop_containerd()
                engines.start_containerd()
                for count in counts:
                    memory_row("pyrunc-shim grouped", configs["pyrunc-shim"], count, shims[0][2], args.idle)
            print_floor(floor)
    finally:
        engines.teardown()


if __name__ == "__main__":
    main()
