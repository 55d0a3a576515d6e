"""Grading: pytest report parsing, the grading-slot semaphore, and gold/empty patches on the task set
(a fast sample by default; every instance under -m slow)."""

import multiprocessing
import shutil
import time

import pytest

from envs.swe.dataset import load_split
from envs.swe.grading import grade, grading_slot, parse_failure_messages, parse_pytest_report

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")

REPORT = """\
tests/test_a.py::test_x PASSED
PASSED tests/test_a.py::test_fake_printed_by_a_test
=========================== short test summary info ============================
PASSED tests/test_a.py::test_ok
PASSED tests/test_a.py::test_param[1-2]
FAILED tests/test_a.py::test_bad - assert 1 == 2
ERROR tests/test_b.py::test_err - ModuleNotFoundError: No module named 'x'
XFAIL tests/test_b.py::test_known - reason
SKIPPED [1] tests/test_b.py:3: unconditional skip
2 passed, 1 failed, 1 error, 1 xfailed, 1 skipped in 0.12s
PASSED tests/test_a.py::test_printed_at_exit
"""


def test_parse_pytest_report_reads_only_the_summary():
    assert parse_pytest_report(REPORT) == {
        "tests/test_a.py::test_ok": "PASSED",
        "tests/test_a.py::test_param[1-2]": "PASSED",
        "tests/test_a.py::test_bad": "FAILED",
        "tests/test_b.py::test_err": "ERROR",
        "tests/test_b.py::test_known": "XFAIL",
    }
    assert parse_failure_messages(REPORT) == {
        "tests/test_a.py::test_bad": "assert 1 == 2",
        "tests/test_b.py::test_err": "ModuleNotFoundError: No module named 'x'",
    }


def _hold_slot(lock_dir, started, release):
    with grading_slot(lock_dir, 1):
        started.set()
        release.wait(10)


def test_grading_slots_are_shared_across_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    started, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_slot, args=(tmp_path, started, release))
    holder.start()
    try:
        assert started.wait(30)
        with pytest.raises(TimeoutError):
            with grading_slot(tmp_path, 1, timeout_s=0.3):
                pass
        with grading_slot(tmp_path, 2, timeout_s=1):  # a second slot is free
            pass
    finally:
        release.set()
        holder.join(10)
    start = time.monotonic()
    with grading_slot(tmp_path, 1, timeout_s=5):
        assert time.monotonic() - start < 2


def _grade_all(instances, tmp_path):
    from envs.swe.bwrap import BwrapBackend
    from envs.swe.repo_store import RepoStore
    from envs.swe.sandbox import WorkspaceSpec

    backend = BwrapBackend(cache_dir=tmp_path, work_root=tmp_path / "work")
    store = RepoStore(tmp_path)
    failures = []
    for inst in instances:
        spec = WorkspaceSpec(inst.instance_id, inst.base_commit, git_dir=store.git_dir(inst))
        gold = grade(backend, spec, inst, inst.patch)
        empty = grade(backend, spec, inst, "")
        if not gold.resolved or gold.f2p_passed != gold.f2p_total or empty.resolved or empty.f2p_passed:
            failures.append((inst.instance_id, gold.info(), empty.info()))
        if empty.p2p_passed != empty.p2p_total:  # the bug breaks only the hidden tests
            failures.append((inst.instance_id, "p2p broken by the bug", empty.info()))
    return failures


@needs_bwrap
def test_gold_resolves_and_empty_does_not_on_a_sample(tmp_path):
    instances = load_split("test")
    sample = [instances[0], instances[-1]]
    assert _grade_all(sample, tmp_path) == []


@needs_bwrap
def test_wrong_patch_fails_to_apply(tmp_path):
    from envs.swe.bwrap import BwrapBackend
    from envs.swe.repo_store import RepoStore
    from envs.swe.sandbox import WorkspaceSpec

    inst = load_split("test")[0]
    spec = WorkspaceSpec(inst.instance_id, inst.base_commit, git_dir=RepoStore(tmp_path).git_dir(inst))
    result = grade(
        BwrapBackend(cache_dir=tmp_path),
        spec,
        inst,
        "diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-x\n+y\n",
    )
    assert not result.resolved and not result.patch_applied and "does not apply" in result.error


@pytest.mark.slow
@needs_bwrap
@pytest.mark.parametrize("split", ["train", "test"])
def test_gold_resolves_every_instance_and_empty_none(split, tmp_path):
    assert _grade_all(load_split(split), tmp_path) == []
