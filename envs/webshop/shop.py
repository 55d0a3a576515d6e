"""The shop's page state machine and its text rendering (the original SimServer, as text).

Pages: index (search bar) -> results (10 per page over the top 50) -> item (options,
Description/Features/Reviews buttons, Buy Now) -> sub page; Buy Now ends the episode.
Text observations list the visible page texts in page order joined by " [SEP] ", and
the clickables are the lower-cased button/link texts plus the option values, as the
original's text mode produces them. Actions the original would ignore (unparsable text,
unknown clickables, ``click[search]``) change nothing and come back ``valid=False``.

Deviations, on purpose: the done page shows only the thank-you line and the score (the
original's done page also dumps hidden debug fields); actions after the purchase are
invalid (the original episode is over there too).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from envs.webshop.catalog import Catalog
from envs.webshop.goals import Goal
from envs.webshop.products import Product
from envs.webshop.reward import OptionMatching, ScoreBreakdown, purchase_score

SEP = " [SEP] "
PRODUCT_WINDOW = 10
BACK_TO_SEARCH = "back to search"
NEXT_PAGE = "next >"
PREV_PAGE = "< prev"
BUY_NOW = "buy now"
SUB_PAGES = frozenset({"description", "features", "reviews", "attributes"})
_ACTION = re.compile(r"(.+)\[(.+)\]")


def names_to_copy(catalog: Catalog) -> list[str]:
    """Every clickable the shop can offer, as a click spells it, and each product ID also as the results page
    shows it (``B08V374UP6`` there, ``click[b08v374up6]`` in the action): the names an agent copies from a
    page into its action."""
    names = [BACK_TO_SEARCH, PREV_PAGE, NEXT_PAGE, BUY_NOW, *sorted(SUB_PAGES)]
    for product in catalog.products:
        names += [product.asin, product.asin.lower()]
        names += [value for values in product.options.values() for value in values]
    return [name for name in dict.fromkeys(names) if name.strip()]  # an empty option value cannot be clicked


class Page(enum.Enum):
    INDEX = "index"
    RESULTS = "results"
    ITEM = "item"
    SUB = "sub"
    DONE = "done"


class Clickable(enum.Enum):
    BUTTON = "button"
    PRODUCT = "product"
    OPTION = "option"


def parse_action(action: object) -> tuple[str, str] | None:
    """``"click[Buy Now]"`` -> ("click", "buy now"); None when the text has no ``name[arg]`` form."""
    if not isinstance(action, str):
        return None
    match = _ACTION.match(action.strip())
    if match is None:
        return None
    return match.group(1), match.group(2).lower()


@dataclass(frozen=True, slots=True)
class StepOutcome:
    valid: bool
    done: bool
    score: ScoreBreakdown | None = None


class ShopSession:
    """One shopper's browsing state for one goal."""

    def __init__(
        self,
        catalog: Catalog,
        goal: Goal,
        show_attrs: bool = False,
        option_matching: OptionMatching = "original",
    ) -> None:
        self.catalog = catalog
        self.goal = goal
        self.show_attrs = show_attrs
        self.option_matching = option_matching
        self.page = Page.INDEX
        self.keywords: str | None = None
        self.results: tuple[int, ...] = ()
        self.results_page = 1
        self.asin: str | None = None
        self.options: dict[str, str] = {}
        self.sub_page: str | None = None
        self.score: ScoreBreakdown | None = None
        self._clickables = self._compute_clickables()

    # ---- what the agent sees -------------------------------------------------------------

    @property
    def has_search_bar(self) -> bool:
        return self.page is Page.INDEX

    @property
    def clickables(self) -> dict[str, tuple[Clickable, str]]:
        """Clickable text -> (kind, payload: asin for products, option name for options)."""
        return self._clickables

    def observation(self) -> str:
        header = [] if self.page is Page.DONE else ["Instruction:", self.goal.instruction_text]
        if self.page is Page.INDEX:
            header.insert(0, "WebShop")
        return self._join(header + self._body())

    def anchor(self) -> str:
        """The page without the instruction: identical pages of one task share it (GiGPO)."""
        return self._join(self._body())

    @staticmethod
    def _join(parts: list[str]) -> str:
        return SEP.join(p for p in (s.strip() for s in parts) if p)

    def _product(self) -> Product:
        return self.catalog.products[self.catalog.index_of[self.asin]]  # type: ignore[index]

    def _body(self) -> list[str]:
        if self.page is Page.INDEX:
            return ["Search"]
        if self.page is Page.RESULTS:
            parts = ["Back to Search", f"Page {self.results_page} (Total results: {len(self.results)})"]
            if self.results_page > 1:
                parts.append("< Prev")
            parts.append("Next >")
            for i in self._page_slice():
                product = self.catalog.products[i]
                parts += [product.asin, product.title, product.price_tag]
            return parts
        if self.page is Page.DONE:
            return ["Thank you for shopping with us!", "Your score (min 0.0, max 1.0)", str(self.score.score)]  # type: ignore[union-attr]
        product = self._product()
        parts = ["Back to Search", "< Prev"]
        if self.page is Page.ITEM:
            for name, values in product.options.items():
                parts.append(name)
                parts += values
            parts += [
                product.title,
                f"Price: {product.price_tag}",
                "Rating: N.A.",
                "Description",
                "Features",
                "Reviews",
            ]
            if self.show_attrs:
                parts.append("Attributes")
            parts.append("Buy Now")
        elif self.sub_page == "description":
            parts.append(product.description)
        elif self.sub_page == "features":
            parts += product.bullet_points
        elif self.sub_page == "attributes":
            parts += product.attributes + [product.category, product.query, product.product_category]
        return parts  # reviews: the original ships none

    def _page_slice(self) -> tuple[int, ...]:
        start = (self.results_page - 1) * PRODUCT_WINDOW
        return self.results[start : start + PRODUCT_WINDOW]

    def _compute_clickables(self) -> dict[str, tuple[Clickable, str]]:
        button = (Clickable.BUTTON, "")
        if self.page is Page.INDEX:
            return {"search": button}
        if self.page is Page.DONE:
            return {}
        if self.page is Page.RESULTS:
            names = [BACK_TO_SEARCH] + ([PREV_PAGE] if self.results_page > 1 else []) + [NEXT_PAGE]
            found = {name: button for name in names}
            for i in self._page_slice():
                asin = self.catalog.products[i].asin
                found[asin.lower()] = (Clickable.PRODUCT, asin)
            return found
        if self.page is Page.SUB:
            return {BACK_TO_SEARCH: button, PREV_PAGE: button}
        buttons = [BACK_TO_SEARCH, PREV_PAGE, "description", "features", "reviews"]
        buttons += ["attributes"] if self.show_attrs else []
        found = {name: button for name in buttons + [BUY_NOW]}
        for name, values in self._product().options.items():
            for value in values:
                found[value] = (Clickable.OPTION, name)
        return found

    # ---- transitions -------------------------------------------------------------------

    def step(self, action: object) -> StepOutcome:
        if self.page is Page.DONE:
            return StepOutcome(valid=False, done=True)
        parsed = parse_action(action)
        if parsed is None:
            return StepOutcome(valid=False, done=False)
        name, arg = parsed
        if name == "search":
            self._show_results(arg, page=1)
        elif name == "click" and arg in self._clickables and arg != "search":
            self._click(arg)
        else:
            return StepOutcome(valid=False, done=False)
        self._clickables = self._compute_clickables()
        return StepOutcome(valid=True, done=self.page is Page.DONE, score=self.score)

    def _show_results(self, keywords: str, page: int) -> None:
        """Like the original, (re)searching forgets the open product and its chosen options."""
        self.results = self.catalog.search.search(keywords)
        self.keywords = keywords
        self.results_page = page
        self.asin = None
        self.options = {}
        self.page = Page.RESULTS

    def _click(self, arg: str) -> None:
        kind, payload = self._clickables[arg]
        if arg == BUY_NOW:
            self._buy()
        elif arg == BACK_TO_SEARCH:
            self.page, self.keywords, self.results, self.asin, self.options = Page.INDEX, None, (), None, {}
        elif arg == NEXT_PAGE and self.page is Page.RESULTS:
            self._show_results(self.keywords or "", self.results_page + 1)
        elif arg == PREV_PAGE and self.page is Page.RESULTS:
            self._show_results(self.keywords or "", self.results_page - 1)
        elif arg == PREV_PAGE and self.page is Page.SUB:
            self.page = Page.ITEM
        elif arg == PREV_PAGE and self.page is Page.ITEM:
            self._show_results(self.keywords or "", self.results_page)
        elif arg in SUB_PAGES:
            self.page, self.sub_page = Page.SUB, arg
        else:
            if kind is Clickable.PRODUCT:
                self.asin = payload
            elif kind is Clickable.OPTION:
                self.options[payload] = arg
            self.page = Page.ITEM

    def _buy(self) -> None:
        product = self._product()
        price = self.catalog.prices[product.asin]
        self.score = purchase_score(product, self.goal, price, self.options, self.option_matching)
        self.page = Page.DONE
