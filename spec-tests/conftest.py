"""Fixtures of the spec-tests: a session-wide rootfs, and per test a fresh
bundle and a pyrunc with its own --root whose containers are force-deleted
and audited (state dirs, processes, cgroups, mounts, additions to the
shared rootfs) when the test ends, pass or fail."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Iterator

import pytest

# spec-tests is not a package: make harness importable whichever directory
# pytest was started from.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import CGROUP_ROOT, Bundle, MakeBundle, Runtime, build_rootfs, cgroup2_view, tree  # noqa: E402


@pytest.fixture(scope="session")
def rootfs() -> Path:
    if os.geteuid() != 0:
        pytest.skip("spec-tests run real containers and need root")
    return build_rootfs()


@pytest.fixture(scope="session")
def rootfs_tree(rootfs: Path) -> set[str]:
    """What the shared rootfs holds; a test may add nothing to it."""
    return tree(rootfs)


@pytest.fixture
def make_bundle(tmp_path: Path, rootfs: Path) -> MakeBundle:
    """Makes more bundles in this test's tmp_path, by name."""
    return lambda name: Bundle(tmp_path / name)


@pytest.fixture
def bundle(make_bundle: MakeBundle) -> Bundle:
    return make_bundle("bundle")


@pytest.fixture
def runtime(request: pytest.FixtureRequest, tmp_path: Path, rootfs: Path,
            rootfs_tree: set[str]) -> Iterator[Runtime]:
    label = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name.removeprefix("test_")).strip("-")
    scratch = tmp_path / "pyrunc"
    scratch.mkdir()
    rt = Runtime(tmp_path / "root", scratch, label or "st")
    yield rt
    problems = rt.cleanup(tmp_path)
    added = tree(rootfs) - rootfs_tree
    if added:
        problems.append(f"added to the shared rootfs: {sorted(added)[:10]}")
        rootfs_tree.update(added)  # blame this test only
    assert not problems, "test left things behind:\n  " + "\n  ".join(problems)


@pytest.fixture
def v2_runtime(runtime: Runtime, tmp_path: Path) -> Iterator[Runtime]:
    """The runtime on a cgroup v2 host: this one, or its cgroup2 hierarchy
    seen from a mount namespace (harness.cgroup2_view)."""
    with cgroup2_view() as (wrapper, host_root):
        runtime.wrapper, runtime.cgroup_root_on_host = wrapper, host_root
        try:
            yield runtime
        finally:
            runtime.cleanup(tmp_path)   # while the namespace lives; `runtime` audits after
            runtime.wrapper, runtime.cgroup_root_on_host = [], CGROUP_ROOT
