# setuptools reads cffi_modules and cmdclass only from setup(); everything
# else is in pyproject.toml.
import os
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "native"))
import build_ffi  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim"))
import protogen  # noqa: E402


class BuildExtAndInit(build_ext):
    """Also builds pyrunc-init, installed beside the extension: the runtime
    starts container processes from a sealed memfd copy of it."""

    def run(self) -> None:
        super().run()
        objects = self.compiler.compile(build_ffi.INIT_SOURCES, output_dir=os.path.join(self.build_temp, "init"),
                                        include_dirs=[build_ffi.INCLUDE_DIR],
                                        extra_postargs=build_ffi.COMPILE_ARGS)
        self.compiler.link_executable(objects, "pyrunc-init", output_dir=os.path.join(self.build_lib, "pyrunc"),
                                      libraries=build_ffi.LIBRARIES)
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


setup(cffi_modules=["native/build_ffi.py:ffibuilder"],
      cmdclass={"build_ext": BuildExtAndInit, "build_py": BuildPyAndProto})
