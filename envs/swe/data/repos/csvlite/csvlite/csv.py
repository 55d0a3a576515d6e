"""RFC 4180-style CSV: fields may be quoted; quotes inside quoted fields are doubled."""


class CSVError(ValueError):
    pass


def parse_row(line, delimiter=","):
    """Split one line into fields."""
    fields = []
    field = []
    in_quotes = False
    i = 0
    while i < len(line):
        ch = line[i]
        if in_quotes:
            if ch == '"':
                if i + 1 < len(line) and line[i + 1] == '"':
                    field.append('"')
                    i += 1
                else:
                    in_quotes = False
            else:
                field.append(ch)
        elif ch == '"':
            if field:
                raise CSVError(f"quote inside unquoted field at column {i}")
            in_quotes = True
        elif ch == delimiter:
            fields.append("".join(field))
            field = []
        else:
            field.append(ch)
        i += 1
    if in_quotes:
        raise CSVError("unterminated quoted field")
    fields.append("".join(field))
    return fields


def _split_records(text):
    """Split text into record lines, keeping newlines that sit inside quotes."""
    records = []
    current = []
    in_quotes = False
    for ch in text:
        if ch == '"':
            in_quotes = not in_quotes
        if ch == "\n" and not in_quotes:
            records.append("".join(current).rstrip("\r"))
            current = []
        else:
            current.append(ch)
    if current:
        records.append("".join(current).rstrip("\r"))
    return records


def loads(text, delimiter=",", skip_blank=True):
    rows = []
    for record in _split_records(text):
        if skip_blank and record == "":
            continue
        rows.append(parse_row(record, delimiter))
    return rows


def _needs_quotes(value, delimiter):
    return value == "" or any(c in value for c in (delimiter, '"', "\n", "\r")) or value != value.strip()


def format_row(values, delimiter=","):
    out = []
    for value in values:
        text = "" if value is None else str(value)
        if text and _needs_quotes(text, delimiter):
            text = '"' + text.replace('"', '""') + '"'
        out.append(text)
    return delimiter.join(out)


def dumps(rows, delimiter=","):
    return "".join(format_row(row, delimiter) + "\n" for row in rows)


def read_records(text, delimiter=",", strict=True):
    """Rows as dicts keyed by the header row."""
    rows = loads(text, delimiter)
    if not rows:
        return []
    header = rows[0]
    if len(set(header)) != len(header):
        raise CSVError("duplicate column names")
    records = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            if strict:
                raise CSVError(f"row {number} has {len(row)} fields, expected {len(header)}")
            row = (row + [""] * len(header))[: len(header)]
        records.append(dict(zip(header, row)))
    return records


def write_records(records, columns=None, delimiter=","):
    if columns is None:
        columns = []
        for record in records:
            for key in record:
                if key not in columns:
                    columns.append(key)
    rows = [columns] + [[record.get(c, "") for c in columns] for record in records]
    return dumps(rows, delimiter)
