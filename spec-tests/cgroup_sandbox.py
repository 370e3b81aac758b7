"""A cgroup tree that is no container's, in every hierarchy, holding host
processes (`sleep`) that pyrunc must leave alone; the tests that attack
cgroup handling point cgroupsPath at it. Everything it made, processes
included, goes when the test ends, pass or fail."""
from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest

from harness import CGROUP_ROOT, Runtime, poll, process_alive

V2 = (CGROUP_ROOT / "cgroup.controllers").exists()


def hierarchies() -> list[Path]:
    """Each mounted hierarchy once (co-mounted controllers share a directory)."""
    if V2:
        return [CGROUP_ROOT]
    found: dict[Path, Path] = {}
    for entry in sorted(CGROUP_ROOT.iterdir()):
        if entry.name != "unified" and (entry / "cgroup.procs").exists():
            found.setdefault(entry.resolve(), entry)
    return list(found.values())


class CgroupSandbox:
    def __init__(self) -> None:
        self.name = f"pyrunc-victim-{secrets.token_hex(3)}"
        self.processes: list[subprocess.Popen[bytes]] = []

    def path(self, relative: str = "") -> str:
        """The cgroupsPath of `relative` inside the sandbox."""
        return "/" + os.path.join(self.name, relative).rstrip("/")

    def dirs(self, relative: str = "") -> list[Path]:
        return [base / self.path(relative).lstrip("/") for base in hierarchies()]

    def make(self, relative: str = "") -> None:
        for leaf in self.dirs(relative):
            for directory in reversed([leaf, *leaf.parents]):
                if directory in leaf.parents and directory.exists():
                    continue
                directory.mkdir(exist_ok=True)
                for name in ("cpuset.cpus", "cpuset.mems"):   # a new v1 cpuset takes no task until filled
                    if (directory / name).exists() and not (directory / name).read_text().strip():
                        (directory / name).write_text((directory.parent / name).read_text())

    def enter(self, relative: str) -> Callable[[], None]:
        """A preexec_fn moving the new process into the sandbox's `relative`."""
        self.make(relative)
        targets = [str(d / "cgroup.procs") for d in self.dirs(relative)]

        def move() -> None:
            for target in targets:
                with open(target, "w") as f:
                    f.write("0")
        return move

    def sleeper(self, relative: str = "") -> subprocess.Popen[bytes]:
        """A host process in the sandbox's `relative` cgroup."""
        process = subprocess.Popen(["sleep", "600"], preexec_fn=self.enter(relative))
        self.processes.append(process)
        return process

    def exists(self, relative: str = "") -> bool:
        return all(directory.is_dir() for directory in self.dirs(relative))

    def remove(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        # Deepest first, in every hierarchy; thawed before anything is
        # killed, as a frozen process dies only once thawed.
        levels = sorted((Path(current) for base in self.dirs() if base.exists() for current, _, _ in os.walk(base)),
                        key=lambda path: -len(path.parts))
        for level in levels:
            if (level / "freezer.state").exists():
                (level / "freezer.state").write_text("THAWED")
            if (level / "cgroup.freeze").exists():
                (level / "cgroup.freeze").write_text("0")
        for level in levels:
            for pid in (level / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass
        for level in levels:
            poll(lambda: not (level / "cgroup.procs").read_text().split(), 5, f"{level} to empty")
            os.rmdir(level)


def alive(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None and process_alive(process.pid)


@pytest.fixture
def sandbox(runtime: Runtime) -> Iterator[CgroupSandbox]:
    """Taken down before the runtime fixture's audit (which it depends on)."""
    cgroups = CgroupSandbox()
    try:
        yield cgroups
    finally:
        cgroups.remove()
