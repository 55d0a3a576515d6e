"""The original WebShop purchase score (``get_reward``), re-derived from its formula.

    score = (attribute matches + option matches + [price <= budget])
            / (#goal attributes + #goal options + 1) * r_type

r_type is 1.0 when the query, >= 2 breadcrumb levels or > 20 % of the goal title's nouns
match, 0.5 otherwise, then 0.1 if under 10 % of the nouns match and 0.0 if none do.

Option matching: the original matches a wanted option when any purchased value scores
> 85 with thefuzz's ``token_set_ratio``, which is 100 whenever one side's words are a
subset of the other's ("large" vs "x-large"). For synthetic goals it also passes
``dict.items()``, so each goal option is the string of a ``(name, value)`` tuple: the
option name's words join the goal's words, and the goal side escapes colour
normalisation, so a value whose normalised colour is not one of its words can never match,
even when bought exactly ("light wash" -> "ash"). ``option_matching="original"`` (the
default) keeps all of this so scores are comparable with published WebShop numbers (the
generated catalog avoids the never-matching values); ``"exact"`` counts a goal option only
when exactly that value was bought (for that option name; human goals: any purchased value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from thefuzz import fuzz

from envs.webshop.goals import Goal
from envs.webshop.normalize import normalize_color
from envs.webshop.nouns import title_nouns
from envs.webshop.products import Product

OptionMatching = Literal["original", "exact"]
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


def _original_goal_options(goal_options: dict[str, str] | tuple[str, ...]) -> list[str]:
    if not isinstance(goal_options, dict):
        return [str(normalize_color(o)) for o in goal_options]
    # thefuzz stringifies non-str input; str() of the (name, value) tuple reproduces that.
    return [str(normalize_color(item)) for item in goal_options.items()]


def option_matches(
    purchased: dict[str, str],
    goal_options: dict[str, str] | tuple[str, ...],
    mode: OptionMatching = "original",
) -> int:
    if mode == "exact":
        if isinstance(goal_options, dict):
            return sum(purchased.get(name) == value for name, value in goal_options.items())
        bought_values = {v.strip().lower() for v in purchased.values()}
        return sum(o.strip().lower() in bought_values for o in goal_options)
    bought = [normalize_color(v) for v in purchased.values()]
    matches = 0
    for wanted in _original_goal_options(goal_options):
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
    if option_matching not in ("original", "exact"):
        raise ValueError(f"option_matching must be 'original' or 'exact', got {option_matching!r}")
    r_type, query_match, category_match, title_score = type_reward(product, goal)
    n_attr = attribute_matches(product, goal.attributes)
    n_opt = option_matches(options, goal.goal_options, option_matching)
    price_ok = price <= goal.price_upper
    total = (n_attr + n_opt + int(price_ok)) / (len(goal.attributes) + len(goal.goal_options) + 1) * r_type
    return ScoreBreakdown(total, r_type, query_match, category_match, title_score, n_attr, n_opt, price_ok)
