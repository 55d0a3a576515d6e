"""A minimal CSV reader and writer."""

from csvlite.csv import CSVError, dumps, format_row, loads, parse_row, read_records, write_records

__all__ = ["CSVError", "dumps", "format_row", "loads", "parse_row", "read_records", "write_records"]
