import pytest
from romans import from_roman, is_valid_roman, roman_range, to_roman


def test_small_numbers():
    assert to_roman(1) == "I"
    assert to_roman(3) == "III"
    assert to_roman(5) == "V"
    assert to_roman(8) == "VIII"


def test_subtractive_forms():
    assert to_roman(4) == "IV"
    assert to_roman(9) == "IX"
    assert to_roman(40) == "XL"
    assert to_roman(90) == "XC"
    assert to_roman(400) == "CD"
    assert to_roman(900) == "CM"


def test_larger_numbers():
    assert to_roman(1994) == "MCMXCIV"
    assert to_roman(2024) == "MMXXIV"
    assert to_roman(3999) == "MMMCMXCIX"
    assert to_roman(444) == "CDXLIV"


def test_to_roman_range_checks():
    with pytest.raises(ValueError):
        to_roman(0)
    with pytest.raises(ValueError):
        to_roman(4000)


def test_to_roman_type_checks():
    with pytest.raises(TypeError):
        to_roman(2.5)
    with pytest.raises(TypeError):
        to_roman(True)


def test_from_roman_simple():
    assert from_roman("III") == 3
    assert from_roman("LVIII") == 58


def test_from_roman_subtractive():
    assert from_roman("IV") == 4
    assert from_roman("MCMXCIV") == 1994
    assert from_roman("CDXLIV") == 444


def test_from_roman_case_and_spaces():
    assert from_roman(" mmxxiv ") == 2024


def test_from_roman_rejects_non_canonical():
    with pytest.raises(ValueError):
        from_roman("IIII")
    with pytest.raises(ValueError):
        from_roman("VV")
    with pytest.raises(ValueError):
        from_roman("IC")


def test_from_roman_rejects_unknown_symbols():
    with pytest.raises(ValueError):
        from_roman("XIZ")
    with pytest.raises(ValueError):
        from_roman("")


def test_round_trip():
    for n in range(1, 400):
        assert from_roman(to_roman(n)) == n


def test_is_valid_roman():
    assert is_valid_roman("XLII")
    assert not is_valid_roman("XLIIII")
    assert not is_valid_roman("ABC")


def test_roman_range():
    assert roman_range(1, 5) == ["I", "II", "III", "IV"]
    assert roman_range(10, 0, -3) == ["X", "VII", "IV", "I"]


def test_roman_range_zero_step():
    with pytest.raises(ValueError):
        roman_range(1, 5, 0)
