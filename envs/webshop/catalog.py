"""Catalogs: products + scoring prices + shuffled goals + search index, from either source.

* Built-in: the generated catalog (``envs.webshop.generation.generate``), made on first use and cached
  as gzipped JSON under ``$TURNRL_CACHE/webshop`` (default ``~/.cache/turnrl/webshop``);
  nothing is downloaded. An unwritable cache only costs regeneration.
* Real data: ``data_dir`` with the original ``items_shuffle[_1000].json``,
  ``items_ins_v2[_1000].json`` and (for human goals) ``items_human_ins.json``.

Catalogs are immutable once built and memoised per process, so every env in a worker
shares one copy.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import logging
import os
import random
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from envs.webshop.datacheck import check_attributes, check_human_instructions, check_products
from envs.webshop.goals import Goal, human_goals, shuffle_goals, synthetic_goals
from envs.webshop.products import Product, products_from_raw, sample_prices
from envs.webshop.search import ProductSearch

log = logging.getLogger(__name__)

PAPER_TEST_GOALS = 500
PRICE_SEED = 0


@dataclass(frozen=True)
class Catalog:
    name: str
    products: list[Product]
    index_of: dict[str, int]
    prices: dict[str, float]
    goals: list[Goal]
    search: ProductSearch
    num_test_goals: int

    def split_ids(self, split: str) -> list[int]:
        """Goal indices of a split: test = the first ``num_test_goals``, train = the rest."""
        n_test = min(self.num_test_goals, len(self.goals))
        if split == "test":
            return list(range(n_test))
        if split == "train":
            return list(range(n_test, len(self.goals)))
        if split == "all":
            return list(range(len(self.goals)))
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")


def build_catalog(name: str, products: list[Product], use_human_goals: bool, num_test_goals: int) -> Catalog:
    """Prices, then budgets, from one seeded stream (the original draws both unseeded)."""
    if not products:
        raise ValueError(f"catalog {name!r} has no products")
    rng = random.Random(PRICE_SEED)
    prices = sample_prices(products, rng)
    goals = (human_goals if use_human_goals else synthetic_goals)(products, prices, rng)
    if not goals:
        raise ValueError(f"catalog {name!r} yields no goals (human_goals={use_human_goals})")
    return Catalog(
        name=name,
        products=products,
        index_of={p.asin: i for i, p in enumerate(products)},
        prices=prices,
        goals=shuffle_goals(goals),
        search=ProductSearch([p.search_document() for p in products]),
        num_test_goals=num_test_goals,
    )


# ---- built-in generated catalog --------------------------------------------------------------


def cache_dir() -> Path:
    root = os.environ.get("TURNRL_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "turnrl") / "webshop"


def catalog_from_generated(generated: dict[str, Any], name: str) -> Catalog:
    products = products_from_raw(generated["products"], generated["attributes"])
    num_test = generated["meta"]["config"]["num_test_goals"]
    return build_catalog(name, products, use_human_goals=False, num_test_goals=num_test)


def _cache_path(config: Any) -> Path:
    """Keyed by the config and a fingerprint of the generator's source, so edits invalidate it."""
    from envs.webshop.generation import generate, vocab

    source = b"".join(Path(m.__file__).read_bytes() for m in (generate, vocab))  # type: ignore[arg-type]
    fingerprint = hashlib.sha256(source).hexdigest()[:12]
    key = "-".join(f"{k}{v}" for k, v in sorted(asdict(config).items()))
    return cache_dir() / f"generated-{fingerprint}-{key}.json.gz"


def _write_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.chmod(tmp, 0o644)  # shared cache: mkstemp creates 0600
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(json.dumps(payload).encode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.cache
def builtin_catalog(config: Any) -> Catalog:
    """The generated catalog for a ``CatalogConfig``; read from the cache or generated and cached."""
    from envs.webshop.generation.generate import generate_catalog

    path = _cache_path(config)
    generated = None
    if path.exists():
        try:
            with gzip.open(path, "rt") as f:
                generated = json.load(f)
        except (OSError, ValueError) as err:
            log.warning("ignoring unreadable catalog cache %s (%s); regenerating", path, err)
    if generated is None:
        generated = generate_catalog(config)
        try:
            _write_atomic(path, generated)
        except OSError as err:
            log.warning("could not cache the generated catalog at %s (%s); continuing in memory", path, err)
    return catalog_from_generated(generated, name=str(path))


# ---- the original data files -------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        present = sorted(p.name for p in path.parent.glob("*.json")) if path.parent.is_dir() else []
        raise FileNotFoundError(f"WebShop data file {path} not found (json files there: {present})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"WebShop data file {path} is not valid JSON: {err}") from err


@functools.cache
def data_dir_catalog(
    data_dir: str, use_human_goals: bool, use_small: bool, num_products: int | None, num_test_goals: int
) -> Catalog:
    """The original data: products, their attributes/instructions and (optionally) human goals."""
    root = Path(data_dir).expanduser()
    suffix = "_1000" if use_small else ""
    products_path = root / f"items_shuffle{suffix}.json"
    attributes_path = root / f"items_ins_v2{suffix}.json"
    raw_products = _read_json(products_path)
    check_products(products_path, raw_products)
    attributes = _read_json(attributes_path)
    check_attributes(attributes_path, attributes, products_path, [p["asin"] for p in raw_products])
    products = products_from_raw(raw_products, attributes, num_products)
    if use_human_goals:
        human_path = root / "items_human_ins.json"
        human = _read_json(human_path)
        check_human_instructions(human_path, human)
        for product in products:
            product.human_instructions = list(human.get(product.asin, []))
    return build_catalog(str(root), products, use_human_goals, num_test_goals)
