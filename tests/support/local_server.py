"""The local server for tests: `python -m local.server` as `make run` starts it (a subprocess writing its output
to files), or the app on it in the test's own process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.dynamodb_local import free_port, is_serving
from local.server import build_server

PROJECT_DIR = Path(__file__).resolve().parents[2]


@dataclass
class LocalServer:
    process: subprocess.Popen
    port: int
    output_dir: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until_serving(self, timeout: float = 60) -> LocalServer:
        deadline = time.monotonic() + timeout
        while not is_serving(self.base):
            assert self.process.poll() is None, self.stderr()[-3000:]
            assert time.monotonic() < deadline, "the local server did not start"
            time.sleep(0.1)
        return self

    def stop(self, signum: int = signal.SIGINT, timeout: float = 30) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:  # a test that failed before stopping it
            self.process.kill()
            self.process.wait(timeout=30)

    def stdout(self) -> str:
        return (self.output_dir / "stdout").read_text()

    def stderr(self) -> str:
        return (self.output_dir / "stderr").read_text()


def launch(output_dir: Path, port: int | None = None, wrapper: tuple[str, ...] = (), **env: str) -> LocalServer:
    """Start the server (under `wrapper`, e.g. nohup); output to files, which nothing has to drain (a full
    pipe would block the server)."""
    port = port or free_port()
    output_dir.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "PORT": str(port), "BANK_TABLE_PREFIX": f"e2e{port}-", **env}
    with open(output_dir / "stdout", "wb") as stdout, open(output_dir / "stderr", "wb") as stderr:
        process = subprocess.Popen(
            [*wrapper, sys.executable, "-m", "local.server"],
            cwd=PROJECT_DIR,
            env=environment,
            stdout=stdout,
            stderr=stderr,
        )
    return LocalServer(process, port, output_dir)


@contextlib.contextmanager
def in_process(app: Any) -> Iterator[str]:
    """The app on the local server in this process, on a thread; yields its base URL."""
    local = build_server(free_port(), app)
    thread = threading.Thread(target=local.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{local.port}"
    finally:
        local.shutdown()
        local.server.server_close()
        thread.join(timeout=10)
