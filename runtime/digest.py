"""SHA-256 without OpenSSL.

hashlib loads libcrypto, whose start-up costs about 3 ms and touches some
3 MiB of its pages: on every create (the seccomp cache key) and in every
long-lived shim process that names a socket or a group.  CPython's own
module hashes the few bytes these need as well."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _constructor() -> Any:
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]  # Python <= 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found,no-redef]  # Python >= 3.12
        except ImportError:
            from hashlib import sha256  # type: ignore[no-redef]
    return sha256


def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 of data."""
    return _constructor()(data).hexdigest()
