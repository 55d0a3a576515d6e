"""Products in the shape the shop pages and the score read them.

Raw records follow the original ``items_shuffle*.json`` schema; ``product_from_raw``
derives the fields the original derives at load time (lower-cased options with '/'
turned into ' | ', bullet list, parsed pricing, price tag) so that the generated
catalog and the real data go through the same path.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_PRICE = 100.0
DUMMY_ATTRIBUTE = "DUMMY_ATTR"


@dataclass(slots=True)
class Product:
    asin: str
    title: str
    description: str
    bullet_points: list[str]
    pricing: list[float]
    price_tag: str
    options: dict[str, list[str]]
    attributes: list[str]
    category: str
    query: str
    product_category: str
    name_nouns: tuple[str, ...] | None = None
    instruction_text: str | None = None
    instruction_attributes: list[str] | None = None
    human_instructions: list[dict[str, Any]] = field(default_factory=list)

    def search_document(self) -> str:
        """The text the original indexes: title, description, first bullet, options."""
        option_text = ", and ".join(f"{name}: {', '.join(values)}" for name, values in self.options.items())
        first_bullet = self.bullet_points[0] if self.bullet_points else ""
        return " ".join([self.title, self.description, first_bullet, option_text]).lower()


def parse_pricing(pricing: str | None) -> tuple[list[float], str]:
    """``"$12.99"`` -> ([12.99], "$12.99"); ``"$10 - $15.5"`` -> ([10.0, 15.5], "$10.0 to $15.5").

    The tag uses Python's float repr exactly as the original does ("$100.0"), because the
    tag is what the agent reads on the page.
    """
    values: list[float] = []
    for piece in (pricing or "").split("$")[1:]:
        digits = re.sub(r"[^\d.]", "", piece)
        try:
            values.append(float(Decimal(digits)))
        except InvalidOperation:
            log.warning("ignoring unparsable price piece %r in %r", piece, pricing)
    if not values:
        return [DEFAULT_PRICE], f"${DEFAULT_PRICE}"
    if len(values) == 1:
        return values, f"${values[0]}"
    return values[:2], f"${values[0]} to ${values[1]}"


def _options_from_raw(customization: dict[str, Any] | None) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for name, contents in (customization or {}).items():
        if contents is None:
            continue
        options[name.lower()] = [c["value"].strip().replace("/", " | ").lower() for c in contents]
    return options


def _bullets_from_raw(small_description: Any) -> list[str]:
    if isinstance(small_description, list):
        return [str(b) for b in small_description]
    return [str(small_description or "")]


def product_from_raw(raw: dict[str, Any], attribute_record: dict[str, Any] | None) -> Product:
    """One ``items_shuffle`` record (+ its ``items_ins_v2`` record, if any) -> Product."""
    pricing, price_tag = parse_pricing(raw.get("pricing"))
    record = attribute_record or {}
    nouns = raw.get("name_nouns")
    return Product(
        asin=raw["asin"],
        title=raw["name"],
        description=raw.get("full_description") or "",
        bullet_points=_bullets_from_raw(raw.get("small_description")),
        pricing=pricing,
        price_tag=price_tag,
        options=_options_from_raw(raw.get("customization_options")),
        attributes=list(record.get("attributes") or [DUMMY_ATTRIBUTE]),
        category=raw.get("category", ""),
        query=raw.get("query", "").lower().strip(),
        product_category=raw.get("product_category", ""),
        name_nouns=tuple(nouns) if nouns is not None else None,
        instruction_text=record.get("instruction"),
        instruction_attributes=record.get("instruction_attributes"),
    )


def products_from_raw(
    raw_products: list[dict[str, Any]],
    attribute_records: dict[str, dict[str, Any]],
    num_products: int | None = None,
) -> list[Product]:
    """Skips what the original skips: asin 'nan', asins longer than 10 chars, duplicates."""
    if num_products is not None:
        raw_products = raw_products[:num_products]
    seen: set[str] = set()
    products = []
    for raw in raw_products:
        asin = raw.get("asin")
        if not isinstance(asin, str) or asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        products.append(product_from_raw(raw, attribute_records.get(asin)))
    return products


def sample_prices(products: list[Product], rng: random.Random) -> dict[str, float]:
    """The price a purchase is scored at: the list price, or uniform within a price range."""
    prices = {}
    for product in products:
        if len(product.pricing) == 1:
            prices[product.asin] = product.pricing[0]
        else:
            prices[product.asin] = rng.uniform(*product.pricing[:2])
    return prices
