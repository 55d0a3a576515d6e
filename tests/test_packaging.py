"""A built wheel is a working install: the experiment files ship inside it and the CLI finds its default
config from any directory, with no repository beside the package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_SOURCES = (
    "setup.py",
    "pyproject.toml",
    "README.md",
    "trainer",
    "envs",
    "rollout",
    "algorithms",
    "configs",
)


@pytest.mark.slow
def test_the_wheel_ships_the_configs_and_finds_the_quickstart(tmp_path):
    source = tmp_path / "source"  # a copy, so the build leaves no build/ or egg-info in the checkout
    source.mkdir()
    for name in PACKAGE_SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            str(source),
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = tmp_path.glob("turnrl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"trainer/configs/{p.name}" for p in (REPO / "configs").glob("*.yaml")}
    assert shipped and shipped <= names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = (
        "import trainer.config as c, trainer.cli as cli; "
        "print(c.QUICKSTART); cli.main(['config', 'show', 'algorithm.name=grpo'])"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=elsewhere, env=env, timeout=120
    )
    assert shown.returncode == 0, shown.stderr[-3000:]
    quickstart, _, config = shown.stdout.partition("\n")
    assert Path(quickstart) == site / "trainer" / "configs" / "quickstart.yaml"
    assert "name: grpo" in config
