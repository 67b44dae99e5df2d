"""The bank common API's login page: `GET /auth/login` shows it, its form posts to `/auth/login/form`.

Server-rendered with Jinja2 (autoescape on), no script and no external resource; it works without
JavaScript. Signing in there grants what the page shows (no second consent step) and answers 303 to the
client's registered `redirect_uri` with `auth_token` (and the app's `state`). A `redirect_uri` that is not
exactly one the client registered is 401, and never redirected to (RFC 6749 section 4.1.2.1).

CSRF: the page sets a random token in a `__Host-` cookie (Secure, HttpOnly, SameSite=Strict) and in a
hidden input; the form's POST must carry both, equal (compared in constant time), and a browser's
`Sec-Fetch-Site`, when sent, must say the POST came from this site. The pages carry a strict
Content-Security-Policy (RFC 9700 section 4.16), `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from chalice import Blueprint, Response
from msgspec import Meta, Struct

from chalicelib.api import pages
from chalicelib.api.bank import METHOD_NOT_ALLOWED, SERVER_ERROR
from chalicelib.api.contract import ApiError, Operation
from chalicelib.api.http import MalformedRequest
from chalicelib.api.models.bank import ApiKey, Grants, OAuthError
from chalicelib.auth.clients import MAX_REDIRECT_URI_LENGTH
from chalicelib.auth.errors import InvalidClient, InvalidRedirect, InvalidScope, SignInFailed, SignInLocked
from chalicelib.auth.logins import LoginRequest
from chalicelib.observability import count, logger
from chalicelib.services import Services

CSRF_COOKIE = "__Host-bank-login-csrf"
FORM_PATH = "/auth/login/form"
GRANT_LABELS = {"read": "口座情報・取引明細の参照", "write": "お取引の実行"}
MESSAGES = {
    "bad_request": "ログインページへの要求が正しくありません。",
    "invalid_client": "このアプリは登録されていません。",
    "invalid_redirect": "このアプリに登録されていない戻り先が指定されました。",
    "invalid_scope": "このアプリに許可されていない権限が求められました。",
    "csrf": "ページの有効期限が切れました。もう一度ログインしてください。",
    "sign_in_failed": "ログインIDまたはパスワードが違います。",
    "locked": "ログインの失敗が続いたため、しばらくログインできません。時間をおいてお試しください。",
}
TAG = "UserAuth"

RedirectUri = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_REDIRECT_URI_LENGTH,
        description="Where to send the user back: exactly one of the client's registered redirect URIs.",
    ),
]
State = Annotated[
    str,
    Meta(max_length=1024, description="Any value of the app's; echoed verbatim on the redirect (CSRF for the app)."),
]


class LoginPageQuery(Struct):
    api_key: ApiKey
    redirect_uri: RedirectUri
    grants: Grants | None = None
    state: State | None = None


class LoginForm(Struct):
    """The login page's form (`application/x-www-form-urlencoded`)."""

    api_key: ApiKey
    redirect_uri: RedirectUri
    id: Annotated[str, Meta(max_length=128, description="The login id (the ISUBANK `bank_id`).")]
    password: Annotated[str, Meta(max_length=1024)]
    csrf_token: Annotated[str, Meta(max_length=128, description="The page's hidden CSRF token (and its cookie).")]
    grants: Grants | None = None
    state: State | None = None


PAGE_BAD_REQUEST = ApiError(
    400, "bad_request", description="a missing or malformed parameter, or grants the client may not have"
)
PAGE_UNAUTHORIZED = ApiError(
    401,
    "invalid_client",
    description="an unknown `api_key`, or a `redirect_uri` the client did not register: never redirected to",
)
COMMON_PAGE_ERRORS = (METHOD_NOT_ALLOWED, SERVER_ERROR)

