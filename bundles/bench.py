#!/usr/bin/env python3
"""Benchmark pyrunc against runc and crun: per verb, memory, engines.

Not a test.  Every runtime is started by build/bench-spawn (a small static
program, bundles/bench_spawn.c) that times it with CLOCK_MONOTONIC and
reports the peak RSS wait4() gives for it and the children it reaped: the
runtime's own peak, not the benchmark's (a child forked from a Python
process starts with the interpreter's resident set on record).  Runs of
the runtimes interleave, in an order that rotates so that none always goes
first (page cache, CPU frequency).  Each runtime keeps its state in its own
--root under a temporary directory, removed at the end, as are the
default roots under /run that the runtimes and engines make for
themselves when they were not there before.  Needs root.

    python3 bundles/bench.py [--runs 30] [--only run,verbs,engines,breakdown]
                             [--engine-runs 10] [--pyrunc PATH] [--bundle DIR]

run:       `run` of the hello bundle (prints one line), wall time and peak RSS.
verbs:     create, start, state, list, exec (`true`), kill, delete of a
           bundle running `sleep`, one cycle per iteration; and `features`
           ("-" for a runtime without it: crun 1.8).
engines:   `ctr run --rm IMAGE true` (containerd with runc's shim, the
           runtime as --runc-binary), `podman --runtime R run --rm IMAGE
           true`, set up by spec-tests/engines.py under $PYRUNC_ENGINES_DIR,
           and `docker run --rm --runtime R IMAGE true` with a dockerd of its
           own there (the runtimes added with --add-runtime).
breakdown: where pyrunc's time goes, per verb, from PYRUNC_TRACE marks
           (runtime/trace.py) plus user and system CPU time.

crun 1.8 refuses hosts with cgroup v1 and v2 mounted side by side
("hybrid"); there it runs with the cgroup2 mount hidden in a mount
namespace of its own (bench-spawn --hide-cgroup2), which pays one
unshare; the tables mark it `crun*`.
"""

import argparse
import glob
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BUNDLES = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BUNDLES)
SPAWN = os.path.join(REPO, "build", "bench-spawn")
VERBS = ("create", "start", "state", "list", "exec", "kill", "delete", "features")
HYBRID = os.path.ismount("/sys/fs/cgroup/unified")


class Runtime:
    def __init__(self, name, exe, root, hide_cgroup2=False):
        self.name, self.exe, self.root, self.hide_cgroup2 = name, exe, root, hide_cgroup2
        self.times = {}     # what -> [ms]
        self.rss = {}       # what -> [MiB]
        self.failures = {}  # what -> (count, last error)

    @property
    def label(self):
        return self.name + ("*" if self.hide_cgroup2 else "")

    def record(self, what, report):
        self.times.setdefault(what, []).append(report.ms)
        self.rss.setdefault(what, []).append(report.rss_mib)

    def fail(self, what, error):
        count, _ = self.failures.get(what, (0, ""))
        self.failures[what] = (count + 1, str(error))


class Report:
    def __init__(self, line):
        start, end, status, maxrss, utime, stime = (int(x) for x in line.split())
        self.start_ns, self.end_ns, self.status = start, end, status
        self.ms = (end - start) / 1e6
        self.rss_mib = maxrss / 1024
        self.user_ms, self.sys_ms = utime / 1000, stime / 1000


def find_pyrunc(explicit):
    if explicit:
        return shutil.which(explicit) or (explicit if os.access(explicit, os.X_OK) else None)
    venv = os.path.join(REPO, ".venv", "bin", "pyrunc")
    return venv if os.access(venv, os.X_OK) else shutil.which("pyrunc")


def last_line(path):
    with open(path, "rb") as f:
        lines = [line for line in f.read().decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output on stderr)"


