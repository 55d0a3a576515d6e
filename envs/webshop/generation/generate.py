"""Generate a WebShop-style catalog: products in the original raw schema plus their instructions.

    python -m envs.webshop.generation.generate --preset default --seed 0 --out DIR

writes ``DIR/items_shuffle.json`` and ``DIR/items_ins_v2.json`` in the original file
schemas (load them with ``WebShopEnv(data_dir=DIR, use_small=False)``); without ``--out``
it fills the built-in catalog cache. Goals are not stored: the loader synthesises them
from the instructions exactly as for the real data (one goal per option combination).

Products come in families so that wrong choices score below 1.0: next to a base product
stand near misses that differ in one attribute, in the option values offered, in price
(above every budget the base's goals can get) or in product type (a sibling type of the
same sub-category). Everything is drawn from one ``random.Random(seed)``, so a seed gives
the same catalog byte for byte.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import string
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from envs.webshop.generation.vocab import (
    BRAND_SYLLABLES,
    CATEGORIES,
    OPENERS,
    TITLE_MODIFIERS,
    CategorySpec,
    TypeSpec,
    all_attributes,
    split_attribute,
)

_ACRONYMS = {"usda", "gmo", "spf", "uv", "led", "rgb", "usb", "hd", "gan", "hdmi", "tv"}
_WORD = re.compile(r"[a-z]+")
_MAX_RENDER_TRIES = 50


@dataclass(frozen=True)
class CatalogConfig:
    num_products: int = 2000
    max_option_axes: int = 2
    max_option_values: int = 5
    max_instruction_attributes: int = 3
    types_per_category: int | None = None
    num_test_goals: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_products < 10:
            raise ValueError(f"num_products must be >= 10, got {self.num_products}")
        if not 0 <= self.max_option_axes <= 2:
            raise ValueError(f"max_option_axes must be in [0, 2], got {self.max_option_axes}")
        if self.max_option_values < 2:
            raise ValueError(f"max_option_values must be >= 2, got {self.max_option_values}")
        if not 1 <= self.max_instruction_attributes <= 3:
            raise ValueError(
                f"max_instruction_attributes must be in [1, 3], got {self.max_instruction_attributes}"
            )


PRESETS: dict[str, CatalogConfig] = {
    "default": CatalogConfig(),
    # CPU quickstart: few products and types, at most one option axis with 2-3 values.
    "small": CatalogConfig(
        num_products=200,
        max_option_axes=1,
        max_option_values=3,
        max_instruction_attributes=2,
        types_per_category=3,
        num_test_goals=100,
    ),
}


@dataclass
class _Draft:
    """A product before its texts are written."""

    category: CategorySpec
    spec: TypeSpec
    brand: str
    attributes: list[str]  # tagged ("with:...")
    options: list[tuple[str, list[str]]]
    price: tuple[float, float | None]
    family: int
    variant: str = "base"
    extra_fields: dict[str, Any] = field(default_factory=dict)


# ---- small text helpers -------------------------------------------------------------------


def _title_case(phrase: str) -> str:
    return " ".join(w.upper() if w in _ACRONYMS else w[:1].upper() + w[1:] for w in phrase.split())


def _join_and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _with_article(article: str, words: str) -> str:
    if article == "a" and (words[:1] in "aeio" or (words[:1] == "u" and not words.startswith(("us", "uni")))):
        article = "an"
    return f"{article} {words}" if article else words


def _nouns(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in TITLE_MODIFIERS]


def _price_text(price: tuple[float, float | None]) -> str:
    low, high = price
    return f"${low:.2f}" if high is None else f"${low:.2f} - ${high:.2f}"


# ---- drafting products ----------------------------------------------------------------------


def _brands(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    """Invented one-word brands; none contains a one-word attribute (it would leak into titles)."""
    single_words = [a for a in all_attributes() if " " not in a]
    brands: list[str] = []
    while len(brands) < count:
        name = "".join(rng.choice(BRAND_SYLLABLES) for _ in range(rng.choice((2, 2, 3))))
        if len(name) >= 4 and name not in taken and not any(a in name for a in single_words):
            taken.add(name)
            brands.append(name.capitalize())
    return brands


def _pool(category: CategorySpec, spec: TypeSpec) -> list[str]:
    return list(spec.attributes) + [a for a in category.shared_attributes if a not in spec.attributes]


def _draw_options(spec: TypeSpec, config: CatalogConfig, rng: random.Random) -> list[tuple[str, list[str]]]:
    options = []
    for axis, (name, pool) in enumerate(spec.options[: config.max_option_axes]):
        if rng.random() > (0.9 if axis == 0 else 0.6):
            continue
        k = rng.randint(2, min(config.max_option_values, len(pool)))
        picked = sorted(rng.sample(range(len(pool)), k))
        options.append((name, [pool[i] for i in picked]))
    return options


def _draw_price(spec: TypeSpec, rng: random.Random) -> tuple[float, float | None]:
    low = max(round(rng.uniform(*spec.price)), 1) - 0.01
    if rng.random() < 0.15:
        return low, low + max(round(low * rng.uniform(0.1, 0.4)), 1)
    return low, None


def _base(
    category: CategorySpec, spec: TypeSpec, brand: str, family: int, config: CatalogConfig, rng: random.Random
) -> _Draft:
    pool = _pool(category, spec)
    attributes = rng.sample(pool, rng.randint(3, min(5, len(pool))))
    return _Draft(
        category, spec, brand, attributes, _draw_options(spec, config, rng), _draw_price(spec, rng), family
    )


def _variant(
    base: _Draft, kind: str, brands: list[str], config: CatalogConfig, rng: random.Random
) -> _Draft | None:
    """A near miss of ``base``; None when ``kind`` does not apply to it."""
    brand = rng.choice(brands) if rng.random() < 0.5 else base.brand
    if kind == "attribute":
        spare = [a for a in _pool(base.category, base.spec) if a not in base.attributes]
        if not spare:
            return None
        attributes = list(base.attributes)
        attributes[rng.randrange(len(attributes))] = rng.choice(spare)
        return replace(base, brand=brand, attributes=attributes, variant=kind)
    if kind == "options":
        for i, (name, values) in enumerate(base.options):
            pool = dict(base.spec.options)[name]
            others = [v for v in pool if v not in values]
            if not others:
                continue
            k = rng.randint(min(2, len(others)), min(config.max_option_values, len(others)))
            fresh = [v for v in pool if v in rng.sample(others, k)]
            options = list(base.options)
            options[i] = (name, fresh)
            return replace(base, brand=brand, options=options, variant=kind)
        return None
    if kind == "price":
        ceiling = math.ceil(max(p for p in base.price if p is not None) / 10) * 10 + 40
        return replace(base, brand=brand, price=(ceiling + rng.randint(0, 30) - 0.01, None), variant=kind)
    if kind == "type":
        if not base.spec.siblings:
            return None
        wanted = rng.choice(base.spec.siblings)
        sibling = next(s for s in base.category.types if s.key == wanted)
        pool = _pool(base.category, sibling)
        attributes = [a for a in base.attributes if a in pool]
        attributes += rng.sample([a for a in pool if a not in attributes], max(0, 3 - len(attributes)))
        return replace(
            base,
            spec=sibling,
            attributes=attributes,
            options=_draw_options(sibling, config, rng),
            price=_draw_price(sibling, rng),
            variant=kind,
        )
    raise ValueError(f"unknown variant kind {kind!r}")


# ---- writing texts ---------------------------------------------------------------------------

_ROLE_SENTENCES = {
    "": ("{Attr} {item} you can count on.", "Our {item} is {attr}.", "Shoppers love that it is {attr}."),
    "with": (
        "Comes with {attr} for extra convenience.",
        "Designed with {attr} built in.",
        "Now with {attr}.",
    ),
    "for": ("A smart pick for {attr}.", "Made especially for {attr}.", "Ideal for {attr}."),
}


def _sentence(tagged: str, item: str, rng: random.Random) -> str:
    role, phrase = split_attribute(tagged)
    template = rng.choice(_ROLE_SENTENCES[role])
    return template.format(attr=phrase, Attr=_title_case(phrase), item=item)


def _title(draft: _Draft, rng: random.Random) -> tuple[str, list[str]]:
    adjectives = [p for r, p in map(split_attribute, draft.attributes) if r == ""]
    withs = [p for r, p in map(split_attribute, draft.attributes) if r == "with"]
    fors = [p for r, p in map(split_attribute, draft.attributes) if r == "for"]
    extra = rng.choice(draft.spec.extras) if draft.spec.extras and rng.random() < 0.5 else ""
    tail = rng.choice(draft.category.tails) if rng.random() < 0.5 else ""
    shown = rng.sample(adjectives, min(len(adjectives), rng.randint(0, 2)))
    parts = [draft.brand] + [_title_case(a) for a in shown] + ([extra] if extra else []) + [draft.spec.phrase]
    if withs and rng.random() < 0.6:
        parts.append("with " + _title_case(rng.choice(withs)))
    if fors and rng.random() < 0.6:
        parts.append("for " + _title_case(rng.choice(fors)))
    title = " ".join(parts) + (f", {tail}" if tail else "")
    nouns = [draft.brand.lower()] + _nouns(f"{extra} {draft.spec.phrase} {tail}")
    return title, nouns


def _instruction(draft: _Draft, config: CatalogConfig, rng: random.Random) -> tuple[str, list[str]]:
    """ "i need a sulfate free shampoo for dry hair" from 1-3 of the product's attributes."""
    most = min(config.max_instruction_attributes, len(draft.attributes))
    k = rng.choices(range(1, most + 1), weights=[1, 2, 1][:most])[0]
    picked = set(rng.sample(draft.attributes, k))
    split = [split_attribute(a) for a in draft.attributes if a in picked]
    adjectives = [p for r, p in split if r == ""]
    complements = "".join(
        f" {role} {_join_and([p for r, p in split if r == role])}"
        for role in ("with", "for")
        if any(r == role for r, _ in split)
    )
    noun = draft.spec.phrase.lower()
    opener = rng.choice(OPENERS)
    if adjectives and rng.random() < 0.4:
        verb = "are" if draft.spec.article == "" else "is"
        text = f"{opener} {_with_article(draft.spec.article, noun)}{complements} that {verb} {_join_and(adjectives)}"
    else:
        described = f"{_join_and(adjectives)} {noun}" if adjectives else noun
        text = f"{opener} {_with_article(draft.spec.article, described)}{complements}"
    return text, [p for _, p in split]


