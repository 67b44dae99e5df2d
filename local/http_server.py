"""The HTTP layer of the local server: Chalice's local gateway on our handler and server classes.

Imported once the stage's environment is in place: the app's logger reads it when it is made.
"""

from __future__ import annotations

import sys
import uuid

from chalice.local import ChaliceRequestHandler, ForbiddenError, ThreadedHTTPServer

from chalicelib.api.fallback import not_found
from chalicelib.api.telemetry import REQUEST_ID_HEADER
from chalicelib.observability import logger
from local.output import ACCESS_LOG


class LocalRequestHandler(ChaliceRequestHandler):
    """Chalice's request handler, with JSON 404s, each response in one write, and an access log of one
    line per answered request."""

    # Chalice writes the headers, then the body: two small writes, the second held back by Nagle's
    # algorithm until the client's delayed ACK, ~40 ms per answer on a kept-alive connection. Buffered
    # (up to 64 KiB: every JSON answer), they leave in one write when BaseHTTPRequestHandler flushes after
    # the request; and with Nagle off, nothing written is held back.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def handle_expect_100(self) -> bool:
        super().handle_expect_100()
        self.wfile.flush()  # the client waits for this interim response before it sends the body
        return True

    def _send_error_response(self, error) -> None:
        # API Gateway answers an unknown route 403 "Missing Authentication Token"; we answer JSON 404.
        if isinstance(error, ForbiddenError):
            response = not_found()
            headers = {**response.headers, REQUEST_ID_HEADER: uuid.uuid4().hex}
            self._send_http_response(response.status_code, headers, response.body)
            return
        super()._send_error_response(error)

    def log_message(self, format: str, *args) -> None:
        # As BaseHTTPRequestHandler writes it (client, date, request line, status; no header, no body), as
        # one record; control characters in the request line stay escaped, so it stays one line.
        message = (format % args).translate(self._control_char_table)
        ACCESS_LOG.info("%s - - [%s] %s", self.address_string(), self.log_date_time_string(), message)

    def log_error(self, format: str, *args) -> None:
        # A malformed request or a timeout: the access log already has the request's line.
        logger.warning("bad HTTP request", client=_client(self.client_address), detail=format % args)


class LocalHTTPServer(ThreadedHTTPServer):
    """A listen backlog of 128 instead of the standard library's 5, so that bursts of concurrent clients
    are not reset; errors of a connection as one JSON line, not socketserver's traceback on stderr."""

    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):  # reset, broken pipe, aborted: the client went away
            logger.info("client closed the connection", client=_client(client_address), error=type(error).__name__)
        else:
            logger.exception("unexpected error in the HTTP server", client=_client(client_address))


def _client(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"
