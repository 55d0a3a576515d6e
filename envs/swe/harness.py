"""The SWE-bench harness's way of testing an instance, for its own Docker images.

A user with the harness's instance images compares with published numbers only if the tests run and
are read as the harness runs and reads them (SWE-bench ``harness/constants/python.py`` and
``harness/test_spec/python.py``, release 4.1):

* the test command is fixed per repository (and for a few versions), followed by the *directives*:
  the files the test patch touches, minus data files; Django gets dotted module names instead.
* the eval script, inside ``/testbed`` with the ``testbed`` conda env, checks the test files that
  exist at the base commit out again, applies the test patch, and runs the command between two
  marker lines; only the text between the markers is parsed.
* each repository has its own log parser (pytest's ``-rA`` summary in three dialects, Django's
  runner, SymPy's ``bin/test``, and the seaborn and matplotlib variants).

The verdict is then the harness's (``grading.grade`` already counts as it does: a FAIL_TO_PASS test
must pass or xfail, a PASS_TO_PASS test may also be skipped, a test missing from the log failed).
"""

from __future__ import annotations

import re
import shlex

from envs.swe.dataset import DatasetError, SWEInstance
from envs.swe.patches import PatchError, parse_diff

START_MARKER = ">>>>> Start Test Output"
END_MARKER = ">>>>> End Test Output"
HARNESS_ENV_SETUP = "source /opt/miniconda3/bin/activate && conda activate testbed"
# Files of a test patch that are data, not tests to run (the harness's NON_TEST_EXTS; "csv" has no dot there).
_NON_TEST_SUFFIXES = (
    ".json",
    ".png",
    "csv",
    ".txt",
    ".md",
    ".jpg",
    ".jpeg",
    ".pkl",
    ".yml",
    ".yaml",
    ".toml",
)

_PYTEST = "pytest -rA"
_DJANGO = "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1"
_SYMPY = "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose"
_ASTROPY_OLD = "pytest -rA -vv -o console_output_style=classic --tb=no"

# repo -> (test command, log parser); versions that differ are in _VERSION_COMMANDS.
REPO_SPECS: dict[str, tuple[str, str]] = {
    "astropy/astropy": (_PYTEST, "pytest_v2"),
    "django/django": (_DJANGO, "django"),
    "marshmallow-code/marshmallow": (_PYTEST, "pytest"),
    "matplotlib/matplotlib": (_PYTEST, "matplotlib"),
    "mwaskom/seaborn": ("pytest --no-header -rA", "seaborn"),
    "pallets/flask": (_PYTEST, "pytest"),
    "psf/requests": (_PYTEST, "pytest_options"),
    "pvlib/pvlib-python": (_PYTEST, "pytest"),
    "pydata/xarray": (_PYTEST, "pytest"),
    "pydicom/pydicom": (_PYTEST, "pytest_options"),
    "pylint-dev/astroid": (_PYTEST, "pytest"),
    "pylint-dev/pylint": (_PYTEST, "pytest_options"),
    "pytest-dev/pytest": (_PYTEST, "pytest"),
    "pyvista/pyvista": (_PYTEST, "pytest"),
    "scikit-learn/scikit-learn": (_PYTEST, "pytest_v2"),
    "sphinx-doc/sphinx": ("tox --current-env -epy39 -v --", "pytest_v2"),
    "sqlfluff/sqlfluff": (_PYTEST, "pytest"),
    "sympy/sympy": (_SYMPY, "sympy"),
}
_VERSION_COMMANDS: dict[tuple[str, str], str] = {
    ("django/django", "1.9"): "./tests/runtests.py --verbosity 2",
    **{("astropy/astropy", v): _ASTROPY_OLD for v in ("0.1", "0.2", "0.3", "0.4", "1.1", "1.2", "1.3")},
}
_STATUSES = ("PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL")


def _spec(instance: SWEInstance) -> tuple[str, str]:
    try:
        command, parser = REPO_SPECS[instance.repo]
    except KeyError:
        raise DatasetError(
            f"{instance.instance_id}: repository {instance.repo!r} has no SWE-bench harness test spec "
            f"(known: {', '.join(sorted(REPO_SPECS))})"
        ) from None
    return _VERSION_COMMANDS.get((instance.repo, instance.version), command), parser


