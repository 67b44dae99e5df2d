"""One webhook POST to a merchant's URL, under the rules that keep a merchant from aiming it inside our network.

Only http(s). On AWS the host must resolve to public addresses only: a loopback, private, link-local
(instance metadata), shared or reserved address is refused before connecting. The connection goes to the
address that was checked (not a second lookup, which DNS rebinding could answer differently), with the
URL's host in `Host` and, for https, in SNI and the certificate check. Redirects are not followed (a 3xx
is a failed attempt): a public URL could redirect to a private one.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse

from msgspec import Struct

MAX_URL_LENGTH = 255
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10
MAX_ANSWER_BYTES = 64 * 1024  # read (and dropped) so the connection closes cleanly


class Outcome(Struct, frozen=True):
    status_code: int | None  # None: no HTTP answer
    error: str | None = None  # why there was none (safe to log: no URL, no body)


def check_url(url: str) -> None:
    """ValueError unless `url` is an absolute http(s) URL with a host, of at most MAX_URL_LENGTH characters."""
    parts = urllib.parse.urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"a webhook URL is an http(s) URL with a host, of at most {MAX_URL_LENGTH} characters")
    try:
        parts.port  # noqa: B018 raises on a port out of range
    except ValueError:
        raise ValueError("the webhook URL's port is not a port") from None


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def post(url: str, body: bytes, headers: dict[str, str], private_targets: bool) -> Outcome:
    import urllib3  # on first delivery: the API's cold start never needs it

    try:
        check_url(url)
    except ValueError as error:
        return Outcome(None, str(error))
    parts = urllib.parse.urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    try:
        addresses = [info[4][0] for info in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)]
    except (OSError, UnicodeError):
        return Outcome(None, "the host does not resolve")
    if not private_targets and not all(_public(address) for address in addresses):
        return Outcome(None, "the host resolves to a loopback, private or link-local address")
    pool_class = urllib3.HTTPSConnectionPool if https else urllib3.HTTPConnectionPool
    tls = {"server_hostname": parts.hostname, "assert_hostname": parts.hostname} if https else {}
    pool = pool_class(addresses[0], port, maxsize=1, retries=False, **tls)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    try:
        answer = pool.urlopen(
            "POST",
            path,
            body=body,
            headers={**headers, "Host": host},
            redirect=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS),
            preload_content=False,
        )
        answer.read(MAX_ANSWER_BYTES)
        answer.release_conn()
        return Outcome(answer.status)
    except urllib3.exceptions.HTTPError as error:
        return Outcome(None, type(error).__name__)
    finally:
        pool.close()
