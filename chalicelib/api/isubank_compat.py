"""The contest bank's operator routes, only on stages with the contest-compatibility switch on.

They take no credentials, as in the contest; the production stage never registers them.
"""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import ANY_CONTENT_TYPE, json_object
from chalicelib.api.isubank import answer, parse_bank_id, parse_price
from chalicelib.services import Services


def blueprint(services: Services) -> Blueprint:
    bp = Blueprint(__name__)

    @bp.route("/register", methods=["POST"], content_types=ANY_CONTENT_TYPE)
    @answer
    def register() -> dict:
        bank_id = parse_bank_id(json_object(bp.current_request))
        services.accounts.open(bank_id, name=bank_id)
        return {}

    @bp.route("/add_credit", methods=["POST"], content_types=ANY_CONTENT_TYPE)
    @answer
    def add_credit() -> dict:
        body = json_object(bp.current_request)
        services.accounts.deposit(parse_bank_id(body), parse_price(body), "入金")
        return {}

    @bp.route("/credit", methods=["GET"])
    @answer
    def credit() -> dict:
        params = bp.current_request.query_params or {}
        bank_id = parse_bank_id({"bank_id": params.get("bank_id")})
        return {"credit": services.accounts.balance(bank_id).balance}

    return bp
