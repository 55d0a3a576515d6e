"""The Docker backend, exercised through a fake runner: no daemon is available here, so these tests
check the docker command lines it would run and how it reads their results."""

import base64

import pytest

from envs.swe.dataset import SWEInstance
from envs.swe.docker import DockerBackend, swebench_image
from envs.swe.grading import grade
from envs.swe.sandbox import ExecResult, Limits, SandboxError, WorkspaceSpec, get_backend


class FakeDocker:
    """Records every docker invocation and answers from a script of canned outputs."""

    def __init__(self):
        self.calls = []
        self.files = {"/testbed/pkg/mod.py": b"x = 1\n"}

    def __call__(self, argv, stdin, limits):
        self.calls.append((argv, stdin, limits))
        args = argv[1:]
        if args[0] == "run":
            return ExecResult(0, "c0ffee\n", 0.1)
        if args[0] == "rm":
            return ExecResult(0, "", 0.1)
        script = args[-1]
        if "base64 -w0" in script:
            return ExecResult(0, base64.b64encode(self.files["/testbed/pkg/mod.py"]).decode(), 0.1)
        if script.startswith("mkdir -p"):
            self.files[script.split("cat > ")[1]] = stdin
            return ExecResult(0, "", 0.1)
        if "echo dir" in script:
            return ExecResult(0, "file\n", 0.1)
        if "pytest" in script:
            summary = (
                "=========================== short test summary info ============================\n"
                "PASSED tests/test_a.py::test_fixed\nPASSED tests/test_a.py::test_old\n2 passed in 0.1s\n"
            )
            return ExecResult(0, summary, 0.5)
        return ExecResult(0, "", 0.1)


@pytest.fixture
def fake():
    return FakeDocker()


def test_official_image_name():
    assert (
        swebench_image("django__django-11099") == "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"
    )
    assert swebench_image("Foo__Bar-1", "reg/{key}:v1") == "reg/foo_1776_bar-1:v1"


def test_get_backend_by_name(fake):
    assert get_backend("docker", runner=fake).name == "docker"
    with pytest.raises(ValueError, match="unknown sandbox backend"):
        get_backend("podman")


def test_container_start_command(fake):
    limits = Limits(memory_bytes=2**30, nproc=100, file_bytes=2**20, tmp_bytes=2**25)
    backend = DockerBackend(limits=limits, runner=fake, cpus=2)
    sandbox = backend.create(WorkspaceSpec("django__django-11099", "abc"))
    argv = fake.calls[0][0]
    assert argv[:4] == ["docker", "run", "-d", "--rm"]
    for flag in ["--network", "none", f"--memory={2**30}", "--pids-limit=100", f"fsize={2**20}", "--cpus=2"]:
        assert flag in argv
    assert argv[-3:] == ["swebench/sweb.eval.x86_64.django_1776_django-11099:latest", "sleep", "infinity"]
    assert sandbox.container == "c0ffee"


def test_exec_uses_timeout_inside_the_container(fake):
    sandbox = DockerBackend(runner=fake, env_setup="").create(WorkspaceSpec("a__b-1", "abc", image="img:1"))
    sandbox.exec("ls -la", Limits(wall_s=7, cpu_s=5, memory_bytes=2**30, nproc=50))
    argv, stdin, limits = fake.calls[-1]
    assert argv[:6] == ["docker", "exec", "-w", "/testbed", "c0ffee", "timeout"]
    assert argv[6:9] == ["-s", "KILL", "7"]
    assert argv[9:11] == ["bash", "-c"]
    assert argv[11] == f"ulimit -t 5 -v {2**30 // 1024} -u 50; ls -la"
    assert limits.wall_s == 17 and stdin is None


def test_file_access_goes_through_exec(fake):
    sandbox = DockerBackend(runner=fake).create(WorkspaceSpec("a__b-1", "abc", image="img:1"))
    assert sandbox.read_file("/testbed/pkg/mod.py") == b"x = 1\n"
    sandbox.write_file("/testbed/pkg/new.py", b"y = 2\n")
    assert fake.files["/testbed/pkg/new.py"] == b"y = 2\n"
    assert fake.calls[-1][0][:3] == ["docker", "exec", "-i"]
    assert sandbox.path_kind("/testbed/pkg/mod.py") == "file"
    with pytest.raises(SandboxError, match="outside"):
        sandbox.read_file("/etc/shadow")
    sandbox.close()
    assert fake.calls[-1][0] == ["docker", "rm", "-f", "c0ffee"]


def test_grading_runs_patches_and_tests_in_a_fresh_container(fake):
    instance = SWEInstance(
        "a__b-1",
        "a/b",
        "abc",
        "issue",
        "PATCH",
        "TESTPATCH",
        ("tests/test_a.py::test_fixed",),
        ("tests/test_a.py::test_old",),
    )
    backend = DockerBackend(runner=fake)
    result = grade(backend, WorkspaceSpec("a__b-1", "abc", image="img:1"), instance, "diff --git a/x b/x\n")
    assert result.resolved and result.f2p_passed == 1 and result.p2p_passed == 1
    scripts = [argv[-1] for argv, _, _ in fake.calls if argv[1] == "exec"]
    stdins = [stdin for argv, stdin, _ in fake.calls if argv[1] == "exec"]
    assert "git" in scripts[0] and "apply" in scripts[0] and stdins[0] == b"diff --git a/x b/x\n"
    assert stdins[1] == b"TESTPATCH"
    assert (
        "conda activate testbed" in scripts[2] and "pytest" in scripts[2] and "tests/test_a.py" in scripts[2]
    )
    assert [argv[1] for argv, _, _ in fake.calls].count("run") == 1
    assert fake.calls[-1][0][1:3] == ["rm", "-f"]


def test_failed_container_start_is_reported(fake):
    def failing(argv, stdin, limits):
        return ExecResult(125, "Unable to find image 'img:1' locally", 0.1)

    with pytest.raises(SandboxError, match="Unable to find image"):
        DockerBackend(runner=failing).create(WorkspaceSpec("a__b-1", "abc", image="img:1"))
