"""Interface counters for `events --stats` (runtime/net/stats.py)."""
from __future__ import annotations

import os

from pyrunc.runtime.net import stats

NET_DEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0:    2025      25    1    2    0     0          0         0     2112      21    3    4    0     0       0          0
""".splitlines()[2:]


def test_net_dev_as_runc_names_it() -> None:
    assert stats.parse_net_dev(NET_DEV) == [{
        "name": "eth0", "rx_bytes": 2025, "tx_bytes": 2112, "rx_packets": 25, "tx_packets": 21,
        "rx_errors": 1, "tx_errors": 3, "rx_dropped": 2, "tx_dropped": 4}]


def test_no_counters_for_the_callers_own_namespace_or_a_gone_process() -> None:
    assert stats.interfaces(os.getpid()) == []
    assert stats.interfaces(2 ** 22 + 1) == []      # above pid_max: never a process
