"""Goals (instruction + target attributes/options + budget), synthesised like the original.

Synthetic goals: one per combination of the product's option values, sharing the
product's instruction and one budget. Human goals: one per human-written instruction.
The budget is the larger of two values drawn from the first four multiples of 10 above
the price. Goals are then shuffled with seed 233, so goal index ``i`` means the same goal
for the same goal list (test = the first 500 in the papers).
"""

from __future__ import annotations

import itertools
import logging
import random
from collections import defaultdict
from dataclasses import dataclass

from envs.webshop.products import Product

log = logging.getLogger(__name__)

PRICE_RANGE = [10.0 * i for i in range(1, 100)]
NO_BUDGET = 1_000_000.0
GOAL_SHUFFLE_SEED = 233


@dataclass(frozen=True, slots=True)
class Goal:
    asin: str
    category: str
    query: str
    name: str
    product_category: str
    instruction_text: str
    attributes: tuple[str, ...]
    price_upper: float
    goal_options: dict[str, str] | tuple[str, ...]  # dict for synthetic goals, strings for human goals
    weight: float
    name_nouns: tuple[str, ...] | None = None


def _budget(price: float, rng: random.Random) -> tuple[float, str]:
    candidates = [p for p in PRICE_RANGE if p > price][:4]
    if len(candidates) < 2:
        return NO_BUDGET, ""
    upper = max(rng.sample(candidates, 2))
    return upper, f", and price lower than {upper:.2f} dollars"


def synthetic_goals(products: list[Product], prices: dict[str, float], rng: random.Random) -> list[Goal]:
    drafts = []
    attribute_counts: dict[str, int] = defaultdict(int)
    skipped = 0
    for product in products:
        if product.instruction_text is None:
            continue
        attributes = tuple(product.instruction_attributes or ())
        if not attributes:
            skipped += 1
            continue
        price_upper, price_text = _budget(prices[product.asin], rng)
        names = sorted(product.options)
        for combination in itertools.product(*(product.options[name] for name in names)):
            chosen = dict(zip(names, combination))
            option_text = ", and ".join(f"{k}: {v}" for k, v in chosen.items())
            option_text = f" with {option_text}" if option_text else ""
            drafts.append(
                (
                    product,
                    attributes,
                    price_upper,
                    chosen,
                    f"{product.instruction_text}{option_text}{price_text}",
                )
            )
            for attribute in attributes:
                attribute_counts[attribute] += 1
    if skipped:
        log.warning(
            "%d products have an instruction but no instruction attributes; no goals made for them", skipped
        )
    return [
        Goal(
            asin=product.asin,
            category=product.category,
            query=product.query,
            name=product.title,
            product_category=product.product_category,
            instruction_text=text,
            attributes=attributes,
            price_upper=price_upper,
            goal_options=chosen,
            weight=sum(1.0 / attribute_counts[a] for a in attributes) / len(attributes),
            name_nouns=product.name_nouns,
        )
        for product, attributes, price_upper, chosen, text in drafts
    ]


def human_goals(products: list[Product], prices: dict[str, float], rng: random.Random) -> list[Goal]:
    goals = []
    skipped = 0
    for product in products:
        for record in product.human_instructions:
            attributes = tuple(record.get("instruction_attributes") or ())
            if not attributes:
                skipped += 1
                continue
            price_upper, price_text = _budget(prices[product.asin], rng)
            goals.append(
                Goal(
                    asin=product.asin,
                    category=product.category,
                    query=product.query,
                    name=product.title,
                    product_category=product.product_category,
                    instruction_text=record["instruction"].strip(".") + price_text,
                    attributes=attributes,
                    price_upper=price_upper,
                    goal_options=tuple(record.get("instruction_options") or ()),
                    weight=1.0,
                    name_nouns=product.name_nouns,
                )
            )
    if skipped:
        log.info("skipped %d human instructions without attributes (as the original does)", skipped)
    return goals


def shuffle_goals(goals: list[Goal]) -> list[Goal]:
    """Same permutation as the original's ``random.seed(233); random.shuffle(goals)``."""
    shuffled = list(goals)
    random.Random(GOAL_SHUFFLE_SEED).shuffle(shuffled)
    return shuffled
