"""SWE-bench harness test commands, eval script and log parsers (envs.swe.harness).

Test ids and verdict lines follow the harness's real output forms; the Django ids are those of the
harness's report for django__django-11099 (SWE-bench Verified).
"""

from __future__ import annotations

import pytest

from envs.swe.dataset import DatasetError, SWEInstance
from envs.swe.harness import (
    END_MARKER,
    START_MARKER,
    eval_script,
    harness_test_command,
    marked_output,
    parse_log,
)


def instance(repo: str, version: str, test_patch: str, **kw) -> SWEInstance:
    return SWEInstance.from_record(
        {
            "instance_id": kw.pop("instance_id", repo.replace("/", "__") + "-1"),
            "repo": repo,
            "base_commit": "abc123",
            "problem_statement": "x",
            "test_patch": test_patch,
            "version": version,
            **kw,
        }
    )


def patch_of(*paths: str, new: tuple[str, ...] = ()) -> str:
    parts = [f"diff --git a/{p} b/{p}\n--- a/{p}\n+++ b/{p}\n@@ -1 +1 @@\n-a\n+b\n" for p in paths]
    parts += [
        f"diff --git a/{p} b/{p}\nnew file mode 100644\n--- /dev/null\n+++ b/{p}\n@@ -0,0 +1 @@\n+b\n"
        for p in new
    ]
    return "".join(parts)


def test_django_runs_module_directives_and_its_log_is_read():
    inst = instance("django/django", "3.0", patch_of("tests/auth_tests/test_validators.py", "docs/ref/x.txt"))
    assert harness_test_command(inst) == (
        "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 auth_tests.test_validators"
    )
    assert harness_test_command(instance("django/django", "1.9", inst.test_patch)).startswith(
        "./tests/runtests.py --verbosity 2 auth_tests"
    )
    log = "\n".join(
        [
            "test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests) ... ok",
            "test_unicode_validator (auth_tests.test_validators.UsernameValidatorsTests) ... FAIL",
            "test_help_text (auth_tests.test_validators.UserAttributeSimilarityValidatorTest) ... skipped 'no'",
            "test_validate (auth_tests.test_validators.NumericPasswordValidatorTest) ... some printed text",
            "ok",
            "ERROR: test_password_changed (auth_tests.test_validators.PasswordValidationTest)",
        ]
    )
    assert parse_log(inst, log) == {
        "test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests)": "PASSED",
        "test_unicode_validator (auth_tests.test_validators.UsernameValidatorsTests)": "FAILED",
        "test_help_text (auth_tests.test_validators.UserAttributeSimilarityValidatorTest)": "SKIPPED",
        "test_validate (auth_tests.test_validators.NumericPasswordValidatorTest)": "PASSED",
        "test_password_changed": "ERROR",
    }


def test_pytest_family_parsers():
    astropy = instance("astropy/astropy", "5.0", patch_of("astropy/io/tests/test_x.py"))
    assert harness_test_command(astropy) == "pytest -rA astropy/io/tests/test_x.py"
    assert harness_test_command(instance("astropy/astropy", "1.3", astropy.test_patch)).startswith(
        "pytest -rA -vv -o console_output_style=classic --tb=no "
    )
    log = (
        "PASSED astropy/io/tests/test_x.py::test_a[x y]\n"
        "FAILED astropy/io/tests/test_x.py::test_b - AssertionError: 1 - 2\n"
        "SKIPPED [2] astropy/io/tests/test_x.py:10: needs scipy\n"
        "astropy/io/tests/test_x.py::test_c XFAIL\n"
    )
    assert parse_log(astropy, log) == {
        "astropy/io/tests/test_x.py::test_a[x y]": "PASSED",
        "astropy/io/tests/test_x.py::test_b": "FAILED",
        "astropy/io/tests/test_x.py::test_c": "XFAIL",
    }
    requests = instance("psf/requests", "2.0", patch_of("test_requests.py"))
    assert parse_log(requests, "PASSED test_requests.py::test_path[/home/u/file.txt]\n") == {
        "test_requests.py::test_path[/file.txt]": "PASSED"
    }
    flask = instance("pallets/flask", "2.0", patch_of("tests/test_basic.py"))
    assert parse_log(
        flask, "PASSED tests/test_basic.py::test_a[x y]\nFAILED tests/test_basic.py::test_b - E\n"
    ) == {"tests/test_basic.py::test_a[x": "PASSED", "tests/test_basic.py::test_b": "FAILED"}


