"""Invalid bundles: each fails with exit status 1, one `pyrunc: ...` line
on stderr naming the offending JSON path, no traceback, the error in the
JSON log, and nothing left under --root."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from harness import Bundle, Runtime, assert_error

Breakage = Callable[[Bundle], Any]

# (id, how to break the config, what the message must name)
CASES: list[tuple[str, Breakage, str]] = [
    ("args-missing", lambda b: b.remove("process.args"), "process.args"),
    ("args-empty", lambda b: b.set("process.args", []), "process.args"),
    ("args-string", lambda b: b.set("process.args", "sh"), "process.args"),
    ("args-item-number", lambda b: b.set("process.args", ["sh", 1]), "process.args[1]"),
    ("process-missing", lambda b: b.remove("process"), "process"),
    ("env-object", lambda b: b.set("process.env", {"A": "1"}), "process.env"),
    ("cwd-relative", lambda b: b.set("process.cwd", "tmp"), "process.cwd"),
    ("uid-string", lambda b: b.set("process.user.uid", "0"), "process.user.uid"),
    ("uid-negative", lambda b: b.set("process.user.uid", -1), "process.user.uid"),
    ("rlimit-type", lambda b: b.set("process.rlimits.0.type", "RLIMIT_BOGUS"),
     "process.rlimits[0].type"),
    ("root-missing", lambda b: b.remove("root"), "root"),
    ("root-path-missing", lambda b: b.set("root.path", "/no/such/rootfs"), "root.path"),
    ("mount-destination", lambda b: b.set("mounts", [{"type": "tmpfs", "source": "tmpfs"}]),
     "mounts[0].destination"),
    ("mount-options", lambda b: b.set("mounts.1.options", "nosuid"), "mounts[1].options"),
    ("namespace-unknown", lambda b: b.set("linux.namespaces.0.type", "bogus"),
     "linux.namespaces[0].type"),
    ("namespace-duplicate", lambda b: b.append("linux.namespaces", {"type": "pid"}),
     "linux.namespaces[6]"),
    ("hostname-without-uts", lambda b: b.drop_namespace("uts"), "hostname"),
    ("domainname-without-uts",
     lambda b: b.remove("hostname").set("domainname", "x").drop_namespace("uts"),
     "domainname"),
    ("device-type", lambda b: b.set("linux.devices", [{"path": "/dev/x", "type": "q"}]),
     "linux.devices[0].type"),
    ("linux-not-object", lambda b: b.set("linux", []), "linux"),
]


@pytest.mark.parametrize("breakage, path", [(b, p) for _, b, p in CASES],
                         ids=[case_id for case_id, _, _ in CASES])
def test_invalid_config_is_refused_naming_its_path(runtime: Runtime, bundle: Bundle,
                                                   breakage: Breakage, path: str) -> None:
    breakage(bundle)
    assert_error(runtime.try_create(bundle), path)
    assert runtime.listed_ids() == []


def test_run_reports_config_errors_the_same_way(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.namespaces.0.type", "bogus")
    assert_error(runtime.run(bundle), "linux.namespaces[0].type")
    assert runtime.listed_ids() == []


@pytest.mark.parametrize("text", [
    pytest.param("{", id="truncated"),
    pytest.param("", id="empty"),
    pytest.param("[]", id="array"),
    pytest.param('{"ociVersion": "1.0.2",}', id="trailing-comma"),
    pytest.param("null", id="null"),
])
def test_unparsable_config(runtime: Runtime, bundle: Bundle, text: str) -> None:
    bundle.write()
    (bundle.path / "config.json").write_text(text)
    result = runtime("create", "--bundle", str(bundle.path), runtime.new_id())
    assert_error(result)
    assert runtime.listed_ids() == []


def test_missing_config(runtime: Runtime, bundle: Bundle) -> None:
    assert_error(runtime("create", "--bundle", str(bundle.path), runtime.new_id()),
                 "config.json")
    assert runtime.listed_ids() == []


def test_error_log_is_text_without_log_format(runtime: Runtime) -> None:
    """--log without --log-format writes logrus's text lines, as runc."""
    log = runtime.scratch / "text.log"
    cid = runtime.new_id()
    assert runtime("--log", str(log), "state", cid, json_log=False).returncode == 1
    line = log.read_text().splitlines()[-1]
    assert "level=error" in line and cid in line


def test_errors_without_log_go_to_stderr_only(runtime: Runtime) -> None:
    cid = runtime.new_id()
    result = runtime("state", cid, json_log=False)
    assert (result.returncode, result.stderr) == (1, f"pyrunc: container {cid} does not exist\n")


def test_unknown_capability_is_a_warning(runtime: Runtime, bundle: Bundle) -> None:
    # As runc: unknown (maybe newer-kernel) capabilities are skipped, with a
    # warning, so one config serves several kernels.
    bundle.set("process.capabilities.bounding", ["CAP_BOGUS", "CAP_KILL"])
    result = runtime.run(bundle.payload("caps"))
    assert result.json()["bounding"] == f"{1 << 5:016x}"
    warnings = [e["msg"] for e in result.log if e["level"] == "warning"]
    assert any("CAP_BOGUS" in msg for msg in warnings), result.log
    # validate tells the same story: valid, with the same warning.
    validated = runtime("validate", "--bundle", str(bundle.write().path))
    assert validated.returncode == 0 and "valid" in validated.stdout
    assert "CAP_BOGUS" in validated.stderr + "".join(str(e) for e in validated.log)