def _render(
    draft: _Draft, asin: str, config: CatalogConfig, rng: random.Random
) -> tuple[dict[str, Any], dict[str, Any]]:
    item = draft.spec.phrase.lower()
    title, nouns = _title(draft, rng)
    described = rng.sample(draft.attributes, min(2, len(draft.attributes)))
    description = " ".join(
        [rng.choice(draft.category.intros).format(brand=draft.brand, item=item)]
        + [_sentence(a, item, rng) for a in described]
        + [rng.choice(draft.category.closers)]
    )
    bullets = [f"{split_attribute(a)[1].upper()} - {_sentence(a, item, rng)}" for a in draft.attributes]
    rng.shuffle(bullets)
    bullets.append(rng.choice(draft.category.generic_bullets))
    instruction, instruction_attributes = _instruction(draft, config, rng)
    raw = {
        "asin": asin,
        "name": title,
        "full_description": description,
        "small_description": bullets,
        "pricing": _price_text(draft.price),
        "images": [],
        "customization_options": {
            name: [{"value": v, "image": None} for v in values] for name, values in draft.options
        }
        or None,
        "category": draft.category.name,
        "query": draft.spec.query,
        "product_category": " › ".join((draft.category.root,) + draft.spec.crumbs),
        "brand": draft.brand,
        "name_nouns": nouns,
    }
    record = {
        "attributes": [split_attribute(a)[1] for a in draft.attributes],
        "instruction": instruction,
        "instruction_attributes": instruction_attributes,
    }
    return raw, record


