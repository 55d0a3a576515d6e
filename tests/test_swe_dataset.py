"""The shipped task set (schema, size, splits, honest problem statements, reproducible commits),
the loaders for real SWE-bench / SWE-Gym / R2E files, diffs and bug injection."""

import json
import re
import shutil

import pytest

from envs.swe.dataset import REPOS_DIR, DatasetError, SWEInstance, load_instances, load_split
from envs.swe.generation.mutate import find_mutations
from envs.swe.generation.problem import reproduction
from envs.swe.patches import apply_hunks, make_diff, parse_diff
from envs.swe.repo_store import RepoStore

SCHEMA = {
    "instance_id",
    "repo",
    "base_commit",
    "problem_statement",
    "patch",
    "test_patch",
    "FAIL_TO_PASS",
    "PASS_TO_PASS",
    "hints_text",
    "created_at",
    "version",
    "environment_setup_commit",
}


@pytest.fixture(scope="module")
def shipped():
    return {split: load_split(split) for split in ("train", "test")}


def test_task_set_size_repos_and_splits(shipped):
    everything = shipped["train"] + shipped["test"]
    assert len(everything) >= 100
    repos = {i.repo for i in everything}
    assert len(repos) >= 10
    assert {i.repo for i in shipped["test"]} == repos  # every repository is in the test split
    assert not {i.instance_id for i in shipped["train"]} & {i.instance_id for i in shipped["test"]}
    assert len({i.base_commit for i in everything}) == len(everything)


def test_records_follow_the_swe_bench_schema(shipped):
    for inst in shipped["test"]:
        record = inst.to_record()
        assert SCHEMA <= set(record)
        assert isinstance(json.loads(record["FAIL_TO_PASS"]), list)
        assert re.fullmatch(r"[0-9a-f]{40}", inst.base_commit)
        assert re.fullmatch(r"turnrl-swe__[a-z]+-\d{4}", inst.instance_id)
        assert inst.fail_to_pass and inst.pass_to_pass
        assert not set(inst.fail_to_pass) & set(inst.pass_to_pass)
        assert inst.patch.startswith("diff --git") and inst.test_patch.startswith("diff --git")
        assert SWEInstance.from_record(record) == inst


def test_problem_statements_do_not_reveal_the_hidden_tests(shipped):
    for inst in shipped["train"] + shipped["test"]:
        text = inst.problem_statement
        assert "tests/" not in text and not re.search(r"\btest_", text) and "pytest" not in text
        for test_id in inst.fail_to_pass:
            assert test_id.split("::")[-1] not in text
        assert "expected" in text and "```python" in text


def test_gold_patch_touches_source_and_test_patch_only_tests(shipped):
    for inst in shipped["test"]:
        assert all(not f.path.startswith("tests/") for f in parse_diff(inst.patch))
        assert all(f.path.startswith("tests/") for f in parse_diff(inst.test_patch))


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_base_commits_are_rebuilt_with_the_recorded_hashes(shipped, tmp_path):
    store = RepoStore(tmp_path)
    picked = {}
    for inst in shipped["test"]:
        picked.setdefault(inst.repo, inst)
    for inst in list(picked.values())[:4]:
        git_dir = store.git_dir(inst)  # raises if the rebuilt commit differs from base_commit
        assert (git_dir / "refs" / "tags" / inst.instance_id).exists()


def test_loader_reads_swe_bench_json_with_encoded_lists(tmp_path):
    record = {
        "instance_id": "astropy__astropy-12907",
        "repo": "astropy/astropy",
        "base_commit": "d16bfe0",
        "problem_statement": "Bug",
        "patch": "diff",
        "test_patch": "diff",
        "version": "4.3",
        "FAIL_TO_PASS": '["astropy/x.py::test_a"]',
        "PASS_TO_PASS": '["astropy/x.py::test_b"]',
        "environment_setup_commit": "298ccb4",
        "hints_text": "",
        "created_at": "2022-03-03T15:14:54Z",
    }
    path = tmp_path / "swe-bench_test.json"
    path.write_text(json.dumps([record]))
    (inst,) = load_split("test", tmp_path)
    assert inst.fail_to_pass == ("astropy/x.py::test_a",) and inst.repo_name == "astropy"
    assert inst.to_record()["FAIL_TO_PASS"] == record["FAIL_TO_PASS"]


