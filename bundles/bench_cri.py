#!/usr/bin/env python3
"""Pods at scale through containerd's CRI plugin: pyrunc's shim against runc's.

Not a test.  For each scenario (N pods of one container, and one pod of
many containers) and each runtime handler, `pyrunc` (io.containerd.pyrunc.v2)
and `runc` (io.containerd.runc.v2 with runc) on the same containerd, in
alternating order: start everything as a kubelet would (pods in parallel,
a pod's containers one after the other), then measure

- the wall time to start all (RunPodSandbox to the last StartContainer),
- the shims' memory: PSS (/proc/PID/smaps_rollup) summed over the shim
  processes, in total and per container (sandboxes not counted),
- the CPU the shims use while every container sleeps (utime + stime from
  /proc/PID/stat over --idle seconds),

then remove every pod and check that nothing is left (pods, containers,
shims, runtime state, cgroups, mounts) before the next run.  Containers
run `sleep` on the host's network, so CNI's cost (the same for both) stays
out of the figures; --network bridge puts them on the CNI bridge instead.

Uses the test set-up (spec-tests/cri.py: containerd of our own under
$PYRUNC_ENGINES_DIR, offline images) and removes it at the end.  Root only.

    python3 bundles/bench_cri.py [--pods 1,10,50,100] [--pod-of 100] [--rounds 1]
                                 [--idle 10] [--parallel 8] [--network host|bridge]
                                 [--shim-group namespace]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "spec-tests"))

import cri  # noqa: E402
import engines  # noqa: E402

HANDLERS = ("pyrunc", "runc")
CMD = ["sleep", "3600"]
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    start_s: list[float] = field(default_factory=list)
    shims: list[int] = field(default_factory=list)
    pss_mib: list[float] = field(default_factory=list)
    idle_cpu_ms: list[float] = field(default_factory=list)


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0    # gone meanwhile


def cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0
    fields = stat[stat.rfind(b")") + 2:].split()
    return int(fields[11]) + int(fields[12])   # utime, stime (fields 14 and 15)


def start_pods(client: cri.Client, handler: str, pods: int, per_pod: int, parallel: int,
               logs: Path, host_network: bool) -> tuple[float, list[cri.Pod]]:
    """Start `pods` pods of `per_pod` containers; the wall time and the pods."""
    def one(index: int) -> cri.Pod:
        pod = cri.Pod(client, f"bench-{handler}-{index}", logs / f"{handler}-{index}", handler=handler,
                      host_network=host_network)
        made.append(pod)
        for number in range(per_pod):
            pod.container(f"c{number}", CMD)
        return pod

    made: list[cri.Pod] = []
    began = time.perf_counter()
    with ThreadPoolExecutor(min(parallel, pods)) as pool:
        list(pool.map(one, range(pods)))    # re-raises the first failure
    return time.perf_counter() - began, made


def remove_all(client: cri.Client) -> None:
    """Every pod removed; fails if anything of them is left."""
    with ThreadPoolExecutor(8) as pool:
        failed = [p for problems in pool.map(lambda s: cri.remove_pod(client, s.id),
                                             client.ListPodSandbox().items) for p in problems]
    left = failed + cri.settled(lambda: cri.node_leftovers(client), 30)
    if left:
        raise SystemExit("bench_cri: a run left things behind:\n  " + "\n  ".join(left[:20]))


def measure(client: cri.Client, handler: str, pods: int, per_pod: int, args: argparse.Namespace,
            logs: Path, result: Result) -> None:
    try:
        took, _ = start_pods(client, handler, pods, per_pod, args.parallel, logs, args.network == "host")
        time.sleep(1)   # let the last starts' events and replies settle
        shims = cri.shim_processes(handler)
        # pyrunc's servers share the pages of the zygote that forked them: it counts too.
        counted = engines.shim_pids(str(engines.CTR_SOCKET), zygote=True) if handler == "pyrunc" else shims
        before = {pid: cpu_ticks(pid) for pid in counted}
        time.sleep(args.idle)
        used = sum(cpu_ticks(pid) - ticks for pid, ticks in before.items())
        result.start_s.append(took)
        result.shims.append(len(shims))
        result.pss_mib.append(sum(pss_kib(pid) for pid in counted) / 1024)
        result.idle_cpu_ms.append(used * 1000 / TICK)
    finally:
        remove_all(client)


def print_table(results: dict[tuple[str, str], Result], scenarios: list[tuple[str, int, int]],
                idle: float) -> None:
    print(f"\n{'scenario':<20} {'runtime':<8} {'start s':>8} {'vs runc':>8} {'shims':>6} "
          f"{'PSS MiB':>9} {'MiB/ctr':>8} {'vs runc':>8} {f'idle CPU ms/{idle:g}s':>18}")
    for name, pods, per_pod in scenarios:
        runc = results[(name, "runc")]
        for handler in HANDLERS:
            r = results[(name, handler)]
            start, pss = statistics.median(r.start_s), statistics.median(r.pss_mib)
            containers = pods * per_pod
            print(f"{name if handler == HANDLERS[0] else '':<20} {handler:<8} {start:8.2f} "
                  f"{start / statistics.median(runc.start_s):7.2f}x {max(r.shims):6d} {pss:9.1f} "
                  f"{pss / containers:8.2f} {pss / statistics.median(runc.pss_mib):7.2f}x "
                  f"{max(r.idle_cpu_ms):18.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", default="1,10,50,100",
                        help="pod counts, one container each (default 1,10,50,100)")
    parser.add_argument("--pod-of", type=int, default=100,
                        help="containers in the one-pod scenario (default 100; 0: none)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per scenario and runtime (median)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured (default 10)")
    parser.add_argument("--parallel", type=int, default=8, help="pods started at once (default 8)")
    parser.add_argument("--network", choices=("host", "bridge"), default="host")
    parser.add_argument("--shim-group", metavar="MODE",
                        help="PYRUNC_SHIM_GROUP for containerd (e.g. namespace: one pyrunc shim for all pods)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_cri: needs root (it runs containerd and real containers)", file=sys.stderr)
        return 1
    missing = cri.missing_tools()
    if missing:
        print(f"bench_cri: missing: {', '.join(missing)}: run .ci/engines", file=sys.stderr)
        return 1
    scenarios = [(f"{n} pod{'s' if n > 1 else ''} x 1", n, 1) for n in map(int, args.pods.split(",")) if n > 0]
    if args.pod_of > 0:
        scenarios.append((f"1 pod x {args.pod_of}", 1, args.pod_of))
    if args.shim_group:
        # containerd hands its environment to the shims it starts.
        os.environ["PYRUNC_SHIM_GROUP"] = args.shim_group
        engines.stop_containerd()
    client = None
    results = {(name, handler): Result() for name, _, _ in scenarios for handler in HANDLERS}
    try:
        client = cri.prepare()
        remove_all(client)
        with tempfile.TemporaryDirectory(prefix="bench-cri-") as logs:
            for round_number in range(args.rounds):
                for index, (name, pods, per_pod) in enumerate(scenarios):
                    # Alternate who goes first: caches and the CPU clock favour neither.
                    order = HANDLERS if (index + round_number) % 2 == 0 else HANDLERS[::-1]
                    for handler in order:
                        print(f"round {round_number + 1}: {name} on {handler} ...", file=sys.stderr, flush=True)
                        measure(client, handler, pods, per_pod, args, Path(logs), results[(name, handler)])
    finally:
        problems = cri.teardown(client)
        if problems:
            print("bench_cri: clean-up left:\n  " + "\n  ".join(problems), file=sys.stderr)
    print_table(results, scenarios, args.idle)
    print(f"\n{args.rounds} round(s); pods started {args.parallel} at a time; {args.network} network; "
          f"PSS summed over shim processes, per container without sandboxes"
          + (f"; PYRUNC_SHIM_GROUP={args.shim_group}" if args.shim_group else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
