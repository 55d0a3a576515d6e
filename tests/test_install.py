"""The offline install (scripts/wheelhouse.sh, scripts/install.sh --offline) and the GPU pins resolving together.

The fast tests check that a bad wheelhouse is refused in one line with exit 2 before any venv is made. The slow
ones need PyPI: a small wheelhouse made and installed offline (what CI runs of the offline path), and the `gpu`
extra resolved with its pins for the GPU images' Python 3.12 (the full CPU round trip is in docs/install.md).
"""

import glob
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
INSTALL = ROOT / "scripts" / "install.sh"
WHEELHOUSE = ROOT / "scripts" / "wheelhouse.sh"


def run_script(script, *args, env=None, timeout=60):
    merged = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    return subprocess.run(
        ["bash", str(script), *map(str, args)],
        capture_output=True,
        text=True,
        env=merged,
        timeout=timeout,
        cwd=ROOT,
    )


def this_python():
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def write_wheelhouse(folder, files, python=None, sums=None):
    """A wheelhouse of dummy files; `sums` overrides the checksums written to SHA256SUMS."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, content in files.items():
        if content is not None:
            (folder / name).write_bytes(content)
        digest = (sums or {}).get(name) or hashlib.sha256(content or b"").hexdigest()
        lines.append(f"{digest}  {name}\n")
    (folder / "SHA256SUMS").write_text("".join(lines))
    (folder / "wheelhouse.txt").write_text(f"mode=custom\npython={python or this_python()}\nrequirement=x\n")
    return folder


def refused(result):
    """Exit 2 with exactly one line on stderr; returns that line."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_offline_refuses_a_missing_folder(tmp_path):
    line = refused(run_script(INSTALL, "--offline", tmp_path / "nowhere", env={"VENV": str(tmp_path / "v")}))
    assert "no such folder" in line and "wheelhouse.sh" in line
    assert not (tmp_path / "v").exists()


def test_offline_refuses_a_folder_that_is_not_a_wheelhouse(tmp_path):
    (tmp_path / "a-1.0-py3-none-any.whl").write_bytes(b"x")
    line = refused(run_script(INSTALL, "--offline", tmp_path, env={"VENV": str(tmp_path / "v")}))
    assert "not a wheelhouse" in line
    assert not (tmp_path / "v").exists()


def test_offline_names_missing_and_corrupt_wheels(tmp_path):
    house = write_wheelhouse(
        tmp_path / "house",
        {"a-1.0-py3-none-any.whl": b"a", "b-1.0-py3-none-any.whl": b"b", "c-1.0-py3-none-any.whl": None},
        sums={"b-1.0-py3-none-any.whl": "0" * 64},
    )
    line = refused(run_script(INSTALL, "--offline", house, env={"VENV": str(tmp_path / "v")}))
    assert "1 missing (c-1.0-py3-none-any.whl)" in line
    assert "1 with a wrong checksum (b-1.0-py3-none-any.whl)" in line
    assert "a-1.0" not in line
    assert not (tmp_path / "v").exists()


def test_offline_refuses_a_wheelhouse_for_another_python(tmp_path):
    house = write_wheelhouse(tmp_path / "house", {"a-1.0-py3-none-any.whl": b"a"}, python="3.99")
    line = refused(run_script(INSTALL, "--offline", house, env={"VENV": str(tmp_path / "v")}))
    assert "Python 3.99" in line and f"Python {this_python()}" in line


def test_install_rejects_unknown_arguments(tmp_path):
    assert "unknown argument '--of'" in refused(run_script(INSTALL, "--of", tmp_path))
    assert "cpu or gpu" in refused(run_script(INSTALL, "--requirements", "tpu"))


def test_requirement_lines_name_extras_that_setup_py_defines():
    setup_py = (ROOT / "setup.py").read_text()
    for mode in ("cpu", "gpu"):
        result = run_script(INSTALL, "--requirements", mode)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.split()
        extras = [line for line in lines if line.startswith(".[")]
        assert len(extras) == 1, lines
        for extra in extras[0][2:-1].split(","):
            assert re.search(rf'"{re.escape(extra)}": \[', setup_py), (mode, extra)
    assert "torch==2.13.0" in run_script(INSTALL, "--requirements", "cpu").stdout.split()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--python-version", "3"], "takes X.Y"),
        (["--platform", "win_amd64"], "takes a tag such as"),
        (["--platform", "manylinux_2_28_riscv64"], "not this machine's architecture"),
        (["--tpu"], "unknown argument '--tpu'"),
        (["--python-version", "3.1"], "no Python 3.1 here"),
    ],
)
def test_wheelhouse_rejects_bad_arguments_before_any_work(tmp_path, args, message):
    line = refused(run_script(WHEELHOUSE, tmp_path / "house", *args))
    assert message in line
    assert not (tmp_path / "house").exists()


