import pytest
from datecalc import (
    add_days,
    add_months,
    day_of_year,
    days_between,
    days_in_month,
    format_date,
    is_leap_year,
    parse_date,
    weekday,
    weekday_name,
)


def test_leap_years():
    assert is_leap_year(2024)
    assert is_leap_year(2000)
    assert not is_leap_year(1900)
    assert not is_leap_year(2023)


def test_days_in_month_regular():
    assert days_in_month(2023, 1) == 31
    assert days_in_month(2023, 4) == 30
    assert days_in_month(2023, 12) == 31


def test_days_in_february():
    assert days_in_month(2023, 2) == 28
    assert days_in_month(2024, 2) == 29


def test_days_in_month_rejects_bad_month():
    with pytest.raises(ValueError):
        days_in_month(2023, 13)
    with pytest.raises(ValueError):
        days_in_month(2023, 0)


def test_parse_date():
    assert parse_date("2024-03-15") == (2024, 3, 15)
    assert parse_date("  1999-12-31 ") == (1999, 12, 31)


def test_parse_date_leap_day():
    assert parse_date("2024-02-29") == (2024, 2, 29)
    with pytest.raises(ValueError):
        parse_date("2023-02-29")


def test_parse_date_rejects_garbage():
    with pytest.raises(ValueError):
        parse_date("2024/03/15")
    with pytest.raises(ValueError):
        parse_date("24-03-15")
    with pytest.raises(ValueError):
        parse_date("2024-04-31")


def test_format_date_styles():
    assert format_date((2024, 3, 5)) == "2024-03-05"
    assert format_date((2024, 3, 5), style="us") == "03/05/2024"
    assert format_date((2024, 3, 5), style="eu") == "05.03.2024"


def test_format_date_unknown_style():
    with pytest.raises(ValueError):
        format_date((2024, 3, 5), style="xx")


def test_day_of_year():
    assert day_of_year((2023, 1, 1)) == 1
    assert day_of_year((2023, 12, 31)) == 365
    assert day_of_year((2024, 12, 31)) == 366
    assert day_of_year((2024, 3, 1)) == 61


def test_add_days_within_month():
    assert add_days((2024, 1, 10), 5) == (2024, 1, 15)


def test_add_days_across_month_and_year():
    assert add_days((2024, 1, 31), 1) == (2024, 2, 1)
    assert add_days((2023, 12, 31), 1) == (2024, 1, 1)
    assert add_days((2024, 2, 28), 1) == (2024, 2, 29)


def test_add_negative_days():
    assert add_days((2024, 3, 1), -1) == (2024, 2, 29)
    assert add_days((2024, 1, 1), -1) == (2023, 12, 31)


def test_days_between():
    assert days_between((2024, 1, 1), (2024, 12, 31)) == 365
    assert days_between((2023, 1, 1), (2024, 1, 1)) == 365
    assert days_between((2024, 3, 10), (2024, 3, 1)) == -9


def test_add_months_simple():
    assert add_months((2024, 1, 15), 1) == (2024, 2, 15)
    assert add_months((2024, 11, 15), 3) == (2025, 2, 15)


def test_add_months_clamps_day():
    assert add_months((2024, 1, 31), 1) == (2024, 2, 29)
    assert add_months((2023, 1, 31), 1) == (2023, 2, 28)


def test_add_months_backwards():
    assert add_months((2024, 3, 31), -1) == (2024, 2, 29)
    assert add_months((2024, 1, 15), -13) == (2022, 12, 15)


def test_weekday():
    assert weekday((2024, 1, 1)) == 0
    assert weekday((2024, 3, 17)) == 6
    assert weekday((2000, 2, 29)) == 1


def test_weekday_name():
    assert weekday_name((2024, 7, 4)) == "Thursday"
    assert weekday_name((1970, 1, 1)) == "Thursday"


def test_first_day_round_trip():
    assert add_days((1, 1, 1), 0) == (1, 1, 1)
    assert days_between((1, 1, 1), (1, 12, 31)) == 364
