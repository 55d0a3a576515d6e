"""Amounts are integer cents; text looks like '1,234.56', '-3.5' or '$12'."""


def parse_amount(text):
    cleaned = text.strip().replace(",", "").replace("$", "")
    negative = cleaned.startswith("-")
    if negative:
        cleaned = cleaned[1:]
    if not cleaned:
        raise ValueError(f"not an amount: {text!r}")
    whole, _, fraction = cleaned.partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > 2:
        raise ValueError(f"not an amount: {text!r}")
    cents = int(whole) * 100 + int(fraction.ljust(2, "0") or 0)
    return -cents if negative else cents


def format_cents(cents, symbol="$"):
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{symbol}{whole:,}.{rest:02d}"