def test_sympy_runs_bin_test_and_reads_its_verdicts():
    sympy = instance("sympy/sympy", "1.1", patch_of("sympy/core/tests/test_basic.py"))
    assert harness_test_command(sympy).endswith("bin/test -C --verbose sympy/core/tests/test_basic.py")
    log = (
        "test_one ok\ntest_two F\ntest_three E\n"
        "________________ sympy/core/tests/test_basic.py:test_four ________________\n"
    )
    assert parse_log(sympy, log) == {
        "test_one": "PASSED",
        "test_two": "FAILED",
        "test_three": "ERROR",
        "sympy/core/tests/test_basic.py:test_four": "FAILED",
    }


def test_eval_script_resets_existing_test_files_applies_the_patch_between_markers():
    inst = instance("pytest-dev/pytest", "5.4", patch_of("testing/test_a.py", new=("testing/test_new.py",)))
    script = eval_script(inst)
    lines = script.splitlines()
    assert lines[0] == "source /opt/miniconda3/bin/activate && conda activate testbed"
    assert lines.count("git checkout abc123 testing/test_a.py") == 2  # before the patch and after the run
    assert (
        script.index("git apply -v -")
        < script.index(START_MARKER)
        < script.index("pytest -rA testing/test_a.py testing/test_new.py")
        < script.index(END_MARKER)
    )
    assert marked_output(f"noise\n{START_MARKER}\nPASSED a::b\n{END_MARKER}\n") == "\nPASSED a::b\n"
    assert marked_output("PASSED a::b\n") is None


def test_unknown_repository_names_the_instance():
    with pytest.raises(
        DatasetError, match="owner__x-1: repository 'owner/x' has no SWE-bench harness test spec"
    ):
        harness_test_command(instance("owner/x", "1.0", patch_of("t.py"), instance_id="owner__x-1"))


@pytest.mark.parametrize(
    ("lines", "resolved"),
    [
        (["PASSED t/test_a.py::test_fixed", "SKIPPED t/test_a.py::test_old"], True),  # P2P may be skipped
        (["SKIPPED t/test_a.py::test_fixed", "PASSED t/test_a.py::test_old"], False),  # F2P may not
        (["PASSED t/test_a.py::test_fixed"], False),  # a P2P test missing from the log failed
    ],
)
def test_docker_backend_grades_harness_repositories_with_the_eval_script(lines, resolved):
    from envs.swe.docker import DockerBackend
    from envs.swe.grading import grade
    from envs.swe.sandbox import ExecResult, WorkspaceSpec

    calls = []

    def runner(argv, stdin, limits):
        calls.append((argv, stdin))
        if argv[1] == "run":
            return ExecResult(0, "c0ffee\n", 0.1)
        if argv[1] == "exec" and START_MARKER in argv[-1]:
            noise = "PASSED t/test_a.py::test_old\n"  # printed before the markers: not read
            return ExecResult(1, noise + "\n".join([START_MARKER, *lines, END_MARKER]) + "\n", 1.0)
        return ExecResult(0, "", 0.1)

    inst = instance(
        "pytest-dev/pytest",
        "5.4",
        patch_of("t/test_a.py"),
        FAIL_TO_PASS=["t/test_a.py::test_fixed"],
        PASS_TO_PASS=["t/test_a.py::test_old"],
    )
    result = grade(
        DockerBackend(runner=runner), WorkspaceSpec(inst.instance_id, "abc123", image="img"), inst, ""
    )
    assert result.resolved is resolved
    scripts = [argv[-1] for argv, _ in calls if argv[1] == "exec"]
    assert len(scripts) == 1 and "pytest -rA t/test_a.py" in scripts[0] and "git apply -v -" in scripts[0]


def test_malformed_swe_gym_record_names_file_instance_and_field(tmp_path):
    import json

    from envs.swe.dataset import load_instances

    path = tmp_path / "swe_gym.jsonl"
    good = {
        "instance_id": "a__b-1",
        "repo": "a/b",
        "base_commit": "c",
        "problem_statement": "p",
        "FAIL_TO_PASS": ["t.py::x"],
        "PASS_TO_PASS": [],
    }
    path.write_text(
        json.dumps(good)
        + "\n"
        + json.dumps({**good, "instance_id": "a__b-2", "FAIL_TO_PASS": "t.py::x"})
        + "\n"
    )
    with pytest.raises(DatasetError, match=r"swe_gym.jsonl\[1\] \(a__b-2\): FAIL_TO_PASS is neither a list"):
        load_instances([path])
