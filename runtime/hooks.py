"""OCI lifecycle hooks.

prestart, createRuntime, poststart and poststop run here, in the runtime's
namespaces; createContainer and startContainer run in the container's
namespaces and are executed by the C init (native/hooks.c) from the plan.
Each hook gets the container state JSON on stdin.
"""
from __future__ import annotations

from . import jsonio
from .errors import ConfigError, PyruncError
from .record import Record

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


class Hook(Record):
    __slots__ = ("path", "args", "env", "timeout")

    def __init__(self, path: str, args: list[str], env: list[str], timeout: int) -> None:
        self.path, self.args, self.env, self.timeout = path, args, env, timeout


def _strings(value: object, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and "\0" not in v for v in value):
        raise ConfigError("must be an array of strings", path=path)
    return value


def parse_hook(raw: object, path: str) -> Hook:
    if not isinstance(raw, dict):
        raise ConfigError("must be an object", path=path)
    hook_path = raw.get("path")
    if not isinstance(hook_path, str) or not hook_path.startswith("/"):
        raise ConfigError("must be an absolute path", path=f"{path}.path")
    timeout = raw.get("timeout")
    if timeout is None:
        timeout = 0     # no limit
    elif not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigError("must be a positive integer (seconds)", path=f"{path}.timeout")
    args = _strings(raw.get("args"), f"{path}.args") or [hook_path]
    return Hook(hook_path, args, _strings(raw.get("env"), f"{path}.env"), timeout)


def parse_hooks(hooks: dict) -> dict[str, list[Hook]]:
    """Every known hook list of config.json's `hooks`, validated."""
    result: dict[str, list[Hook]] = {}
    for kind in KINDS:
        entries = hooks.get(kind) or []
        if not isinstance(entries, list):
            raise ConfigError("must be an array", path=f"hooks.{kind}")
        result[kind] = [parse_hook(raw, f"hooks.{kind}[{i}]") for i, raw in enumerate(entries)]
    return result


def state_json(oci_version: str, container_id: str, status: str, pid: int, bundle: str,
               annotations: dict[str, str]) -> str:
    state: dict[str, object] = {"ociVersion": oci_version, "id": container_id, "status": status,
                                "pid": pid, "bundle": bundle}
    if annotations:
        state["annotations"] = annotations
    return jsonio.dumps(state)


def run_hook(kind: str, hook: Hook, state: str) -> None:
    import subprocess
    try:
        result = subprocess.run(hook.args, executable=hook.path, env=dict(_env_pairs(hook.env)),
                                input=state.encode(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, timeout=hook.timeout or None, cwd="/")
    except subprocess.TimeoutExpired:
        raise PyruncError(f"{kind} hook {hook.path}: timed out after {hook.timeout} s") from None
    except OSError as exc:
        raise PyruncError(f"{kind} hook {hook.path}: {exc.strerror}", errno=exc.errno) from None
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        why = f"exit status {result.returncode}" if result.returncode > 0 else \
            f"killed by signal {-result.returncode}"
        raise PyruncError(f"{kind} hook {hook.path}: {why}" + (f": {detail[-1]}" if detail else ""))


def _env_pairs(env: list[str]) -> list[tuple[str, str]]:
    return [(item.partition("=")[0], item.partition("=")[2]) for item in env]


def run_hooks(kind: str, hooks: list[Hook], state: str) -> None:
    for hook in hooks:
        run_hook(kind, hook, state)


def run_hooks_logged(kind: str, hooks: list[Hook], state: str) -> None:
    """For poststop: a failure is logged and the remaining hooks still run."""
    from .log import logger
    for hook in hooks:
        try:
            run_hook(kind, hook, state)
        except PyruncError as exc:
            logger.warning(str(exc))


