"""Terminals: the console socket (runc's wire format) and, for `run`
without one, attaching the user's own terminal to the container's pty."""
from __future__ import annotations

import _socket
import os

from .errors import PyruncError, from_os_error


def connect_console_socket(path: str) -> _socket.socket:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise from_os_error(f"connect to console socket {path}", exc) from None
    return sock


def receive_pty_master(sock: _socket.socket) -> tuple[str, int]:
    """The one message the init sends: pty name as data, master in
    SCM_RIGHTS (close-on-exec here).  Through _spawn, not socket.recvmsg:
    unpacking fds takes `array`, which loads `collections` (0.4 MiB of
    every exec's peak and a millisecond)."""
    from . import _spawn  # type: ignore[attr-defined]
    timeout = sock.gettimeout()     # such a socket's fd is non-blocking: wait here
    if timeout is not None and not _spawn.readable(sock.fileno(), int(timeout * 1000)):
        raise PyruncError(f"console socket: no pty master received in {timeout:g} s")
    data, master = _spawn.receive(sock.fileno(), 4096)
    if master < 0:
        raise PyruncError("console socket: no pty master received")
    return data.decode(errors="replace"), master


def copy_window_size(source: int, master: int) -> None:
    """Give the container's pty the size of our terminal (if we have one)."""
    import fcntl
    import termios
    if os.isatty(source):
        fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8))


class AttachedTerminal:
    """Copy between the user's terminal and the pty master, in raw mode,
    passing window size changes on, until the container side closes."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.saved: list | None = None

    def __enter__(self) -> AttachedTerminal:
        import termios
        import tty
        if os.isatty(0):
            self.saved = termios.tcgetattr(0)
            tty.setraw(0)
            self.resize()
            import signal
            signal.signal(signal.SIGWINCH, lambda *_: self.resize())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, self.saved)

    def resize(self) -> None:
        copy_window_size(0, self.master)

    def pump(self) -> None:
        import select
        sources = [0, self.master]
        while self.master in sources:
            try:
                readable, _, _ = select.select(sources, [], [])
            except InterruptedError:
                continue
            for fd in readable:
                try:
                    data = os.read(fd, 65536)
                except OSError:     # EIO: every slave fd is closed
                    data = b""
                if not data:
                    sources.remove(fd)
                    continue
                target = self.master if fd == 0 else 1
                try:
                    os.write(target, data)
                except OSError:
                    sources.remove(fd)
