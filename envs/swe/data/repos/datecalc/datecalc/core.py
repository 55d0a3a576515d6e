"""Dates are plain (year, month, day) tuples in the proleptic Gregorian calendar."""

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def is_leap_year(year):
    """True for years divisible by 4, except centuries not divisible by 400."""
    if year % 400 == 0:
        return True
    if year % 100 == 0:
        return False
    return year % 4 == 0


def days_in_month(year, month):
    if month < 1 or month > 12:
        raise ValueError(f"month out of range: {month}")
    if month == 2 and is_leap_year(year):
        return 29
    return MONTH_DAYS[month - 1]


def validate(date):
    year, month, day = date
    if year < 1:
        raise ValueError(f"year out of range: {year}")
    if day < 1 or day > days_in_month(year, month):
        raise ValueError(f"day out of range: {day}")
    return date


def parse_date(text):
    """Parse 'YYYY-MM-DD' (surrounding whitespace allowed) into a validated tuple."""
    parts = text.strip().split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a date: {text!r}")
    if len(parts[0]) != 4 or len(parts[1]) != 2 or len(parts[2]) != 2:
        raise ValueError(f"not a date: {text!r}")
    return validate((int(parts[0]), int(parts[1]), int(parts[2])))


def format_date(date, style="iso"):
    year, month, day = validate(date)
    if style == "iso":
        return f"{year:04d}-{month:02d}-{day:02d}"
    if style == "us":
        return f"{month:02d}/{day:02d}/{year:04d}"
    if style == "eu":
        return f"{day:02d}.{month:02d}.{year:04d}"
    raise ValueError(f"unknown style: {style}")


def day_of_year(date):
    year, month, day = validate(date)
    total = day
    for m in range(1, month):
        total += days_in_month(year, m)
    return total


def to_ordinal(date):
    """Days since 0001-01-01, which is ordinal 1."""
    year, month, day = validate(date)
    y = year - 1
    return y * 365 + y // 4 - y // 100 + y // 400 + day_of_year((year, month, day))


def from_ordinal(ordinal):
    if ordinal < 1:
        raise ValueError("ordinal must be positive")
    year = 1
    while True:
        length = 366 if is_leap_year(year) else 365
        if ordinal <= length:
            break
        ordinal -= length
        year += 1
    month = 1
    while ordinal > days_in_month(year, month):
        ordinal -= days_in_month(year, month)
        month += 1
    return (year, month, ordinal)


def add_days(date, days):
    return from_ordinal(to_ordinal(date) + days)


def days_between(start, end):
    """Signed number of days from start to end."""
    return to_ordinal(end) - to_ordinal(start)


def add_months(date, months):
    """Move by whole months, clamping the day to the end of the target month."""
    year, month, day = validate(date)
    index = year * 12 + (month - 1) + months
    new_year, new_month = divmod(index, 12)
    new_month += 1
    return (new_year, new_month, min(day, days_in_month(new_year, new_month)))


def weekday(date):
    """0 for Monday through 6 for Sunday."""
    return (to_ordinal(date) + 6) % 7


def weekday_name(date):
    return WEEKDAYS[weekday(date)]