def directives(instance: SWEInstance) -> list[str]:
    """What the harness appends to the test command: the test patch's files (Django: module names)."""
    paths = [p for p in _patched_files(instance.test_patch) if not p.endswith(_NON_TEST_SUFFIXES)]
    if instance.repo == "django/django":
        paths = [p.removesuffix(".py").removeprefix("tests/").replace("/", ".") for p in paths]
    return paths


def _patched_files(patch: str) -> list[str]:
    """Target paths of a patch in diff order (``diff --git a/X b/Y`` -> Y), as the harness reads them."""
    return re.findall(r"^diff --git a/.* b/(.*)$", patch, re.M)


def harness_test_command(instance: SWEInstance) -> str:
    command, _ = _spec(instance)
    return " ".join([command, *directives(instance)])


def eval_script(instance: SWEInstance) -> str:
    """The bash script the harness runs after the model patch is applied (test patch, tests, reset)."""
    try:  # files the test patch creates do not exist at the base commit: nothing to check out
        existing = [f.old_path for f in parse_diff(instance.test_patch) if f.old_path]
    except PatchError as exc:
        raise DatasetError(f"{instance.instance_id}: malformed test_patch: {exc}") from exc
    reset = f"git checkout {shlex.quote(instance.base_commit)} {' '.join(shlex.quote(p) for p in existing)}"
    delimiter = "EOF_TURNRL_TEST_PATCH"
    if delimiter in instance.test_patch:
        raise DatasetError(f"{instance.instance_id}: test_patch contains the heredoc delimiter {delimiter}")
    return "\n".join(
        [
            HARNESS_ENV_SETUP,
            "cd /testbed",
            "git config --global --add safe.directory /testbed",
            reset if existing else ":",
            f"git apply -v - <<'{delimiter}'\n{instance.test_patch}\n{delimiter}",
            f"echo '{START_MARKER}'",
            harness_test_command(instance),
            f"echo '{END_MARKER}'",
            reset if existing else ":",
        ]
    )


def marked_output(log: str) -> str | None:
    """The part of an eval log the harness parses; None when the markers are missing (the run broke)."""
    start, end = log.find(START_MARKER), log.rfind(END_MARKER)
    if start < 0 or end < start:
        return None
    return log[start + len(START_MARKER) : end]


def parse_log(instance: SWEInstance, log: str) -> dict[str, str]:
    """Test id -> PASSED/FAILED/SKIPPED/ERROR/XFAIL, read with the instance repository's parser."""
    return PARSERS[_spec(instance)[1]](log)


def _summary_lines(log: str):
    for line in log.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in _STATUSES:
            yield words[0], line


def _pytest(log: str) -> dict[str, str]:
    """pytest ``-rA`` lines ``STATUS id [- message]``; ``SKIPPED [N] file:line`` counts are not tests."""
    statuses = {}
    for status, line in _summary_lines(log):
        test = line.replace(" - ", " ").split()[1] if status == "FAILED" else line.split()[1]
        if status == "SKIPPED" and re.fullmatch(r"\[\d+\]", test):
            continue
        statuses[test] = status
    return statuses


def _pytest_options(log: str) -> dict[str, str]:
    """As ``_pytest``, with a parameter that is an absolute path cut to its last component."""
    statuses = {}
    for test, status in _pytest(log).items():
        match = re.fullmatch(r"(.*?)\[(.*)\]", test)
        if match:
            name, option = match.groups()
            if option.startswith("/") and not option.startswith("//") and "*" not in option:
                option = "/" + option.split("/")[-1]
            test = f"{name}[{option}]"
        statuses[test] = status
    return statuses


def _pytest_v2(log: str) -> dict[str, str]:
    """Newer pytest output: colour codes removed, ids with spaces kept, ``id STATUS`` lines of old pytest."""
    statuses = {}
    control = {i: None for i in range(1, 32)}
    for raw in log.splitlines():
        line = re.sub(r"\[(\d+)m", "", raw).translate(control)
        words = line.split()
        if len(words) < 2:
            continue
        if words[0] in _STATUSES:
            if words[0] == "FAILED":
                words = line.split(" - ", 1)[0].split()
            if not (words[0] == "SKIPPED" and re.fullmatch(r"\[\d+\]", words[1])):
                statuses[" ".join(words[1:])] = words[0]
        elif words[-1] in _STATUSES:
            statuses[" ".join(words[:-1])] = words[-1]
    return statuses


