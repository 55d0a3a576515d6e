"""Shape checks for the original WebShop data files, run when a ``data_dir`` catalog is built.

A truncated download, a file from another release or the wrong file under the right name
would otherwise surface as a KeyError deep inside the loader or, worse, as silently missing
goals during training. Each check raises one ``ValueError`` naming the file, the record
(index or asin) and the field that is wrong. Only what the loader and the score read is
checked: extra fields (images, reviews, worker ids) are left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class WebShopDataError(ValueError):
    """A WebShop data file that the loader cannot use as it stands."""


def _fail(path: Path, where: str, problem: str) -> None:
    raise WebShopDataError(f"WebShop data file {path}: {where}: {problem}")


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def check_products(path: Path, raw_products: Any) -> None:
    """``items_shuffle*.json``: a list of product records with the fields the pages show."""
    if not isinstance(raw_products, list):
        _fail(path, "top level", f"expected a list of products, got {type(raw_products).__name__}")
    if not raw_products:
        _fail(path, "top level", "no products")
    for i, raw in enumerate(raw_products):
        if not isinstance(raw, dict):
            _fail(path, f"product {i}", f"expected an object, got {type(raw).__name__}")
        where = f"product {i} (asin {raw.get('asin')!r})"
        if not isinstance(raw.get("asin"), str):
            _fail(path, f"product {i}", "missing or non-string 'asin'")
        if not isinstance(raw.get("name"), str):
            _fail(path, where, "missing or non-string 'name' (the title)")
        for key in ("query", "product_category", "category", "full_description"):
            if raw.get(key) is not None and not isinstance(raw[key], str):
                _fail(path, where, f"'{key}' is {type(raw[key]).__name__}, expected a string")
        bullets = raw.get("small_description")
        if bullets is not None and not isinstance(bullets, str) and not _is_str_list(bullets):
            _fail(path, where, "'small_description' must be a string or a list of strings")
        pricing = raw.get("pricing")
        if pricing is not None and not isinstance(pricing, str):
            _fail(path, where, f"'pricing' is {type(pricing).__name__}, expected a string such as '$12.99'")
        options = raw.get("customization_options")
        if options is None:
            continue
        if not isinstance(options, dict):
            _fail(path, where, "'customization_options' must be an object of option name -> values")
        for name, contents in options.items():
            if contents is None:
                continue
            if not isinstance(contents, list) or not all(
                isinstance(c, dict) and isinstance(c.get("value"), str) for c in contents
            ):
                _fail(path, where, f"option {name!r} must be a list of {{'value': str, ...}} objects")


def check_attributes(path: Path, attributes: Any, products_path: Path, asins: list[str]) -> None:
    """``items_ins_v2*.json``: asin -> {attributes, instruction, instruction_attributes}."""
    if not isinstance(attributes, dict):
        _fail(path, "top level", f"expected an object keyed by asin, got {type(attributes).__name__}")
    for asin, record in attributes.items():
        if not isinstance(record, dict):
            _fail(path, f"asin {asin!r}", f"expected an object, got {type(record).__name__}")
        for key in ("attributes", "instruction_attributes"):
            if record.get(key) is not None and not _is_str_list(record[key]):
                _fail(path, f"asin {asin!r}", f"'{key}' must be a list of strings")
        if record.get("instruction") is not None and not isinstance(record["instruction"], str):
            _fail(path, f"asin {asin!r}", "'instruction' must be a string")
    if asins and not any(a in attributes for a in asins):
        _fail(
            path,
            "top level",
            f"none of the {len(asins)} products of {products_path.name} has a record here "
            "(files of different releases or sizes mixed?)",
        )


def check_human_instructions(path: Path, human: Any) -> None:
    """``items_human_ins.json``: asin -> list of {instruction, instruction_attributes, instruction_options}."""
    if not isinstance(human, dict):
        _fail(path, "top level", f"expected an object keyed by asin, got {type(human).__name__}")
    for asin, records in human.items():
        if not isinstance(records, list):
            _fail(path, f"asin {asin!r}", f"expected a list of instructions, got {type(records).__name__}")
        for i, record in enumerate(records):
            where = f"asin {asin!r} instruction {i}"
            if not isinstance(record, dict):
                _fail(path, where, f"expected an object, got {type(record).__name__}")
            if not isinstance(record.get("instruction"), str):
                _fail(path, where, "missing or non-string 'instruction'")
            for key in ("instruction_attributes", "instruction_options"):
                if not _is_str_list(record.get(key)):
                    _fail(path, where, f"'{key}' must be a list of strings")
