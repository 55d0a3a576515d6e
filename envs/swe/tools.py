"""The agent's tools and how actions are read: model text with function-call blocks, or dicts.

Model text uses one block per turn:

    <function=bash>
    <parameter=command>python -m pytest -q</parameter>
    </function>

Structured actions (experts, tests, outside tools) are dicts: {"tool": "bash", "command": ...},
{"tool": "str_replace_editor", "command": "view", "path": ...}, {"tool": "submit"}.
Both become a `ToolCall`; anything malformed raises `ActionError`, which the env turns into an
invalid-action observation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

EDITOR_COMMANDS = ("view", "create", "str_replace", "insert", "undo_edit")
TOOL_ALIASES = {
    "bash": "bash",
    "execute_bash": "bash",
    "str_replace_editor": "str_replace_editor",
    "file_editor": "str_replace_editor",
    "submit": "submit",
    "finish": "submit",
}
PARAM_ALIASES = {"cmd": "command"}
# Parameters some scaffolds send that carry no meaning here.
IGNORED_PARAMS = {"security_risk", "message", "result", "thought"}

TOOL_PROMPT = """\
You are working in a Python repository checked out at /testbed. Fix the issue described by the user \
by editing the source code; hidden tests will check your fix after you submit.

Each reply must end with exactly one tool call, written like this:
<function=TOOL_NAME>
<parameter=NAME>value</parameter>
</function>
Values are taken literally (one newline right after the opening tag and one right before the closing \
tag are dropped), so write code with its real indentation and no escaping.

Tools:
1. bash: run a shell command in /testbed and see its exit code and output.
   Parameters: command (required). Every call starts a fresh shell in /testbed: `cd` and variables do not \
carry over. There is no network. Long output is cut in the middle. Commands that run too long are killed.
2. str_replace_editor: look at and change files. Paths must be absolute, inside /testbed.
   Parameters: command (required, one of view, create, str_replace, insert, undo_edit), path (required),
   - view: shows a file with line numbers, or lists a directory two levels deep; optional view_range \
such as [10, 40] (use -1 as the end to read to the last line).
   - create: writes a new file; file_text (required). Refuses to overwrite an existing file.
   - str_replace: replaces old_str (required) by new_str (default: empty). old_str must occur exactly \
once in the file, whitespace included; add surrounding lines to make it unique.
   - insert: inserts new_str (required) after line insert_line (required; 0 inserts at the top).
   - undo_edit: reverts the last change the editor made to that file.
3. submit: you are done; your changes are graded. No parameters.

