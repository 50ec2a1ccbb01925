"""Is a TCP port free, and if not, who holds it: what the launcher and the embedded servers ask
before they start anything, so that they never adopt, health-check or write into a stranger's
server (issue #17).

The holder is found from /proc (Linux): the listening socket's inode in /proc/net/tcp{,6}, then
the process with that socket among its descriptors. A process of another user is not readable:
it is then "another process".
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from pathlib import Path


class PortTaken(RuntimeError):
    """A port this suite must listen on is held by a process that is not one of ours."""

    def __init__(self, port: int, what: str, holder: str, hint: str = "") -> None:
        self.port, self.what, self.holder = port, what, holder
        super().__init__(f"port {port} ({what}) is already in use by {holder}: stop it, or choose another port"
                         f"{' with ' + hint if hint else ''}. Nothing was started.")


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(cols[9])
    return inodes


def listener_pid(port: int) -> int | None:
    """The pid of the process listening on `port`, None when it cannot be read."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{i}]" for i in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in wanted:
                        return int(proc.name)
    return None


def command_of(pid: int) -> str:
    with contextlib.suppress(OSError):
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return " ".join(p.decode(errors="replace") for p in raw.split(b"\0") if p)[:200]
    return ""


def holder(port: int) -> str:
    """"pid 1234 (python3 -m http.server 8080)", or "another process" when /proc does not say."""
    pid = listener_pid(port)
    if pid is None:
        return "another process"
    cmd = command_of(pid)
    return f"pid {pid} ({cmd})" if cmd else f"pid {pid}"


def is_free(host: str, port: int) -> bool:
    """True when a listening socket could be bound on host:port now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers of our own are fine
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def check_free(host: str, port: int, what: str, hint: str = "") -> None:
    """Raise PortTaken naming the holder when host:port is taken."""
    if not is_free(host, port):
        raise PortTaken(port, what, holder(port), hint)
