"""The original WebShop purchase score (``get_reward``), re-derived from its formula.

    score = (attribute matches + option matches + [price <= budget])
            / (#goal attributes + #goal options + 1) * r_type

r_type is 1.0 when the query, >= 2 breadcrumb levels or > 20 % of the goal title's nouns
match, 0.5 otherwise, then 0.1 if under 10 % of the nouns match and 0.0 if none do.

Option matching quirk: for synthetic goals the original compares each purchased value
with ``str((option_name, option_value))`` (it passes ``dict.items()``), so a purchased
"large" matches a goal size "x-large" and "pack of 6" matches "pack of 12". We keep it by
default (``option_matching="original"``) so scores equal published WebShop numbers;
``"strict"`` compares values only, as the original does for human goals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from thefuzz import fuzz

from envs.webshop.goals import Goal
from envs.webshop.normalize import normalize_color
from envs.webshop.nouns import title_nouns
from envs.webshop.products import Product

OptionMatching = Literal["original", "strict"]
FUZZY_MATCH_THRESHOLD = 85


@dataclass(frozen=True, slots=True)
class ScoreBreakdown:
    score: float
    r_type: float
    query_match: bool
    category_match: bool
    title_score: float
    attribute_matches: int
    option_matches: int
    price_ok: bool


def _breadcrumb(product_category: str) -> set[str]:
    return {part.strip() for part in product_category.split("›")}


def type_reward(product: Product, goal: Goal) -> tuple[float, bool, bool, float]:
    """(r_type, query_match, category_match, title_score)."""
    query_match = product.query == goal.query
    category_match = len(_breadcrumb(product.product_category) & _breadcrumb(goal.product_category)) >= 2
    bought = product.name_nouns if product.name_nouns is not None else title_nouns(product.title)
    wanted = goal.name_nouns if goal.name_nouns is not None else title_nouns(goal.name)
    title_score = len(set(bought) & set(wanted)) / len(wanted) if wanted else 0.2
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, query_match, category_match, title_score


def attribute_matches(product: Product, goal_attributes: tuple[str, ...]) -> int:
    """A goal attribute counts when it fuzzily matches a product attribute or appears in its text."""
    title = product.title.lower()
    bullets = " ".join(product.bullet_points).lower()
    description = product.description.lower()
    matches = 0
    for wanted in goal_attributes:
        if any(fuzz.token_set_ratio(have, wanted) > FUZZY_MATCH_THRESHOLD for have in product.attributes):
            matches += 1
        elif wanted in title or wanted in bullets or wanted in description:
            matches += 1
    return matches


def _goal_option_targets(goal_options: dict[str, str] | tuple[str, ...], mode: OptionMatching) -> list[str]:
    if not isinstance(goal_options, dict):
        return [str(normalize_color(o)) for o in goal_options]
    if mode == "strict":
        return [str(normalize_color(v)) for v in goal_options.values()]
    # thefuzz stringifies non-str input; str() of the (name, value) tuple reproduces that.
    return [str(normalize_color(item)) for item in goal_options.items()]


def option_matches(
    purchased: dict[str, str],
    goal_options: dict[str, str] | tuple[str, ...],
    mode: OptionMatching = "original",
) -> int:
    bought = [normalize_color(v) for v in purchased.values()]
    matches = 0
    for wanted in _goal_option_targets(goal_options, mode):
        if any(fuzz.token_set_ratio(have, wanted) > FUZZY_MATCH_THRESHOLD for have in bought):
            matches += 1
    return matches


def purchase_score(
    product: Product,
    goal: Goal,
    price: float,
    options: dict[str, str],
    option_matching: OptionMatching = "original",
) -> ScoreBreakdown:
    if option_matching not in ("original", "strict"):
        raise ValueError(f"option_matching must be 'original' or 'strict', got {option_matching!r}")
    r_type, query_match, category_match, title_score = type_reward(product, goal)
    n_attr = attribute_matches(product, goal.attributes)
    n_opt = option_matches(options, goal.goal_options, option_matching)
    price_ok = price <= goal.price_upper
    total = (n_attr + n_opt + int(price_ok)) / (len(goal.attributes) + len(goal.goal_options) + 1) * r_type
    return ScoreBreakdown(total, r_type, query_match, category_match, title_score, n_attr, n_opt, price_ok)
