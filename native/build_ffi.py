"""cffi API-mode builder for pyrunc._native.

The plan structs are declared once, in plan.h, and fed both to the C
compiler and to cffi, so the two sides cannot disagree on a layout.
"""
from pathlib import Path

from cffi import FFI

NATIVE_DIR = Path(__file__).resolve().parent
SOURCES = sorted(str(p.relative_to(NATIVE_DIR.parent)) for p in NATIVE_DIR.glob("*.c"))

# What Python calls, besides the functions of the headers fed whole
# (HEADERS); everything else stays private to the C side.
ENTRY_POINTS = """
int pyrunc_probe_openat2(void);
int pyrunc_probe_mount_setattr(void);
"""

# The same sources, with a main(), make pyrunc-init: the program the
# container's processes start as (native/initbin/main.c; setup.py builds it).
INIT_SOURCES = SOURCES + ["native/initbin/main.c"]
INCLUDE_DIR = str(NATIVE_DIR.relative_to(NATIVE_DIR.parent))
LIBRARIES = ["seccomp"]
COMPILE_ARGS = ["-std=gnu11", "-Wall", "-Wextra", "-O2"]

ffibuilder = FFI()

# Headers declared to cffi as they are: the plan, the seccomp compiler,
# the idmapped-mount helpers and the cgroup v2 device filter.
HEADERS = ("plan.h", "plan_codec.h", "seccomp_compile.h", "idmap.h", "bpf_devices.h")


def declarations(header: str) -> str:
    """A header without its include guard and includes, which cffi's parser rejects."""
    text = (NATIVE_DIR / header).read_text()
    return "\n".join(line for line in text.splitlines() if not line.startswith("#"))


ffibuilder.cdef("".join(declarations(h) for h in HEADERS) + ENTRY_POINTS)
ffibuilder.set_source(
    "pyrunc._native",
    '#include "plan.h"\n#include "plan_codec.h"\n#include "probe.h"\n#include "seccomp_compile.h"\n'
    '#include "idmap.h"\n#include "bpf_devices.h"\n',
    sources=SOURCES,
    libraries=LIBRARIES,
    include_dirs=[INCLUDE_DIR],
    extra_compile_args=COMPILE_ARGS,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
