"""The bank's branches: registering them (operators) and listing them (the bank API)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from msgspec import Struct
from pynamodb.exceptions import PutError

from chalicelib.clock import Clock
from chalicelib.ledger.errors import BranchExists, InvalidRequest
from chalicelib.ledger.statements import MAX_PAGE, PAGE_SIZE, Page
from chalicelib.store.models import Branch

_BRANCH_CODE = re.compile(r"[0-9]{3}")
_ADDRESS_CODE = re.compile(r"[0-9]{6}")
_TEL = re.compile(r"0[0-9]{9,10}")
# Full-width katakana (ァ..ヺ), the prolonged sound mark and spaces, half- or full-width.
_KANA = re.compile(r"[\u30a1-\u30fa\u30fc\u3000 ]+")
MAX_NAME_LENGTH = 40


class BranchInfo(Struct, frozen=True):
    code: str
    name: str
    name_kana: str
    address_code: str  # 総務省 全国地方公共団体コード, check digit included
    tel: str


def address_code_is_valid(code: str) -> bool:
    """Six digits whose last is the check digit of the local government code (団体コード): weights 6..2
    over the first five, sum mod 11, and the last digit of 11 minus the remainder."""
    if not _ADDRESS_CODE.fullmatch(code):
        return False
    remainder = sum(int(digit) * weight for digit, weight in zip(code[:5], (6, 5, 4, 3, 2), strict=True)) % 11
    return (11 - remainder) % 10 == int(code[5])


def _validate(code: str, name: str, name_kana: str, address_code: str, tel: str) -> None:
    if not _BRANCH_CODE.fullmatch(code):
        raise InvalidRequest("branch code: 3 digits")
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"name: 1 to {MAX_NAME_LENGTH} characters")
    if not _KANA.fullmatch(name_kana) or not name_kana.strip(" \u3000") or len(name_kana) > MAX_NAME_LENGTH:
        raise InvalidRequest("name_kana: full-width katakana, ー and spaces")
    if not address_code_is_valid(address_code):
        raise InvalidRequest("address_code: 6 digits with a valid check digit")
    if not _TEL.fullmatch(tel):
        raise InvalidRequest("tel: 10 or 11 digits from 0")


def _info(branch: Branch) -> BranchInfo:
    return BranchInfo(branch.branch_code, branch.name, branch.name_kana, branch.address_code, branch.tel)


class Branches:
    def __init__(self, clock: Clock, bank_code: str) -> None:
        self.clock = clock
        self.bank_code = bank_code

    def create(self, code: str, name: str, name_kana: str, address_code: str, tel: str) -> BranchInfo:
        """Register a branch; BranchExists if its code is taken, InvalidRequest for malformed fields."""
        _validate(code, name, name_kana, address_code, tel)
        branch = Branch(
            self.bank_code,
            code,
            name=name,
            name_kana=name_kana,
            address_code=address_code,
            tel=tel,
            created_at=self.clock.now(),
        )
        try:
            branch.save(condition=Branch.branch_code.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise BranchExists() from None
            raise
        return _info(branch)

    def list(self, page: int) -> Page[BranchInfo]:
        """Branches by code, PAGE_SIZE a page. Codes are 3 digits, so a bank has at most 1,000 branches
        (a few tens of KB): one Query reads them all and the page is cut from it."""
        if not 1 <= page <= MAX_PAGE:
            raise InvalidRequest("page: 1 or more")
        branches = [_info(branch) for branch in Branch.query(self.bank_code)]
        start = (page - 1) * PAGE_SIZE
        items = branches[start : start + PAGE_SIZE]
        return Page(items, page, page + 1 if len(branches) > start + PAGE_SIZE else 0)

    def get_many(self, codes: Iterable[str]) -> dict[str, BranchInfo]:
        """The registered branches among `codes`, by code; unknown codes are left out."""
        keys = [(self.bank_code, code) for code in set(codes)]
        return {branch.branch_code: _info(branch) for branch in Branch.batch_get(keys)} if keys else {}
