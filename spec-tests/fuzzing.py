"""Config fuzzing shared by test_fuzz.py and soak.py: mutate real configs
(the example bundles', `pyrunc spec`'s, `runc spec`'s) one area at a time,
and check one document the way create and validate see it.

`check` runs in-process: the bounded JSON parser, `validate` and create's
own parse, plan and native encoding (no container is made).  Its verdict
is "accepted", "refused", "accepted by create only" (see _known_stricter)
or "defect: ..." — an internal error, validate
and create disagreeing, or a refusal that does not name a JSON path.
"""
from __future__ import annotations

import copy
import functools
import json
import random
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

from pyrunc.runtime import jsonio, log, plan, plan_buffer, seccomp, spec
from pyrunc.runtime.default_spec import default_config
from pyrunc.runtime.errors import ConfigError, PyruncError, one_line
from pyrunc.runtime.validate import validate_config

REPO = Path(__file__).resolve().parent.parent
log.logger.min_level = 3     # errors only: the warnings of odd configs are not news here


@functools.cache
def seeds() -> tuple[dict[str, Any], ...]:
    found = [json.loads(path.read_text()) for path in sorted((REPO / "bundles").glob("*/config.json"))]
    found += [default_config(), default_config(rootless=True)]
    if shutil.which("runc"):    # runc spec writes ./config.json
        with tempfile.TemporaryDirectory() as directory:
            subprocess.run(["runc", "spec"], cwd=directory, check=True, capture_output=True)
            found.append(json.loads((Path(directory) / "config.json").read_text()))
    for config in found:
        config["root"] = {"path": "rootfs", "readonly": True}
        config["process"]["terminal"] = False
    return tuple(found)


# ---- mutations: each changes the config (or its text) in one area ---------------

