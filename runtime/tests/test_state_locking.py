"""The state store's locks, which serialise the verbs on one id: a new
directory comes locked, a create between its mkdir and its flock is never
taken for a dead one, a lock won on a removed directory says so, and a
dead create's notes are what delete --force works from."""
from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from pyrunc.runtime.errors import ContainerNotFound
from pyrunc.runtime.state import CREATING_FILE, STATE_FILE, CorruptState, Lock, StateStore


def in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    """Run call() in a thread; its result or exception lands in the list."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:    # noqa: BLE001 - handed to the test
            outcome.append(exc)
    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_new_directory_comes_locked(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path))
    state, lock = store.new("c")
    fd = os.open(state.dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.release()
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_a_create_before_its_flock_is_not_taken_for_a_dead_one(tmp_path: Path) -> None:
    """A create holds the root's shared lock from its mkdir to its flock:
    a load meanwhile waits, and then finds a create at work, not a
    half-made container to delete."""
    store = StateStore(str(tmp_path))
    root_fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(root_fd, fcntl.LOCK_SH)
        (tmp_path / "c").mkdir()
        thread, outcome = in_thread(lambda: store.load("c"))
        with Lock(str(tmp_path / "c")):
            fcntl.flock(root_fd, fcntl.LOCK_UN)
            thread.join(10)
            assert not thread.is_alive()
        assert isinstance(outcome[0], ContainerNotFound), outcome
    finally:
        os.close(root_fd)


def test_a_lock_won_on_a_removed_directory_says_it_is_gone(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path))
    state, lock = store.new("c")
    thread, outcome = in_thread(lambda: Lock(state.dir).acquire())
    store.remove(state)
    lock.release()
    thread.join(10)
    assert isinstance(outcome[0], ContainerNotFound), outcome


def test_a_dead_creates_notes_reach_delete(tmp_path: Path) -> None:
    """No state file and a free lock: a half-made container, whose
    creating.json fields (the sound ones) delete --force works from."""
    directory = tmp_path / "c"
    directory.mkdir()
    (directory / CREATING_FILE).write_text(json.dumps({"pid": 1234, "pidStartTime": 99, "cgroup": "bad"}))
    with pytest.raises(CorruptState) as info:
        StateStore(str(tmp_path)).load("c")
    assert info.value.half_made
    assert info.value.good == {"pid": 1234, "pidStartTime": 99}


def test_a_saved_state_drops_the_notes(tmp_path: Path) -> None:
    state, lock = StateStore(str(tmp_path)).new("c")
    state.save_progress({"pid": 1})
    state.data = {"pid": 1}
    state.save()
    lock.release()
    assert sorted(os.listdir(state.dir)) == [STATE_FILE]
