import pytest
from csvlite import CSVError, dumps, format_row, loads, parse_row, read_records, write_records


def test_parse_plain_row():
    assert parse_row("a,b,c") == ["a", "b", "c"]


def test_parse_empty_fields():
    assert parse_row("a,,c,") == ["a", "", "c", ""]
    assert parse_row("") == [""]


def test_parse_quoted_fields():
    assert parse_row('"a,b",c') == ["a,b", "c"]
    assert parse_row('"say ""hi""",x') == ['say "hi"', "x"]


def test_parse_other_delimiter():
    assert parse_row("a;b;c", delimiter=";") == ["a", "b", "c"]
    assert parse_row("a,b;c", delimiter=";") == ["a,b", "c"]


def test_parse_unterminated_quote():
    with pytest.raises(CSVError):
        parse_row('"abc,d')


def test_parse_quote_inside_unquoted_field():
    with pytest.raises(CSVError):
        parse_row('ab"c,d')


def test_loads_lines():
    assert loads("a,b\n1,2\n") == [["a", "b"], ["1", "2"]]


def test_loads_crlf_and_blank_lines():
    assert loads("a,b\r\n\r\n1,2\r\n") == [["a", "b"], ["1", "2"]]
    assert loads("a\n\nb", skip_blank=False) == [["a"], [""], ["b"]]


def test_loads_newline_inside_quotes():
    assert loads('x,"line1\nline2"\ny,z\n') == [["x", "line1\nline2"], ["y", "z"]]


def test_format_row_quotes_when_needed():
    assert format_row(["a", "b,c", 'q"t']) == 'a,"b,c","q""t"'


def test_format_row_spaces_and_none():
    assert format_row([" padded", None, 3]) == '" padded",,3'


def test_format_row_multiline():
    assert format_row(["a\nb"]) == '"a\nb"'


def test_dumps_round_trip():
    rows = [["name", "note"], ["ann", "likes, commas"], ["bob", 'says "hi"'], ["cy", "two\nlines"]]
    assert loads(dumps(rows)) == rows


def test_dumps_delimiter():
    assert dumps([["a", "b;c"]], delimiter=";") == 'a;"b;c"\n'


def test_read_records():
    text = "name,age\nann,31\nbob,27\n"
    assert read_records(text) == [{"name": "ann", "age": "31"}, {"name": "bob", "age": "27"}]


def test_read_records_empty():
    assert read_records("") == []


def test_read_records_strict_length():
    with pytest.raises(CSVError):
        read_records("a,b\n1\n")


def test_read_records_lenient_pads_and_cuts():
    assert read_records("a,b\n1\n1,2,3\n", strict=False) == [{"a": "1", "b": ""}, {"a": "1", "b": "2"}]


def test_read_records_duplicate_header():
    with pytest.raises(CSVError):
        read_records("a,a\n1,2\n")


def test_write_records_collects_columns():
    records = [{"a": 1}, {"b": 2, "a": 3}]
    assert write_records(records) == "a,b\n1,\n3,2\n"


def test_write_records_explicit_columns():
    assert write_records([{"a": 1, "b": 2}], columns=["b"]) == "b\n2\n"
