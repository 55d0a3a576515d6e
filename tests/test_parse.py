"""Action parsing: every malformed output is an invalid action, never an exception."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.parse import INVALID_ACTION_TEXT, AdmissibleMatcher, clean_text, parse_action, parse_tool_call

ADMISSIBLE = ["go to fridge 1", "open fridge 1", "take apple 1 from countertop 2", "look"]


def test_valid_action_is_mapped_to_the_canonical_spelling():
    parsed = parse_action("<action>  Go To  Fridge 1. </action>", ADMISSIBLE)
    assert parsed.valid and parsed.action == "go to fridge 1" and parsed.reason == ""


def test_free_text_action_without_admissible_list():
    parsed = parse_action("<think>hm</think><action>search[red sofa]</action>")
    assert parsed.valid and parsed.action == "search[red sofa]"


def test_missing_tag_is_invalid_and_sends_the_text():
    parsed = parse_action("go to fridge 1", ADMISSIBLE)
    assert not parsed.valid and parsed.reason == "no_action_tag"
    assert parsed.action == "go to fridge 1"


def test_unclosed_tag_is_invalid():
    parsed = parse_action("<action>go to fridge 1", ADMISSIBLE)
    assert not parsed.valid and parsed.reason == "no_action_tag"


def test_empty_action_is_invalid():
    parsed = parse_action("<action>   </action>", ADMISSIBLE)
    assert not parsed.valid and parsed.reason == "empty_action" and parsed.action == INVALID_ACTION_TEXT


def test_not_admissible_is_invalid_but_still_sent():
    parsed = parse_action("<action>fly to the moon</action>", ADMISSIBLE)
    assert not parsed.valid and parsed.reason == "not_admissible" and parsed.action == "fly to the moon"


def test_garbage_bytes_are_invalid():
    garbage = b"\xff\xfe\x00\x01\x9c<act\xffion>".decode("utf-8", errors="replace")
    parsed = parse_action(garbage, ADMISSIBLE)
    assert not parsed.valid
    assert "\ufffd" not in parsed.action and "\x00" not in parsed.action and parsed.action


def test_only_garbage_sends_the_placeholder():
    parsed = parse_action("\ufffd\ufffd\x00\x07", ADMISSIBLE)
    assert not parsed.valid and parsed.action == INVALID_ACTION_TEXT


def test_overlong_action_is_invalid_and_capped():
    parsed = parse_action("<action>" + "go " * 500 + "</action>", None, max_action_chars=100)
    assert not parsed.valid and parsed.reason == "too_long" and len(parsed.action) == 100


def test_overlong_response_without_closing_tag_is_invalid():
    text = "<think>" + "a very long thought " * 200
    parsed = parse_action(text, ADMISSIBLE, max_action_chars=50)
    assert not parsed.valid and len(parsed.action) <= 50


def test_think_required_in_think_action_format():
    assert not parse_action("<action>look</action>", ADMISSIBLE, require_think=True).valid
    assert parse_action("<think>x</think><action>look</action>", ADMISSIBLE, require_think=True).valid
    # the think block must come before the action
    assert not parse_action("<action>look</action><think>x</think>", ADMISSIBLE, require_think=True).valid


def test_first_action_tag_wins():
    parsed = parse_action("<action>look</action><action>open fridge 1</action>", ADMISSIBLE)
    assert parsed.valid and parsed.action == "look"


def test_placeholder_admissible_entries_accept_any_filler():
    matcher = AdmissibleMatcher(["search[<your query>]", "click[buy now]"])
    assert matcher.match("search[red sofa under 200 dollars]") == "search[red sofa under 200 dollars]"
    assert matcher.match("Click[Buy Now]") == "click[buy now]"
    assert matcher.match("search[]") is None
    assert matcher.match("click[back]") is None


def test_non_string_input_is_invalid():
    assert not parse_action(None, ADMISSIBLE).valid
    assert not parse_action(b"<action>look</action>", ADMISSIBLE).valid


def test_clean_text_keeps_newlines_and_tabs():
    assert clean_text("a\nb\tc\x00d\ufffd") == "a\nb\tcd"


def test_tool_call_block_is_extracted_for_swe():
    text = "<think>look first</think>\n<function=bash>\n<parameter=command>ls -la</parameter>\n</function> trailing"
    parsed = parse_tool_call(text)
    assert parsed.valid
    assert parsed.action == "<function=bash>\n<parameter=command>ls -la</parameter>\n</function>"


def test_missing_tool_call_is_invalid_for_swe():
    parsed = parse_tool_call("I would run ls")
    assert not parsed.valid and parsed.reason == "no_tool_call" and parsed.action == "I would run ls"
    assert not parse_tool_call("<function=bash><parameter=command>ls</parameter>").valid


@settings(max_examples=300, deadline=None)
@given(st.text(), st.one_of(st.none(), st.lists(st.text(max_size=30), max_size=5)), st.booleans())
def test_parse_never_raises(text, admissible, require_think):
    parsed = parse_action(text, admissible, require_think=require_think)
    assert isinstance(parsed.action, str) and parsed.action
    assert parsed.valid == (parsed.reason == "")
    tool = parse_tool_call(text)
    assert isinstance(tool.action, str) and tool.action


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(raw):
    parse_action(raw.decode("utf-8", errors="replace"), ADMISSIBLE)
    parse_tool_call(raw.decode("latin-1"))
