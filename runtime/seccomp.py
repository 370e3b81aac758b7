"""linux.seccomp: validated here (errors name the JSON path), compiled to
classic BPF by libseccomp through our C extension (native/seccomp_compile.c),
cached by content hash under the state root as crun does, and loaded by
the init (native/seccomp_load.c).  A notify filter's listener fd comes
back to `create`, which hands it to the seccomp agent at listenerPath.

The hot path (a cache hit) costs a parse, a sha256 and one file read.
"""
from __future__ import annotations

import os
import sys
import time

from . import jsonio
from .digest import sha256_hex
from .errors import ConfigError, PyruncError, from_os_error
from .log import logger
from .record import Record
from .spec import Reader
from .state import CACHE_MARK

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

# runtime-spec names -> PYRUNC_SCMP_ACT_* of native/seccomp_compile.h.
ACTIONS = {
    "SCMP_ACT_KILL": 0,             # libseccomp's old name of KILL_THREAD
    "SCMP_ACT_KILL_THREAD": 0,
    "SCMP_ACT_KILL_PROCESS": 1,
    "SCMP_ACT_TRAP": 2,
    "SCMP_ACT_ERRNO": 3,
    "SCMP_ACT_TRACE": 4,
    "SCMP_ACT_ALLOW": 5,
    "SCMP_ACT_LOG": 6,
    "SCMP_ACT_NOTIFY": 7,
}
ACT_ERRNO, ACT_TRACE, ACT_ALLOW, ACT_NOTIFY = 3, 4, 5, 7

# -> PYRUNC_SCMP_CMP_*
OPERATORS = {
    "SCMP_CMP_NE": 0,
    "SCMP_CMP_LT": 1,
    "SCMP_CMP_LE": 2,
    "SCMP_CMP_EQ": 3,
    "SCMP_CMP_GE": 4,
    "SCMP_CMP_GT": 5,
    "SCMP_CMP_MASKED_EQ": 6,
}

# -> libseccomp's own names (seccomp_arch_resolve_name); which of them this
# libseccomp knows is asked at run time.
ARCHITECTURES = {
    "SCMP_ARCH_X86": "x86",
    "SCMP_ARCH_X86_64": "x86_64",
    "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_ARM": "arm",
    "SCMP_ARCH_AARCH64": "aarch64",
    "SCMP_ARCH_MIPS": "mips",
    "SCMP_ARCH_MIPS64": "mips64",
    "SCMP_ARCH_MIPS64N32": "mips64n32",
    "SCMP_ARCH_MIPSEL": "mipsel",
    "SCMP_ARCH_MIPSEL64": "mipsel64",
    "SCMP_ARCH_MIPSEL64N32": "mipsel64n32",
    "SCMP_ARCH_PPC": "ppc",
    "SCMP_ARCH_PPC64": "ppc64",
    "SCMP_ARCH_PPC64LE": "ppc64le",
    "SCMP_ARCH_S390": "s390",
    "SCMP_ARCH_S390X": "s390x",
    "SCMP_ARCH_PARISC": "parisc",
    "SCMP_ARCH_PARISC64": "parisc64",
    "SCMP_ARCH_RISCV64": "riscv64",
    "SCMP_ARCH_LOONGARCH64": "loongarch64",
    "SCMP_ARCH_M68K": "m68k",
    "SCMP_ARCH_SH": "sh",
    "SCMP_ARCH_SHEB": "sheb",
}

