"""Calendar arithmetic on (year, month, day) tuples."""

from datecalc.core import (
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

__all__ = [
    "add_days",
    "add_months",
    "day_of_year",
    "days_between",
    "days_in_month",
    "format_date",
    "is_leap_year",
    "parse_date",
    "weekday",
    "weekday_name",
]
