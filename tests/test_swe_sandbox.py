"""Escape and abuse attempts against the bubblewrap sandbox: each must be contained and reported,
and the next sandbox must work normally."""

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from envs.swe.dataset import DATA_DIR, TASKS_DIR
from envs.swe.sandbox import Limits, WorkspaceSpec

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")

PROJECT_DIR = Path(__file__).resolve().parents[1]
FAST = Limits(wall_s=20, cpu_s=10, memory_bytes=2 * 2**30, nproc=64, output_bytes=4000)


def _git(*args, cwd):
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        },
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    (root / "app.py").write_text("print('hello from the task')\n")
    _git("init", "-q", ".", cwd=root)
    _git("add", ".", cwd=root)
    _git("commit", "-qm", "base", cwd=root)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True
    ).stdout.strip()
    return WorkspaceSpec("escape-test", head, git_dir=root)


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    from envs.swe.bwrap import BwrapBackend

    base = tmp_path_factory.mktemp("sbx")
    # The envs/ package is bound read-only on purpose: the task data below it must still be hidden.
    return BwrapBackend(
        limits=FAST,
        cache_dir=base / "cache",
        work_root=base / "work",
        hidden_paths=(DATA_DIR,),
        extra_ro_paths=(PROJECT_DIR / "envs",),
    )


@pytest.fixture
def sandbox(backend, repo):
    with backend.create(repo) as sb:
        yield sb


def _sandbox_processes(backend) -> list[str]:
    if backend.uid is None:
        return []
    out = subprocess.run(["ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split()[0] == str(backend.uid)]


def test_normal_commands_work(sandbox):
    result = sandbox.exec("python app.py && git status --short && echo ok > out.txt && cat out.txt")
    assert result.exit_code == 0, result.output
    assert "hello from the task" in result.output and "ok" in result.output


def test_no_network(sandbox):
    result = sandbox.exec(
        "curl -sS -m 3 http://1.1.1.1/ ; echo curl=$?; "
        "python -c \"import socket; socket.create_connection(('8.8.8.8', 53), timeout=3)\"; echo py=$?; "
        "python -c \"import socket; socket.getaddrinfo('pypi.org', 443)\"; echo dns=$?"
    )
    assert "curl=0" not in result.output
    assert "py=1" in result.output and "Network is unreachable" in result.output
    assert "dns=1" in result.output


def test_cannot_write_outside_the_working_copy(sandbox):
    marker = f"escape-{uuid.uuid4().hex}"
    home = os.path.expanduser("~")
    targets = [
        f"/{marker}",
        f"{home}/{marker}",
        f"{PROJECT_DIR}/{marker}",
        f"/usr/{marker}",
        f"/etc/{marker}",
    ]
    result = sandbox.exec(
        "; ".join(f"touch {t} 2>&1" for t in targets) + f"; echo x > /tmp/{marker}; echo done"
    )
    # Under /tmp a write lands in the sandbox's private tmpfs (a checkout under /tmp, as in CI, has its
    # parents recreated there by bwrap): contained, but not refused, so only the other targets must fail.
    refused = [t for t in targets if not t.startswith("/tmp/")]
    assert result.output.count("Read-only file system") + result.output.count("No such file") >= len(refused)
    for target in targets + [f"/tmp/{marker}"]:
        assert not os.path.exists(target), target


def test_hidden_tests_and_cache_are_invisible(sandbox, backend):
    test_file = TASKS_DIR / "test.jsonl"
    result = sandbox.exec(
        f"cat {test_file} | head -c 100; ls {DATA_DIR}; ls {backend.cache_dir}; ls {PROJECT_DIR}/envs/swe"
    )
    assert "instance_id" not in result.output
    assert "tasks" not in result.output.split("\n")
    assert "No such file" in result.output
    assert "bwrap.py" in result.output  # the bound part of envs/ is there, the data below it is masked


def test_other_working_copies_are_invisible(backend, repo):
    with backend.create(repo) as first, backend.create(repo) as second:
        second.exec("echo secret > private.txt")
        result = first.exec(f"cat {second.host_dir}/private.txt; ls {backend.work_root}")
        assert "secret" not in result.output and result.exit_code != 0


def test_fork_bomb_is_contained(sandbox, backend):
    result = sandbox.exec(":(){ :|:& };: ; sleep 1; echo survived", Limits(wall_s=10, cpu_s=10, nproc=64))
    assert result.limit in ("process_count", "wall_time")
    assert _sandbox_processes(backend) == []
    assert sandbox.exec("echo fine").output.strip() == "fine"


def test_ten_gigabyte_allocation_fails(sandbox):
    result = sandbox.exec("python -c 'x = bytearray(10 * 2**30); print(len(x))'")
    assert result.exit_code != 0 and result.limit == "memory"


def test_infinite_loop_is_killed(sandbox):
    result = sandbox.exec("while :; do :; done", Limits(wall_s=10, cpu_s=1))
    assert result.limit == "cpu_time" and result.duration_s < 9
    result = sandbox.exec("sleep 600", Limits(wall_s=1, cpu_s=5))
    assert result.limit == "wall_time" and result.duration_s < 5


def test_timeout_kills_the_whole_process_tree(sandbox, backend):
    result = sandbox.exec("(sleep 777 &); nohup sleep 778 >/dev/null 2>&1 & sleep 600", Limits(wall_s=1))
    assert result.timed_out
    leftover = subprocess.run(["pgrep", "-f", "sleep 77[78]"], capture_output=True, text=True).stdout
    assert leftover == ""
    assert _sandbox_processes(backend) == []


def test_one_gigabyte_of_output_is_capped(sandbox):
    result = sandbox.exec("head -c 1000000000 /dev/zero | tr '\\0' a", Limits(wall_s=30, output_bytes=4000))
    assert result.limit == "output_size" and result.output_truncated
    assert len(result.output) < 5000 and result.duration_s < 20


def test_huge_file_is_cut_by_the_file_size_limit(sandbox):
    result = sandbox.exec(
        "dd if=/dev/zero of=big bs=1M count=100 2>&1; ls -l big", Limits(wall_s=20, file_bytes=10 * 2**20)
    )
    assert result.limit == "file_size"
    assert "10485760" in result.output


def test_each_sandbox_is_a_fresh_copy(backend, repo):
    with backend.create(repo) as first:
        first.exec("echo changed > app.py && touch new.txt")
        assert first.read_file("/testbed/app.py") == b"changed\n"
    with backend.create(repo) as second:
        assert second.read_file("/testbed/app.py") == b"print('hello from the task')\n"
        assert second.path_kind("/testbed/new.txt") is None
