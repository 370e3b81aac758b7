# setuptools reads cffi_modules and cmdclass only from setup(); everything
# else is in pyproject.toml.
import os
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from distutils.command.build_scripts import build_scripts  # setuptools' own, once it is imported

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "native"))
import build_ffi  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim"))
import protogen  # noqa: E402

# runtime/ as the package `runtime`, for the launcher's generated tables
# (pure Python: the extension is not built yet).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runtime.features import features_header_source  # noqa: E402


class BuildExtAndInit(build_ext):
    """Also builds pyrunc-init, installed beside the extension: the runtime
    starts container processes from a sealed memfd copy of it; the shim's
    pyrunc-relay, beside it; and writes
    pyrunc/runtime/plan_layout.py (build_ffi.plan_layout_source)."""

    def run(self) -> None:
        super().run()
        objects = self.compiler.compile(build_ffi.INIT_SOURCES, output_dir=os.path.join(self.build_temp, "init"),
                                        include_dirs=[build_ffi.INCLUDE_DIR],
                                        extra_postargs=build_ffi.COMPILE_ARGS)
        # Stripped (-s): every create copies it into a memfd, 4 times less so.
        self.compiler.link_executable(objects, "pyrunc-init", output_dir=os.path.join(self.build_lib, "pyrunc"),
                                      libraries=build_ffi.LIBRARIES, extra_postargs=["-s"])
        # The shim's relay, one process per container group (shim/relay.c).
        objects = self.compiler.compile(["shim/relay.c"], output_dir=os.path.join(self.build_temp, "relay"),
                                        extra_postargs=build_ffi.COMPILE_ARGS)
        self.compiler.link_executable(objects, "pyrunc-relay", output_dir=os.path.join(self.build_lib, "pyrunc"),
                                      extra_postargs=["-s"])
        # The plan's struct layouts, for the runtime's flattening in Python.
        with open(os.path.join(self.build_lib, "pyrunc", "runtime", "plan_layout.py"), "w") as f:
            f.write(build_ffi.plan_layout_source())
        # The source commit for `pyrunc --version` (engines show it, as runc's).
        try:
            commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                    cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        except OSError:
            commit = ""
        if commit:
            with open(os.path.join(self.build_lib, "pyrunc", "runtime", "COMMIT"), "w") as f:
                f.write(commit + "\n")


class BuildPyAndProto(build_py):
    """Also generates the shim's protobuf modules (pyrunc.shim.proto) from
    containerd's .proto files: see shim/protogen.py."""

    def run(self) -> None:
        super().run()
        protogen.generate(self.build_lib)


# The commands are compiled launchers, not console scripts: pip writes
# console scripts that start the interpreter with `site`, and drops any flag
# from their shebang.  (sources, command, static, libraries): `pyrunc` is
# static and stripped, no dynamic loader before the interpreter, and answers
# `state`, `list`, `start`, `kill`, `delete` and `features` itself where it
# can (main.c dispatches; the other files are that fast path; `features`
# links the probes and libseccomp, and includes features_tables.h, which
# BuildLaunchers generates from the Python tables); the shim's launcher
# answers containerd's `start` without an interpreter at all.
LAUNCHERS = ((["native/launcher/main.c", "native/launcher/json.c", "native/launcher/status.c",
               "native/launcher/fastpath.c", "native/launcher/lifecycle.c", "native/launcher/cgroup.c",
               "native/launcher/signals.c", "native/launcher/report.c", "native/launcher/features.c",
               "native/probe.c", "native/seccomp_compile.c", "native/util.c", "native/error.c"],
              "pyrunc", True, ["seccomp"]),
             (["shim/launcher.c"], "containerd-shim-pyrunc-v2", False, []))


class BuildLaunchers(build_scripts):
    """Builds the LAUNCHERS into the scripts directory, with the header of
    the tables `features` lists (runtime/features.py
    features_header_source) generated into the build directory."""

    def run(self) -> None:
        from distutils.ccompiler import new_compiler
        from distutils.sysconfig import customize_compiler

        compiler = new_compiler()
        customize_compiler(compiler)
        python = sys.executable.replace("\\", "\\\\").replace('"', '\\"')
        build_temp = self.get_finalized_command("build").build_temp
        generated = os.path.join(build_temp, "launcher-generated")
        os.makedirs(generated, exist_ok=True)
        with open(os.path.join(generated, "features_tables.h"), "w") as f:
            f.write(features_header_source())
        for sources, command, static, libraries in LAUNCHERS:
            # A directory of their own: the extension's objects of the same
            # sources (probe.c, util.c, ...) are built with other flags.
            objects = compiler.compile(sources, output_dir=os.path.join(build_temp, "launchers", command),
                                       include_dirs=[generated],
                                       macros=[("PYRUNC_PYTHON", f'"{python}"')],
                                       extra_postargs=build_ffi.COMPILE_ARGS)
            compiler.link_executable(objects, command, output_dir=self.build_dir, libraries=libraries,
                                     extra_postargs=["-s", "-static"] if static else [])


# The CPython-API module every create and exec loads (no cffi on that path).
SPAWN_MODULE = Extension("pyrunc.runtime._spawn", ["native/pyext/spawnmodule.c"],
                         extra_compile_args=build_ffi.COMPILE_ARGS)
# The shim's prctl and mount calls (no ctypes in its servers).
LIBC_MODULE = Extension("pyrunc.shim._libc", ["native/pyext/libcmodule.c"],
                        extra_compile_args=build_ffi.COMPILE_ARGS)

setup(cffi_modules=["native/build_ffi.py:ffibuilder"],
      ext_modules=[SPAWN_MODULE, LIBC_MODULE],
      # Stand for the commands BuildLaunchers makes.
      scripts=[sources[0] for sources, *_ in LAUNCHERS],
      cmdclass={"build_ext": BuildExtAndInit, "build_py": BuildPyAndProto, "build_scripts": BuildLaunchers})