def _leaks(raw: dict[str, Any], record: dict[str, Any], vocabulary: set[str]) -> list[str]:
    """Attributes the product lacks but whose phrase its texts contain (they would score as matches)."""
    text = " ".join([raw["name"], raw["full_description"], " ".join(raw["small_description"])]).lower()
    own = set(record["attributes"])
    return [a for a in vocabulary if a not in own and a in text]


# ---- the catalog ---------------------------------------------------------------------------


def _draft_all(config: CatalogConfig, rng: random.Random) -> list[_Draft]:
    types = [(c, s) for c in CATEGORIES for s in c.types[: config.types_per_category]]
    taken: set[str] = set()
    brands = {c.name: _brands(rng, 24, taken) for c in CATEGORIES}
    quota = {
        i: config.num_products // len(types) + (i < config.num_products % len(types))
        for i in range(len(types))
    }
    allowed = {s.key for _, s in types}
    drafts: list[_Draft] = []
    family = 0
    for i, (category, spec) in enumerate(types):
        made = 0
        while made < quota[i]:
            base = _base(category, spec, rng.choice(brands[category.name]), family, config, rng)
            members = [base]
            for kind in rng.sample(["attribute", "options", "price", "type"], rng.randint(1, 3)):
                variant = _variant(base, kind, brands[category.name], config, rng)
                if variant is not None and variant.spec.key in allowed:
                    members.append(variant)
            members = members[: quota[i] - made]
            drafts += members
            made += len(members)
            family += 1
    return drafts


