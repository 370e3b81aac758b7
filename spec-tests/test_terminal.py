"""config.md process.terminal and runc's console socket: the pty master
arrives in one message whose data is the pty name and whose SCM_RIGHTS
carries the fd; the process has the slave as its controlling terminal."""
from __future__ import annotations

import array
import os
import select
import socket
import termios
import threading
import fcntl
import struct
from pathlib import Path


from harness import Bundle, Runtime, assert_error, poll


class ConsoleSocket:
    """What an engine runs: a unix socket receiving the pty master."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.name = ""
        self.master = -1
        self.messages = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            fds = array.array("i")
            data, ancdata, _flags, _addr = conn.recvmsg(1024, socket.CMSG_SPACE(fds.itemsize))
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[:fds.itemsize])
            self.name, self.master = data.decode(), fds[0] if fds else -1
            self.messages = 1
            # Exactly one message: the peer closes after it.
            if conn.recv(1):
                self.messages += 1

    def read_until(self, needle: bytes, timeout: float = 10.0) -> bytes:
        seen = b""
        while needle not in seen:
            ready, _, _ = select.select([self.master], [], [], timeout)
            assert ready, f"no {needle!r} from the pty; got {seen!r}"
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        return seen

    def close(self) -> None:
        if self.messages == 0:
            # Nobody connected: we do, so that the thread's accept ends
            # before the socket's fd is closed and its number reused.
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as waker:
                try:
                    waker.connect(str(self.path))
                except OSError:
                    pass
        self.thread.join(10)
        self.server.close()
        if self.master >= 0:
            os.close(self.master)


def terminal_bundle(bundle: Bundle, *args: str) -> Bundle:
    bundle.set("process.terminal", True)
    return bundle.set("process.args", list(args))


def test_console_socket_receives_the_master(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    console = ConsoleSocket(tmp_path / "console.sock")
    try:
        terminal_bundle(bundle, "sh", "-c", "tty; stty size; echo done")
        bundle.set("process.consoleSize", {"height": 33, "width": 101})
        container = runtime.create(bundle, "--console-socket", str(console.path))
        poll(lambda: console.master >= 0, what="the pty master")
        assert console.name.startswith("/dev/pts/")
        container.start().ok()
        out = console.read_until(b"done")
        lines = out.decode().split()
        assert lines[0] == "/dev/pts/0"               # the container's own devpts
        assert lines[1:3] == ["33", "101"]
        container.wait_status("stopped")
        assert console.messages == 1
    finally:
        console.close()


def test_terminal_is_the_controlling_tty_and_stdio(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    console = ConsoleSocket(tmp_path / "console.sock")
    try:
        terminal_bundle(bundle, "/payload", "isatty")
        container = runtime.create(bundle, "--console-socket", str(console.path))
        poll(lambda: console.master >= 0, what="the pty master")
        container.start().ok()
        out = console.read_until(b"}")
        assert b'"stdin":true' in out.replace(b" ", b"") and b'"stdout":true' in out.replace(b" ", b"")
    finally:
        console.close()


def test_terminal_without_console_socket_is_refused_for_create(runtime: Runtime, bundle: Bundle) -> None:
    terminal_bundle(bundle, "sh")
    assert_error(runtime.try_create(bundle), "cannot allocate tty")
    assert runtime.listed_ids() == []


def test_console_socket_without_terminal_is_refused(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    console = ConsoleSocket(tmp_path / "console.sock")
    try:
        assert_error(runtime.try_create(bundle.payload("echo", "x"), "--console-socket", str(console.path)),
                     "cannot use console socket")
    finally:
        console.close()


def read_pty_until(master: int, needle: bytes, timeout: float = 10.0) -> bytes:
    seen = b""
    while needle not in seen:
        ready, _, _ = select.select([master], [], [], timeout)
        assert ready, f"no {needle!r} on the terminal; got {seen!r}"
        try:
            seen += os.read(master, 4096)
        except OSError:     # EIO: the other side is gone
            break
    return seen


def test_run_attaches_its_own_terminal(runtime: Runtime, bundle: Bundle) -> None:
    """`pyrunc run` of a terminal bundle without a console socket copies
    between its own terminal and the pty (the interactive shell case):
    window size, input, output and the exit status all pass through."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 20, 70, 0, 0))
    try:
        terminal_bundle(bundle, "sh", "-c", "stty size; read x; echo got-$x; exit 5")
        proc, _call = runtime.spawn("run", "--bundle", str(bundle.write().path), runtime.new_id(),
                                    stdin=slave, stdout=slave)
        assert b"20 70" in read_pty_until(master, b"20 70")
        os.write(master, b"hello\r")
        assert b"got-hello" in read_pty_until(master, b"got-hello")
        assert proc.wait(10) == 5
    finally:
        os.close(master)
        os.close(slave)


def test_exec_with_tty_and_console_socket(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    container = runtime.create(bundle.payload("sleep", "30"))
    container.start().ok()
    console = ConsoleSocket(tmp_path / "exec.sock")
    try:
        result = runtime("exec", "--tty", "--detach", "--console-socket", str(console.path),
                         container.cid, "sh", "-c", "tty; echo fine")
        result.ok()
        poll(lambda: console.master >= 0, what="the exec pty master")
        assert b"fine" in console.read_until(b"fine")
    finally:
        console.close()


