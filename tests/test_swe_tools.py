"""Action parsing for the SWE env: function-call text, structured dicts, and malformed input."""

import pytest

from envs.swe.tools import TOOL_PROMPT, ActionError, ToolCall, format_action, parse_action


def test_tool_prompt_documents_every_tool_and_command():
    for word in [
        "bash",
        "str_replace_editor",
        "submit",
        "view",
        "create",
        "str_replace",
        "insert",
        "undo_edit",
        "<function=",
        "<parameter=",
        "/testbed",
    ]:
        assert word in TOOL_PROMPT


def test_parse_bash_block_with_surrounding_reasoning():
    text = "Let me look.\n<function=bash>\n<parameter=command>\nls -la /testbed\n</parameter>\n</function>\nthanks"
    assert parse_action(text) == ToolCall("bash", {"command": "ls -la /testbed"})


def test_parse_keeps_indentation_and_inner_newlines():
    text = (
        "<function=str_replace_editor>\n<parameter=command>str_replace</parameter>\n"
        "<parameter=path>/testbed/a.py</parameter>\n"
        "<parameter=old_str>\n    return x\n</parameter>\n"
        "<parameter=new_str>\n    if x:\n        return x\n\n</parameter>\n</function>"
    )
    call = parse_action(text)
    assert call.args == {
        "command": "str_replace",
        "path": "/testbed/a.py",
        "old_str": "    return x",
        "new_str": "    if x:\n        return x\n",
    }


def test_parse_missing_closing_function_tag_is_accepted():
    # Engines often stop on "</function>" and drop the stop string.
    assert parse_action("<function=submit>\n").tool == "submit"


def test_view_range_and_insert_line_are_converted():
    call = parse_action(
        "<function=str_replace_editor><parameter=command>view</parameter><parameter=path>/testbed/x.py"
        "</parameter><parameter=view_range>[3, -1]</parameter></function>"
    )
    assert call.args["view_range"] == [3, -1]
    call = parse_action(
        {
            "tool": "str_replace_editor",
            "command": "insert",
            "path": "/testbed/x.py",
            "insert_line": "4",
            "new_str": "y = 1",
        }
    )
    assert call.args["insert_line"] == 4


def test_aliases_of_other_scaffolds():
    assert parse_action("<function=execute_bash><parameter=cmd>pwd</parameter></function>").args == {
        "command": "pwd"
    }
    assert parse_action("<function=finish><parameter=command>submit</parameter></function>").tool == "submit"
    call = parse_action(
        {"tool": "file_editor", "command": "view", "path": "/testbed", "security_risk": "LOW"}
    )
    assert call.tool == "str_replace_editor"


def test_structured_actions():
    assert parse_action({"tool": "submit"}) == ToolCall("submit")
    assert parse_action({"tool": "bash", "command": "echo hi"}).to_dict() == {
        "tool": "bash",
        "command": "echo hi",
    }


def test_canonical_is_order_independent():
    a = parse_action({"tool": "str_replace_editor", "command": "view", "path": "/testbed"})
    b = parse_action({"path": "/testbed", "command": "view", "tool": "str_replace_editor"})
    assert a.canonical() == b.canonical()


@pytest.mark.parametrize(
    "action, message",
    [
        ("just some thoughts, no tool call", "No tool call"),
        ("<function=rm_rf><parameter=x>1</parameter></function>", "unknown tool"),
        ("<function=bash></function>", "non-empty 'command'"),
        (
            "<function=bash><parameter=command>ls</parameter><parameter=command>pwd</parameter></function>",
            "twice",
        ),
        ("<function=bash><parameter=command>ls</function>", "not closed"),
        (
            "<function=bash><parameter=command>ls</parameter><parameter=timeout>3</parameter></function>",
            "timeout",
        ),
        ({"tool": "str_replace_editor", "command": "delete", "path": "/testbed/a"}, "must be one of"),
        ({"tool": "str_replace_editor", "command": "create", "path": "/testbed/a"}, "file_text"),
        (
            {"tool": "str_replace_editor", "command": "str_replace", "path": "/a", "old_str": ""},
            "must not be empty",
        ),
        (
            {"tool": "str_replace_editor", "command": "view", "path": "/a", "view_range": "[1]"},
            "two integers",
        ),
        (
            {
                "tool": "str_replace_editor",
                "command": "insert",
                "path": "/a",
                "insert_line": "x",
                "new_str": "",
            },
            "integer",
        ),
        ({"command": "ls"}, "'tool' key"),
        (42, "text or a dict"),
    ],
)
def test_malformed_actions_raise_action_error(action, message):
    with pytest.raises(ActionError, match=message):
        parse_action(action)


@pytest.mark.parametrize(
    "action",
    [
        {"tool": "submit"},
        {"tool": "bash", "command": "cd /testbed && python -m pytest -q"},
        {"tool": "str_replace_editor", "command": "view", "path": "/testbed/a.py", "view_range": [2, -1]},
        {
            "tool": "str_replace_editor",
            "command": "str_replace",
            "path": "/testbed/a.py",
            "old_str": "\n    x = 1\n\n",
            "new_str": "    x = 2\n",
        },
        {
            "tool": "str_replace_editor",
            "command": "insert",
            "path": "/testbed/a.py",
            "insert_line": 0,
            "new_str": "import os",
        },
    ],
)
def test_format_action_round_trips(action):
    text = format_action(action)
    assert text.startswith(f"<function={action['tool']}>")
    assert parse_action(text) == parse_action(action)
