"""A character scanner producing WORD, NUMBER and PUNCT tokens with their offsets."""

from collections import Counter
from dataclasses import dataclass

ABBREVIATIONS = {"mr", "mrs", "dr", "e.g", "i.e", "etc", "vs"}
SENTENCE_END = {".", "!", "?"}
NO_SPACE_BEFORE = {".", ",", "!", "?", ";", ":", ")", "%"}
NO_SPACE_AFTER = {"(", "$"}


@dataclass(frozen=True)
class Token:
    text: str
    kind: str
    start: int

    @property
    def end(self):
        return self.start + len(self.text)


def _is_word_char(ch):
    return ch.isalpha() or ch == "_"


def tokenize(text):
    """Words may contain inner apostrophes and hyphens; numbers may have one decimal point."""
    tokens = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch.isdigit():
            seen_point = False
            while i < n and (text[i].isdigit() or (text[i] == "." and not seen_point)):
                if text[i] == ".":
                    if i + 1 >= n or not text[i + 1].isdigit():
                        break
                    seen_point = True
                i += 1
            tokens.append(Token(text[start:i], "NUMBER", start))
        elif _is_word_char(ch):
            while i < n and (_is_word_char(text[i]) or text[i].isdigit()):
                i += 1
                if i < n - 1 and text[i] in "'-" and _is_word_char(text[i + 1]):
                    i += 1
            tokens.append(Token(text[start:i], "WORD", start))
        else:
            i += 1
            tokens.append(Token(ch, "PUNCT", start))
    return tokens


def words(text, lower=True):
    out = [t.text for t in tokenize(text) if t.kind == "WORD"]
    return [w.lower() for w in out] if lower else out


def word_counts(text, top=None):
    """(word, count) pairs, most frequent first, ties in first-seen order."""
    counts = Counter(words(text))
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return ranked if top is None else ranked[:top]


def ngrams(items, n):
    if n < 1:
        raise ValueError("n must be at least 1")
    return [tuple(items[i : i + n]) for i in range(len(items) - n + 1)]


def split_sentences(text):
    """Split after . ! ? unless the period ends a known abbreviation."""
    sentences = []
    start = 0
    tokens = tokenize(text)
    for index, token in enumerate(tokens):
        if token.kind != "PUNCT" or token.text not in SENTENCE_END:
            continue
        if token.text == "." and index > 0 and tokens[index - 1].text.lower() in ABBREVIATIONS:
            continue
        sentence = text[start : token.end].strip()
        if sentence:
            sentences.append(sentence)
        start = token.end
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


def normalize_whitespace(text):
    return " ".join(text.split())


def detokenize(tokens):
    """Join token texts with spaces, except around punctuation that hugs its neighbour."""
    out = ""
    previous = None
    for token in tokens:
        text = token.text if isinstance(token, Token) else token
        if previous is not None and text not in NO_SPACE_BEFORE and previous not in NO_SPACE_AFTER:
            out += " "
        out += text
        previous = text
    return out


def truncate_words(text, limit, ellipsis="..."):
    parts = text.split()
    if limit < 0:
        raise ValueError("limit must not be negative")
    if len(parts) <= limit:
        return " ".join(parts)
    return " ".join(parts[:limit]) + ellipsis
