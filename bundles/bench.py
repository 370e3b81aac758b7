#!/usr/bin/env python3
"""Benchmark `run` of the hello bundle: pyrunc against runc and crun.

Not a test.  Every iteration runs each runtime once, in an order that
rotates so that none always goes first (page cache, CPU frequency), and
records the wall time and the peak RSS reported by wait4(): the largest
resident set of any process in the runtime's tree that was reaped under
it.  Each runtime keeps its state in its own --root under a temporary
directory, removed at the end.  Needs root, like the runtimes.

    python3 bundles/bench.py [--runs 30] [--pyrunc PATH] [--bundle DIR]
"""

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field

BUNDLES = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BUNDLES)


@dataclass
class Runtime:
    name: str
    exe: str
    root: str
    times_ms: list = field(default_factory=list)
    rss_mib: list = field(default_factory=list)
    failures: int = 0
    last_error: str = ""


def find_pyrunc(explicit):
    if explicit:
        return shutil.which(explicit) or (explicit if os.access(explicit, os.X_OK) else None)
    venv = os.path.join(REPO, ".venv", "bin", "pyrunc")
    return shutil.which("pyrunc") or (venv if os.access(venv, os.X_OK) else None)


def last_line(path):
    with open(path, "rb") as f:
        lines = [line for line in f.read().decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output on stderr)"


def run_once(runtime, bundle, container_id, stderr_path):
    """One `run`; returns (seconds, peak RSS in MiB) or raises RuntimeError."""
    argv = [runtime.exe, "--root", runtime.root, "run", "--bundle", bundle, container_id]
    devnull = os.open(os.devnull, os.O_RDWR)
    stderr = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        start = time.perf_counter()
        pid = os.posix_spawn(
            runtime.exe,
            argv,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, devnull, 1),
                (os.POSIX_SPAWN_DUP2, stderr, 2),
            ],
        )
        _, status, usage = os.wait4(pid, 0)
        elapsed = time.perf_counter() - start
    finally:
        os.close(devnull)
        os.close(stderr)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        remove_leftover(runtime, container_id)
        raise RuntimeError(f"exit status {code}: {last_line(stderr_path)}")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def remove_leftover(runtime, container_id):
    """A failed run may leave a container behind; delete it quietly."""
    pid = os.posix_spawn(
        runtime.exe,
        [runtime.exe, "--root", runtime.root, "delete", "--force", container_id],
        os.environ,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
        ],
    )
    os.waitpid(pid, 0)


def percentile(values, pct):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def summary(values):
    return (statistics.median(values), percentile(values, 90)) if values else None


def ratio(value, reference):
    return f"{value / reference:.2f}x" if reference else "-"


def print_table(runtimes, runs):
    reference = next((rt for rt in runtimes if rt.name == "runc" and rt.times_ms), None)
    ref_time = summary(reference.times_ms)[0] if reference else None
    ref_rss = summary(reference.rss_mib)[0] if reference else None
    header = (
        "runtime", "ok", "median ms", "p90 ms", "vs runc", "median RSS MiB", "p90 RSS MiB", "vs runc",
    )
    rows = []
    for rt in runtimes:
        times, rss = summary(rt.times_ms), summary(rt.rss_mib)
        if not times:
            rows.append((rt.name, f"0/{runs}") + ("-",) * 6)
            continue
        rows.append((
            rt.name,
            f"{len(rt.times_ms)}/{runs}",
            f"{times[0]:.1f}",
            f"{times[1]:.1f}",
            ratio(times[0], ref_time),
            f"{rss[0]:.1f}",
            f"{rss[1]:.1f}",
            ratio(rss[0], ref_rss),
        ))
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    for row in [header] + rows:
        # The name column reads best left-aligned, the numbers right-aligned.
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        print("  ".join(cells))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per runtime (default 30)")
    parser.add_argument(
        "--pyrunc", help="the pyrunc executable (default: pyrunc on PATH, else .venv/bin/pyrunc)"
    )
    parser.add_argument(
        "--bundle", default=os.path.join(BUNDLES, "hello"), help="the bundle to run (default: hello)"
    )
    args = parser.parse_args()

    bundle = os.path.abspath(args.bundle)
    if not os.path.isdir(os.path.join(bundle, "rootfs")):
        sys.exit(f"bench.py: {bundle}/rootfs is missing; run bundles/build-rootfs.sh first")
    if os.geteuid() != 0:
        print("note: not root; the runtimes will most likely fail", file=sys.stderr)

    scratch = tempfile.mkdtemp(prefix="pyrunc-bench-")
    stderr_path = os.path.join(scratch, "stderr")
    runtimes = []
    candidates = (
        ("pyrunc", find_pyrunc(args.pyrunc)),
        ("runc", shutil.which("runc")),
        ("crun", shutil.which("crun")),
    )
    for name, exe in candidates:
        if exe:
            runtimes.append(Runtime(name, exe, os.path.join(scratch, name)))
        else:
            print(f"note: {name} is not installed; skipped")

    try:
        # An untimed first run warms the caches and drops a runtime that
        # cannot run the bundle at all, instead of failing it N times.
        for rt in list(runtimes):
            try:
                run_once(rt, bundle, f"bench-{os.getpid()}-{rt.name}-warmup", stderr_path)
            except RuntimeError as error:
                print(f"note: {rt.name} fails, left out: {error}")
                rt.failures, rt.last_error = 1, str(error)
        working = [rt for rt in runtimes if not rt.failures]

        for i in range(args.runs):
            shift = i % len(working) if working else 0
            for rt in working[shift:] + working[:shift]:
                try:
                    container_id = f"bench-{os.getpid()}-{rt.name}-{i}"
                    seconds, rss = run_once(rt, bundle, container_id, stderr_path)
                except RuntimeError as error:
                    rt.failures += 1
                    rt.last_error = str(error)
                    continue
                rt.times_ms.append(seconds * 1000)
                rt.rss_mib.append(rss)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"\n{args.runs} runs of `run` of the bundle {os.path.basename(bundle)} per runtime\n")
    print_table(runtimes, args.runs)
    for rt in runtimes:
        if rt.last_error:
            print(f"\n{rt.name}: {rt.failures} failed run(s); last: {rt.last_error}")
    return 0 if any(rt.times_ms for rt in runtimes) else 1


if __name__ == "__main__":
    sys.exit(main())
