"""Generate the shim's protobuf modules from containerd's .proto files.

Run at build time (setup.py's build_py): the .proto files come from
Debian's golang-github-containerd-containerd-dev (and the gogo googleapis
package it depends on), under /usr/share/gocode/src.  They import each
other by Go import path and carry gogoproto options that only the Go
generator understands; we copy each into a flat `pyrunc/shim/proto/...`
tree, rewrite the imports, drop the gogoproto and fieldpath options (they
change Go code only, never the wire format) and run grpcio-tools' protoc.

    python shim/protogen.py OUTPUT_DIR   # writes OUTPUT_DIR/pyrunc/shim/proto/
"""
from __future__ import annotations

import os
import re
import sys
import tempfile

GOCODE = os.environ.get("PYRUNC_GOCODE", "/usr/share/gocode/src")
CONTAINERD = "github.com/containerd/containerd"
PACKAGE = "pyrunc/shim/proto"
HERE = os.path.dirname(os.path.abspath(__file__))

# Go import path (relative to GOCODE) -> where it goes in our package.
SOURCES = {
    f"{CONTAINERD}/api/types/mount.proto": "types/mount.proto",
    f"{CONTAINERD}/api/types/task/task.proto": "types/task.proto",
    f"{CONTAINERD}/runtime/v2/task/shim.proto": "task/shim.proto",
    f"{CONTAINERD}/api/events/task.proto": "events/task.proto",
    f"{CONTAINERD}/api/services/ttrpc/events/v1/events.proto": "events/ttrpc_events.proto",
    f"{CONTAINERD}/runtime/v2/runc/options/oci.proto": "options/oci.proto",
    f"{CONTAINERD}/pkg/runtimeoptions/v1/api.proto": "options/runtimeoptions.proto",
    "github.com/gogo/googleapis/google/rpc/status.proto": "rpc/status.proto",
    # Stats answers with cgroup v1 or v2 metrics (what ctr and the CRI plugin read).
    "github.com/containerd/cgroups/stats/v1/metrics.proto": "cgroups/metrics.proto",
    "github.com/containerd/cgroups/v2/stats/metrics.proto": "cgroups/metrics_v2.proto",
}
# Ours: the ttrpc envelope (containerd/ttrpc ships no .proto for it).
OWN = {os.path.join(HERE, "ttrpc.proto"): "ttrpc.proto"}

# Go-only imports: gogoproto's options and containerd's fieldpath plugin.
_GO_IMPORT = re.compile(r'^\s*import\s+(?:weak\s+)?"(?:(?:[^"]*/)?gogoproto/gogo|[^"]*/protobuf/plugin/fieldpath)\.proto";\s*$', re.M)
_GO_OPTION = re.compile(r'^\s*option\s+\((?:gogoproto|containerd\.plugin)\.[^;]*;\s*$', re.M)
_GO_FIELD_OPTIONS = re.compile(r'\s*\[\s*\((?:gogoproto|containerd\.plugin)\.[^\]]*\]')
_IMPORT = re.compile(r'^(\s*import\s+")([^"]+)(";)', re.M)


def rewrite(text: str) -> str:
    """One .proto, made protoc-ready for Python: our import paths, no Go options."""
    text = _GO_IMPORT.sub("", text)
    text = _GO_OPTION.sub("", text)
    text = _GO_FIELD_OPTIONS.sub("", text)

    def imported(match: re.Match[str]) -> str:
        target = SOURCES.get(match.group(2))
        path = f"{PACKAGE}/{target}" if target else match.group(2)
        return match.group(1) + path + match.group(3)
    text = _IMPORT.sub(imported, text)
    leftover = re.search(r"gogoproto|containerd\.plugin", text)
    if leftover:
        raise SystemExit(f"protogen: an option the generator does not handle: {text[leftover.start():][:80]!r}")
    return text


def stage(directory: str) -> list[str]:
    """Write the rewritten .proto files under directory; their relative paths."""
    inputs = {os.path.join(GOCODE, source): target for source, target in SOURCES.items()}
    inputs.update(OWN)
    staged = []
    for source, target in inputs.items():
        try:
            with open(source) as f:
                text = f.read()
        except FileNotFoundError:
            raise SystemExit(f"protogen: {source} is missing: install golang-github-containerd-containerd-dev") from None
        relative = f"{PACKAGE}/{target}"
        os.makedirs(os.path.dirname(os.path.join(directory, relative)), exist_ok=True)
        with open(os.path.join(directory, relative), "w") as f:
            f.write(rewrite(text))
        staged.append(relative)
    return staged


def generate(output: str) -> None:
    import grpc_tools
    from grpc_tools import protoc
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    with tempfile.TemporaryDirectory() as staging:
        files = stage(staging)
        status = protoc.main(["protoc", f"-I{staging}", f"-I{well_known}", f"--python_out={output}", *files])
        if status != 0:
            raise SystemExit(f"protogen: protoc failed with status {status}")
    # Regular packages, so that setuptools and importers see them the same.
    for relative in {os.path.dirname(f"{PACKAGE}/{target}") for target in [*SOURCES.values(), *OWN.values()]}:
        init = os.path.join(output, relative, "__init__.py")
        if not os.path.exists(init):
            open(init, "w").close()


if __name__ == "__main__":
    generate(sys.argv[1])