def _nodes(value: Any, parts: tuple = ()) -> list[tuple[tuple, Any]]:
    found = [(parts, value)]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _nodes(item, parts + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _nodes(item, parts + (index,))
    return found


def _set(config: Any, parts: tuple, value: Any) -> None:
    node = config
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


def _pick(config: Any, rng: random.Random, kind: type | tuple | None = None) -> tuple | None:
    nodes = [parts for parts, value in _nodes(config)
             if parts and (kind is None or (isinstance(value, kind) and not isinstance(value, bool)))]
    return rng.choice(nodes) if nodes else None


ODD_VALUES: list[Any] = [None, True, 0, -1, 1.5, "", "x", [], {}, [1], {"a": 1}, 2 ** 64, -2 ** 63]
ODD_NUMBERS = [-1, -2 ** 31, 2 ** 31, 2 ** 32, 2 ** 63, 2 ** 64, -2 ** 64, 10 ** 30, 65536, 4096, 1e300, 0.5]
ODD_STRINGS = ["", "\0", "a\0b", "a\nb", "\ud800", "x" * 100_000, "../../etc/passwd", "/../..", "..",
               "/proc/self/exe", "é" * 40, " ", "\x7f", "=", "A", "a=b\nc"]
ODD_OPTIONS = ["bind", "rbind", "ro", "rw", "nosuid", "bogus", "mode=x", "size=-1", "idmap", "rro",
               "tmpcopyup", "private", "shared", "", "\0", "uid=99999999999", "X-mount.mkdir", "rslave"]


def m_type(c: Any, rng: random.Random) -> None:
    where = _pick(c, rng)
    if where:
        _set(c, where, copy.deepcopy(rng.choice(ODD_VALUES)))


def m_missing(c: Any, rng: random.Random) -> None:
    where = _pick(c, rng, dict)
    parent = c
    if where:
        for part in where:
            parent = parent[part]
    if isinstance(parent, dict) and parent:
        del parent[rng.choice(list(parent))]


def m_unknown(c: Any, rng: random.Random) -> None:
    where = _pick(c, rng, dict)
    target = c if where is None else _get(c, where)
    target[rng.choice(["x", "unknown", "Args", "", "\0"])] = copy.deepcopy(rng.choice(ODD_VALUES))


def _get(c: Any, parts: tuple) -> Any:
    for part in parts:
        c = c[part]
    return c


def m_number(c: Any, rng: random.Random) -> None:
    where = _pick(c, rng, int)
    if where:
        _set(c, where, rng.choice(ODD_NUMBERS))
    else:
        c.setdefault("process", {})["oomScoreAdj"] = rng.choice(ODD_NUMBERS)


def m_string(c: Any, rng: random.Random) -> None:
    where = _pick(c, rng, str)
    if where:
        _set(c, where, rng.choice(ODD_STRINGS))


DEEP = "@@deep@@"


def m_nesting(c: Any, rng: random.Random) -> None:
    # The nesting goes into the text (mutate): json.dumps would recurse.
    _set(c, _pick(c, rng) or ("x",), DEEP)


def _deep_text(rng: random.Random) -> str:
    depth = rng.choice([10, 63, 64, 65, 200, 3000])
    opener, closer = rng.choice([("[", "]"), ('{"a": ', "}")])
    return opener * depth + rng.choice(["1", '"x"', "{}"]) + closer * depth


def m_array(c: Any, rng: random.Random) -> None:
    where = _pick(c, rng, list)
    if where:
        items = _get(c, where)
        if items:
            _set(c, where, items * rng.choice([2, 30, 300]))


def m_namespaces(c: Any, rng: random.Random) -> None:
    spaces = c.setdefault("linux", {}).setdefault("namespaces", [])
    choice = rng.randrange(4)
    if choice == 0 and spaces:
        spaces.append(copy.deepcopy(rng.choice(spaces)))
    elif choice == 1:
        spaces.append({"type": rng.choice(["pid", "user", "time", "cgroup", "bogus", ""]),
                       **({"path": rng.choice(ODD_STRINGS + ["/proc/1/ns/net"])} if rng.random() < 0.5 else {})})
    elif choice == 2 and spaces:
        spaces.pop(rng.randrange(len(spaces)))
    else:
        c["linux"]["namespaces"] = [{"type": t} for t in rng.sample(["pid", "mount", "ipc", "uts", "network"], 3)]


def m_mounts(c: Any, rng: random.Random) -> None:
    mounts = c.setdefault("mounts", [])
    entry = {"destination": rng.choice(["/x", "/proc", "/../x", "relative", "/dev/../../x", ""]),
             "type": rng.choice(["tmpfs", "bind", "proc", "bogus", "cgroup", "sysfs"]),
             "source": rng.choice(["tmpfs", "/tmp", "..", "rootfs/../..", "/nonexistent"]),
             "options": rng.sample(ODD_OPTIONS, rng.randrange(4))}
    if mounts and rng.random() < 0.5:
        mounts[rng.randrange(len(mounts))].setdefault("options", []).extend(entry["options"])
    else:
        mounts.append(entry)


def m_rlimits(c: Any, rng: random.Random) -> None:
    c.setdefault("process", {}).setdefault("rlimits", []).append(
        {"type": rng.choice(["RLIMIT_NOFILE", "RLIMIT_CORE", "RLIMIT_BOGUS", "", "RLIMIT_NOFILE"]),
         "soft": rng.choice([0, 1, 1024, 2 ** 64 - 1, 2 ** 64, -1]),
         "hard": rng.choice([0, 1024, 2 ** 64 - 1, 2 ** 64, -1])})


def m_seccomp(c: Any, rng: random.Random) -> None:
    action = lambda: rng.choice(["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_BOGUS",  # noqa: E731
                                 "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", ""])
    c.setdefault("linux", {})["seccomp"] = {
        "defaultAction": action(),
        **({"defaultErrnoRet": rng.choice([1, -1, 2 ** 32, 0])} if rng.random() < 0.3 else {}),
        "architectures": rng.sample(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_BOGUS"], rng.randrange(3)),
        "syscalls": [{"names": rng.sample(["read", "write", "bogus_call", "", "mkdir", "clone3"], 2),
                      "action": action(),
                      "args": [{"index": rng.choice([0, 5, 6, -1, 2 ** 32]),
                                "value": rng.choice([0, 2 ** 64 - 1, 2 ** 64, -1]),
                                "op": rng.choice(["SCMP_CMP_EQ", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_BOGUS"])}]
                      * rng.randrange(3)} for _ in range(rng.randrange(1, 4))],
    }


def m_idmaps(c: Any, rng: random.Random) -> None:
    linux = c.setdefault("linux", {})
    if rng.random() < 0.5:
        linux.setdefault("namespaces", []).append({"type": "user"})
    for key in rng.sample(["uidMappings", "gidMappings"], rng.randrange(1, 3)):
        linux[key] = [{"containerID": rng.choice([0, 1, 2 ** 32, -1]), "hostID": rng.choice([0, 1000, 2 ** 32 - 1]),
                       "size": rng.choice([0, 1, 65536, 2 ** 32])} for _ in range(rng.randrange(0, 3))]


def m_paths(c: Any, rng: random.Random) -> None:
    target = rng.choice([("process", "cwd"), ("root", "path"), ("linux", "maskedPaths"),
                         ("linux", "readonlyPaths"), ("linux", "devices")])
    dotted = rng.choice(["..", "../..", "/../../etc", "rootfs/../../", "/dev/../etc/x", "a/../../b"])
    if target[1] in ("maskedPaths", "readonlyPaths"):
        c.setdefault("linux", {})[target[1]] = [dotted]
    elif target[1] == "devices":
        c.setdefault("linux", {})["devices"] = [{"path": dotted, "type": "c", "major": 1, "minor": 3}]
    else:
        c.setdefault(target[0], {})[target[1]] = dotted


MUTATIONS: dict[str, Callable[[Any, random.Random], None]] = {
    "types": m_type, "missing": m_missing, "unknown": m_unknown, "numbers": m_number, "strings": m_string,
    "nesting": m_nesting, "arrays": m_array, "namespaces": m_namespaces, "mounts": m_mounts,
    "rlimits": m_rlimits, "seccomp": m_seccomp, "idmaps": m_idmaps, "paths": m_paths,
}
# Mutations of the text itself: what no dict can hold.
TEXT_AREAS = ("json",)
# What makes sense for a state file (the rest are config areas).
STATE_AREAS = ("arrays", "json", "missing", "nesting", "numbers", "strings", "types", "unknown")


def _mangle_text(text: str, rng: random.Random) -> bytes:
    choice = rng.randrange(6)
    if choice == 0:
        return b"\xef\xbb\xbf" + text.encode()
    if choice == 1:
        return (text[:-1] + ', "hostname": "dup"}').encode()
    if choice == 2:
        return text.replace("1024", "NaN", 1).replace('"/"', "Infinity", 1).encode()
    if choice == 3:
        return text.replace('"sh"', '"\xff"', 1).encode("latin-1", errors="replace")
    if choice == 4:
        return text[:rng.randrange(len(text))].encode()
    return (text[:-1] + ', "annotations": {"a": "\\udc80"}}').encode()


def mutate(rng: random.Random, area: str | None = None) -> tuple[str, bytes]:
    """A mutated seed: (the area mutated, config.json's bytes)."""
    area = area or rng.choice(sorted(MUTATIONS) + list(TEXT_AREAS))
    return area, mutate_document(rng.choice(seeds()), rng, area)


def mutate_document(seed: dict[str, Any], rng: random.Random, area: str) -> bytes:
    """`seed` (a config, a state...) mutated in one area, as JSON bytes."""
    config = copy.deepcopy(seed)
    if area in TEXT_AREAS:
        return _mangle_text(json.dumps(config), rng)
    for _ in range(1 if area == "nesting" else rng.choice([1, 1, 2, 3])):
        MUTATIONS[area](config, rng)
    text = json.dumps(config).replace(f'"{DEEP}"', _deep_text(rng))
    return text.encode(errors="surrogatepass")


# ---- the in-process check ------------------------------------------------------

def create_outcome(config: Any, bundle: str) -> PyruncError | None:
    """What create's own parse, plan and encoding say (no container made)."""
    parsed = spec.parse(config)
    program = seccomp.prepare(parsed.linux.seccomp, None) if parsed.linux.seccomp is not None else None
    plan_buffer.flatten(plan.make_plan(parsed, bundle, plan.read_host(), seccomp=program), -1, -1)
    return None


# Where validate says more than create's own parse and plan do, knowingly:
# linux.resources is checked when the cgroup is written (a real create),
# and an unknown capability is only a warning to create (as to runc).
def _known_stricter(problems: list[Any]) -> bool:
    return all(p.path.startswith("linux.resources") or "is not a known capability" in p.message
               for p in problems)


def check(document: bytes, bundle: str) -> str:
    """The verdict on one config.json (see the module's doc)."""
    try:
        config = jsonio.loads(document)
    except jsonio.JSONError as exc:
        return "refused" if one_line(str(exc)) else "defect: empty JSON error"
    except Exception as exc:    # noqa: BLE001 - exactly what we look for
        return f"defect: loads: internal error {type(exc).__name__}: {exc}"
    try:
        problems = validate_config(config, bundle)
    except Exception as exc:    # noqa: BLE001
        return f"defect: validate: internal error {type(exc).__name__}: {one_line(str(exc), 200)}"
    try:
        create_outcome(config, bundle)
        refused: PyruncError | None = None
    except ConfigError as exc:
        refused = exc
        if not exc.path:
            return f"defect: create refuses without a JSON path: {one_line(str(exc), 200)}"
    except PyruncError as exc:
        refused = exc
    except Exception as exc:    # noqa: BLE001
        return f"defect: create: internal error {type(exc).__name__}: {one_line(str(exc), 200)}"
    if refused is None and problems and _known_stricter(problems):
        return "accepted by create only"
    if refused is None and problems:
        return f"defect: validate refuses what create accepts: {one_line(str(problems[0]), 200)}"
    if refused is not None and not problems:
        return f"defect: validate accepts what create refuses: {one_line(str(refused), 200)}"
    return "refused" if problems else "accepted"