# SECCOMP_FILTER_FLAG_* of <linux/seccomp.h>.
FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1 << 0,
    "SECCOMP_FILTER_FLAG_LOG": 1 << 1,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 1 << 2,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 1 << 5,
}
FLAG_TSYNC = FLAGS["SECCOMP_FILTER_FLAG_TSYNC"]
FLAG_WAIT_KILLABLE_RECV = FLAGS["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
FLAG_NEW_LISTENER = 1 << 3

EPERM = 1
MAX_ERRNO_RET = 4094            # libseccomp's bound for SCMP_ACT_ERRNO (TRACE takes 16 bits)
MAX_ARGS = 6                    # a syscall has at most six arguments
MAX_PROGRAM_BYTES = 4096 * 8    # BPF_MAXINSNS struct sock_filter
# After loading the filter the init passes the listener fd with sendmsg(2)
# and talks to `create` and `start` with write(2); a notify rule on either
# would wait for an agent that has no fd yet.  runc refuses write too.
RESERVED_FOR_NOTIFY = frozenset({"write", "sendmsg"})

# Under --root.  CACHE_MARK cannot be in a container id, so no container's
# state directory can be this one; the store drops it with the last container.
CACHE_DIR = f".seccomp{CACHE_MARK}cache"
CACHE_ENTRIES = 64
# Part of every cache key: bump when the compiler's output changes.
COMPILER_VERSION = 2


def _compile_timeout() -> float:
    """Seconds a compile may take (the largest real profiles take milliseconds)."""
    try:
        return float(os.environ.get("PYRUNC_SECCOMP_COMPILE_TIMEOUT", "10"))
    except ValueError:
        return 10.0


COMPILE_TIMEOUT = _compile_timeout()


class Arg(Record):
    __slots__ = ("index", "op", "value", "value_two")

    def __init__(self, index: int, op: int, value: int, value_two: int = 0) -> None:
        self.index, self.op, self.value, self.value_two = index, op, value, value_two


class Rule(Record):
    __slots__ = ("names", "action", "errno_ret", "args")

    def __init__(self, names: list[str], action: int, errno_ret: int = EPERM,
                 args: list[Arg] | None = None) -> None:
        self.names, self.action, self.errno_ret, self.args = names, action, errno_ret, args or []


class Filter(Record):
    """linux.seccomp, checked and resolved to numbers."""
    __slots__ = ("default_action", "default_errno_ret", "architectures", "rules", "flags",
                 "listener_path", "listener_metadata")

    def __init__(self, default_action: int, default_errno_ret: int = EPERM,
                 architectures: list[str] | None = None, rules: list[Rule] | None = None,
                 flags: list[str] | None = None, listener_path: str | None = None,
                 listener_metadata: str | None = None) -> None:
        self.default_action, self.default_errno_ret = default_action, default_errno_ret
        self.architectures = architectures or []    # OCI names
        self.rules = rules or []
        self.flags = flags or []                     # OCI names
        self.listener_path, self.listener_metadata = listener_path, listener_metadata

    @property
    def notify(self) -> bool:
        return any(rule.action == ACT_NOTIFY for rule in self.rules)

    def load_flags(self) -> int:
        """The seccomp(2) flags the init loads with."""
        flags = 0
        for name in self.flags:
            flags |= FLAGS[name]
        if self.notify:
            # The init is single-threaded, so TSYNC is moot; the kernel
            # refuses it beside NEW_LISTENER (without TSYNC_ESRCH).
            flags = (flags & ~FLAG_TSYNC) | FLAG_NEW_LISTENER
        else:
            # Only about notifications; the kernel refuses it alone.
            flags &= ~FLAG_WAIT_KILLABLE_RECV
        return flags


class Program(Record):
    """A compiled filter, as the plan carries it."""
    __slots__ = ("bpf", "flags", "listener_path", "listener_metadata")

    def __init__(self, bpf: bytes, flags: int = 0, listener_path: str | None = None,
                 listener_metadata: str | None = None) -> None:
        self.bpf, self.flags = bpf, flags
        self.listener_path, self.listener_metadata = listener_path, listener_metadata

    @property
    def notify(self) -> bool:
        return bool(self.flags & FLAG_NEW_LISTENER)


# ---- parsing ------------------------------------------------------------------

def _named(r: Reader, key: str, table: dict[str, Any], what: str) -> Any:
    name = r.get(key, str)
    if name not in table:
        raise ConfigError(f'unknown {what} "{name}"', path=r.sub(key))
    return table[name]


def _errno_ret(r: Reader, key: str, action: int) -> int:
    value = r.uint(key, EPERM, bits=16)
    if action == ACT_ERRNO and value > MAX_ERRNO_RET:
        raise ConfigError(f"must be at most {MAX_ERRNO_RET} for SCMP_ACT_ERRNO", path=r.sub(key))
    return value


def _parse_arg(r: Reader) -> Arg:
    index = r.uint("index")
    if index >= MAX_ARGS:
        raise ConfigError(f"must be between 0 and {MAX_ARGS - 1}", path=r.sub("index"))
    return Arg(index, _named(r, "op", OPERATORS, "operator"), r.uint("value", bits=64),
               r.uint("valueTwo", 0, bits=64))


def _parse_rule(r: Reader) -> Rule:
    if not r.get("names", list):
        raise ConfigError("must name at least one syscall", path=r.sub("names"))
    names = r.strings("names")
    action = _named(r, "action", ACTIONS, "action")
    for i, name in enumerate(names):
        if not name:
            raise ConfigError("must not be empty", path=f"{r.sub('names')}[{i}]")
        if action == ACT_NOTIFY and name in RESERVED_FOR_NOTIFY:
            raise ConfigError(f"SCMP_ACT_NOTIFY cannot be used for the {name} syscall",
                              path=f"{r.sub('names')}[{i}]")
    # errnoRet means something to ERRNO and TRACE only; runc ignores it elsewhere.
    return Rule(names, action, _errno_ret(r, "errnoRet", action), [_parse_arg(a) for a in r.objects("args")])


def parse(raw: Any, path: str = "linux.seccomp") -> Filter:
    r = Reader(raw, path)
    default = _named(r, "defaultAction", ACTIONS, "action")
    if default == ACT_NOTIFY:
        raise ConfigError("SCMP_ACT_NOTIFY cannot be the default action", path=r.sub("defaultAction"))
    architectures = r.strings("architectures")
    for i, name in enumerate(architectures):
        if name not in ARCHITECTURES:
            raise ConfigError(f'unknown architecture "{name}"', path=f"{r.sub('architectures')}[{i}]")
    flags = r.strings("flags")
    for i, name in enumerate(flags):
        if name not in FLAGS:
            raise ConfigError(f'unknown flag "{name}"', path=f"{r.sub('flags')}[{i}]")
    result = Filter(default, _errno_ret(r, "defaultErrnoRet", default), architectures,
                    [_parse_rule(rule) for rule in r.objects("syscalls")], flags,
                    r.get("listenerPath", str, None), r.get("listenerMetadata", str, None))
    if result.notify and not result.listener_path:
        raise ConfigError("is required when a rule uses SCMP_ACT_NOTIFY", path=r.sub("listenerPath"))
    return result


# ---- compiling ----------------------------------------------------------------

def _native() -> Any:
    from pyrunc._native import ffi, lib  # type: ignore[import-not-found]
    return ffi, lib


def _check_host(f: Filter, path: str) -> None:
    """What this libseccomp and kernel take, with paths for what they do not."""
    _ffi, lib = _native()
    for i, name in enumerate(f.architectures):
        if not lib.pyrunc_seccomp_arch_supported(ARCHITECTURES[name].encode()):
            raise ConfigError(f"architecture {name} is not supported by this libseccomp",
                              path=f"{path}.architectures[{i}]")
    for i, name in enumerate(f.flags):
        if not flag_supported(name):
            raise ConfigError(f"flag {name} is not supported by this kernel", path=f"{path}.flags[{i}]")


def compile_filter(f: Filter, path: str = "linux.seccomp", bounded: bool = True) -> bytes:
    """The BPF program (struct sock_filter[]) of f, uncached; in a child
    process with a time limit when bounded (see _compile_in_child)."""
    from .native import Encoded
    ffi, lib = _native()
    _check_host(f, path)
    enc = Encoded(ffi.new("struct pyrunc_seccomp_spec *"))
    c = enc.struct
    c.default_action, c.default_errno_ret = f.default_action, f.default_errno_ret
    c.n_architectures = len(f.architectures)
    c.architectures = enc.cstr_array([ARCHITECTURES[name] for name in f.architectures])
    c.n_rules = len(f.rules)
    c.rules = enc.structs("struct pyrunc_seccomp_rule", f.rules, lambda s, rule: _fill_rule(s, rule, enc))
    buffer = ffi.new("unsigned char[]", MAX_PROGRAM_BYTES)
    out = ffi.new("struct pyrunc_seccomp_program *", {"bpf": buffer, "capacity": MAX_PROGRAM_BYTES})
    err = ffi.new("struct pyrunc_error *")

    def attempt() -> bytes | tuple[int, int, int, str]:
        """The program, or where and why libseccomp refused it."""
        if lib.pyrunc_seccomp_compile(c, out, err) >= 0:
            return bytes(ffi.buffer(buffer, out.len))
        return out.failed_rule, out.failed_architecture, err.code, ffi.string(err.msg).decode(errors="replace")
    result = _in_child(attempt, path) if bounded else attempt()
    if isinstance(result, bytes):
        return result
    failed_rule, failed_architecture, code, message = result
    where = path
    if failed_rule >= 0:
        where = f"{path}.syscalls[{failed_rule}]"
    elif failed_architecture >= 0:
        where = f"{path}.architectures[{failed_architecture}]"
    raise ConfigError(message, errno=code, path=where)   # the C side names the reason


def _in_child(attempt: Callable[[], bytes | tuple[int, int, int, str]],
              path: str) -> bytes | tuple[int, int, int, str]:
    """attempt() in a child killed after COMPILE_TIMEOUT: libseccomp 2.5
    never finishes adding some rule sets (two conditioned rules on one
    syscall, each comparing one argument with GT or GE and another
    differently), and a config must not hang `create` (runc's does)."""
    import signal
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            result = attempt()
            answer = b"P" + result if isinstance(result, bytes) else b"E" + jsonio.dumps(result).encode()
            with open(write_end, "wb") as pipe:
                pipe.write(answer)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    answer = None
    try:
        answer = _read_until(read_end, time.monotonic() + COMPILE_TIMEOUT)
    finally:
        os.close(read_end)
        if answer is None:
            os.kill(pid, signal.SIGKILL)    # it is inside libseccomp
        os.waitpid(pid, 0)
    if answer is None:
        raise ConfigError(f"libseccomp did not finish compiling the filter in {COMPILE_TIMEOUT:g} s "
                          "(a libseccomp bug some rule sets meet)", path=path)
    if answer[:1] == b"P":
        return answer[1:]
    if answer[:1] == b"E":
        failed_rule, failed_architecture, code, message = jsonio.loads(answer[1:])
        return failed_rule, failed_architecture, code, message
    raise PyruncError(f"{path}: the process compiling the filter failed")


def _read_until(fd: int, deadline: float) -> bytes | None:
    """All a pipe gives until EOF; None if the deadline comes first."""
    import select
    chunks = []
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _fill_rule(c: Any, rule: Rule, enc: Any) -> None:
    c.n_names, c.names = len(rule.names), enc.cstr_array(rule.names)
    c.action, c.errno_ret = rule.action, rule.errno_ret
    c.n_args = len(rule.args)
    c.args = enc.structs("struct pyrunc_seccomp_arg", rule.args, _fill_arg)


def _fill_arg(c: Any, arg: Arg) -> None:
    c.index, c.op, c.value, c.value_two = arg.index, arg.op, arg.value, arg.value_two


# ---- the cache ------------------------------------------------------------------

def cache_key(f: Filter) -> str:
    """sha256 over everything the BPF depends on: the compile input, the
    machine, libseccomp's version and ours."""
    _ffi, lib = _native()
    rules = [[r.names, r.action, r.errno_ret, [[a.index, a.op, a.value, a.value_two] for a in r.args]]
             for r in f.rules]
    canonical = jsonio.dumps([COMPILER_VERSION, os.uname().machine, lib.pyrunc_seccomp_library_version(),
                              f.default_action, f.default_errno_ret, f.architectures, rules])
    return sha256_hex(canonical.encode())


def _read_cached(path: str) -> bytes | None:
    try:
        with open(path, "rb") as cached:
            bpf = cached.read(MAX_PROGRAM_BYTES + 1)
    except OSError:
        return None
    # Only whole programs are ever renamed into place; anything else is
    # not ours, so compile again rather than trust it.
    return bpf if bpf and len(bpf) <= MAX_PROGRAM_BYTES and len(bpf) % 8 == 0 else None


def _write_cached(directory: str, key: str, bpf: bytes) -> None:
    """Atomically (temp file + rename); a failure only costs the next compile."""
    tmp = os.path.join(directory, f".{key}.{os.getpid()}.tmp")
    try:
        os.makedirs(directory, 0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, bpf)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(directory, f"{key}.bpf"))
        _prune(directory)
    except OSError as exc:
        logger.warning(f"seccomp cache {directory}: {exc.strerror or exc}")
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _prune(directory: str) -> None:
    """Keep the newest CACHE_ENTRIES programs."""
    entries = []
    with os.scandir(directory) as it:
        for entry in it:
            if entry.name.endswith(".bpf"):
                try:
                    entries.append((entry.stat().st_mtime_ns, entry.path))
                except FileNotFoundError:
                    pass
    for _mtime, stale in sorted(entries)[:-CACHE_ENTRIES]:
        try:
            os.unlink(stale)
        except FileNotFoundError:
            pass


