import pytest
from tokenizer import (
    Token,
    detokenize,
    ngrams,
    normalize_whitespace,
    split_sentences,
    tokenize,
    truncate_words,
    word_counts,
)


def kinds(text):
    return [(t.text, t.kind) for t in tokenize(text)]


def test_simple_words():
    assert kinds("hello world") == [("hello", "WORD"), ("world", "WORD")]


def test_offsets():
    tokens = tokenize("  ab cd")
    assert [t.start for t in tokens] == [2, 5]
    assert tokens[1].end == 7


def test_punctuation_tokens():
    assert kinds("hi, there!") == [("hi", "WORD"), (",", "PUNCT"), ("there", "WORD"), ("!", "PUNCT")]


def test_numbers_with_decimal_point():
    assert kinds("pi is 3.14") == [("pi", "WORD"), ("is", "WORD"), ("3.14", "NUMBER")]


def test_number_followed_by_period():
    assert kinds("I have 42.") == [("I", "WORD"), ("have", "WORD"), ("42", "NUMBER"), (".", "PUNCT")]


def test_version_like_number_stops_at_second_point():
    assert [t.text for t in tokenize("1.2.3")] == ["1.2", ".", "3"]


def test_contractions_and_hyphens():
    assert [t.text for t in tokenize("don't over-think it")] == ["don't", "over-think", "it"]


def test_trailing_apostrophe_is_punct():
    assert [t.text for t in tokenize("dogs' bowls")] == ["dogs", "'", "bowls"]


def test_words_with_digits():
    assert [t.text for t in tokenize("mp3 files")] == ["mp3", "files"]


def test_empty_text():
    assert tokenize("") == []
    assert tokenize("   ") == []


def test_word_counts_order():
    assert word_counts("b a b c a b") == [("b", 3), ("a", 2), ("c", 1)]


def test_word_counts_ignores_case_and_punct():
    assert word_counts("The cat. the CAT!", top=1) == [("the", 2)]


def test_ngrams():
    assert ngrams([1, 2, 3, 4], 2) == [(1, 2), (2, 3), (3, 4)]
    assert ngrams([1, 2, 3], 3) == [(1, 2, 3)]
    assert ngrams([1, 2], 3) == []


def test_ngrams_rejects_zero():
    with pytest.raises(ValueError):
        ngrams([1, 2], 0)


def test_split_sentences():
    assert split_sentences("One. Two! Three?") == ["One.", "Two!", "Three?"]


def test_split_sentences_keeps_abbreviations():
    assert split_sentences("Dr. Smith is in. Come back later") == ["Dr. Smith is in.", "Come back later"]


def test_split_sentences_decimal_numbers():
    assert split_sentences("It costs 2.50 dollars. Cheap.") == ["It costs 2.50 dollars.", "Cheap."]


def test_normalize_whitespace():
    assert normalize_whitespace("  a \t b\n\nc ") == "a b c"


def test_detokenize():
    assert detokenize(tokenize("Hello , world !")) == "Hello, world!"
    assert detokenize(["(", "a", ")"]) == "(a)"
    assert detokenize(["costs", "$", "5", "%"]) == "costs $5%"


def test_detokenize_token_objects():
    assert detokenize([Token("a", "WORD", 0), Token(".", "PUNCT", 1)]) == "a."


def test_truncate_words():
    assert truncate_words("one two three four", 2) == "one two..."
    assert truncate_words("one two", 2) == "one two"
    assert truncate_words("one  two", 5, ellipsis="!") == "one two"


def test_truncate_negative_limit():
    with pytest.raises(ValueError):
        truncate_words("a b", -1)
