"""Render the config schema with each field's documentation (``turnrl config show --doc``)."""

from __future__ import annotations

from pydantic import BaseModel


def describe(config: BaseModel, prefix: str = "") -> str:
    """One line per field: dotted key, current value, and the docstring written beside the field."""
    lines: list[str] = []
    for name, field in type(config).model_fields.items():
        value = getattr(config, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            lines.append(f"# {key}: {field.description or ''}".rstrip())
            lines.append(describe(value, prefix=f"{key}."))
            continue
        doc = " ".join((field.description or "").split())
        lines.append(f"{key} = {value!r}    # {doc}")
    return "\n".join(lines)
