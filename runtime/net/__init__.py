"""Bridge networking for hand-built bundles: `pyrunc-net`, the hook that
`pyrunc spec --network` wires into a config (createRuntime sets the
network up, poststop tears it down).

This package's own import is light: delete and events reach it on every
call, and only a container that has a network record pays for pyroute2.
"""
from __future__ import annotations

import os

# Where each container's network record lives: the state root's net/.
STORE_DIR = "net"


def record_path(root: str, container_id: str) -> str:
    return os.path.join(root, STORE_DIR, container_id + ".json")


def release(root: str, container_id: str) -> None:
    """Tear down what the hook made for a container that is being deleted
    and still has a record (its poststop hook did not run or failed: a
    runtime killed during create, say)."""
    if not os.path.exists(record_path(root, container_id)):
        return
    from .network import down
    down(root, container_id)