def cache_dir(state_root: str) -> str:
    return os.path.join(state_root, CACHE_DIR)


def prepare(raw: Any, state_root: str | None, path: str = "linux.seccomp") -> Program:
    """linux.seccomp -> a Program for the plan, from the cache when it can."""
    f = parse(raw, path)
    if state_root is None:
        bpf = compile_filter(f, path)
    else:
        directory, key = cache_dir(state_root), cache_key(f)
        cached = _read_cached(os.path.join(directory, f"{key}.bpf"))
        if cached is None:
            bpf = compile_filter(f, path)
            _write_cached(directory, key, bpf)
        else:
            bpf = cached
            if f.flags:
                _check_host(f, path)    # a flag the kernel lost since: say so now, not at start
    return Program(bpf, f.load_flags(), f.listener_path, f.listener_metadata)


# ---- the seccomp agent ------------------------------------------------------------

SECCOMP_FD_NAME = "seccompFd"


def send_to_agent(program: Program, listener_fd: int, pid: int, state: dict[str, Any]) -> None:
    """runc's message to listenerPath: the runtime-spec "container process
    state" as data, the listener fd in SCM_RIGHTS."""
    import _socket

    message: dict[str, Any] = {"ociVersion": state["ociVersion"], "fds": [SECCOMP_FD_NAME], "pid": pid}
    if program.listener_metadata:
        message["metadata"] = program.listener_metadata
    message["state"] = state
    path = program.listener_path or ""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.connect(path)
        except OSError as exc:
            raise from_os_error(f"failed to connect with seccomp agent at {path}", exc) from None
        sock.sendmsg([jsonio.dumps(message).encode()],
                     [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, listener_fd.to_bytes(4, sys.byteorder))])
    except OSError as exc:
        raise from_os_error(f"send the seccomp listener fd to the agent at {path}", exc) from None
    finally:
        sock.close()


