"""The SHA-256 that socket names, group names, veth names and the seccomp
cache key use: hashlib's value, without loading OpenSSL."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from hypothesis import given, strategies as st

from pyrunc.runtime.digest import sha256_hex


@given(st.binary(max_size=4096))
def test_equals_hashlib(data: bytes) -> None:
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_no_user_loads_openssl() -> None:
    code = ("import sys\n"
            "from pyrunc.shim import main, zygote\n"
            "from pyrunc.runtime.net import network\n"
            "main.server_socket('ttrpc', 'ns', 0)\n"
            "zygote._group_name('a pod\\0name')\n"
            "network.veth_name('/run/x', 'c1')\n"
            "print('_hashlib' in sys.modules)\n"
            "import hashlib\n"
            "print('_hashlib' in sys.modules)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    result = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env)
    # The second line shows the first can fail: hashlib itself loads it.
    assert result.stdout.split() == ["False", "True"], result.stderr
