"""Hidden-test grading, SWE-bench rules: apply the model patch to a fresh copy, add the hidden tests,
run FAIL_TO_PASS and PASS_TO_PASS, resolved iff every one of them passes.

Grading never happens in the agent's own working copy: the agent's changes are turned into a patch
(test files and conftest.py excluded, so tests cannot be edited into passing) and applied to a
fresh copy of the base commit, exactly like a submitted prediction in SWE-bench.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from envs.swe import harness
from envs.swe.dataset import SWEInstance
from envs.swe.patches import PatchError, touched_paths
from envs.swe.sandbox import ExecResult, Limits, Sandbox, SandboxBackend, WorkspaceSpec

SAFE_GIT = "git -c core.hooksPath=/dev/null -c core.fsmonitor=false -c diff.external= -c core.pager=cat"
# COLUMNS keeps pytest from cutting the short-summary lines; no plugin autoload: the shared venv has
# heavy pytest plugins (hypothesis, ...) the task suites never use, and loading them triples the run time.
DEFAULT_TEST_COMMAND = "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 COLUMNS=400 python -m pytest -p no:cacheprovider -rA -q --tb=short -o addopts= {files}"
PASSING = {"PASSED", "XFAIL"}
SUMMARY_LINE = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS|SKIPPED) (\S.*?)(?: - .*)?$")
FINAL_LINE = re.compile(
    r"^=*\s*(no tests ran|\d+ (passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b)"
)
GRADING_LIMITS = Limits(wall_s=300.0, cpu_s=300, output_bytes=2 * 2**20, kill_output_bytes=16 * 2**20)
PATCH_LIMITS = Limits(wall_s=60.0, cpu_s=60, output_bytes=4 * 2**20, kill_output_bytes=4 * 2**20)


class GradingError(RuntimeError):
    """The task itself is broken (its test patch does not apply); not the agent's fault."""


@dataclass
class GradeResult:
    resolved: bool
    f2p_passed: int
    f2p_total: int
    p2p_passed: int
    p2p_total: int
    patch_applied: bool
    duration_s: float
    test_exit_code: int | None = None
    limit: str | None = None
    error: str | None = None
    statuses: dict[str, str] = field(default_factory=dict, repr=False)

    def info(self) -> dict:
        """What goes into the env's info dict (per-test statuses stay out: they name hidden tests)."""
        data = asdict(self)
        data.pop("statuses")
        data["duration_s"] = round(self.duration_s, 3)
        return data


def parse_pytest_report(output: str) -> dict[str, str]:
    """Test id -> status from pytest's `-rA` short summary (lines after its header only, so text a
    test printed earlier cannot pose as a result)."""
    statuses: dict[str, str] = {}
    in_summary = False
    for line in output.splitlines():
        if "short test summary info" in line and line.startswith("="):
            in_summary = True
            continue
        if not in_summary:
            continue
        if FINAL_LINE.match(line):
            break
        match = SUMMARY_LINE.match(line)
        if match and "::" in match.group(2):
            statuses[match.group(2)] = match.group(1)
    return statuses


def parse_failure_messages(output: str) -> dict[str, str]:
    """Test id -> the one-line reason pytest gives in its short summary, for failed/errored tests."""
    messages: dict[str, str] = {}
    in_summary = False
    for line in output.splitlines():
        if "short test summary info" in line and line.startswith("="):
            in_summary = True
        elif in_summary and FINAL_LINE.match(line):
            break
        elif in_summary and line.startswith(("FAILED ", "ERROR ")) and " - " in line:
            test_id, message = line.split(" ", 1)[1].split(" - ", 1)
            messages[test_id] = message
    return messages


def protected_paths(instance: SWEInstance) -> list[str]:
    """Files the agent's patch may not change: test files of the task and those of its test patch."""
    paths = set(instance.test_files)
    try:
        paths.update(touched_paths(instance.test_patch))
    except PatchError as exc:
        raise GradingError(f"{instance.instance_id}: malformed test_patch: {exc}") from exc
    return sorted(paths)


