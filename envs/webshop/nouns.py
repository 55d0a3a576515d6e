"""Nouns of a product title, for the type part of the score.

The original keeps spaCy NOUN/PROPN tokens of the titles. Its model cannot be installed
offline here, so: generated products carry their nouns (known by construction, stored as
``name_nouns``); other titles use spaCy's ``en_core_web_sm`` when that package is
installed, else a heuristic: tokens cut the way spaCy's English tokenizer cuts titles,
minus numbers, stop words and common title modifiers. The heuristic cannot tell nouns from
adjectives or verbs ("listed", "casual"), so it over-counts; it only shifts partial type
scores of *other* products, never the score of the goal's own product.

Tokens follow spaCy's rules because the score compares token *strings*: model numbers
such as "921ORB" or "HT830V" and abbreviations such as "D.O.N." are single tokens there
(and usually PROPN), so splitting them into letters and digits invents or loses matches.
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
    pc piece pieces count ct oz fl lb lbs inch inches ft cm mm ml g kg x off out about""".split()
)
_TITLE_MODIFIERS = frozenset(
    """premium best great high quality professional portable adjustable durable soft natural organic
    large small medium mini big extra super ultra heavy light lightweight long short wide slim
    compatible universal original classic modern vintage cute fashion casual comfortable waterproof
    wireless free resistant easy fast quick non anti upgraded improved multi double single""".split()
)
# spaCy's English tokenizer on titles: whitespace pieces, leading/trailing punctuation cut
# off, a hyphen split when a letter follows it ("12-Pack", "SC-HT830V" but not "3-5"), a
# slash likewise ("DVD/VCR" but not "3/4"), and a possessive "'s" split off (a PART).
_EDGE_PUNCT = "\"'()[]{}<>,;:!?*#&+|~`$%"
_INFIX = re.compile(r"(?<=[a-z0-9])[-/](?=[a-z])")
_POSSESSIVE = re.compile(r"(?<=[a-z])'s$")
_HAS_LETTER = re.compile(r"[a-z]")


def title_tokens(title: str) -> list[str]:
    """Lower-cased tokens of ``title``, cut the way spaCy's English tokenizer cuts titles."""
    tokens = []
    for piece in title.lower().split():
        piece = piece.strip(_EDGE_PUNCT)
        if piece.endswith(".") and piece.count(".") == 1:
            piece = piece[:-1]  # a sentence-final stop; "d.o.n." keeps its stops
        for token in _INFIX.split(piece):
            token = _POSSESSIVE.sub("", token.strip(_EDGE_PUNCT + "-/"))
            if token:
                tokens.append(token)
    return tokens


def _heuristic_nouns(title: str) -> tuple[str, ...]:
    return tuple(
        t
        for t in title_tokens(title)
        if len(t) > 1 and _HAS_LETTER.search(t) and t not in _STOP_WORDS and t not in _TITLE_MODIFIERS
    )


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