def test_wheelhouse_refuses_a_folder_with_files(tmp_path):
    (tmp_path / "old.whl").write_bytes(b"x")
    assert "is not empty" in refused(run_script(WHEELHOUSE, tmp_path, "--cpu"))


@pytest.mark.slow
def test_small_wheelhouse_installs_offline(tmp_path):
    """The CI form of the offline path: a wheelhouse of omegaconf (whose antlr4 runtime is published only as a
    source package, so the build step runs) made from PyPI, then installed into a new venv with no index."""
    reqs = tmp_path / "reqs.txt"
    reqs.write_text("omegaconf==2.3.0\n")
    house = tmp_path / "house"
    made = run_script(WHEELHOUSE, house, "--cpu", "--requirements", reqs, timeout=600)
    assert made.returncode == 0, made.stdout + made.stderr
    names = sorted(p.name for p in house.glob("*.whl"))
    assert [n.split("-")[0].lower() for n in names if n.lower().startswith(("omegaconf", "antlr4"))] == [
        "antlr4_python3_runtime",
        "omegaconf",
    ], names
    assert len((house / "SHA256SUMS").read_text().splitlines()) == len(names)
    assert "requirement=omegaconf==2.3.0" in (house / "wheelhouse.txt").read_text()

    venv = tmp_path / "venv"
    installed = run_script(INSTALL, "--offline", house, env={"VENV": str(venv)}, timeout=600)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    probe = subprocess.run(
        [venv / "bin" / "python", "-c", "import omegaconf; print(omegaconf.OmegaConf.create({'a': 1}).a)"],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "1", probe.stderr

    # A wheel the requirements need but the wheelhouse lost (and its manifest with it): one line, exit 2.
    subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "uninstall", "-q", "-y", "antlr4-python3-runtime"], check=True
    )
    lost = next(house.glob("antlr4*.whl"))
    lost.unlink()
    sums = house / "SHA256SUMS"
    sums.write_text("".join(line + "\n" for line in sums.read_text().splitlines() if lost.name not in line))
    line = refused(run_script(INSTALL, "--offline", house, env={"VENV": str(venv)}, timeout=600))
    assert "has no wheel for 'antlr4-python3-runtime" in line


def python312():
    """A working CPython 3.12 (a pyenv shim of an inactive version is found on PATH but does not run)."""
    candidates = [
        shutil.which("python3.12"),
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12.*/bin/python3.12"))),
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
        )
        if probe.stdout.strip() == "(3, 12)":
            return candidate
    pytest.skip("no CPython 3.12 here to resolve the GPU images' Python")


@pytest.mark.slow
def test_gpu_extra_resolves_with_its_pins_for_python_312(tmp_path):
    """vllm 0.26 pins torch 2.11 (the GPU images' torch); the transformers, DeepSpeed and peft pins must resolve
    with it on the GPU images' Python 3.12 (x86_64 Linux, this machine's platform)."""
    subprocess.run([python312(), "-m", "venv", tmp_path / "venv"], check=True)
    pip = [str(tmp_path / "venv" / "bin" / "python"), "-m", "pip"]
    # A current pip reads the wheels' metadata alone (PEP 658/714); an older one downloads torch and CUDA (GBs).
    subprocess.run([*pip, "install", "-q", "-U", "pip"], check=True, timeout=600)
    report = tmp_path / "report.json"
    resolved = subprocess.run(
        [*pip, "install", "-q", "--dry-run", "--ignore-installed", "--report", report, f"{ROOT}[gpu]"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert resolved.returncode == 0, resolved.stderr[-3000:]
    versions = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert versions["vllm"].startswith("0.26."), versions["vllm"]
    assert versions["torch"].startswith("2.11.0"), versions["torch"]
    assert versions["deepspeed"].startswith("0.19."), versions["deepspeed"]
    major, minor = map(int, versions["transformers"].split(".")[:2])
    assert (5, 16) <= (major, minor) < (5, 20), versions["transformers"]
    assert "peft" in versions
