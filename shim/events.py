"""Task events to containerd: each one a containerd.events.* message in an
Envelope, forwarded to containerd's ttrpc events service at
$TTRPC_ADDRESS (containerd.services.events.ttrpc.v1.Events/Forward, as
containerd 1.6's own shims do), in order, from one thread.  When that
service cannot be reached, the publish binary (`containerd publish`) is
the fallback."""
from __future__ import annotations

import queue
import threading
import time

from . import ttrpc
from .log import log
from .threads import Call

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SERVICE = "containerd.services.events.ttrpc.v1.Events"
NAMESPACE_KEY = "containerd-namespace-ttrpc"   # ttrpc metadata naming the namespace

TOPICS = {
    "TaskCreate": "/tasks/create", "TaskStart": "/tasks/start", "TaskExit": "/tasks/exit",
    "TaskDelete": "/tasks/delete", "TaskExecAdded": "/tasks/exec-added",
    "TaskExecStarted": "/tasks/exec-started", "TaskPaused": "/tasks/paused",
    "TaskResumed": "/tasks/resumed", "TaskOOM": "/tasks/oom",
}


def pack(message: Any) -> Any:
    """An Any as containerd's typeurl writes it: the bare full name."""
    from google.protobuf import any_pb2
    return any_pb2.Any(type_url=message.DESCRIPTOR.full_name, value=message.SerializeToString())


def envelope(namespace: str, message: Any) -> Any:
    from pyrunc.shim.proto.events import ttrpc_events_pb2
    result = ttrpc_events_pb2.Envelope(namespace=namespace, topic=TOPICS[message.DESCRIPTOR.name])
    result.timestamp.FromNanoseconds(time.time_ns())
    result.event.CopyFrom(pack(message))
    return result


class Publisher:
    def __init__(self, namespace: str, ttrpc_address: str, containerd_address: str,
                 publish_binary: str) -> None:
        self.namespace, self.ttrpc_address = namespace, ttrpc_address
        self.containerd_address, self.publish_binary = containerd_address, publish_binary
        self.queue: queue.Queue[Any] = queue.Queue()
        self.client: ttrpc.Client | None = None
        self.thread = Call("events", self._run)
        self.thread.start()

    def publish(self, message: Any) -> None:
        self.queue.put(envelope(self.namespace, message))

    def flush(self, timeout: float = 5.0) -> None:
        """Until every event queued so far is sent (for shutdown)."""
        done = threading.Event()
        self.queue.put(done)
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            try:
                self._forward(item)
            except Exception as exc:
                log.warning(f"event {item.topic}: ttrpc forward failed ({exc}); using {self.publish_binary}")
                self._publish_binary(item)

    def _forward(self, item: Any) -> None:
        from pyrunc.shim.proto.events import ttrpc_events_pb2
        from google.protobuf import empty_pb2
        if not self.ttrpc_address:
            raise ttrpc.ProtocolError("no TTRPC_ADDRESS")
        for attempt in (1, 2):      # once more on a fresh connection
            try:
                if self.client is None:
                    self.client = ttrpc.Client.at(self.ttrpc_address, timeout=10,
                                                  metadata={NAMESPACE_KEY: self.namespace})
                self.client.call(SERVICE, "Forward", ttrpc_events_pb2.ForwardRequest(envelope=item),
                                 empty_pb2.Empty)
                return
            except (OSError, ttrpc.ProtocolError):
                if self.client is not None:
                    self.client.close()
                    self.client = None
                if attempt == 2:
                    raise

    def _publish_binary(self, item: Any) -> None:
        if not self.publish_binary:
            log.error(f"event {item.topic} lost: no publish binary")
            return
        import subprocess   # the fallback only: not in every server's memory
        argv = [self.publish_binary, "--address", self.containerd_address, "publish",
                "--topic", item.topic, "--namespace", self.namespace]
        try:
            subprocess.run(argv, input=item.event.SerializeToString(), capture_output=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            log.error(f"event {item.topic} lost: {exc}")
