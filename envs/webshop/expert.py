"""A scripted expert: the next action that buys the goal's own product with the goal's options.

It reads the privileged goal, so it is for SFT data and tests, not an agent baseline. From
any page it steers back on course: search with the goal's attributes and product query
(or, when that search misses the target, with the target's title), page through the
results to the target, open it, pick each wanted option, buy. Buying the goal's own
product with its options within budget always scores 1.0.
"""

from __future__ import annotations

import re

from thefuzz import fuzz

from envs.webshop.products import Product
from envs.webshop.reward import FUZZY_MATCH_THRESHOLD
from envs.webshop.shop import BACK_TO_SEARCH, BUY_NOW, NEXT_PAGE, PREV_PAGE, PRODUCT_WINDOW, Page, ShopSession

_BRACKETS = re.compile(r"[\[\]]")


def _clean_query(text: str) -> str:
    return " ".join(_BRACKETS.sub(" ", text.lower()).split())


def expert_query(session: ShopSession) -> str:
    """The goal's attributes and query, unless that search cannot find the target product."""
    goal = session.goal
    target = session.catalog.index_of[goal.asin]
    primary = _clean_query(" ".join(goal.attributes) + " " + goal.query)
    if target in session.catalog.search.search(primary):
        return primary
    return _clean_query(session.catalog.products[target].title)


def wanted_options(product: Product, goal_options: dict[str, str] | tuple[str, ...]) -> dict[str, str]:
    """Option name -> value to click. Human goals list bare strings: match them to offered values."""
    if isinstance(goal_options, dict):
        return {k: v for k, v in goal_options.items() if v in product.options.get(k, ())}
    chosen: dict[str, str] = {}
    for wanted in goal_options:
        best = max(
            (
                (fuzz.token_set_ratio(value, wanted), name, value)
                for name, values in product.options.items()
                for value in values
            ),
            default=None,
        )
        if best is not None and best[0] > FUZZY_MATCH_THRESHOLD and best[1] not in chosen:
            chosen[best[1]] = best[2]
    return chosen


def expert_action(session: ShopSession) -> str | None:
    """The expert's next action text for the session's current page; None once bought."""
    page = session.page
    goal = session.goal
    if page is Page.DONE:
        return None
    if page is Page.INDEX:
        return f"search[{expert_query(session)}]"
    if page is Page.SUB:
        return f"click[{PREV_PAGE}]"
    if page is Page.ITEM:
        if session.asin != goal.asin:
            return f"click[{PREV_PAGE}]"
        product = session.catalog.products[session.catalog.index_of[goal.asin]]
        for name, value in wanted_options(product, goal.goal_options).items():
            if session.options.get(name) != value and session.clickables.get(value, (None, None))[1] == name:
                return f"click[{value}]"
        return f"click[{BUY_NOW}]"
    target = session.catalog.index_of[goal.asin]
    if target not in session.results:
        return f"click[{BACK_TO_SEARCH}]"
    target_page = session.results.index(target) // PRODUCT_WINDOW + 1
    if target_page == session.results_page:
        return f"click[{goal.asin.lower()}]"
    return f"click[{NEXT_PAGE}]" if target_page > session.results_page else f"click[{PREV_PAGE}]"