_DJANGO_ENDINGS = (
    (" ... ok", "PASSED"),
    (" ... OK", "PASSED"),
    (" ...  OK", "PASSED"),
    (" ... FAIL", "FAILED"),
    (" ... ERROR", "ERROR"),
)
# Test output that interrupts a line between "..." and the verdict, seen in SWE-bench logs.
_DJANGO_INTERRUPTED = (
    r"^(.*?)\s\.\.\.\sTesting\ against\ Django\ installed\ in\ ((?s:.*?))\ silenced\)\.\nok$",
    r"^(.*?)\s\.\.\.\sInternal\ Server\ Error:\ \/(.*)\/\nok$",
    r"^(.*?)\s\.\.\.\sSystem check identified no issues \(0 silenced\)\nok$",
)


def _django(log: str) -> dict[str, str]:
    """Django's runner at verbosity 2: ``test (module.Class) ... ok|skipped|FAIL|ERROR``, where a test's
    own output may sit between ``...`` and the verdict (the verdict then starts the next line)."""
    statuses: dict[str, str] = {}
    previous = None
    for line in (raw.strip() for raw in log.splitlines()):
        if "--version is equivalent to version" in line:
            statuses["--version is equivalent to version"] = "PASSED"
        if " ... " in line:
            previous = line.split(" ... ")[0]
        # django__django-7188 prints a migration line and the test on one line.
        if line.startswith("Applying sites.0002_alter_domain_unique...test_no_migrations") and line.endswith(
            " ... ok"
        ):
            line = line.split("...", 1)[-1].strip()
        ending = next(((e, status) for e, status in _DJANGO_ENDINGS if line.endswith(e)), None)
        if ending:
            statuses[line[: -len(ending[0])]] = ending[1]
        if " ... skipped" in line:
            statuses[line.split(" ... skipped")[0]] = "SKIPPED"
        for prefix, status in (("FAIL:", "FAILED"), ("ERROR:", "ERROR")):
            if line.startswith(prefix):
                statuses[line.split()[1]] = status
        if line.startswith("ok") and previous is not None:
            statuses[previous] = "PASSED"
    for pattern in _DJANGO_INTERRUPTED:
        for match in re.finditer(pattern, log, re.M):
            statuses[match.group(1)] = "PASSED"
    return statuses


def _sympy(log: str) -> dict[str, str]:
    """SymPy's ``bin/test --verbose``: ``test_name ok|F|E`` per line, failures also as ``___ file.py:name ___``."""
    statuses = {f"{m[1]}.py:{m[2]}": "FAILED" for m in re.findall(r"(_*) (.*)\.py:(.*) (_*)", log)}
    for raw in log.splitlines():
        line = raw.strip()
        if not line.startswith("test_"):
            continue
        for ending, status in ((" E", "ERROR"), (" F", "FAILED"), (" ok", "PASSED")):
            if line.endswith(ending):
                statuses[line.split()[0]] = status
    return statuses


def _seaborn(log: str) -> dict[str, str]:
    statuses = {}
    for line in log.splitlines():
        words = line.split()
        if len(words) < 2:
            continue
        if line.startswith("FAILED"):
            statuses[words[1]] = "FAILED"
        elif " PASSED " in line:
            if words[1] == "PASSED":
                statuses[words[0]] = "PASSED"
        elif line.startswith("PASSED"):
            statuses[words[1]] = "PASSED"
    return statuses


def _matplotlib(log: str) -> dict[str, str]:
    """pytest lines with matplotlib's mouse-button enum names written as the numbers its P2P lists use."""
    return _pytest(log.replace("MouseButton.LEFT", "1").replace("MouseButton.RIGHT", "3"))


PARSERS = {
    "pytest": _pytest,
    "pytest_options": _pytest_options,
    "pytest_v2": _pytest_v2,
    "django": _django,
    "sympy": _sympy,
    "seaborn": _seaborn,
    "matplotlib": _matplotlib,
}
