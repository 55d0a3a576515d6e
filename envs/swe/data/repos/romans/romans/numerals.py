"""Standard subtractive Roman numerals for 1..3999."""

SYMBOLS = [
    (1000, "M"),
    (900, "CM"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (90, "XC"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (9, "IX"),
    (5, "V"),
    (4, "IV"),
    (1, "I"),
]
VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
MAX_VALUE = 3999


def to_roman(number):
    if not isinstance(number, int) or isinstance(number, bool):
        raise TypeError("expected an int")
    if number < 1 or number > MAX_VALUE:
        raise ValueError(f"out of range: {number}")
    parts = []
    for value, symbol in SYMBOLS:
        count, number = divmod(number, value)
        parts.append(symbol * count)
    return "".join(parts)


def _raw_value(text):
    """Value by the subtractive rule, without checking the numeral is canonical."""
    total = 0
    for index, ch in enumerate(text):
        value = VALUES[ch]
        if index + 1 < len(text) and VALUES[text[index + 1]] > value:
            total -= value
        else:
            total += value
    return total


def from_roman(text):
    """Parse a canonical numeral (case-insensitive, surrounding spaces ignored)."""
    numeral = text.strip().upper()
    if not numeral:
        raise ValueError("empty numeral")
    unknown = set(numeral) - set(VALUES)
    if unknown:
        raise ValueError(f"unknown symbols: {''.join(sorted(unknown))}")
    value = _raw_value(numeral)
    if value < 1 or value > MAX_VALUE or to_roman(value) != numeral:
        raise ValueError(f"not a canonical numeral: {text!r}")
    return value


def is_valid_roman(text):
    try:
        from_roman(text)
    except ValueError:
        return False
    return True


def roman_range(start, stop, step=1):
    """Numerals for range(start, stop, step)."""
    if step == 0:
        raise ValueError("step must not be zero")
    return [to_roman(n) for n in range(start, stop, step)]
