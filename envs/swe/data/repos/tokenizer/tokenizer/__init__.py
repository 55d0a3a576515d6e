"""A small rule-based text tokenizer."""

from tokenizer.text import (
    Token,
    detokenize,
    ngrams,
    normalize_whitespace,
    split_sentences,
    tokenize,
    truncate_words,
    word_counts,
)

__all__ = [
    "Token",
    "detokenize",
    "ngrams",
    "normalize_whitespace",
    "split_sentences",
    "tokenize",
    "truncate_words",
    "word_counts",
]
