"""pyroute2 costs about 0.2 s to import: no verb of pyrunc pays for it,
and pyrunc-net only when it changes links (not for a `down` whose veth
went with the container's namespace)."""
from __future__ import annotations

import os
import subprocess
import sys

MODULES = ("pyrunc.runtime.container", "pyrunc.runtime.resources", "pyrunc.runtime.cli.spec",
           "pyrunc.runtime.cli.events", "pyrunc.runtime.cli.delete", "pyrunc.runtime.net",
           "pyrunc.runtime.net.stats", "pyrunc.runtime.net.hook", "pyrunc.runtime.net.network")


def test_nothing_imports_pyroute2_until_a_link_changes() -> None:
    code = f"import sys; import {', '.join(MODULES)}; print('pyroute2' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == "False"
    code = "import sys; from pyrunc.runtime.net import links; links._netlink(); print('pyroute2' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == "True"      # the check above can fail
