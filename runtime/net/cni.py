"""The CNI path: run the plugins of a CNI network configuration list
(Debian's containernetworking-plugins, or any others) as the CNI spec
says: each plugin an executable named by its `type`, found in CNI_PATH,
given its configuration on stdin and the CNI_* variables, answering with
a result (or an error) as JSON on stdout.  ADD runs the list in order,
each plugin getting the previous result as `prevResult`; DEL runs it in
reverse; CHECK in order, with the result of the ADD."""
from __future__ import annotations

import json
import os
import subprocess

from ..errors import PyruncError

DEFAULT_PATH = "/usr/lib/cni:/opt/cni/bin"
IFNAME = "eth0"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def load(path: str) -> dict[str, Any]:
    """A network configuration list, checked for what we rely on."""
    try:
        with open(path, encoding="utf-8") as f:
            conf = json.load(f)
    except OSError as exc:
        raise PyruncError(f"CNI configuration {path}: {exc.strerror}", errno=exc.errno) from None
    except ValueError as exc:
        raise PyruncError(f"CNI configuration {path}: not JSON: {exc}") from None
    if not isinstance(conf, dict):
        raise PyruncError(f"CNI configuration {path}: must be a JSON object")
    for key in ("cniVersion", "name"):
        if not isinstance(conf.get(key), str) or not conf[key]:
            raise PyruncError(f"CNI configuration {path}: {key} must be a non-empty string")
    plugins = conf.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        raise PyruncError(f"CNI configuration {path}: plugins must be a non-empty array")
    for i, plugin in enumerate(plugins):
        if not isinstance(plugin, dict) or not isinstance(plugin.get("type"), str) or \
                not plugin["type"] or "/" in plugin["type"]:
            raise PyruncError(f"CNI configuration {path}: plugins[{i}].type must be a plugin name")
    return conf


def _find(plugin_type: str, cni_path: str) -> str:
    for directory in cni_path.split(":"):
        candidate = os.path.join(directory, plugin_type)
        if directory and os.access(candidate, os.X_OK):
            return candidate
    raise PyruncError(f"CNI plugin {plugin_type} not found in {cni_path}")


def _plugin_conf(conf: dict[str, Any], plugin: dict[str, Any], prev: Any) -> bytes:
    """A plugin's own configuration: its entry of the list plus the list's
    name and version, and the previous result once there is one."""
    single = dict(plugin, name=conf["name"], cniVersion=conf["cniVersion"])
    if prev is not None:
        single["prevResult"] = prev
    return json.dumps(single).encode()


def _exec(command: str, conf: dict[str, Any], plugin: dict[str, Any], prev: Any, container_id: str,
          netns: str, cni_path: str) -> Any:
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns,
           "CNI_IFNAME": IFNAME, "CNI_PATH": cni_path, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    binary = _find(plugin["type"], cni_path)
    try:
        proc = subprocess.run([binary], input=_plugin_conf(conf, plugin, prev), env=env,
                              capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PyruncError(f"CNI plugin {plugin['type']} {command}: {exc}") from None
    out = proc.stdout.decode(errors="replace").strip()
    if proc.returncode != 0:
        raise PyruncError(f"CNI plugin {plugin['type']} {command}: {_error_text(out, proc)}")
    if command != "ADD":
        return prev
    try:
        return json.loads(out)
    except ValueError:
        raise PyruncError(f"CNI plugin {plugin['type']} ADD: the result is not JSON: {out[:200]!r}") from None


def _error_text(out: str, proc: subprocess.CompletedProcess) -> str:
    """The spec's error object ({code, msg, details}), else stderr."""
    try:
        error = json.loads(out)
        text = f"{error.get('msg', '')} (code {error.get('code')})"
        return text + (f": {error['details']}" if error.get("details") else "")
    except (ValueError, AttributeError):
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit status {proc.returncode}"


def add(conf: dict[str, Any], container_id: str, netns: str, cni_path: str) -> Any:
    result = None
    for plugin in conf["plugins"]:
        result = _exec("ADD", conf, plugin, result, container_id, netns, cni_path)
    return result


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return (0,)


def check(conf: dict[str, Any], container_id: str, netns: str, cni_path: str, result: Any) -> None:
    """CHECK, which the spec defines from version 0.4.0 on; nothing when
    the list says disableCheck."""
    if conf.get("disableCheck") is True:
        return
    if _version(conf["cniVersion"]) < (0, 4, 0):
        raise PyruncError(f"CNI CHECK needs cniVersion 0.4.0 or later, not {conf['cniVersion']}")
    for plugin in conf["plugins"]:
        _exec("CHECK", conf, plugin, result, container_id, netns, cni_path)


def delete(conf: dict[str, Any], container_id: str, netns: str, cni_path: str, result: Any) -> None:
    """DEL every plugin, last first; the namespace may be gone already
    (CNI_NETNS empty), which plugins must accept.  Every plugin is asked
    even when one fails; the first failure is raised at the end."""
    failure: PyruncError | None = None
    for plugin in reversed(conf["plugins"]):
        try:
            _exec("DEL", conf, plugin, result, container_id, netns, cni_path)
        except PyruncError as exc:
            failure = failure or exc
    if failure is not None:
        raise failure


def address(result: Any) -> tuple[str, int]:
    """The container's IPv4 address and prefix length from an ADD result."""
    for ip in (result or {}).get("ips", []):
        text = ip.get("address", "")
        if "." in text and "/" in text:
            addr, prefix = text.split("/")
            return addr, int(prefix)
    raise PyruncError("the CNI result has no IPv4 address")


def bridge_name(conf: dict[str, Any]) -> str | None:
    """The bridge of a `bridge` plugin in the list (its default: cni0)."""
    for plugin in conf["plugins"]:
        if plugin.get("type") == "bridge":
            return plugin.get("bridge") or "cni0"
    return None
