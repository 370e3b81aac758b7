"""OCI lifecycle hooks.

prestart, createRuntime, poststart and poststop run here, in the runtime's
namespaces, in the bundle directory; createContainer and startContainer
run in the container's namespaces and are executed by the C init
(native/hooks.c) from the plan.  Each hook gets the container state JSON
on stdin, and stdio only: no other fd of the runtime or its caller.
A hook without `env` gets its runner's environment, as under runc: the
runtime's here, the container process's in the init.
"""
from __future__ import annotations

import os

from . import jsonio
from .errors import ConfigError, PyruncError
from .record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

# The init holds a timeout in a C int of seconds.
MAX_TIMEOUT = 2 ** 31 - 1

# subprocess waits at most INT_MAX milliseconds at a time: longer in parts.
_MAX_WAIT = 86400.0


class Hook(Record):
    __slots__ = ("path", "args", "env", "timeout")

    def __init__(self, path: str, args: list[str], env: list[str] | None, timeout: int) -> None:
        self.path, self.args, self.timeout = path, args, timeout
        self.env = env      # None: inherit the runner's environment; [] is an empty one


def _text(value: object, path: str) -> str:
    """A string that can reach execve(2) unchanged."""
    if not isinstance(value, str):
        raise ConfigError("must be a string", path=path)
    if "\0" in value:
        raise ConfigError("must not contain a NUL character", path=path)
    try:
        value.encode()
    except UnicodeEncodeError:      # a lone surrogate from a JSON \ud800 escape
        raise ConfigError("must be valid Unicode", path=path) from None
    return value


def _strings(value: object, path: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ConfigError("must be an array of strings", path=path)
    return [_text(item, f"{path}[{i}]") for i, item in enumerate(value)]


def parse_hook(raw: object, path: str) -> Hook:
    if not isinstance(raw, dict):
        raise ConfigError("must be an object", path=path)
    hook_path = _text(raw.get("path"), f"{path}.path")
    if not hook_path.startswith("/"):
        raise ConfigError("must be an absolute path", path=f"{path}.path")
    timeout = raw.get("timeout")
    if timeout is None:
        timeout = 0     # no limit
    elif not isinstance(timeout, int) or isinstance(timeout, bool) or not 0 < timeout <= MAX_TIMEOUT:
        raise ConfigError(f"must be a positive integer of at most {MAX_TIMEOUT} (seconds)",
                          path=f"{path}.timeout")
    args = _strings(raw.get("args"), f"{path}.args") or [hook_path]
    return Hook(hook_path, args, _strings(raw.get("env"), f"{path}.env"), timeout)


def parse_hooks(hooks: object, path: str = "hooks") -> dict[str, list[Hook]]:
    """Every known hook list of config.json's `hooks`, validated."""
    if hooks is None:
        hooks = {}
    if not isinstance(hooks, dict):
        raise ConfigError("must be an object", path=path)
    result: dict[str, list[Hook]] = {}
    for kind in KINDS:
        entries = hooks.get(kind) or []
        if not isinstance(entries, list):
            raise ConfigError("must be an array", path=f"{path}.{kind}")
        result[kind] = [parse_hook(raw, f"{path}.{kind}[{i}]") for i, raw in enumerate(entries)]
    return result


def state_json(oci_version: str, container_id: str, status: str, pid: int, bundle: str,
               annotations: dict[str, str]) -> str:
    """The state every hook gets: all of its fields, even empty ones."""
    return jsonio.dumps({"ociVersion": oci_version, "id": container_id, "status": status,
                         "pid": pid, "bundle": bundle, "annotations": annotations})


def run_hook(kind: str, hook: Hook, state: str, cwd: str) -> None:
    import subprocess
    env = os.environ if hook.env is None else dict(_env_pairs(hook.env))
    try:
        # close_fds (the default): the hook gets stdio only.
        proc = subprocess.Popen(hook.args, executable=hook.path, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
    except OSError as exc:
        raise PyruncError(f"{kind} hook {hook.path}: {exc.strerror}", errno=exc.errno) from None
    with proc:
        stderr = _communicate(proc, state.encode(), hook.timeout)
    if stderr is None:
        raise PyruncError(f"{kind} hook {hook.path}: timed out after {hook.timeout} s")
    if proc.returncode != 0:
        detail = stderr.decode(errors="replace").strip().splitlines()
        why = f"exit status {proc.returncode}" if proc.returncode > 0 else \
            f"killed by signal {-proc.returncode}"
        raise PyruncError(f"{kind} hook {hook.path}: {why}" + (f": {detail[-1]}" if detail else ""))


def _communicate(proc: Any, data: bytes, timeout: int) -> bytes | None:
    """Feed data to proc and wait for it, at most timeout seconds (0: no
    limit); its stderr, or None when it ran out of time and was killed."""
    import subprocess
    import time
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            proc.kill()
            proc.wait()
            return None
        try:
            return proc.communicate(data, timeout=None if left is None else min(left, _MAX_WAIT))[1]
        except subprocess.TimeoutExpired:
            pass


def _env_pairs(env: list[str]) -> list[tuple[str, str]]:
    return [(item.partition("=")[0], item.partition("=")[2]) for item in env]


def working_dir(bundle: str) -> str:
    """Runtime-side hooks run in the bundle, as runc's do; in / once the
    bundle is gone (a poststop after the engine removed it)."""
    return bundle if os.path.isdir(bundle) else "/"


def run_hooks(kind: str, hooks: list[Hook], state: str, bundle: str) -> None:
    for hook in hooks:
        run_hook(kind, hook, state, working_dir(bundle))


def run_hooks_logged(kind: str, hooks: list[Hook], state: str, bundle: str) -> None:
    """For poststop: a failure is logged and the remaining hooks still run."""
    from .log import logger
    for hook in hooks:
        try:
            run_hook(kind, hook, state, working_dir(bundle))
        except PyruncError as exc:
            logger.warning(str(exc))
