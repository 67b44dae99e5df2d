"""What the server-rendered pages share: Jinja2 (autoescape on), their security headers, the CSRF check of their
forms, and the URLs they are reached by (the local server's, or API Gateway's under its stage's path).

The pages load nothing from elsewhere: a strict Content-Security-Policy (only the page's own style, by nonce;
no script, but the card page's one file from this app, which calls this app only), `X-Frame-Options: DENY`,
`Referrer-Policy: no-referrer`. A form's CSRF token is a random value in a `__Host-` cookie (Secure, HttpOnly,
SameSite=Strict) and in a hidden input; the POST must carry both, equal, and a browser's `Sec-Fetch-Site`, when
sent, must say it came from this site.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import msgspec
from chalice import Response

from chalicelib.api.http import MAX_BODY_BYTES, MalformedRequest

T = TypeVar("T")

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# The 3-D Secure challenge page (chalicelib/api/challenge_page.py), as the gateway's paymentv2 links to it.
CHALLENGE_PATH = "/3ds/challenge/{challengeId}"
_HOST = re.compile(r"(?:[A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")


@functools.cache
def environment() -> Any:
    # Built on first use: importing jinja2 and reading templates would cost every cold start.
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )


def security_headers(nonce: str, *redirects: str | None, script: bool = False) -> dict[str, str]:
    """`script`: the page runs this app's script files (never inline code), which call this app only, and posts
    no form (its fields go by `fetch`: not even a page whose script failed may submit them in a URL)."""
    # A form's redirect counts as form navigation: the origins it may go to must be allowed as form actions.
    origins = {f"{parts.scheme}://{parts.netloc}": None for parts in map(urlsplit, filter(None, redirects))}
    actions = "'none'" if script else " ".join(("'self'", *origins))
    scripts = " script-src 'self'; connect-src 'self';" if script else ""
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Content-Security-Policy": f"default-src 'none';{scripts} style-src 'nonce-{nonce}'; form-action {actions};"
        " frame-ancestors 'none'; base-uri 'none'",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def render(
    template: str,
    status: int,
    bank_name: str,
    redirects: tuple[str | None, ...] = (),
    script: bool = False,
    **values: Any,
) -> Response:
    """A page of `template`, with a fresh nonce for its style (`script`: see `security_headers`)."""
    nonce = secrets.token_urlsafe(16)
    body = environment().get_template(template).render(bank_name=bank_name, nonce=nonce, **values)
    return Response(body=body, status_code=status, headers=security_headers(nonce, *redirects, script=script))


def stage_prefix(request: Any) -> str:
    """`/api` when API Gateway serves the app under its stage's path, else "" (the local server)."""
    context = request.context or {}
    path, route = context.get("path") or "", context.get("resourcePath") or ""
    return path[: -len(route)] if route and path.endswith(route) else ""


def absolute_url(request: Any, path: str) -> str:
    """`path` of this app as the caller reached it: the request's scheme (API Gateway's `X-Forwarded-Proto`;
    the local server speaks http) and `Host`, and the stage's prefix."""
    headers = request.headers
    host = headers.get("host") or ""
    if not _HOST.fullmatch(host):
        host = "localhost"  # no Host (HTTP/1.0), or not a host: never echo it into a URL
    scheme = headers.get("x-forwarded-proto", "").lower()
    return f"{scheme if scheme in ('http', 'https') else 'http'}://{host}{stage_prefix(request)}{path}"


def csrf_cookie(name: str, token: str) -> str:
    return f"{name}={token}; Path=/; Secure; HttpOnly; SameSite=Strict"


def csrf_ok(request: Any, cookie_name: str, form_token: str) -> bool:
    from http.cookies import CookieError, SimpleCookie  # on first use: 2 ms of every cold start otherwise

    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    cookies = SimpleCookie()
    try:
        cookies.load(request.headers.get("cookie", ""))
    except CookieError:
        return False
    cookie = cookies.get(cookie_name)
    if not form_token or cookie is None:
        return False
    # As bytes: compare_digest refuses a str with non-ASCII characters.
    return hmac.compare_digest(
        cookie.value.encode("utf-8", "surrogatepass"), form_token.encode("utf-8", "surrogatepass")
    )


def form(raw: bytes, model: type[T]) -> T:
    """A page's form post (`application/x-www-form-urlencoded`), each field once; MalformedRequest otherwise."""
    if len(raw) > MAX_BODY_BYTES:
        raise MalformedRequest()
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=16)
        if any(len(values) != 1 for values in fields.values()):
            raise MalformedRequest()
        return msgspec.convert({name: values[0] for name, values in fields.items()}, model)
    except (UnicodeDecodeError, ValueError, msgspec.ValidationError):
        raise MalformedRequest() from None
