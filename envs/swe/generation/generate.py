"""Build the shipped SWE task set: `python -m envs.swe.generation.generate`.

For every repository under envs/swe/data/repos: run its suite (all tests must pass), then try AST
mutations of its source (spread over functions and mutation kinds, in a seeded order) and keep a
mutation when some tests fail and the others pass. A kept mutation becomes an instance: the base
commit holds the buggy source and the test files without the failing tests; `patch` undoes the
mutation; `test_patch` brings the failing tests back; FAIL_TO_PASS are those tests, PASS_TO_PASS the
rest of the suite. Every instance is then graded with its gold patch (must resolve) and with an
empty patch (must not). Output: envs/swe/data/tasks/{train,test}.jsonl. Deterministic for a given
seed and sources (base commits are re-derived from the sources when the env first uses them).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import logging
import random
import re
import shutil
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from envs.swe.bwrap import BwrapBackend
from envs.swe.dataset import REPOS_DIR, TASKS_DIR, SWEInstance
from envs.swe.generation.mutate import Mutation, find_mutations
from envs.swe.generation.problem import write_problem
from envs.swe.grading import DEFAULT_TEST_COMMAND, grade, parse_failure_messages, parse_pytest_report
from envs.swe.patches import make_diff
from envs.swe.repo_store import (
    SHIPPED_OWNER,
    RepoStore,
    commit_snapshot,
    copy_sources,
    run_git,
    snapshot_message,
)
from envs.swe.sandbox import Limits, WorkspaceSpec

log = logging.getLogger("envs.swe.generation.generate")

OWNER = SHIPPED_OWNER
VERSION = "1.0"
# -vv: pytest then keeps whole values in the one-line failure reasons the problem statements quote.
SUITE_COMMAND = DEFAULT_TEST_COMMAND.replace(" -q ", " -vv ").format(files="tests")
# A mutant that loops (or nearly: it would make every grading of its instance slow) runs out of CPU
# seconds and is dropped. CPU time, unlike wall time, hardly depends on how busy the machine is, so
# the same mutants are kept on every run; the wall limit is only a backstop.
RUN_LIMITS = Limits(wall_s=60.0, cpu_s=3, output_bytes=1 << 20)
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def run_suite(backend: BwrapBackend, tree: Path) -> tuple[dict[str, str], dict[str, str], str | None]:
    """(statuses, failure messages, limit hit) of the repository's whole suite on a scratch copy."""
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "tree"
        shutil.copytree(tree, scratch)
        sandbox = backend.wrap(scratch)
        result = sandbox.exec(SUITE_COMMAND, RUN_LIMITS)
    return parse_pytest_report(result.output), parse_failure_messages(result.output), result.limit


def remove_tests(source: str, names: set[str]) -> str:
    """The test module without the named top-level test functions."""
    tree = ast.parse(source)
    drop: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            drop.update(range(first, node.end_lineno + 1))
    lines = [line for number, line in enumerate(source.splitlines(), start=1) if number not in drop]
    text = re.sub(r"\n{4,}", "\n\n\n", "\n".join(lines)).rstrip("\n") + "\n"
    return text


def order_candidates(candidates: list[Mutation], rng: random.Random):
    """Yield candidates spreading kept bugs over functions and mutation kinds (caller reports keeps)."""
    pool = candidates[:]
    rng.shuffle(pool)
    kept_fn: Counter = Counter()
    kept_op: Counter = Counter()
    tried_fn: Counter = Counter()
    while pool:
        best = min(
            range(len(pool)),
            key=lambda i: (
                kept_fn[pool[i].function],
                kept_op[pool[i].operator],
                tried_fn[pool[i].function],
                i,
            ),
        )
        mutation = pool.pop(best)
        tried_fn[mutation.function] += 1
        if (yield mutation):
            kept_fn[mutation.function] += 1
            kept_op[mutation.operator] += 1


def generate_repo(
    name: str, backend: BwrapBackend, per_repo: int, max_tries: int, seed: int, scratch_git: Path
) -> list[SWEInstance]:
    repo_dir = REPOS_DIR / name
    statuses, _, limit = run_suite(backend, repo_dir)
    tests = list(statuses)
    if not tests or limit or any(s != "PASSED" for s in statuses.values()):
        raise RuntimeError(f"{name}: the clean suite must pass (limit={limit}, statuses={statuses})")
    sources = {
        str(p.relative_to(repo_dir)): p.read_text()
        for p in sorted(repo_dir.rglob("*.py"))
        if "tests" not in p.relative_to(repo_dir).parts
    }
    candidates = [m for path, text in sources.items() for m in find_mutations(path, text)]
    rng = random.Random(f"{seed}:{name}")
    chooser = order_candidates(candidates, rng)
    instances: list[SWEInstance] = []
    seen_trees: set[str] = set()
    tries = 0
    mutation = next(chooser, None)
    while mutation is not None and len(instances) < per_repo and tries < max_tries:
        tries += 1
        instance = try_mutation(
            name, repo_dir, sources, tests, mutation, backend, scratch_git, len(instances) + 1
        )
        keep = instance is not None and instance.base_commit not in seen_trees
        if keep:
            seen_trees.add(instance.base_commit)
            instances.append(instance)
        try:
            mutation = chooser.send(keep)
        except StopIteration:
            mutation = None
    log.info("%s: %d instances from %d tries (%d sites)", name, len(instances), tries, len(candidates))
    return instances


