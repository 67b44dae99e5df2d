"""What the local server writes: every line of its stdout and stderr is one record, whole.

Its request threads write through several writers: the app's JSON log and EMF metrics (through the
Powertools handler, under its lock), the access log (another handler, another lock) and whatever a
library prints (`print` writes the text and then the newline, so two threads can glue two lines).
`install` puts a `LineWriter` in front of both streams, so that each complete line leaves in one write
under one lock whoever writes it.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

# The access log (`bank.access`): what BaseHTTPRequestHandler logs, one line per answered request.
ACCESS_LOG = logging.getLogger("bank.access")

# One lock for both streams: they usually end up on the same terminal or file.
_write_lock = threading.Lock()


class LineWriter:
    """A text stream that writes only complete lines, each thread's text kept apart until its newline."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pending = threading.local()

    def write(self, text: str) -> int:
        head, newline, tail = (getattr(self._pending, "text", "") + text).rpartition("\n")
        self._pending.text = tail
        if newline:
            self._write(head + newline)
        return len(text)

    def flush(self) -> None:
        """Also writes the calling thread's unfinished line: flushing asks for it to be seen now."""
        pending, self._pending.text = getattr(self._pending, "text", ""), ""
        if pending:
            self._write(pending)

    def _write(self, text: str) -> None:
        with _write_lock:
            self._stream.write(text)
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)  # encoding, fileno, isatty...


def install() -> None:
    """Line writers on stdout and stderr, and the access log on stderr.

    Call it before anything keeps a reference to `sys.stdout`, as a logging handler does when it is made.
    """
    sys.stdout, sys.stderr = LineWriter(sys.stdout), LineWriter(sys.stderr)
    ACCESS_LOG.addHandler(logging.StreamHandler(sys.stderr))
    ACCESS_LOG.setLevel(logging.INFO)
    ACCESS_LOG.propagate = False


def log_libraries_as_json(app_logger: Logger) -> None:
    """What libraries log (urllib3's full connection pool, a Python warning) as JSON lines too, through
    the handler of the app's Powertools logger."""
    logging.captureWarnings(True)
    logging.getLogger().addHandler(app_logger.registered_handler)
    logging.getLogger(app_logger.name).propagate = False  # its own records already go through that handler