def generate_catalog(config: CatalogConfig) -> dict[str, Any]:
    """``{"meta", "products", "attributes"}``: raw product records and their ``items_ins_v2`` records."""
    rng = random.Random(config.seed)
    drafts = _draft_all(config, rng)
    vocabulary = all_attributes()
    asins: set[str] = set()
    products, records = [], {}
    for draft in drafts:
        asin = "B0" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=8))
        while asin in asins:
            asin = "B0" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=8))
        asins.add(asin)
        for _ in range(_MAX_RENDER_TRIES):
            raw, record = _render(draft, asin, config, rng)
            if not _leaks(raw, record, vocabulary):
                break
        else:
            raise RuntimeError(
                f"vocabulary bug: texts of a {draft.spec.key} keep naming attributes it lacks: {_leaks(raw, record, vocabulary)}"
            )
        products.append(raw)
        records[asin] = record
    rng.shuffle(products)
    meta = {"config": asdict(config)}
    return {"meta": meta, "products": products, "attributes": records}


def write_original_files(catalog: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "items_shuffle.json", out_dir / "items_ins_v2.json"]
    paths[0].write_text(json.dumps(catalog["products"]))
    paths[1].write_text(json.dumps(catalog["attributes"]))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-products", type=int, default=None, help="override the preset's product count")
    parser.add_argument(
        "--out", type=Path, default=None, help="write items_shuffle.json + items_ins_v2.json here"
    )
    args = parser.parse_args(argv)
    config = replace(PRESETS[args.preset], seed=args.seed)
    if args.num_products is not None:
        config = replace(config, num_products=args.num_products)
    from envs.webshop.catalog import builtin_catalog, catalog_from_generated

    if args.out is None:
        catalog = builtin_catalog(config)
        print(f"cached built-in catalog: {catalog.name}")
    else:
        generated = generate_catalog(config)
        for path in write_original_files(generated, args.out):
            print(f"wrote {path}")
        catalog = catalog_from_generated(generated, name=str(args.out))
    per_category: dict[str, int] = {}
    for product in catalog.products:
        per_category[product.category] = per_category.get(product.category, 0) + 1
    print(f"products: {len(catalog.products)} {per_category}")
    print(f"goals: {len(catalog.goals)} (test: first {catalog.num_test_goals})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
