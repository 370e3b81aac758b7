# setuptools reads cffi_modules and cmdclass only from setup(); everything
# else is in pyproject.toml.
import os
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from distutils.command.build_scripts import build_scripts  # setuptools' own, once it is imported

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


class BuildShimLauncher(build_scripts):
    """containerd-shim-pyrunc-v2 is a small C program (shim/launcher.c):
    containerd runs its `start` for every container, and that needs no
    interpreter; it execs python3 -m pyrunc.shim.main for the rest."""

    def run(self) -> None:
        from distutils.ccompiler import new_compiler
        from distutils.sysconfig import customize_compiler
        compiler = new_compiler()
        customize_compiler(compiler)
        here = os.path.dirname(os.path.abspath(__file__))
        objects = compiler.compile([os.path.join(here, "shim", "launcher.c")],
                                   output_dir=os.path.join(self.build_dir, ".objects"), extra_postargs=["-O2"])
        compiler.link_executable(objects, "containerd-shim-pyrunc-v2", output_dir=self.build_dir)
        self.rmtree_objects(os.path.join(self.build_dir, ".objects"))

    @staticmethod
    def rmtree_objects(path: str) -> None:
        import shutil
        shutil.rmtree(path, ignore_errors=True)


setup(cffi_modules=["native/build_ffi.py:ffibuilder"],
      scripts=["shim/launcher.c"],  # stands for the binary BuildShimLauncher makes
      cmdclass={"build_ext": BuildExtAndInit, "build_py": BuildPyAndProto, "build_scripts": BuildShimLauncher})
