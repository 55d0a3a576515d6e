import pytest
from ledger import Account, InsufficientFunds, Ledger, format_cents, parse_amount


def test_parse_amount():
    assert parse_amount("12.34") == 1234
    assert parse_amount("$1,234.5") == 123450
    assert parse_amount("7") == 700
    assert parse_amount("0.05") == 5


def test_parse_negative_amount():
    assert parse_amount("-3.5") == -350
    assert parse_amount(" -$2 ") == -200


def test_parse_amount_rejects_bad_text():
    for text in ["", "abc", "1.234", "1.2.3", "-"]:
        with pytest.raises(ValueError):
            parse_amount(text)


def test_format_cents():
    assert format_cents(123456) == "$1,234.56"
    assert format_cents(5) == "$0.05"
    assert format_cents(-250) == "-$2.50"
    assert format_cents(100, symbol="EUR ") == "EUR 1.00"


def test_deposit_and_withdraw():
    acct = Account("ann")
    acct.deposit(1000)
    acct.withdraw(300)
    assert acct.balance == 700
    assert acct.history == [("deposit", 1000), ("withdrawal", -300)]


def test_non_positive_amounts_rejected():
    acct = Account("ann", 100)
    with pytest.raises(ValueError):
        acct.deposit(0)
    with pytest.raises(ValueError):
        acct.withdraw(-5)


def test_insufficient_funds():
    acct = Account("ann", 100)
    with pytest.raises(InsufficientFunds):
        acct.withdraw(101)
    assert acct.balance == 100


def test_withdraw_exact_balance():
    acct = Account("ann", 100)
    acct.withdraw(100)
    assert acct.balance == 0


def test_overdraft():
    acct = Account("ann", 100, overdraft_limit=50)
    acct.withdraw(150)
    assert acct.balance == -50
    with pytest.raises(InsufficientFunds):
        acct.withdraw(1)


def test_negative_overdraft_limit():
    with pytest.raises(ValueError):
        Account("ann", overdraft_limit=-1)


def test_interest_rounding():
    acct = Account("ann", 1050)
    assert acct.apply_interest(1) == 11
    assert acct.balance == 1061
    assert acct.history[-1] == ("interest", 11)


def test_interest_small_balance():
    acct = Account("ann", 40)
    assert acct.apply_interest(1) == 0
    assert acct.history == []


def test_no_interest_when_overdrawn():
    acct = Account("ann", -500, overdraft_limit=1000)
    assert acct.apply_interest(5) == 0
    assert acct.balance == -500


def test_statement():
    acct = Account("ann", 1000)
    acct.deposit(250)
    acct.withdraw(50)
    lines = acct.statement().splitlines()
    assert lines[0] == "Statement for ann"
    assert lines[1].split() == ["deposit", "$2.50", "$12.50"]
    assert lines[2].split() == ["withdrawal", "-$0.50", "$12.00"]
    assert lines[3].split() == ["balance", "$12.00"]


def test_ledger_open_and_get():
    book = Ledger()
    book.open("ann", 500)
    assert book.get("ann").balance == 500
    with pytest.raises(ValueError):
        book.open("ann")
    with pytest.raises(KeyError):
        book.get("bob")


def test_transfer():
    book = Ledger()
    book.open("ann", 500)
    book.open("bob", 100)
    book.transfer("ann", "bob", 200)
    assert book.get("ann").balance == 300
    assert book.get("bob").balance == 300
    assert book.get("bob").history == [("from ann", 200)]
    assert book.total() == 600


def test_failed_transfer_changes_nothing():
    book = Ledger()
    book.open("ann", 50)
    book.open("bob", 0)
    with pytest.raises(InsufficientFunds):
        book.transfer("ann", "bob", 80)
    assert book.get("ann").balance == 50
    assert book.get("bob").balance == 0


def test_transfer_to_self():
    book = Ledger()
    book.open("ann", 50)
    with pytest.raises(ValueError):
        book.transfer("ann", "ann", 10)


def test_overdrawn_accounts():
    book = Ledger()
    book.open("cy", 0, overdraft_limit=100)
    book.open("ann", 0, overdraft_limit=100)
    book.open("bob", 10)
    book.get("cy").withdraw(20)
    book.get("ann").withdraw(1)
    assert book.overdrawn() == ["ann", "cy"]
