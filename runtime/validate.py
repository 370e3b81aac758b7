"""Validation of an OCI runtime config.json: JSON schema plus semantic rules.

Used by `pyrunc validate` and on the error path of `create`/`run` to explain
*why* a config is bad. It must import fast (jsonschema is only imported when
a config is actually validated) and must never raise on malformed input:
every defect, including values of the wrong type, becomes a `Problem`.

Paths name the offending JSON value, rooted at the config: `process.args`,
`linux.namespaces[2].type`, `linux.sysctl["net.ipv4.ip_forward"]`; the
config itself is `(root)`. Keys that are not plain identifiers are written
as quoted JSON strings in brackets so that the path stays unambiguous.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator

from . import jsonio
from .errors import PyruncError
from .spec import is_v1_version
from .linux_constants import SYSCTL_FIELDS, sysctl_namespace

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema", "config.schema.json")

PathParts = tuple[Any, ...]


@dataclass(frozen=True)
class Problem:
    """One defect of a config: where it is and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


# ---------------------------------------------------------------- paths

_DIGITS = re.compile(r"(\d+)")
format_path = jsonio.format_path


def _sort_key(problem: Problem) -> tuple[list[Any], str]:
    # Natural order, so that `[10]` sorts after `[2]`; re.split with a group
    # alternates text and digits, so ints and strs never meet at one index.
    pieces = _DIGITS.split(problem.path)
    return [int(p) if i % 2 else p for i, p in enumerate(pieces)], problem.message


def _problem(parts: PathParts, message: str) -> Problem:
    return Problem(format_path(parts), message)


# ---------------------------------------------------------------- public entry


def validate_config(config: object, bundle: str | None = None) -> list[Problem]:
    """Return every problem of `config` (parsed config.json), sorted by path.

    `bundle` is the bundle directory; when given, `root.path` is resolved
    against it and checked on the filesystem.
    """
    config = _without_nulls(config)
    problems = set(_schema_problems(config))
    if isinstance(config, dict):
        context = _Context(config, bundle, _namespaces(config))
        for rule in _RULES:
            problems.update(rule(context))
    if not problems:
        # What create itself checks, so that a config called valid here
        # is one create accepts (the rules above explain more at once).
        problems.update(create_problems(config, bundle))
    return sorted(problems, key=_sort_key)


def create_problems(config: object, bundle: str | None) -> list[Problem]:
    """The refusal of create's own parse and plan (no container is made):
    the spec parser, and with a bundle the plan, the seccomp compiler and
    the plan's encoding for the native init."""
    from . import plan, plan_buffer, seccomp, spec

    try:
        parsed = spec.parse(config)
        if bundle is not None:
            program = seccomp.prepare(parsed.linux.seccomp, None) if parsed.linux.seccomp is not None else None
            plan_buffer.flatten(plan.make_plan(parsed, bundle, plan.read_host(), seccomp=program), -1, -1)
    except PyruncError as exc:
        return [Problem(exc.path or "(root)", exc.message)]
    return []


def _without_nulls(value: Any) -> Any:
    """Drop object members whose value is null.

    Go's encoding/json, and so runc and our own spec parser, read a null
    member as absent; list items keep their place so paths stay right.
    """
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


# ---------------------------------------------------------------- JSON schema


@lru_cache(maxsize=1)
def _schema_validator() -> Any:
    import jsonschema  # lazy: too slow to import on the hot path

    with open(SCHEMA_FILE, encoding="utf-8") as handle:
        schema = json.load(handle)
    return jsonschema.Draft202012Validator(schema)


def _schema_problems(config: object) -> Iterator[Problem]:
    for error in _schema_validator().iter_errors(config):
        yield from _describe(error)


def _describe(error: Any) -> Iterator[Problem]:
    parts = tuple(error.absolute_path)
    if error.validator == "required":
        # Name the missing member itself rather than the object holding it.
        present = error.instance if isinstance(error.instance, dict) else {}
        for name in error.validator_value:
            if name not in present:
                yield _problem(parts + (name,), "is required")
        return
    if "propertyNames" in error.absolute_schema_path:
        parts += (error.instance,)  # the offending key, not its map
    yield _problem(parts, _message(error))


_TYPE_PHRASES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}
_PY_TYPE_PHRASES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def _json_type(value: object) -> str:
    return _PY_TYPE_PHRASES.get(type(value), type(value).__name__)


def _show(value: object, limit: int = 60) -> str:
    try:
        text = json.dumps(value, default=repr)
    except (TypeError, ValueError):  # not JSON at all (odd keys, cycles)
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _title(error: Any) -> str | None:
    return error.schema.get("title") if isinstance(error.schema, dict) else None


