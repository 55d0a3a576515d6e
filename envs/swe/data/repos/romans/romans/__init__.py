"""Roman numerals."""

from romans.numerals import from_roman, is_valid_roman, roman_range, to_roman

__all__ = ["from_roman", "is_valid_roman", "roman_range", "to_roman"]