def try_mutation(
    name: str,
    repo_dir: Path,
    sources: dict[str, str],
    tests: list[str],
    mutation: Mutation,
    backend: BwrapBackend,
    scratch_git: Path,
    number: int,
) -> SWEInstance | None:
    clean = sources[mutation.path]
    buggy = mutation.apply(clean)
    with tempfile.TemporaryDirectory() as tmp:
        tree = copy_sources(name, Path(tmp) / "tree")
        (tree / mutation.path).write_text(buggy)
        statuses, messages, limit = run_suite(backend, tree)
        failing = [t for t in tests if statuses.get(t) != "PASSED"]
        if limit or not failing or len(failing) > len(tests) // 2 or any(t not in statuses for t in failing):
            return None
        by_file: dict[str, set[str]] = {}
        for test_id in failing:
            path, _, func = test_id.partition("::")
            by_file.setdefault(path, set()).add(func)
        test_patch = ""
        full_sources = {}
        for path, funcs in sorted(by_file.items()):
            full = (tree / path).read_text()
            full_sources[path] = full
            reduced = remove_tests(full, funcs)
            (tree / path).write_text(reduced)
            test_patch += make_diff(path, reduced, full)
        base_commit = commit_snapshot(scratch_git, tree, snapshot_message(f"{OWNER}/{name}", VERSION))
    instance_id = f"{OWNER}__{name}-{number:04d}"
    first = failing[0]
    first_file, _, first_func = first.partition("::")
    problem = write_problem(
        instance_id,
        f"{OWNER}/{name}",
        VERSION,
        full_sources[first_file],
        first_func,
        messages.get(first, ""),
        more_cases=len(failing) > 1,
    )
    return SWEInstance(
        instance_id=instance_id,
        repo=f"{OWNER}/{name}",
        base_commit=base_commit,
        problem_statement=problem,
        patch=make_diff(mutation.path, buggy, clean),
        test_patch=test_patch,
        fail_to_pass=tuple(failing),
        pass_to_pass=tuple(t for t in tests if t not in failing),
        hints_text=f"The problem is probably in {mutation.path}.",
        version=VERSION,
        environment_setup_commit=base_commit,
        extra={"bug_operator": mutation.operator, "bug_function": mutation.function},
    )


def verify(instances: list[SWEInstance], backend: BwrapBackend, store: RepoStore) -> None:
    """Gold patch must resolve, empty patch must not: catches broken patches before they ship."""
    for inst in instances:
        spec = WorkspaceSpec(inst.instance_id, inst.base_commit, git_dir=store.git_dir(inst))
        gold = grade(backend, spec, inst, inst.patch)
        empty = grade(backend, spec, inst, "")
        if not gold.resolved or empty.resolved:
            raise RuntimeError(
                f"{inst.instance_id}: gold resolved={gold.resolved} ({gold.info()}), "
                f"empty resolved={empty.resolved}"
            )


def assign_splits(instances: list[SWEInstance], test_fraction: float) -> dict[str, list[SWEInstance]]:
    """Per repository, a fixed hash order decides which instances go to test (at least one each)."""
    splits: dict[str, list[SWEInstance]] = {"train": [], "test": []}
    by_repo: dict[str, list[SWEInstance]] = {}
    for inst in instances:
        by_repo.setdefault(inst.repo, []).append(inst)
    for group in by_repo.values():
        ranked = sorted(group, key=lambda i: hashlib.sha1(i.instance_id.encode()).hexdigest())
        n_test = max(1, round(len(group) * test_fraction))
        test_ids = {i.instance_id for i in ranked[:n_test]}
        for inst in group:
            splits["test" if inst.instance_id in test_ids else "train"].append(inst)
    return splits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", nargs="*", help="repository names (default: all)")
    parser.add_argument("--per-repo", type=int, default=10)
    parser.add_argument("--max-tries", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--out", type=Path, default=TASKS_DIR)
    parser.add_argument("--no-verify", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = args.repos or sorted(p.name for p in REPOS_DIR.iterdir() if p.is_dir())
    with tempfile.TemporaryDirectory() as tmp:
        backend = BwrapBackend(cache_dir=Path(tmp) / "cache", work_root=Path(tmp) / "work")
        scratch_git = Path(tmp) / "scratch.git"
        run_git(["init", "-q", "--bare", str(scratch_git)])
        instances: list[SWEInstance] = []
        for name in names:
            instances += generate_repo(name, backend, args.per_repo, args.max_tries, args.seed, scratch_git)
        instances = [_with_date(inst, i) for i, inst in enumerate(instances)]
        if not args.no_verify:
            verify(instances, backend, RepoStore(Path(tmp) / "cache"))
    args.out.mkdir(parents=True, exist_ok=True)
    for split, members in assign_splits(instances, args.test_fraction).items():
        with open(args.out / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for inst in members:
                fh.write(json.dumps(inst.to_record(), sort_keys=True) + "\n")
        log.info("%s: %d instances -> %s", split, len(members), args.out / f"{split}.jsonl")
    return 0


def _with_date(inst: SWEInstance, index: int) -> SWEInstance:
    created = (EPOCH + timedelta(hours=index)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return SWEInstance(**{**inst.__dict__, "created_at": created})


if __name__ == "__main__":
    sys.exit(main())