def _type_message(error: Any) -> str:
    expected = error.validator_value
    names = [expected] if isinstance(expected, str) else list(expected)
    wanted = " or ".join(_TYPE_PHRASES.get(name, name) for name in names)
    return f"must be {wanted}, not {_json_type(error.instance)}"


def _enum_message(error: Any) -> str:
    choices = error.validator_value if error.validator == "enum" else [error.validator_value]
    value, title = error.instance, _title(error)
    if all(isinstance(c, str) for c in choices) and not isinstance(value, str):
        return f"must be a string, not {_json_type(value)}"
    if title:
        return f"{_show(value)} is not a known {title}"
    return f"{_show(value)} is not one of {', '.join(_show(c) for c in choices)}"


def _bound_message(relation: str) -> Callable[[Any], str]:
    def message(error: Any) -> str:
        return f"must be {relation} {error.validator_value} (got {error.instance})"

    return message


def _size_message(error: Any) -> str:
    if error.validator_value == 1:
        return "must not be empty"
    return f"must have at least {error.validator_value} elements"


def _pattern_message(error: Any) -> str:
    title = _title(error)
    if title:
        return f"must be a {title} (got {_show(error.instance)})"
    return f"{_show(error.instance)} does not match {error.validator_value}"


_MESSAGES: dict[str, Callable[[Any], str]] = {
    "type": _type_message,
    "enum": _enum_message,
    "const": _enum_message,
    "minimum": _bound_message(">="),
    "maximum": _bound_message("<="),
    "exclusiveMinimum": _bound_message(">"),
    "exclusiveMaximum": _bound_message("<"),
    "minItems": _size_message,
    "minLength": _size_message,
    "pattern": _pattern_message,
}


def _message(error: Any) -> str:
    render = _MESSAGES.get(error.validator)
    return render(error) if render else str(error.message)


# ---------------------------------------------------------------- semantic rules
#
# The schema has already reported values of the wrong type, so every rule
# below looks only at values of the expected type and silently skips the
# rest: one defect, one problem.


@dataclass(frozen=True)
class _Context:
    config: dict[str, Any]
    bundle: str | None
    # type -> first entry of linux.namespaces; None when the list itself is
    # malformed, in which case rules that depend on it stay quiet.
    namespaces: dict[str, dict[str, Any]] | None


