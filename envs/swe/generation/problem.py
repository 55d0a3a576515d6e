"""Issue text for a generated instance, written from the failing behaviour.

The reproduction is a short script rebuilt from a failing hidden test: its imports and helpers,
its statements, and each `assert a == b` rewritten as `print(a)  # expected: b`, plus the error
the buggy code produces. It names neither the test file nor the test, the way a user reporting a
bug would not know about them.
"""

from __future__ import annotations

import ast
import hashlib
import re

TITLES = (
    "{name} gives a wrong result for some inputs",
    "Unexpected behaviour in {name}",
    "{name} does not do what the docs say",
    "Bug in {name}",
)
INTROS = (
    "I ran into this while using {repo} {version}.",
    "Found with {repo} {version} on a small example.",
    "This looks like a regression in {repo} {version}.",
)


def _pick(options: tuple[str, ...], key: str) -> str:
    return options[int(hashlib.sha1(key.encode()).hexdigest(), 16) % len(options)]


def _module_names(tree: ast.Module) -> dict[str, ast.stmt]:
    """Top-level helper functions, classes and constants of a test module, by name."""
    out: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("test"):
            out[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node
    return out


def _used_names(nodes: list[ast.AST]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def _imports(tree: ast.Module, used: set[str]) -> list[str]:
    lines = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            kept = [
                a for a in node.names if (a.asname or a.name).split(".")[0] in used and a.name != "pytest"
            ]
            if kept:
                clone = (
                    ast.ImportFrom(node.module, kept, node.level)
                    if isinstance(node, ast.ImportFrom)
                    else ast.Import(kept)
                )
                lines.append(ast.unparse(clone))
    return lines


def _is_pytest_attr(node: ast.AST, attr: str) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == attr
        and isinstance(node.value, ast.Name)
        and node.value.id == "pytest"
    )


def _expected_text(node: ast.expr) -> str:
    if isinstance(node, ast.Call) and _is_pytest_attr(node.func, "approx") and node.args:
        return f"approximately {ast.unparse(node.args[0])}"
    return ast.unparse(node)


def _rewrite(stmt: ast.stmt, indent: str = "") -> list[str]:
    """Statements of a test as a user's script (asserts become prints with the expectation)."""
    if isinstance(stmt, ast.Assert):
        test = stmt.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            op = test.ops[0]
            shown, expected = ast.unparse(test.left), _expected_text(test.comparators[0])
            if isinstance(op, ast.Eq | ast.Is):
                return [f"{indent}print({shown})  # expected: {expected}"]
            if isinstance(op, ast.NotEq | ast.IsNot):
                return [f"{indent}print({shown})  # expected anything but {expected}"]
            return [f"{indent}print({ast.unparse(test)})  # expected: True"]
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            return [f"{indent}print(bool({ast.unparse(test.operand)}))  # expected: False"]
        return [f"{indent}print(bool({ast.unparse(test)}))  # expected: True"]
    if isinstance(stmt, ast.With) and len(stmt.items) == 1:
        ctx = stmt.items[0].context_expr
        if isinstance(ctx, ast.Call) and _is_pytest_attr(ctx.func, "raises") and ctx.args:
            lines: list[str] = []
            for inner in stmt.body:
                lines += _rewrite(inner, indent)
            if lines:
                lines[0] += f"  # expected to raise {ast.unparse(ctx.args[0])}"
            return lines
    if isinstance(stmt, ast.For | ast.While | ast.If | ast.With) and stmt.body:
        header = ast.unparse(stmt).splitlines()[0]
        lines = [f"{indent}{header}"]
        for inner in stmt.body:
            lines += _rewrite(inner, indent + "    ")
        return lines
    return [indent + line for line in ast.unparse(stmt).splitlines()]


def _first_callee(nodes: list[ast.AST], imported: set[str]) -> str | None:
    calls = [n for node in nodes for n in ast.walk(node) if isinstance(n, ast.Call)]
    for call in calls:
        if isinstance(call.func, ast.Name) and call.func.id in imported:
            return call.func.id
    for call in calls:
        func = call.func
        if isinstance(func, ast.Attribute) and not (
            isinstance(func.value, ast.Name) and func.value.id == "pytest"
        ):
            return func.attr
    return None


def _subject(test: ast.FunctionDef, helpers: list[ast.stmt], imported: set[str]) -> str:
    """What the title names: the first library function or method the test calls (then its helpers),
    else the first library name it mentions; never the test's own name."""
    for nodes in (test.body, helpers):
        callee = _first_callee(nodes, imported)
        if callee:
            return callee
    for node in [*test.body, *helpers]:
        for name in ast.walk(node):
            if isinstance(name, ast.Name) and name.id in imported:
                return name.id
    return "the library"


def reproduction(test_source: str, test_name: str) -> tuple[str, str]:
    """(script reproducing the failing test's behaviour, name of the library object it exercises)."""
    tree = ast.parse(test_source)
    test = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == test_name), None)
    if test is None:
        raise ValueError(f"test function {test_name} not found")
    helpers = _module_names(tree)
    needed: list[str] = []
    frontier = _used_names(test.body)
    while frontier:
        name = frontier.pop()
        if name in helpers and name not in needed:
            needed.append(name)
            frontier |= _used_names([helpers[name]])
    used = _used_names(test.body) | _used_names([helpers[n] for n in needed])
    imports = _imports(tree, used)
    imported = {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    helper_nodes = [n for n in tree.body if any(helpers.get(name) is n for name in needed)]
    parts = imports + [""] if imports else []
    for node in helper_nodes:
        parts += ast.unparse(node).splitlines() + [""]
    for stmt in test.body:
        parts += _rewrite(stmt)
    return "\n".join(parts).strip() + "\n", _subject(test, helper_nodes, imported)


def first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "(no message)"


ASSERT_EQUAL = re.compile(r"^(?:AssertionError: )?assert (.+?) == (.+)$")


def describe_failure(message: str) -> tuple[str, str | None]:
    """(what the user sees, exception name if it raised) from pytest's one-line failure reason."""
    line = first_line(message)
    if line.startswith("Failed: DID NOT RAISE"):
        expected = re.findall(r"[\w.]+", line.split("DID NOT RAISE", 1)[1])
        return (
            f"No exception is raised (expected {expected[-1].rsplit('.', 1)[-1] if expected else 'an error'}).",
            None,
        )
    match = ASSERT_EQUAL.match(line)
    if match:
        return f"I get {match.group(1)} where {match.group(2)} is expected.", None
    if line.startswith(("assert ", "AssertionError")):
        return "At least one of these lines does not print the expected value.", None
    name = line.split(":", 1)[0].rsplit(".", 1)[-1]
    if name.isidentifier() and name.endswith(("Error", "Exception", "Interrupt", "Exit")):
        return line, name
    return line, None


def write_problem(
    instance_id: str,
    repo: str,
    version: str,
    test_source: str,
    test_name: str,
    failure: str,
    more_cases: bool,
) -> str:
    script, subject = reproduction(test_source, test_name)
    name = f"`{subject}`"
    observed, raised = describe_failure(failure)
    if observed.startswith("No exception is raised"):
        title = f"{name} accepts bad input without raising"
    elif raised:
        title = f"{name} raises {raised}"
    else:
        title = _pick(TITLES, instance_id).format(name=name)
    intro = _pick(INTROS, instance_id + "intro").format(repo=repo, version=version)
    text = f"{title}\n\n{intro}\n\nTo reproduce:\n\n```python\n{script}```\n\nWhat happens instead:\n\n```\n{observed}\n```\n"
    if more_cases:
        text += "\nOther, similar inputs seem to be affected as well.\n"
    return text
