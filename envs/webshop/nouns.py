"""Nouns of a product title, for the type part of the score.

The original keeps spaCy NOUN/PROPN tokens of the titles. Its model cannot be installed
offline here, so: generated products carry their nouns (known by construction, stored as
``name_nouns``); other titles use spaCy's ``en_core_web_sm`` when that package is
installed, else a heuristic (alphabetic tokens minus stop words and common title
modifiers). The heuristic over-counts adjectives; it only shifts partial type scores of
*other* products, never the score of the goal's own product.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
from collections.abc import Callable

log = logging.getLogger(__name__)

_STOP_WORDS = frozenset(
    """a an and are as at be by for from has have in into is it its of on or over per the to up
    with without your you our this that these those all any each more most new plus set pack pcs
    pc piece pieces count ct oz fl lb lbs inch inches ft cm mm ml g kg x""".split()
)
_TITLE_MODIFIERS = frozenset(
    """premium best great high quality professional portable adjustable durable soft natural organic
    large small medium mini big extra super ultra heavy light lightweight long short wide slim
    compatible universal original classic modern vintage cute fashion casual comfortable waterproof
    wireless free resistant easy fast quick non anti upgraded improved multi double single""".split()
)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _heuristic_nouns(title: str) -> tuple[str, ...]:
    words = _WORD.findall(title.lower())
    return tuple(w for w in words if len(w) > 1 and w not in _STOP_WORDS and w not in _TITLE_MODIFIERS)


@functools.cache
def _tagger() -> Callable[[str], tuple[str, ...]]:
    if importlib.util.find_spec("en_core_web_sm") is None:
        log.info("spaCy en_core_web_sm not installed; title nouns use the heuristic extractor")
        return _heuristic_nouns
    import spacy

    nlp = spacy.load("en_core_web_sm")

    def spacy_nouns(title: str) -> tuple[str, ...]:
        return tuple(t.text.lower() for t in nlp(title) if t.pos_ in ("NOUN", "PROPN"))

    return spacy_nouns


@functools.lru_cache(maxsize=65536)
def title_nouns(title: str) -> tuple[str, ...]:
    """Noun tokens of ``title`` (lower case, duplicates kept: the score divides by their count)."""
    return _tagger()(title)
