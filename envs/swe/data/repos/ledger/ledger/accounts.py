"""Accounts with an optional overdraft limit and a transaction history."""

from ledger.money import format_cents


class InsufficientFunds(Exception):
    pass


class Account:
    def __init__(self, name, balance=0, overdraft_limit=0):
        if overdraft_limit < 0:
            raise ValueError("overdraft limit must not be negative")
        self.name = name
        self.balance = balance
        self.overdraft_limit = overdraft_limit
        self.history = []

    def available(self):
        return self.balance + self.overdraft_limit

    def deposit(self, cents, memo="deposit"):
        if cents <= 0:
            raise ValueError("deposit must be positive")
        self.balance += cents
        self.history.append((memo, cents))

    def withdraw(self, cents, memo="withdrawal"):
        if cents <= 0:
            raise ValueError("withdrawal must be positive")
        if cents > self.available():
            raise InsufficientFunds(f"{self.name}: cannot withdraw {format_cents(cents)}")
        self.balance -= cents
        self.history.append((memo, -cents))

    def apply_interest(self, rate_percent):
        """Monthly interest on a positive balance, rounded half up to the cent."""
        if self.balance <= 0:
            return 0
        interest = (self.balance * rate_percent + 50) // 100
        if interest > 0:
            self.deposit(interest, memo="interest")
        return interest

    def statement(self):
        lines = [f"Statement for {self.name}"]
        running = self.balance - sum(amount for _, amount in self.history)
        for memo, amount in self.history:
            running += amount
            lines.append(f"{memo:<12}{format_cents(amount):>12}{format_cents(running):>12}")
        lines.append(f"{'balance':<12}{'':>12}{format_cents(self.balance):>12}")
        return "\n".join(lines)


class Ledger:
    def __init__(self):
        self.accounts = {}

    def open(self, name, balance=0, overdraft_limit=0):
        if name in self.accounts:
            raise ValueError(f"account exists: {name}")
        account = Account(name, balance, overdraft_limit)
        self.accounts[name] = account
        return account

    def get(self, name):
        try:
            return self.accounts[name]
        except KeyError:
            raise KeyError(f"no such account: {name}") from None

    def transfer(self, source, target, cents):
        """Move money atomically: either both sides change or neither does."""
        if source == target:
            raise ValueError("cannot transfer to the same account")
        src = self.get(source)
        dst = self.get(target)
        src.withdraw(cents, memo=f"to {target}")
        dst.deposit(cents, memo=f"from {source}")

    def total(self):
        return sum(a.balance for a in self.accounts.values())

    def overdrawn(self):
        return sorted(name for name, a in self.accounts.items() if a.balance < 0)