LOGIN_PAGE = Operation(
    "GET",
    "/auth/login",
    "loginPage",
    TAG,
    summary="The login page an app sends its user to",
    description="An HTML page where the end user signs in with their login id (the ISUBANK `bank_id`) and password"
    " and sees the app's name and the grants it asks for. Its form posts to `/auth/login/form`. Open it in a"
    " browser: `/auth/login?api_key=...&redirect_uri=...&grants=read&state=...`.",
    query=LoginPageQuery,
    ok="The login page.",
    ok_body=None,
    ok_media=("text/html",),
    ok_headers=("Cache-Control", "Content-Security-Policy", "Set-Cookie"),
    error_media="text/html",
    error_body=OAuthError,  # of the framework's errors (405, 500): the rest are pages
    errors=(PAGE_BAD_REQUEST, PAGE_UNAUTHORIZED, *COMMON_PAGE_ERRORS),
)
LOGIN_FORM = Operation(
    "POST",
    FORM_PATH,
    "signInWithForm",
    TAG,
    summary="The login page's form: sign in and go back to the app",
    description="Signs the user in and answers 303 to the `redirect_uri` with `auth_token` (single use, 3 minutes)"
    " and `state` when the app passed one. Wrong credentials re-show the form with an error (401); five failures"
    " within 15 minutes lock the login id for 15 minutes (429), as for the REST sign-in. Needs the page's CSRF"
    " cookie and hidden token (403 otherwise: the page is shown anew).",
    request=LoginForm,
    request_media="application/x-www-form-urlencoded",
    ok="Signed in: back to the app.",
    ok_status=303,
    ok_body=None,
    ok_headers=("Location", "Cache-Control"),
    error_media="text/html",
    error_body=OAuthError,  # of the framework's errors (405, 500): the rest are pages
    errors=(
        PAGE_BAD_REQUEST,
        ApiError(
            401,
            "sign_in_failed",
            description="wrong login id or password (the form again, with the error);"
            " or an unknown `api_key` or unregistered `redirect_uri`",
        ),
        ApiError(
            403,
            "csrf",
            description="the CSRF cookie or hidden token is missing or differs, or the POST came"
            " from another site: the page again",
        ),
        ApiError(429, "locked", description="the login id is locked for a while after repeated failures"),
        *COMMON_PAGE_ERRORS,
    ),
)
OPERATIONS = (LOGIN_PAGE, LOGIN_FORM)


def _back_to_app(redirect_uri: str, auth_token: str, state: str | None) -> str:
    query = {"auth_token": auth_token}
    if state is not None:
        query["state"] = state
    return redirect_uri + ("&" if urlsplit(redirect_uri).query else "?") + urlencode(query)


def _form(raw: bytes) -> LoginForm:
    return pages.form(raw, LoginForm)


def blueprint(services: Services) -> Blueprint:
    bp = Blueprint(__name__)
    bank_name = services.settings.bank_name

    def render(template: str, status: int, app_redirect: str | None = None, **values: Any) -> Response:
        return pages.render(template, status, bank_name, (app_redirect,), **values)

    def error_page(status: int, code: str) -> Response:
        return render("login_error.html", status, message=MESSAGES[code], code=code)

    def login_page(request: LoginRequest, status: int, form: dict[str, Any], error: str | None = None) -> Response:
        csrf_token = form.get("csrf_token") or secrets.token_urlsafe(32)
        response = render(
            "login.html",
            status,
            request.redirect_uri,
            client_name=request.client.name,
            grants=[{"name": name, "label": GRANT_LABELS[name]} for name in sorted(request.grants)],
            action=pages.stage_prefix(bp.current_request) + FORM_PATH,
            api_key=request.client.api_key,
            redirect_uri=request.redirect_uri,
            grants_param=form.get("grants") or "",
            state=form.get("state"),
            csrf_token=csrf_token,
            login_id=form.get("id", ""),
            error=MESSAGES[error] if error else None,
        )
        response.headers["Set-Cookie"] = pages.csrf_cookie(CSRF_COOKIE, csrf_token)
        return response

    def checked(api_key: str, redirect_uri: str, grants: str | None) -> LoginRequest | Response:
        try:
            return services.logins.request(api_key, redirect_uri, grants)
        except InvalidClient:
            return error_page(401, "invalid_client")
        except InvalidRedirect:
            return error_page(401, "invalid_redirect")
        except InvalidScope:
            return error_page(400, "invalid_scope")

    @LOGIN_PAGE.route(bp)
    def show() -> Response:
        try:
            query: LoginPageQuery = LOGIN_PAGE.params(bp.current_request)
        except MalformedRequest:
            return error_page(400, "bad_request")
        request = checked(query.api_key, query.redirect_uri, query.grants)
        if isinstance(request, Response):
            return request
        return login_page(request, 200, {"grants": query.grants, "state": query.state})

    @LOGIN_FORM.route(bp)
    def sign_in() -> Response:
        http = bp.current_request
        try:
            form = _form(http.raw_body or b"")
        except MalformedRequest:
            return error_page(400, "bad_request")
        request = checked(form.api_key, form.redirect_uri, form.grants)
        if isinstance(request, Response):
            return request
        logger.thread_safe_append_keys(api_key=request.client.api_key)
        values = {"grants": form.grants, "state": form.state, "id": form.id}
        if not pages.csrf_ok(http, CSRF_COOKIE, form.csrf_token):
            return login_page(request, 403, values, "csrf")
        values["csrf_token"] = form.csrf_token
        try:
            issued = services.logins.sign_in(request, form.id, form.password)
        except SignInFailed:
            return login_page(request, 401, values, "sign_in_failed")
        except SignInLocked:
            return login_page(request, 429, values, "locked")
        count("SignIns")
        assert request.redirect_uri is not None
        location = _back_to_app(request.redirect_uri, issued.token, form.state)
        return Response(body="", status_code=303, headers={"Location": location, "Cache-Control": "no-store"})

    return bp
