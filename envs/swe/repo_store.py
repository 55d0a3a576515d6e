"""Deterministic git repositories for the shipped task set, built into the cache on first use.

The project keeps each repository's *fixed* sources as plain files (envs/swe/data/repos/<name>).
An instance's base tree is those files with its gold patch and test patch reversed. Commits are
made with a fixed author, committer, date and message and no parent, so the same tree always
gives the same hash: the `base_commit` written by the generator is re-derived and checked here.
Each base commit is a root commit, so a working copy never carries the fixed version in history.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from envs.swe.dataset import REPOS_DIR, SWEInstance

COMMIT_ENV = {
    "GIT_AUTHOR_NAME": "turnrl",
    "GIT_AUTHOR_EMAIL": "swe-tasks@turnrl.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "turnrl",
    "GIT_COMMITTER_EMAIL": "swe-tasks@turnrl.invalid",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+0000",
}
SHIPPED_OWNER = "turnrl-swe"  # instances whose repo is "turnrl-swe/<name>" are built from envs/swe/data/repos
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


class RepoStoreError(RuntimeError):
    pass


def run_git(
    args: list[str], cwd: Path | None = None, env: dict | None = None, stdin: str | None = None
) -> str:
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LANG": "C.UTF-8",
        **(env or {}),
    }
    proc = subprocess.run(
        ["git", "-c", "safe.directory=*", *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RepoStoreError(f"git {' '.join(args[:3])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def commit_snapshot(git_dir: Path, tree_dir: Path, message: str) -> str:
    """Commit every file of `tree_dir` (honouring its .gitignore) as a parentless commit; return its hash."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**COMMIT_ENV, "GIT_INDEX_FILE": os.path.join(tmp, "index")}
        base = ["--git-dir", str(git_dir), "--work-tree", str(tree_dir)]
        run_git([*base, "add", "-A", "."], cwd=tree_dir, env=env)
        tree = run_git([*base, "write-tree"], cwd=tree_dir, env=env).strip()
        return run_git([*base, "commit-tree", tree, "-m", message], cwd=tree_dir, env=env).strip()


def snapshot_message(repo: str, version: str) -> str:
    return f"{repo} {version}"


def copy_sources(repo_name: str, dest: Path, repos_dir: Path = REPOS_DIR) -> Path:
    src = repos_dir / repo_name
    if not src.is_dir():
        raise RepoStoreError(f"no sources for repository {repo_name!r} in {repos_dir}")
    shutil.copytree(src, dest, ignore=IGNORED)
    return dest


def reverse_apply(tree_dir: Path, patch: str, what: str) -> None:
    if patch.strip():
        try:
            run_git(["apply", "-R", "--whitespace=nowarn", "-"], cwd=tree_dir, stdin=patch)
        except RepoStoreError as exc:
            raise RepoStoreError(f"cannot reverse the {what}: {exc}") from exc


class RepoStore:
    """Bare repositories, one per source repository, under `cache_dir/repos`."""

    def __init__(self, cache_dir: str | Path, repos_dir: str | Path = REPOS_DIR) -> None:
        self.cache_dir = Path(cache_dir)
        self.repos_dir = Path(repos_dir)
        self._verified: set[tuple[str, str]] = set()

    def git_dir(self, instance: SWEInstance) -> Path:
        """The repository holding `instance.base_commit`, building that commit if needed."""
        name = instance.repo_name
        git_dir = self.cache_dir / "repos" / f"{name}.git"
        if (name, instance.base_commit) in self._verified:
            return git_dir
        lock_dir = self.cache_dir / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with open(lock_dir / f"repo-{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not git_dir.is_dir():
                tmp = Path(tempfile.mkdtemp(dir=git_dir.parent if git_dir.parent.exists() else None))
                run_git(["init", "-q", "--bare", str(tmp)])
                git_dir.parent.mkdir(parents=True, exist_ok=True)
                os.rename(tmp, git_dir)
            if not self._has_commit(git_dir, instance.base_commit):
                self._build(git_dir, instance)
        self._verified.add((name, instance.base_commit))
        return git_dir

    @staticmethod
    def _has_commit(git_dir: Path, commit: str) -> bool:
        proc = subprocess.run(
            ["git", "--git-dir", str(git_dir), "cat-file", "-e", f"{commit}^{{commit}}"],
            capture_output=True,
            check=False,
        )
        return proc.returncode == 0

    def _build(self, git_dir: Path, instance: SWEInstance) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            tree = copy_sources(instance.repo_name, Path(tmp) / "tree", self.repos_dir)
            reverse_apply(tree, instance.test_patch, f"test_patch of {instance.instance_id}")
            reverse_apply(tree, instance.patch, f"patch of {instance.instance_id}")
            commit = commit_snapshot(git_dir, tree, snapshot_message(instance.repo, instance.version))
        if commit != instance.base_commit:
            raise RepoStoreError(
                f"{instance.instance_id}: rebuilt base commit {commit} != recorded {instance.base_commit}; "
                "the repository sources changed since the task set was generated "
                "(re-run `python -m envs.swe.generation.generate`)"
            )
        run_git(["--git-dir", str(git_dir), "update-ref", f"refs/tags/{instance.instance_id}", commit])