# ---- input that used to end in an internal error ------------------------------

def _raw_config(bundle: Bundle, text: str | bytes) -> None:
    bundle.write()
    data = text.encode(errors="surrogatepass") if isinstance(text, str) else text
    (bundle.path / "config.json").write_bytes(data)


def _config_text(bundle: Bundle) -> str:
    import json
    return json.dumps(bundle.config)


@pytest.mark.parametrize("mangle, fragment", [
    pytest.param(lambda t: t[:-1] + ', "x": ' + "[" * 1000 + "]" * 1000 + "}", "nested more than 64 levels",
                 id="deep"),
    pytest.param(lambda t: t[:-1] + ', "x": ' + "1" * 5000 + "}", "out of range", id="5000-digits"),
    pytest.param(lambda t: t[:-1] + ', "x": NaN}', "NaN is not valid JSON", id="nan"),
    pytest.param(lambda t: t[:-1] + ', "hostname": "again"}', '(root): has the key "hostname" twice',
                 id="duplicate-key"),
    pytest.param(lambda t: "\ufeff" + t, "byte-order mark", id="bom"),
    pytest.param(lambda t: t[:-1] + ', "annotations": {"a": "\\ud800"}}', "annotations.a: holds a lone",
                 id="lone-surrogate"),
])
def test_malformed_json_is_a_clear_error(runtime: Runtime, bundle: Bundle, mangle: Callable[[str], str],
                                         fragment: str) -> None:
    _raw_config(bundle, mangle(_config_text(bundle)))
    assert_error(runtime("create", "--bundle", str(bundle.path), runtime.new_id()), fragment)
    assert runtime.listed_ids() == []
    result = runtime("validate", "--bundle", str(bundle.path))
    assert result.returncode == 1 and "internal error" not in result.stderr, result


@pytest.mark.parametrize("where, value, path", [
    ("linux.devices", [{"path": "/dev/x", "type": "c", "major": 2 ** 32, "minor": 1}], "linux.devices[0].major"),
    ("linux.devices", [{"path": "/dev/x", "type": "c", "major": -1, "minor": 1}], "linux.devices[0].major"),
    ("process.consoleSize", {"height": 65536, "width": 80}, "process.consoleSize.height"),
    ("process.env", ["NOEQUALS"], "process.env[0]"),
])
def test_out_of_range_values(runtime: Runtime, bundle: Bundle, where: str, value: Any, path: str) -> None:
    bundle.set(where, value)
    if where == "process.consoleSize":
        bundle.set("process.terminal", False)
    assert_error(runtime.try_create(bundle), path)
    assert runtime.listed_ids() == []
    result = runtime("validate", "--bundle", str(bundle.path))
    assert result.returncode == 1 and path in result.stdout, result


def test_error_lines_are_one_line_and_bounded(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("hostname", "h" * 100_000)
    message = assert_error(runtime.try_create(bundle), "hostname")
    assert len(message) < 3000
    # A message that quotes the value as it is: a newline and 100 KB in it.
    bundle.set("hostname", "h").set("linux.seccomp", {"defaultAction": "SCMP_\n" + "X" * 100_000})
    message = assert_error(runtime.try_create(bundle), "linux.seccomp.defaultAction")
    assert "SCMP_\\nXXX" in message and len(message) < 3000
    assert runtime.listed_ids() == []


def test_rootfs_through_a_symlink_is_refused(runtime: Runtime, bundle: Bundle) -> None:
    # runc: "invalid rootfs: not an absolute path, or a symlink".
    link = bundle.path / "rootfs-link"
    link.symlink_to(bundle.rootfs)
    bundle.set("root.path", str(link))
    assert_error(runtime.try_create(bundle), "root.path", "symlink")
    assert runtime.listed_ids() == []


def test_deep_process_and_resources_files(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(bundle.payload("sleep", "30"))
    deep = runtime.scratch / "deep.json"
    deep.write_text('{"args": ["/payload"], "x": ' + "[" * 5000 + "]" * 5000 + "}")
    assert_error(runtime("exec", "--process", str(deep), container.cid), "--process", "nested more than", status=255)
    assert_error(runtime("update", "--resources", str(deep), container.cid), "nested more than")
    with open(deep, "rb") as stdin:
        assert_error(runtime("update", "--resources", "-", container.cid, stdin=stdin), "nested more than")
    assert container.state()["status"] == "created"


def test_validate_prints_one_bounded_line_per_problem(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.sysctl", {"x" * 50_000 + "\n": "1"}).write()
    result = runtime("validate", "--bundle", str(bundle.path))
    assert result.returncode == 1, result
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and len(lines[0]) < 3000 and "linux.sysctl" in lines[0], result