def spawn(argv, stderr_path, hide_cgroup2=False, stdout_path=None, env=None):
    """Run argv under bench-spawn; its Report.  Raises RuntimeError when
    argv fails."""
    read_end, write_end = os.pipe()
    devnull = os.open(os.devnull, os.O_RDWR)
    stderr = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    stdout = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) if stdout_path else devnull
    try:
        pid = os.posix_spawn(
            SPAWN, [SPAWN, "3", *(["--hide-cgroup2"] if hide_cgroup2 else []), *argv],
            env if env is not None else os.environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, stdout, 1),
                (os.POSIX_SPAWN_DUP2, stderr, 2),
                (os.POSIX_SPAWN_DUP2, write_end, 3),
            ],
        )
        os.close(write_end)
        write_end = -1
        with os.fdopen(read_end, "rb") as f:
            read_end = -1
            line = f.read().decode()
        _, status = os.waitpid(pid, 0)
    finally:
        for fd in (write_end, read_end, devnull, stderr, stdout):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
    if status != 0 or not line:
        raise RuntimeError(f"bench-spawn failed: {last_line(stderr_path)}")
    report = Report(line)
    code = os.waitstatus_to_exitcode(report.status)
    if code != 0:
        raise RuntimeError(f"{os.path.basename(argv[0])} {' '.join(argv[1:3])}...: exit status {code}: "
                           f"{last_line(stderr_path)}")
    return report


def runtime_argv(rt, *args):
    return [rt.exe, "--root", rt.root, *args]


def quiet_delete(rt, container_id, scratch):
    try:
        spawn(runtime_argv(rt, "delete", "--force", container_id), os.path.join(scratch, "cleanup.err"),
              rt.hide_cgroup2)
    except RuntimeError:
        pass


def rotated(items, i):
    shift = i % len(items) if items else 0
    return items[shift:] + items[:shift]


# ---- run ---------------------------------------------------------------------------------

def bench_run(runtimes, bundle, runs, scratch):
    stderr = os.path.join(scratch, "stderr")
    working = list(runtimes)
    # An untimed first run warms the caches and drops a runtime that cannot
    # run the bundle at all, instead of failing it N times.
    for rt in list(working):
        container_id = f"bench-{os.getpid()}-{rt.name}-warm"
        try:
            spawn(runtime_argv(rt, "run", "--bundle", bundle, container_id), stderr, rt.hide_cgroup2)
        except RuntimeError as error:
            quiet_delete(rt, container_id, scratch)
            rt.fail("run", error)
            working.remove(rt)
    for i in range(runs):
        for rt in rotated(working, i):
            container_id = f"bench-{os.getpid()}-{rt.name}-{i}"
            try:
                rt.record("run", spawn(runtime_argv(rt, "run", "--bundle", bundle, container_id), stderr,
                                       rt.hide_cgroup2))
            except RuntimeError as error:
                quiet_delete(rt, container_id, scratch)
                rt.fail("run", error)


# ---- verbs -------------------------------------------------------------------------------

def sleeping_bundle(bundle, scratch):
    """The bundle's config with a program that waits, its rootfs by absolute path."""
    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    config["process"]["args"] = ["sleep", "100000"]
    config["root"]["path"] = os.path.join(bundle, config["root"]["path"])
    path = os.path.join(scratch, "sleeper")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    return path