def _at(value: Any, *keys: str) -> Any:
    """Walk nested objects; None as soon as a step is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[tuple[int, Any]]:
    return list(enumerate(value)) if isinstance(value, list) else []


def _text(value: Any) -> str:
    """The value if it is a string, else "" (safe as a dict key)."""
    return value if isinstance(value, str) else ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _nonempty_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0


def _namespaces(config: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    raw = _at(config, "linux", "namespaces")
    if raw is None:
        return {}
    if not isinstance(raw, list):
        return None
    found: dict[str, dict[str, Any]] = {}
    for entry in raw:
        if isinstance(entry, dict) and isinstance(entry.get("type"), str):
            found.setdefault(entry["type"], entry)
    return found


def _needs_namespace(kind: str) -> str:
    return f"requires a namespace of type {kind} in linux.namespaces"


def _absolute(parts: PathParts, value: Any) -> Iterator[Problem]:
    if isinstance(value, str) and not value.startswith("/"):
        yield _problem(parts, "must be an absolute path")


def _duplicates(parts: PathParts, entries: Any, key: str) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, entry in _items(entries):
        value = _at(entry, key)
        if not isinstance(value, str):
            continue
        if value in first:
            where = format_path(parts + (first[value],))
            yield _problem(parts + (index, key), f"duplicate {_show(value)}, already given at {where}")
        else:
            first[value] = index


def _check_version(ctx: _Context) -> Iterator[Problem]:
    version = ctx.config.get("ociVersion")
    if isinstance(version, str) and not is_v1_version(version):
        yield _problem(("ociVersion",), f'must be a 1.x semantic version such as "1.2.0" (got {_show(version)})')


def _check_root(ctx: _Context) -> Iterator[Problem]:
    path = _at(ctx.config, "root", "path")
    if not isinstance(path, str):
        return
    where = ("root", "path")
    if not path:
        yield _problem(where, "must not be empty")
    elif ctx.bundle is not None:
        full = os.path.join(ctx.bundle, path)
        if not os.path.exists(full):
            yield _problem(where, f"{full} does not exist")
        elif not os.path.isdir(full):
            yield _problem(where, f"{full} is not a directory")


def _check_process(ctx: _Context) -> Iterator[Problem]:
    process = ctx.config.get("process")
    if not isinstance(process, dict):
        return
    args = process.get("args")
    if args is None or args == []:
        yield _problem(("process", "args"), "must contain at least one element (the program to run)")
    elif isinstance(args, list) and args[0] == "":
        yield _problem(("process", "args", 0), "must not be empty")
    yield from _absolute(("process", "cwd"), process.get("cwd"))
    for index, entry in _items(process.get("env")):
        if isinstance(entry, str) and entry.find("=") < 1:
            yield _problem(("process", "env", index), f"must have the form KEY=value (got {_show(entry)})")


def _check_rlimits(ctx: _Context) -> Iterator[Problem]:
    rlimits = _at(ctx.config, "process", "rlimits")
    yield from _duplicates(("process", "rlimits"), rlimits, "type")
    for index, rlimit in _items(rlimits):
        soft, hard = _at(rlimit, "soft"), _at(rlimit, "hard")
        if _is_int(soft) and _is_int(hard) and soft > hard:
            yield _problem(("process", "rlimits", index, "soft"), f"soft limit {soft} exceeds hard limit {hard}")


_REALTIME_POLICIES = ("SCHED_FIFO", "SCHED_RR")


def _check_scheduler(ctx: _Context) -> Iterator[Problem]:
    scheduler = _dict(_at(ctx.config, "process", "scheduler"))
    policy, priority = scheduler.get("policy"), scheduler.get("priority", 0)
    where = ("process", "scheduler")
    if not isinstance(policy, str) or not _is_int(priority):
        return
    if policy in _REALTIME_POLICIES and not 1 <= priority <= 99:
        yield _problem(where + ("priority",), f"must be between 1 and 99 for {policy}")
    elif policy not in _REALTIME_POLICIES and priority != 0:
        yield _problem(where + ("priority",), "can only be set for SCHED_FIFO and SCHED_RR")
    if policy == "SCHED_DEADLINE" and not scheduler.get("runtime"):
        yield _problem(where + ("runtime",), "is required (and non-zero) for SCHED_DEADLINE")


def _is_bind(mount: dict[str, Any]) -> bool:
    options = mount.get("options")
    flags = options if isinstance(options, list) else []
    return mount.get("type") == "bind" or "bind" in flags or "rbind" in flags


def _check_mounts(ctx: _Context) -> Iterator[Problem]:
    for index, mount in _items(ctx.config.get("mounts")):
        if not isinstance(mount, dict):
            continue
        where = ("mounts", index)
        if mount.get("destination") == "":
            yield _problem(where + ("destination",), "must not be empty")
        if _is_bind(mount) and mount.get("source") in (None, ""):
            yield _problem(where + ("source",), "is required for a bind mount")
        yield from _paired_mappings(where, mount, "must be given together with {other} (idmapped mount)")


def _paired_mappings(where: PathParts, holder: dict[str, Any], template: str) -> Iterator[Problem]:
    """uidMappings and gidMappings only make sense together."""
    pairs = (("uidMappings", "gidMappings"), ("gidMappings", "uidMappings"))
    for key, other in pairs:
        if _nonempty_list(holder.get(other)) and holder.get(key) is None:
            yield _problem(where + (key,), template.format(other=other))


def _check_namespaces(ctx: _Context) -> Iterator[Problem]:
    entries = _at(ctx.config, "linux", "namespaces")
    yield from _duplicates(("linux", "namespaces"), entries, "type")
    for index, entry in _items(entries):
        path = _at(entry, "path")
        if path:  # an empty path means "create a new namespace"
            yield from _absolute(("linux", "namespaces", index, "path"), path)


def _check_uts(ctx: _Context) -> Iterator[Problem]:
    if ctx.namespaces is None or "uts" in ctx.namespaces:
        return
    for field in ("hostname", "domainname"):
        value = ctx.config.get(field)
        if isinstance(value, str) and value:
            yield _problem((field,), _needs_namespace("uts"))


def _check_user_namespace(ctx: _Context) -> Iterator[Problem]:
    linux = ctx.config.get("linux")
    if ctx.namespaces is None or not isinstance(linux, dict):
        return
    user = ctx.namespaces.get("user")
    if user is not None and user.get("path"):
        # Joining: mappings are optional, but one alone is meaningless.
        yield from _paired_mappings(("linux",), linux, "must be given together with linux.{other}")
        return
    for key in ("uidMappings", "gidMappings"):
        mappings = linux.get(key)
        if user is None and _nonempty_list(mappings):
            yield _problem(("linux", key), _needs_namespace("user"))
        elif user is not None and mappings in (None, []):
            yield _problem(("linux", key), "is required when creating a new user namespace")


def _check_time_namespace(ctx: _Context) -> Iterator[Problem]:
    offsets = _at(ctx.config, "linux", "timeOffsets")
    if ctx.namespaces is None or not isinstance(offsets, dict) or not offsets:
        return
    time_ns = ctx.namespaces.get("time")
    if time_ns is None:
        yield _problem(("linux", "timeOffsets"), _needs_namespace("time"))
    elif time_ns.get("path"):
        yield _problem(("linux", "timeOffsets"), "cannot be applied to a joined time namespace")


def _sysctl_problem(name: str, namespaces: dict[str, dict[str, Any]] | None) -> str | None:
    if not name or "/" in name or "" in name.split("."):
        return "is not a valid sysctl name"
    namespace = sysctl_namespace(name)
    if namespace is None:
        return "is not namespaced: setting it would change the host"
    if namespaces is not None and namespace not in namespaces:
        return _needs_namespace(namespace)
    if name in SYSCTL_FIELDS:
        return f'is not allowed: it conflicts with the OCI "{SYSCTL_FIELDS[name]}" field'
    return None


def _check_sysctl(ctx: _Context) -> Iterator[Problem]:
    for name in _dict(_at(ctx.config, "linux", "sysctl")):
        message = _sysctl_problem(_text(name), ctx.namespaces)
        if message:
            yield _problem(("linux", "sysctl", name), message)


_NUMBERED_DEVICES = {"c": "character", "u": "character", "b": "block"}


def _check_devices(ctx: _Context) -> Iterator[Problem]:
    for index, device in _items(_at(ctx.config, "linux", "devices")):
        if not isinstance(device, dict):
            continue
        where = ("linux", "devices", index)
        # Anywhere in the rootfs, as runc allows, but a file: not the root itself.
        path = device.get("path")
        yield from _absolute(where + ("path",), path)
        if isinstance(path, str) and path.startswith("/") and os.path.normpath(path) in ("/", "//"):
            yield _problem(where + ("path",), "must name a file, not the root")
        kind = _NUMBERED_DEVICES.get(_text(device.get("type")))
        for field in ("major", "minor"):
            if kind and field not in device:
                yield _problem(where + (field,), f"is required for a {kind} device")


_NOTIFY = "SCMP_ACT_NOTIFY"


def _check_seccomp(ctx: _Context) -> Iterator[Problem]:
    seccomp = _at(ctx.config, "linux", "seccomp")
    if not isinstance(seccomp, dict):
        return
    where = ("linux", "seccomp")
    default = seccomp.get("defaultAction")
    if default == _NOTIFY:
        yield _problem(where + ("defaultAction",), f"{_NOTIFY} cannot be the default action")
    # An errnoRet beside an action other than ERRNO/TRACE is ignored (as
    # runc and create ignore it), not refused.
    actions = [default]
    for index, rule in _items(seccomp.get("syscalls")):
        if isinstance(rule, dict):
            actions.append(rule.get("action"))
    if _NOTIFY in actions and not seccomp.get("listenerPath"):
        yield _problem(where + ("listenerPath",), f"is required when a rule uses {_NOTIFY}")


def _check_path_lists(ctx: _Context) -> Iterator[Problem]:
    for key in ("maskedPaths", "readonlyPaths"):
        for index, path in _items(_at(ctx.config, "linux", key)):
            yield from _absolute(("linux", key, index), path)


def _check_hooks(ctx: _Context) -> Iterator[Problem]:
    from .hooks import MAX_TIMEOUT
    for stage, hooks in _dict(ctx.config.get("hooks")).items():
        for index, hook in _items(hooks):
            yield from _absolute(("hooks", stage, index, "path"), _at(hook, "path"))
            timeout = _at(hook, "timeout")
            if _is_int(timeout) and timeout > MAX_TIMEOUT:
                yield _problem(("hooks", stage, index, "timeout"), f"must be at most {MAX_TIMEOUT} (seconds)")


def _check_memory(ctx: _Context) -> Iterator[Problem]:
    memory = _dict(_at(ctx.config, "linux", "resources", "memory"))
    limit, swap = memory.get("limit"), memory.get("swap")
    # swap is memory+swap, so a positive value below the memory limit is void.
    if _is_int(limit) and _is_int(swap) and 0 < swap < limit:
        yield _problem(
            ("linux", "resources", "memory", "swap"), f"must be >= memory limit {limit} (it counts memory plus swap)"
        )


_RULES: tuple[Callable[[_Context], Iterable[Problem]], ...] = (
    _check_version,
    _check_root,
    _check_process,
    _check_rlimits,
    _check_scheduler,
    _check_mounts,
    _check_namespaces,
    _check_uts,
    _check_user_namespace,
    _check_time_namespace,
    _check_sysctl,
    _check_devices,
    _check_seccomp,
    _check_path_lists,
    _check_hooks,
    _check_memory,
)