Example:
<function=str_replace_editor>
<parameter=command>view</parameter>
<parameter=path>/testbed</parameter>
</function>
"""

FUNCTION_BLOCK = re.compile(r"<function=([^>\s]*)\s*>(.*?)(?:</function>|\Z)", re.DOTALL)
PARAMETER = re.compile(r"<parameter=([^>\s]*)\s*>(.*?)</parameter>", re.DOTALL)
OPEN_PARAMETER = re.compile(r"<parameter=")


class ActionError(ValueError):
    """The action cannot be run; the message is shown to the agent."""


@dataclass(frozen=True)
class ToolCall:
    tool: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, **self.args}

    def canonical(self) -> str:
        """A stable string of the call, used in GiGPO anchors."""
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)


def format_action(action: dict | ToolCall) -> str:
    """The function-call text of a structured action (e.g. the expert's, for SFT demonstrations);
    `parse_action(format_action(a))` gives back the same call."""
    call = action if isinstance(action, ToolCall) else parse_structured_action(action)
    lines = [f"<function={call.tool}>"]
    for key, value in call.args.items():
        text = json.dumps(value) if isinstance(value, list) else str(value)
        lines.append(
            f"<parameter={key}>\n{text}\n</parameter>"
            if "\n" in text
            else f"<parameter={key}>{text}</parameter>"
        )
    lines.append("</function>")
    return "\n".join(lines)


def parse_action(action: str | dict) -> ToolCall:
    if isinstance(action, dict):
        return parse_structured_action(action)
    if isinstance(action, str):
        return parse_text_action(action)
    raise ActionError(f"an action must be text or a dict, not {type(action).__name__}")


def parse_text_action(text: str) -> ToolCall:
    match = FUNCTION_BLOCK.search(text)
    if match is None:
        raise ActionError(
            "No tool call found. End your reply with one block like "
            "<function=bash><parameter=command>ls</parameter></function>."
        )
    name, body = match.group(1), match.group(2)
    params: dict[str, Any] = {}
    for key, value in PARAMETER.findall(body):
        if key in params:
            raise ActionError(f"parameter {key!r} is given twice")
        params[key] = _trim(value)
    if len(OPEN_PARAMETER.findall(body)) != len(PARAMETER.findall(body)):
        raise ActionError("a <parameter=...> block is not closed with </parameter>")
    return _validate(name, params)


def parse_structured_action(action: dict) -> ToolCall:
    if "tool" not in action:
        raise ActionError("a structured action needs a 'tool' key")
    params = {k: v for k, v in action.items() if k != "tool"}
    return _validate(str(action["tool"]), params)


def _trim(value: str) -> str:
    if value.startswith("\n"):
        value = value[1:]
    if value.endswith("\n"):
        value = value[:-1]
    return value


def _validate(name: str, params: dict[str, Any]) -> ToolCall:
    tool = TOOL_ALIASES.get(name)
    if tool is None:
        raise ActionError(f"unknown tool {name!r}; the tools are bash, str_replace_editor and submit")
    params = {PARAM_ALIASES.get(k, k): v for k, v in params.items() if k not in IGNORED_PARAMS}
    if tool == "submit":
        params.pop("command", None)  # finish(command="submit") in R2E-style scaffolds
        _no_extra(tool, params, set())
        return ToolCall("submit")
    if tool == "bash":
        _no_extra(tool, params, {"command"})
        command = params.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ActionError("bash needs a non-empty 'command'")
        return ToolCall("bash", {"command": command})
    return ToolCall("str_replace_editor", _editor_args(params))


def _no_extra(tool: str, params: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(params) - allowed)
    if extra:
        raise ActionError(f"{tool} does not take parameter(s) {extra}")


EDITOR_PARAMS = {
    "view": ({"path"}, {"view_range"}),
    "create": ({"path", "file_text"}, set()),
    "str_replace": ({"path", "old_str"}, {"new_str"}),
    "insert": ({"path", "insert_line", "new_str"}, set()),
    "undo_edit": ({"path"}, set()),
}


def _editor_args(params: dict[str, Any]) -> dict[str, Any]:
    command = params.get("command")
    if command not in EDITOR_COMMANDS:
        raise ActionError(
            f"str_replace_editor 'command' must be one of {', '.join(EDITOR_COMMANDS)}; got {command!r}"
        )
    required, optional = EDITOR_PARAMS[command]
    missing = sorted(required - set(params))
    if missing:
        raise ActionError(f"str_replace_editor {command} needs parameter(s) {missing}")
    _no_extra(f"str_replace_editor {command}", params, required | optional | {"command"})
    args: dict[str, Any] = {"command": command}
    for key in sorted(required | optional):
        if key in params:
            args[key] = params[key]
    for key in ("path", "file_text", "old_str", "new_str"):
        if key in args and not isinstance(args[key], str):
            raise ActionError(f"'{key}' must be a string")
    if "view_range" in args:
        args["view_range"] = _int_list(args["view_range"])
    if "insert_line" in args:
        args["insert_line"] = _int(args["insert_line"], "insert_line")
    if command == "str_replace" and args["old_str"] == "":
        raise ActionError("old_str must not be empty")
    return args


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ActionError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise ActionError(f"{name} must be an integer, got {value!r}")


def _int_list(value: Any) -> list[int]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ActionError(f"view_range must look like [start, end], got {value!r}") from exc
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ActionError("view_range must be a list of two integers [start, end]")
    return [_int(v, "view_range") for v in value]