# ---- features ---------------------------------------------------------------------

# The probes below are also the launcher's (native/launcher/features.c
# answers `features` in C): runtime/features.py features_header_source
# writes flag_probe_bits and action_probe into its header at build time.

def flag_probe_bits(name: str) -> int:
    """The seccomp(2) flags whose acceptance says the kernel supports flag `name`."""
    bits = FLAGS[name]
    if bits == FLAG_WAIT_KILLABLE_RECV:
        bits |= FLAG_NEW_LISTENER   # the kernel takes it only with a listener
    return bits


def flag_supported(name: str) -> bool:
    _ffi, lib = _native()
    return bool(lib.pyrunc_seccomp_flags_supported(flag_probe_bits(name)))


def action_probe(action: int) -> Filter:
    """The one-rule filter that compiles where libseccomp and the kernel take `action`."""
    default = ACT_ERRNO if action == ACT_ALLOW else ACT_ALLOW
    return Filter(default, rules=[Rule(["getpid"], action)])


def _action_supported(action: int) -> bool:
    try:
        compile_filter(action_probe(action), bounded=False)     # one rule: nothing to hang on
    except PyruncError:
        return False
    return True


def features() -> dict[str, Any]:
    """The runtime-spec features' linux.seccomp, from what this libseccomp
    and kernel actually compile and accept."""
    _ffi, lib = _native()
    return {
        "enabled": True,
        "actions": sorted(name for name, action in ACTIONS.items() if _action_supported(action)),
        "operators": sorted(OPERATORS),
        "archs": sorted(name for name, lib_name in ARCHITECTURES.items()
                        if lib.pyrunc_seccomp_arch_supported(lib_name.encode())),
        "knownFlags": list(FLAGS),
        "supportedFlags": [name for name in FLAGS if flag_supported(name)],
    }


def library_version() -> str:
    _ffi, lib = _native()
    version = lib.pyrunc_seccomp_library_version()
    return f"{version // 1000000}.{version // 1000 % 1000}.{version % 1000}"
