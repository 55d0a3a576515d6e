"""Every shipped env passes gymnasium's own ``check_env``: what a user's wrappers and tools expect of an Env.

``check_env`` resets and steps the env, and reads ``env.spec`` (gymnasium's ``EnvSpec`` set by
``gymnasium.make``) after a reset; an env that stores anything else under ``spec`` fails it.
"""

from __future__ import annotations

import logging
import shutil
import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the turnrl ids)
from envs.swe.sandbox import ExecResult, Sandbox, SandboxBackend, SandboxError, WorkspaceSpec


def _check(env_id: str, **kwargs) -> None:
    env = gymnasium.make(env_id, disable_env_checker=True, **kwargs)
    try:
        with warnings.catch_warnings():
            # Text observations have no Box bounds or dtypes to inspect; those notices are not failures.
            warnings.simplefilter("ignore")
            check_env(env.unwrapped, skip_render_check=True)
            env.reset(seed=0)
            assert isinstance(env.spec, gymnasium.envs.registration.EnvSpec)
            assert env.spec.id == env_id
    finally:
        env.close()


def test_toy_env_passes_check_env():
    _check("turnrl/Toy-v0", max_steps=5)


def test_webshop_env_passes_check_env():
    _check("turnrl/WebShop-v0", split="test")


def test_alfworld_env_passes_check_env(tmp_path):
    pytest.importorskip("alfworld", reason="ALFWorld needs the alfworld extra: pip install -e '.[alfworld]'")
    from envs.alfworld.generation import generate
    from envs.alfworld.generation.scene import SceneKnobs

    games = tmp_path / "games"
    small_rooms = generate.GenerationConfig(knobs=SceneKnobs(max_receptacles=4, distractors=(1, 2)))
    generate.generate(
        games,
        {"train": 2, "eval_in_distribution": 0, "eval_out_of_distribution": 0},
        seed=7,
        config=small_rooms,
        workers=1,
    )
    _check("turnrl/ALFWorld-v0", data_dir=str(games), split="train")


class _EmptyWorkspace(Sandbox):
    """A working copy with no files in which every command prints nothing: enough for the Env interface."""

    def exec(self, command, limits=None, stdin=None):
        return ExecResult(exit_code=0, output="", duration_s=0.0)

    def read_file(self, path):
        raise SandboxError(f"{path}: no such file")

    def write_file(self, path, data):
        pass

    def remove_file(self, path):
        pass

    def path_kind(self, path):
        return None

    def list_dir(self, path, max_depth=2):
        return []

    def tree_digest(self):
        return "empty"

    def close(self):
        pass


class _EmptyBackend(SandboxBackend):
    name = "empty"

    def create(self, spec: WorkspaceSpec) -> Sandbox:
        return _EmptyWorkspace()


def test_swe_env_passes_check_env(tmp_path, caplog):
    """With a stand-in sandbox (no bubblewrap needed); its max_turns keeps check_env's steps short of grading."""
    with caplog.at_level(logging.ERROR, logger="envs.swe.env"):  # no gold-patch expert in an empty workspace
        _check(
            "turnrl/SWE-v0",
            split="test",
            cache_dir=tmp_path / "swe-cache",
            backend=_EmptyBackend(),
            max_turns=50,
        )


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
def test_swe_env_with_bwrap_passes_check_env(tmp_path):
    _check("turnrl/SWE-v0", split="test", cache_dir=tmp_path / "swe-cache", max_turns=50)