def process_gone(pid):
    """Exited (a zombie counts: whoever reaps it is not us)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def wait_gone(pid, timeout=10.0):
    end = time.monotonic() + timeout
    while not process_gone(pid):
        if time.monotonic() > end:
            raise RuntimeError(f"container init {pid} still alive {timeout:.0f} s after SIGKILL")
        time.sleep(0.001)


def verb_cycle(rt, bundle, container_id, scratch, trace=None):
    """create, start, state, list, exec (`true`), kill, delete of one container; the
    Reports by verb (and trace marks by verb when trace is a path)."""
    stderr = os.path.join(scratch, "stderr")
    pid_file = os.path.join(scratch, f"{container_id}.pid")
    env = {**os.environ, "PYRUNC_TRACE": trace} if trace else None
    reports, marks = {}, {}
    steps = (
        ("create", ("create", "--bundle", bundle, "--pid-file", pid_file, container_id)),
        ("start", ("start", container_id)),
        ("state", ("state", container_id)),
        ("list", ("list",)),
        ("exec", ("exec", container_id, "true")),
        ("kill", ("kill", container_id, "KILL")),
        ("delete", ("delete", container_id)),
    )
    try:
        for verb, args in steps:
            if verb == "delete":
                with open(pid_file) as f:
                    wait_gone(int(f.read()))
            if trace and os.path.exists(trace):
                os.unlink(trace)
            reports[verb] = spawn(runtime_argv(rt, *args), stderr, rt.hide_cgroup2, env=env)
            if trace:
                marks[verb] = read_marks(trace)
    except BaseException:
        quiet_delete(rt, container_id, scratch)
        raise
    finally:
        if os.path.exists(pid_file):
            os.unlink(pid_file)
    return reports, marks


def bench_verbs(runtimes, bundle, runs, scratch):
    sleeper = sleeping_bundle(bundle, scratch)
    working = list(runtimes)
    without_features = set()
    for rt in list(working):
        try:
            verb_cycle(rt, sleeper, f"bench-{os.getpid()}-{rt.name}-vwarm", scratch)
        except RuntimeError as error:
            rt.fail("verbs", error)
            working.remove(rt)
    for i in range(runs):
        for rt in rotated(working, i):
            try:
                reports, _ = verb_cycle(rt, sleeper, f"bench-{os.getpid()}-{rt.name}-v{i}", scratch)
            except RuntimeError as error:
                rt.fail("verbs", error)
                continue
            for verb, report in reports.items():
                rt.record(verb, report)
            if rt.name not in without_features:
                try:
                    rt.record("features", spawn(runtime_argv(rt, "features"), os.path.join(scratch, "stderr"),
                                                rt.hide_cgroup2))
                except RuntimeError:
                    without_features.add(rt.name)   # not a verb of this runtime


# ---- breakdown ---------------------------------------------------------------------------

def read_marks(path):
    marks = []
    with open(path) as f:
        for line in f:
            name, ns = line.split()
            marks.append((name, int(ns)))
    return marks


def phases(report, marks):
    """(phase, ms) from the spawn to the exit: each mark ends the phase it names."""
    result, last = [], report.start_ns
    for name, ns in marks:
        result.append((name, (ns - last) / 1e6))
        last = ns
    result.append(("exit", (report.end_ns - last) / 1e6))
    return result


def bench_breakdown(pyrunc, bundle, runs, scratch):
    """Medians per verb and phase for pyrunc, plus its bare interpreter."""
    trace = os.path.join(scratch, "trace")
    sleeper = sleeping_bundle(bundle, scratch)
    python = os.path.join(os.path.dirname(os.path.realpath(pyrunc.exe)), "python")
    python = python if os.access(python, os.X_OK) else sys.executable
    stderr = os.path.join(scratch, "stderr")
    table = {}      # verb -> phase -> [ms]
    for i in range(runs):
        bare = spawn([python, "-I", "-S", "-c", "pass"], stderr)
        table.setdefault("python -I -S -c pass", {}).setdefault("total", []).append(bare.ms)
        reports, marks = verb_cycle(pyrunc, sleeper, f"bench-{os.getpid()}-b{i}", scratch, trace)
        container_id = f"bench-{os.getpid()}-rb{i}"
        if os.path.exists(trace):
            os.unlink(trace)
        try:
            reports["run"] = spawn(runtime_argv(pyrunc, "run", "--bundle", bundle, container_id), stderr,
                                   env={**os.environ, "PYRUNC_TRACE": trace})
        except RuntimeError:
            quiet_delete(pyrunc, container_id, scratch)
            raise
        marks["run"] = read_marks(trace)
        for verb, report in reports.items():
            row = table.setdefault(verb, {})
            for phase, ms in phases(report, marks[verb]):
                row.setdefault(phase, []).append(ms)
            row.setdefault("total", []).append(report.ms)
            row.setdefault("user CPU", []).append(report.user_ms)
            row.setdefault("system CPU", []).append(report.sys_ms)
    print(f"\nWhere pyrunc's time goes: medians of {runs} runs, ms (each phase ends at its mark; "
          "`exit` is the interpreter's shutdown; CPU times include reaped children)\n")
    for verb, row in table.items():
        cells = [f"{phase} {statistics.median(values):.2f}" for phase, values in row.items()]
        print(f"{verb:>22}: " + ", ".join(cells))


# ---- engines -----------------------------------------------------------------------------

class Docker:
    """A dockerd of our own (its own data and exec roots, socket, managed
    containerd; no bridge, no iptables) with each runtime added by name,
    and the image imported from the bundles' rootfs."""

    IMAGE = "localhost/pyrunc/busybox-bench:latest"

    def __init__(self, state_dir, runtimes):
        self.dir = state_dir
        self.socket = os.path.join(state_dir, "docker.sock")
        self.runtimes = runtimes        # name -> executable
        self.daemon = None
        self.cgroups_before = set(glob.glob("/sys/fs/cgroup/*/docker"))

    def cli(self, *args):
        return ["docker", "-H", f"unix://{self.socket}", *args]

    def start(self, rootfs):
        os.makedirs(self.dir, exist_ok=True)
        argv = ["dockerd", "--data-root", os.path.join(self.dir, "root"), "--exec-root",
                os.path.join(self.dir, "exec"), "--pidfile", os.path.join(self.dir, "dockerd.pid"),
                "-H", f"unix://{self.socket}", "--bridge", "none", "--iptables=false", "--ip-masq=false",
                "--storage-driver", "overlay2"]
        for name, exe in self.runtimes.items():
            argv += ["--add-runtime", f"bench-{name}={exe}"]
        with open(os.path.join(self.dir, "dockerd.log"), "ab") as log:
            self.daemon = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                           start_new_session=True)
        end = time.monotonic() + 60
        while subprocess.run(self.cli("version"), capture_output=True).returncode != 0:
            if self.daemon.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"dockerd did not start; see {self.dir}/dockerd.log")
            time.sleep(0.5)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(self.cli("import", "-", self.IMAGE), stdin=tar.stdout, check=True,
                       capture_output=True)
        tar.wait()

    def run_argv(self, name, container_name):
        return self.cli("run", "--rm", "--runtime", f"bench-{name}", "--network", "none", "--name",
                        container_name, self.IMAGE, "true")

    def stop(self, mounts_under):
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(60)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        for line in reversed(mounts_under(self.dir)):
            subprocess.run(["umount", "--lazy", line.split()[4]], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        # The parent cgroups dockerd made for its containers (never one that was there).
        for path in set(glob.glob("/sys/fs/cgroup/*/docker")) - self.cgroups_before:
            try:
                os.rmdir(path)
            except OSError:
                pass


def absent_run_dirs(runtimes):
    """Runtime roots under /run that the runtimes and engines make for
    themselves (crun's and runc's defaults, Podman's /run/<runtime>,
    dockerd's /run/docker) and that are not there yet: the benchmark
    removes them at the end, innermost first, if they are empty."""
    names = {rt.name for rt in runtimes} | {os.path.basename(rt.exe) for rt in runtimes}
    names |= {f"{rt.name}-wrapper" for rt in runtimes if rt.hide_cgroup2}
    candidates = ["/run/docker/plugins", "/run/docker", *(f"/run/{name}" for name in sorted(names))]
    return [path for path in candidates if not os.path.exists(path)]


def remove_empty(paths):
    for path in paths:
        try:
            os.rmdir(path)
        except OSError:
            pass    # not empty (someone else's) or never made


def bench_engines(runtimes, runs, scratch):
    """`run --rm IMAGE true` through containerd (runc's shim), Podman and Docker."""
    sys.path.insert(0, os.path.join(REPO, "spec-tests"))
    os.environ.setdefault("PYRUNC_ENGINES_DIR", os.path.join(scratch, "engines"))
    import engines  # noqa: E402  (reads PYRUNC_ENGINES_DIR)

    tools = [tool for tool in ("containerd", "ctr", "podman", "conmon", "dockerd", "docker") if shutil.which(tool)]
    print(f"\nengines: {', '.join(tools) or 'none'} found")
    if not tools:
        return {}
    wrappers = {}
    for rt in runtimes:
        if rt.hide_cgroup2:
            # Engines call a runtime binary: a wrapper puts crun in its own view.
            path = os.path.join(scratch, f"{rt.name}-wrapper")
            with open(path, "w") as f:
                f.write(f"#!/bin/sh\nexec {SPAWN} --exec --hide-cgroup2 {rt.exe} \"$@\"\n")
            os.chmod(path, 0o755)
            wrappers[rt.name] = path
    engines.prepare()
    results = {}
    docker = None
    try:
        stderr = os.path.join(scratch, "engine.err")
        kinds = []
        if shutil.which("ctr") and engines.containerd_up():
            kinds.append("containerd")
        if shutil.which("podman"):
            kinds.append("podman")
        if shutil.which("dockerd") and shutil.which("docker"):
            docker = Docker(os.path.join(str(engines.STATE), "docker"),
                            {rt.name: wrappers.get(rt.name, rt.exe) for rt in runtimes})
            try:
                docker.start(str(engines.ROOTFS))
                kinds.append("docker")
            except (RuntimeError, subprocess.CalledProcessError) as error:
                print(f"note: Docker left out: {error}")
        for kind in kinds:
            working = list(runtimes)
            for i in range(-1, runs):      # -1: untimed warm-up
                for rt in rotated(working, max(i, 0)):
                    exe = wrappers.get(rt.name, rt.exe)
                    name = f"bench-{os.getpid()}-{rt.name}-e{i + 1}"
                    if kind == "containerd":
                        argv = engines.ctr_argv("run", "--rm", "--runc-binary", exe, "--runc-root",
                                                os.path.join(str(engines.CTR_DIR), f"root-{rt.name}"),
                                                engines.IMAGE, name, "true")
                        env = None
                    elif kind == "podman":
                        argv = ["podman", "--runtime", exe, "run", "--rm", "--pull", "never", "--network",
                                "none", "--name", name, engines.IMAGE, "true"]
                        env = engines.podman_env()
                    else:
                        argv, env = docker.run_argv(rt.name, name), None
                    try:
                        report = spawn(argv, stderr, env=env)
                    except RuntimeError as error:
                        rt.fail(kind, error)
                        if i < 0:
                            working.remove(rt)
                        continue
                    if i >= 0:
                        rt.record(kind, report)
            results[kind] = True
    finally:
        if docker is not None:
            docker.stop(lambda path: engines.mounts_under(engines.Path(path)))
        engines.teardown()
    return results


# ---- tables ------------------------------------------------------------------------------

def percentile(values, pct):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def cell(values, reference=None):
    if not values:
        return "-"
    median = statistics.median(values)
    text = f"{median:.1f} ({percentile(values, 10):.1f}-{percentile(values, 90):.1f})"
    if reference:
        text += f" {median / statistics.median(reference):.2f}x"
    return text


def print_table(title, runtimes, whats, attribute):
    reference = next((rt for rt in runtimes if rt.name == "runc"), None)
    header = ("", *[rt.label for rt in runtimes])
    rows = []
    for what in whats:
        ref = getattr(reference, attribute).get(what) if reference else None
        rows.append((what, *[cell(getattr(rt, attribute).get(what, []), ref if rt is not reference else None)
                             for rt in runtimes]))
    if not any(any(c != "-" for c in row[1:]) for row in rows):
        return
    print(f"\n{title}\n")
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per runtime and verb (default 30)")
    parser.add_argument("--engine-runs", type=int, default=10, help="timed engine runs (default 10)")
    parser.add_argument("--only", default="run,verbs,engines",
                        help="comma-separated: run, verbs, engines, breakdown (default: all but breakdown)")
    parser.add_argument("--pyrunc", help="the pyrunc executable (default: .venv/bin/pyrunc, else on PATH)")
    parser.add_argument("--bundle", default=os.path.join(BUNDLES, "hello"), help="the bundle (default: hello)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    unknown = parts - {"run", "verbs", "engines", "breakdown"}
    if unknown:
        parser.error(f"unknown --only part(s): {', '.join(sorted(unknown))}")

    bundle = os.path.abspath(args.bundle)
    if not os.path.isdir(os.path.join(bundle, "rootfs")):
        sys.exit(f"bench.py: {bundle}/rootfs is missing; run bundles/build-rootfs.sh first")
    if not os.access(SPAWN, os.X_OK):
        sys.exit(f"bench.py: {SPAWN} is missing; build it: cmake -S . -B build && cmake --build build")
    if os.geteuid() != 0:
        print("note: not root; the runtimes will most likely fail", file=sys.stderr)

    scratch = tempfile.mkdtemp(prefix="pyrunc-bench-")
    runtimes = []
    for name, exe in (("pyrunc", find_pyrunc(args.pyrunc)), ("runc", shutil.which("runc")),
                      ("crun", shutil.which("crun"))):
        if exe:
            runtimes.append(Runtime(name, exe, os.path.join(scratch, name), name == "crun" and HYBRID))
        else:
            print(f"note: {name} is not installed; skipped")
    made_run_dirs = absent_run_dirs(runtimes)
    versions = []
    for rt in runtimes:
        out = os.path.join(scratch, "version")
        try:
            spawn([rt.exe, "--version"], os.path.join(scratch, "stderr"), stdout_path=out)
            with open(out) as f:
                versions.append(f.read().splitlines()[0])
        except (RuntimeError, IndexError):
            versions.append(f"{rt.name} (version unknown)")
    print("; ".join(versions))

    try:
        if "breakdown" in parts and runtimes and runtimes[0].name == "pyrunc":
            bench_breakdown(runtimes[0], bundle, args.runs, scratch)
        if "run" in parts:
            bench_run(runtimes, bundle, args.runs, scratch)
        if "verbs" in parts:
            bench_verbs(runtimes, bundle, args.runs, scratch)
        engine_kinds = bench_engines(runtimes, args.engine_runs, scratch) if "engines" in parts else {}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        remove_empty(made_run_dirs)

    whats = (["run"] if "run" in parts else []) + (list(VERBS) if "verbs" in parts else [])
    note = "median (p10-p90), ratio to runc's median"
    print_table(f"Wall time, ms: {note}; {args.runs} runs", runtimes, whats, "times")
    print_table(f"Peak RSS, MiB (the runtime and the children it reaped): {note}", runtimes, whats, "rss")
    if engine_kinds:
        print_table(f"`run --rm IMAGE true` through an engine, ms: {note}; {args.engine_runs} runs", runtimes,
                    list(engine_kinds), "times")
    for rt in runtimes:
        for what, (count, error) in rt.failures.items():
            print(f"\n{rt.label} {what}: {count} failure(s); last: {error}")
    if any(rt.hide_cgroup2 for rt in runtimes):
        print("\ncrun*: run with the cgroup2 mount hidden (crun 1.8 refuses this hybrid cgroup host)")
    return 0 if any(rt.times for rt in runtimes) else 1


if __name__ == "__main__":
    sys.exit(main())
