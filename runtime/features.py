"""The runtime-spec features document (`pyrunc features`), derived from
the same tables and probes the planner and the init use, so it cannot
claim what the code does not do."""
from __future__ import annotations

from . import hooks, placement, plan
from . import linux_constants as k

OCI_VERSION_MIN = "1.0.0"
OCI_VERSION_MAX = "1.2.0"


def features() -> dict[str, object]:
    from . import native, seccomp
    from .cgroups import detect_mode

    probes = native.probes()
    mode = detect_mode()
    return {
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": list(hooks.KINDS),
        "mountOptions": plan.supported_mount_options(probes["mount_setattr"]),
        "linux": {
            "namespaces": plan.supported_namespaces(),
            "capabilities": list(k.CAPABILITIES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False,
                       "rdma": mode != "v1"},
            "seccomp": seccomp.features(),
            # Labels are applied only where the kernel runs the module.
            "apparmor": {"enabled": placement.apparmor_enabled()},
            "selinux": {"enabled": placement.selinux_enabled()},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": probes["mount_setattr"]}},
        },
        "annotations": {
            # runc's key: engines read the libseccomp version from it.
            "io.github.seccomp.libseccomp.version": seccomp.library_version(),
            "org.opencontainers.runtime-spec.features.pyrunc.kernel.openat2": str(probes["openat2"]).lower(),
        },
    }