def test_loader_reads_swe_gym_jsonl_with_plain_lists_and_keeps_extras(tmp_path):
    rows = [
        {
            "instance_id": f"getmoto__moto-{n}",
            "repo": "getmoto/moto",
            "base_commit": "abc",
            "problem_statement": "p",
            "FAIL_TO_PASS": ["t::a"],
            "PASS_TO_PASS": [],
            "image": "x",
        }
        for n in (1, 2)
    ]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "test.jsonl").write_text(json.dumps({**rows[0], "instance_id": "other"}) + "\n")
    train = load_split("train", tmp_path)
    assert [i.instance_id for i in train] == ["getmoto__moto-1", "getmoto__moto-2"]
    assert train[0].extra == {"image": "x"}


def test_loader_maps_r2e_style_fields(tmp_path):
    row = {
        "repo_name": "orange3",
        "commit_hash": "deadbeef",
        "problem_statement": "p",
        "id": "r2e-1",
        "docker_image": "namanjain12/orange3new:deadbeef",
        "expected_output_json": json.dumps({"t::a": "PASSED", "t::b": "FAILED"}),
    }
    path = tmp_path / "r2e.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (inst,) = load_instances([path])
    assert (inst.instance_id, inst.repo, inst.base_commit) == ("r2e-1", "orange3", "deadbeef")
    assert inst.fail_to_pass == ("t::a",) and inst.extra["docker_image"].startswith("namanjain12")


def test_loader_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instance_id": "x"}\n')
    with pytest.raises(DatasetError, match="missing required field"):
        load_instances([bad])
    bad.write_text("{not json\n")
    with pytest.raises(DatasetError, match="bad.jsonl:1"):
        load_instances([bad])
    with pytest.raises(DatasetError, match="does not exist"):
        load_split("test", tmp_path / "nope")
    with pytest.raises(DatasetError, match="unknown split"):
        load_split("validation")


def test_diff_round_trip():
    old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"
    new = old.replace("b\n", "B\n").replace("i\n", "i\nI2\n")
    (file_patch,) = parse_diff(make_diff("x/y.py", old, new))
    assert file_patch.path == "x/y.py"
    assert apply_hunks(old, file_patch.hunks) == new
    (created,) = parse_diff(make_diff("n.py", "", "hello\n"))
    assert created.old_path is None and apply_hunks("", created.hunks) == "hello\n"


def test_mutations_are_single_line_edits_that_parse():
    source = (REPOS_DIR / "romans" / "romans" / "numerals.py").read_text()
    mutations = find_mutations("romans/numerals.py", source)
    assert len(mutations) > 10
    operators = {m.operator for m in mutations}
    assert {"compare", "off_by_one", "boolop"} <= operators
    for m in mutations:
        mutated = m.apply(source)
        changed = [i for i, (a, b) in enumerate(zip(source.splitlines(), mutated.splitlines())) if a != b]
        assert changed == [m.lineno - 1]
    assert all(m.function for m in mutations)  # module-level tables are never mutated


def test_reproduction_rewrites_asserts_and_keeps_helpers():
    source = (REPOS_DIR / "graphs" / "tests" / "test_graph.py").read_text()
    script, subject = reproduction(source, "test_shortest_path")
    assert "def sample():" in script and "from graphs import Graph" in script
    assert "print(sample().shortest_path('a', 'e'))  # expected: ['a', 'b', 'd', 'e']" in script
    assert "assert" not in script and "pytest" not in script
    assert subject == "shortest_path"
