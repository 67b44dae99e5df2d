"""Branches: validation of what registers one, listing by code, and the accounts of a customer by branch."""

from __future__ import annotations

import pytest

from chalicelib.ledger import errors
from chalicelib.ledger.accounts import AccountInfo
from chalicelib.ledger.branches import BranchInfo, address_code_is_valid
from chalicelib.ledger.statements import PAGE_SIZE
from tests.conftest import make_services

HEAD_OFFICE = ("001", "本店", "ホンテン", "131016", "0312345678")


@pytest.fixture
def bank(moto_db, clock):
    return make_services(clock)


@pytest.mark.parametrize("code", ["131016", "130001", "011002", "271004", "401005"])
def test_valid_address_codes(code):
    assert address_code_is_valid(code)


FULL_WIDTH_131016 = "\uff11\uff13\uff11\uff10\uff11\uff16"


@pytest.mark.parametrize("code", ["131017", "130000", "011003", "13101", "1310166", "13101a", FULL_WIDTH_131016, ""])
def test_invalid_address_codes(code):
    assert not address_code_is_valid(code)


def test_create_get_and_refuse_a_duplicate(bank):
    info = bank.branches.create(*HEAD_OFFICE)
    assert info == BranchInfo(*HEAD_OFFICE)
    assert bank.branches.get_many(["001", "002", "001"]) == {"001": info}
    assert bank.branches.get_many([]) == {}
    with pytest.raises(errors.BranchExists):
        bank.branches.create("001", "別の本店", "ベツノホンテン", "130001", "0300000000")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("code", "01"),
        ("code", "0001"),
        ("code", "\uff10\uff11\uff12"),  # full-width digits
        ("name", ""),
        ("name", "   "),
        ("name", "店" * 41),
        ("name_kana", "ほんてん"),
        ("name_kana", "ﾎﾝﾃﾝ"),
        ("name_kana", "HONTEN"),
        ("name_kana", "　"),
        ("address_code", "131017"),
        ("tel", "312345678"),
        ("tel", "1312345678"),
        ("tel", "031234567890"),
        ("tel", "03-1234-5678"),
    ],
)
def test_invalid_branches_are_refused(bank, field, value):
    fields = dict(zip(("code", "name", "name_kana", "address_code", "tel"), HEAD_OFFICE, strict=True))
    with pytest.raises(errors.InvalidRequest):
        bank.branches.create(**{**fields, field: value})


def test_kana_may_have_the_prolonged_sound_mark_and_spaces(bank):
    assert bank.branches.create("002", "センター支店", "センター　シテン", "011002", "09012345678").name_kana


def test_list_pages_by_code(bank):
    for n in range(PAGE_SIZE + 5, 0, -1):
        bank.branches.create(f"{n:03d}", f"支店{n}", "シテン", "131016", "0312345678")
    first, second = bank.branches.list(1), bank.branches.list(2)
    assert [b.code for b in first.items + second.items] == [f"{n:03d}" for n in range(1, PAGE_SIZE + 6)]
    assert (first.next_page, second.next_page) == (2, 0)
    assert bank.branches.list(3).items == []
    with pytest.raises(errors.InvalidRequest):
        bank.branches.list(0)


def test_accounts_of_a_customer_name_their_branch(bank):
    bank.branches.create(*HEAD_OFFICE)
    bank.accounts.open("alice", "Alice")
    bank.accounts.open("bob", "Bob", branch_code="123")  # not registered
    (alice,) = bank.accounts.of_customer("alice")
    assert alice == AccountInfo("alice", alice.account_number, "bank", "普通", "001", "本店")
    assert [(a.branch_code, a.branch_name) for a in bank.accounts.of_customer("bob")] == [("123", "")]
    assert bank.accounts.of_customer("nobody") == []
