"""The organisation's card page of the card-registration API: `GET /payment/card` shows it, `GET /payment/card.js`
is its script.

The card number never reaches the registration endpoint: in the browser, the script turns the card into a
one-time token at the card gateway (`POST /api/v1/tokens`, with the merchant's publishable key), then registers
only the masked number and the token (`POST /api/payment/credit`, with the member's access token). Both
credentials come from the page's URL fragment (`#access_token=...&publishable_key=...`), which the browser never
sends to a server; without them the page asks for them. The page itself is the same for everyone and carries no
credential and no card data.

Pages as the login page's (`api/pages.py`), but for one script: its Content-Security-Policy allows this app's
script files only (`script-src 'self'`, no inline code), calls to this app only (`connect-src 'self'`) and no
form submission at all. The script is a file of the package, read on its first request (never at import).
"""

from __future__ import annotations

import functools
from pathlib import Path

from chalice import Blueprint, Response

from chalicelib.api import pages
from chalicelib.api.contract import Operation
from chalicelib.api.fallback import COMMON_FRAMEWORK_ERRORS
from chalicelib.services import Services

PAGE_PATH = "/payment/card"
SCRIPT_PATH = "/payment/card.js"
SCRIPT_FILE = Path(__file__).parents[1] / "static" / "card.js"
SCRIPT_CACHE_CONTROL = "public, max-age=300"  # briefly: a deployment's new script reaches browsers soon
TAG = "CardRegistration"

CARD_PAGE = Operation(
    "GET",
    PAGE_PATH,
    "cardRegistrationPage",
    TAG,
    summary="The organisation's card page (for a member's browser)",
    description="An HTML page where a member registers the organisation's payment card: number, expiry (MM/YY),"
    " CVC and the holder's name. Its script (`/payment/card.js`) turns the card into a one-time token at the card"
    " gateway (`POST /api/v1/tokens`) and registers only the masked number and the token (`POST"
    " /api/payment/credit`); it also shows the card registered now. Open it with both credentials in the URL"
    " fragment, which no server ever sees: `/payment/card#access_token=<member access token>&publishable_key="
    "<publishable key>` (without them, the page asks for them).",
    ok="The card page.",
    ok_body=None,
    ok_media=("text/html",),
    ok_headers=("Cache-Control", "Content-Security-Policy"),
    errors=COMMON_FRAMEWORK_ERRORS,
)
CARD_SCRIPT = Operation(
    "GET",
    SCRIPT_PATH,
    "cardRegistrationScript",
    TAG,
    summary="The card page's script",
    description="Plain JavaScript, no framework: tokenises the card, registers the token, shows the answers."
    f" Cacheable briefly (`Cache-Control: {SCRIPT_CACHE_CONTROL}`).",
    ok="The script.",
    ok_body=None,
    ok_media=("text/javascript",),
    errors=COMMON_FRAMEWORK_ERRORS,
)
OPERATIONS = (CARD_PAGE, CARD_SCRIPT)


@functools.cache
def script_text() -> str:
    return SCRIPT_FILE.read_text(encoding="utf-8")


def blueprint(services: Services) -> Blueprint:
    bp = Blueprint(__name__)
    bank_name = services.settings.bank_name

    @CARD_PAGE.route(bp)
    def page() -> Response:
        # Under API Gateway the app's paths are under the stage's: the script is told where, by the page.
        prefix = pages.stage_prefix(bp.current_request)
        return pages.render("card.html", 200, bank_name, script=True, api_base=prefix, script_src=prefix + SCRIPT_PATH)

    @CARD_SCRIPT.route(bp)
    def script() -> Response:
        headers = {
            "Content-Type": "text/javascript; charset=utf-8",
            "Cache-Control": SCRIPT_CACHE_CONTROL,
            "X-Content-Type-Options": "nosniff",
        }
        return Response(body=script_text(), status_code=200, headers=headers)

    return bp