def extract_patch(sandbox: Sandbox, base_commit: str, exclude: list[str]) -> tuple[str, str | None]:
    """(diff of the working copy against base_commit, error or None), computed inside the sandbox."""
    specs = [f":(exclude){p}" for p in exclude] + [":(exclude,glob)**/conftest.py"]
    quoted = " ".join(shlex.quote(s) for s in specs)
    command = (
        f"{SAFE_GIT} add -A -- . >/dev/null 2>&1; "
        f"{SAFE_GIT} diff --cached --binary --no-color --no-ext-diff --no-textconv {shlex.quote(base_commit)} "
        f"-- . {quoted}"
    )
    result = sandbox.exec(command, PATCH_LIMITS)
    if result.exit_code != 0 or result.output_truncated:
        return "", f"could not compute the diff (exit {result.exit_code}, limit {result.limit})"
    return result.output, None


def test_command(instance: SWEInstance, default: str = DEFAULT_TEST_COMMAND) -> str:
    template = instance.extra.get("test_cmd") or default
    return template.format(files=" ".join(shlex.quote(f) for f in instance.test_files))


def grade(
    backend: SandboxBackend,
    spec: WorkspaceSpec,
    instance: SWEInstance,
    model_patch: str,
    limits: Limits = GRADING_LIMITS,
) -> GradeResult:
    start = time.monotonic()
    f2p, p2p = list(instance.fail_to_pass), list(instance.pass_to_pass)
    with backend.create(spec) as sandbox:
        if model_patch.strip():
            applied = sandbox.exec(
                f"{SAFE_GIT} apply --whitespace=nowarn -", PATCH_LIMITS, stdin=model_patch.encode()
            )
            if applied.exit_code != 0:
                return GradeResult(
                    False,
                    0,
                    len(f2p),
                    0,
                    len(p2p),
                    False,
                    time.monotonic() - start,
                    error=f"model patch does not apply: {applied.output.strip()[-500:]}",
                )
        if getattr(backend, "harness", False) and instance.repo in harness.REPO_SPECS:
            # The harness's own eval script applies the test patch, runs and marks the test output.
            run = sandbox.exec(harness.eval_script(instance), limits)
            section = harness.marked_output(run.output)
            statuses = {} if section is None else harness.parse_log(instance, section)
            return _verdict(f2p, p2p, statuses, run, start)
        if instance.test_patch.strip():
            applied = sandbox.exec(
                f"{SAFE_GIT} apply --whitespace=nowarn -", PATCH_LIMITS, stdin=instance.test_patch.encode()
            )
            if applied.exit_code != 0:
                raise GradingError(
                    f"{instance.instance_id}: test_patch does not apply: {applied.output.strip()[-500:]}"
                )
        template = getattr(backend, "test_command_template", DEFAULT_TEST_COMMAND)
        run = sandbox.exec(test_command(instance, template), limits)
    return _verdict(f2p, p2p, parse_pytest_report(run.output), run, start)


def _verdict(
    f2p: list[str], p2p: list[str], statuses: dict[str, str], run: ExecResult, start: float
) -> GradeResult:
    """The harness's rule: a FAIL_TO_PASS test must pass (or xfail), a PASS_TO_PASS test may also be
    skipped, and a test missing from the log has failed."""
    f2p_ok = sum(statuses.get(t) in PASSING for t in f2p)
    p2p_ok = sum(statuses.get(t) in PASSING or statuses.get(t) == "SKIPPED" for t in p2p)
    return GradeResult(
        resolved=f2p_ok == len(f2p) and p2p_ok == len(p2p),
        f2p_passed=f2p_ok,
        f2p_total=len(f2p),
        p2p_passed=p2p_ok,
        p2p_total=len(p2p),
        patch_applied=True,
        duration_s=time.monotonic() - start,
        test_exit_code=run.exit_code,
        limit=run.limit,
        statuses=statuses,
    )


@contextmanager
def grading_slot(lock_dir: str | Path, slots: int, timeout_s: float = 3600.0):
    """Hold one of `slots` cross-process slots (flock'ed files), so that at most `slots` gradings run
    at once across all env worker processes sharing `lock_dir`."""
    if slots < 1:
        raise ValueError("grading slots must be at least 1")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    while True:
        for index in range(slots):
            fd = os.open(lock_dir / f"grade-{index}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield index
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no grading slot free in {lock_dir} after {timeout_s} s")
        time.sleep(0.05)
