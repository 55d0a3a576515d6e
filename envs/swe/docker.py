"""Docker sandbox backend: one container per working copy, from the official SWE-bench images.

For clusters with a Docker daemon. Each sandbox is `docker run -d <image> sleep infinity` with no
network, a memory cap and a process cap; commands are `docker exec` into /testbed under `timeout`
(the client being killed does not stop a process inside the container) and rlimits; closing is
`docker rm -f`. File access for the editor also goes through `docker exec` (base64 out, stdin in).
All docker calls go through `runner`, so the command lines can be checked without a daemon
(tests/test_swe_docker.py does exactly that; this backend has not been run against a real daemon
in this project's CI).
"""

from __future__ import annotations

import base64
import posixpath
import shlex
import uuid
from collections.abc import Callable

from envs.swe.grading import DEFAULT_TEST_COMMAND
from envs.swe.sandbox import (
    SANDBOX_ROOT,
    ExecResult,
    Limits,
    Sandbox,
    SandboxBackend,
    SandboxError,
    WorkspaceSpec,
    run_capped,
)

Runner = Callable[[list[str], bytes | None, Limits], ExecResult]
# SWE-bench images keep the repository's environment in a conda env named "testbed".
SWEBENCH_ENV_SETUP = (
    "source /opt/miniconda3/bin/activate >/dev/null 2>&1 && conda activate testbed >/dev/null 2>&1"
)
# Docker Hub names of the official images: instance ids are lower-cased and "__" becomes "_1776_".
SWEBENCH_IMAGE_TEMPLATE = "swebench/sweb.eval.x86_64.{key}:latest"
CONTROL_LIMITS = Limits(wall_s=120.0, cpu_s=120, output_bytes=16 * 2**20, kill_output_bytes=64 * 2**20)


def subprocess_runner(argv: list[str], stdin: bytes | None, limits: Limits) -> ExecResult:
    return run_capped(argv, limits, stdin=stdin)


def swebench_image(instance_id: str, template: str = SWEBENCH_IMAGE_TEMPLATE) -> str:
    return template.format(key=instance_id.lower().replace("__", "_1776_"))


class DockerBackend(SandboxBackend):
    name = "docker"

    def __init__(
        self,
        limits: Limits | None = None,
        runner: Runner | None = None,
        docker: str = "docker",
        image_template: str = SWEBENCH_IMAGE_TEMPLATE,
        env_setup: str = SWEBENCH_ENV_SETUP,
        cpus: float | None = 1.0,
        harness: bool = True,
    ) -> None:
        self.limits = limits or Limits()
        self.runner = runner or subprocess_runner
        self.docker = docker
        self.image_template = image_template
        self.env_setup = env_setup
        self.cpus = cpus
        # Instances of the repositories the SWE-bench harness specifies are graded with its eval script,
        # test command and log parser (envs.swe.harness); others with our pytest command.
        self.harness = harness
        self.test_command_template = (
            f"{env_setup}; {DEFAULT_TEST_COMMAND}" if env_setup else DEFAULT_TEST_COMMAND
        )

    def run(self, args: list[str], stdin: bytes | None = None, limits: Limits = CONTROL_LIMITS) -> ExecResult:
        return self.runner([self.docker, *args], stdin, limits)

    def create(self, spec: WorkspaceSpec) -> DockerSandbox:
        image = spec.image or swebench_image(spec.instance_id, self.image_template)
        name = f"turnrl-swe-{uuid.uuid4().hex[:12]}"
        lim = self.limits
        args = [
            "run",
            "-d",
            "--rm",
            "--name",
            name,
            "--network",
            "none",
            f"--memory={lim.memory_bytes}",
            f"--memory-swap={lim.memory_bytes}",
            f"--pids-limit={lim.nproc}",
            "--ulimit",
            f"fsize={lim.file_bytes}",
            "--tmpfs",
            f"/tmp:size={lim.tmp_bytes}",
            "-w",
            SANDBOX_ROOT,
        ]
        if self.cpus:
            args.append(f"--cpus={self.cpus}")
        args += [image, "sleep", "infinity"]
        result = self.run(args)
        if result.exit_code != 0:
            raise SandboxError(
                f"docker run {image} failed ({result.exit_code}): {result.output.strip()[-500:]}"
            )
        container = result.output.strip().splitlines()[-1] if result.output.strip() else name
        return DockerSandbox(self, container)


class DockerSandbox(Sandbox):
    def __init__(self, backend: DockerBackend, container: str) -> None:
        self.backend = backend
        self.container = container
        self.closed = False

    def exec(self, command: str, limits: Limits | None = None, stdin: bytes | None = None) -> ExecResult:
        if self.closed:
            raise SandboxError("sandbox is closed")
        limits = limits or self.backend.limits
        setup = f"{self.backend.env_setup}; " if self.backend.env_setup else ""
        script = (
            f"ulimit -t {limits.cpu_s} -v {limits.memory_bytes // 1024} -u {limits.nproc}; {setup}{command}"
        )
        args = [
            "exec",
            *(["-i"] if stdin is not None else []),
            "-w",
            SANDBOX_ROOT,
            self.container,
            "timeout",
            "-s",
            "KILL",
            f"{limits.wall_s:g}",
            "bash",
            "-c",
            script,
        ]
        # The client gets a few seconds more than the in-container timeout, so the inner kill wins.
        outer = limits.with_overrides(wall_s=limits.wall_s + 10)
        result = self.backend.run(args, stdin, outer)
        if result.exit_code == 137 and result.duration_s >= limits.wall_s:
            result.limit = "wall_time"
        return result

    def _control(self, script: str, stdin: bytes | None = None) -> ExecResult:
        args = ["exec", *(["-i"] if stdin is not None else []), self.container, "bash", "-c", script]
        return self.backend.run(args, stdin)

    @staticmethod
    def _checked(path: str) -> str:
        full = path if path.startswith("/") else posixpath.join(SANDBOX_ROOT, path)
        norm = posixpath.normpath(full)
        if norm != SANDBOX_ROOT and not norm.startswith(SANDBOX_ROOT + "/"):
            raise SandboxError(f"path {path} is outside {SANDBOX_ROOT}")
        return norm

    def read_file(self, path: str) -> bytes:
        target = shlex.quote(self._checked(path))
        result = self._control(f"test -f {target} && base64 -w0 -- {target}")
        if result.exit_code != 0:
            raise SandboxError(f"cannot read {path}")
        return base64.b64decode(result.output.strip())

    def write_file(self, path: str, data: bytes) -> None:
        target = self._checked(path)
        script = f"mkdir -p {shlex.quote(posixpath.dirname(target))} && cat > {shlex.quote(target)}"
        result = self._control(script, stdin=data)
        if result.exit_code != 0:
            raise SandboxError(f"cannot write {path}: {result.output.strip()[-300:]}")

    def remove_file(self, path: str) -> None:
        target = shlex.quote(self._checked(path))
        result = self._control(f"test ! -d {target} && rm -f -- {target}")
        if result.exit_code != 0:
            raise SandboxError(f"cannot remove {path}")

    def path_kind(self, path: str) -> str | None:
        target = shlex.quote(self._checked(path))
        script = (
            f"if [ -d {target} ]; then echo dir; elif [ -f {target} ]; then echo file; "
            f"elif [ -e {target} ]; then echo other; else echo none; fi"
        )
        kind = self._control(script).output.strip()
        if kind not in ("dir", "file", "other", "none"):
            raise SandboxError(f"cannot inspect {path}: {kind[-200:]}")
        return None if kind == "none" else kind

    def list_dir(self, path: str, max_depth: int = 2) -> list[str]:
        target = self._checked(path)
        script = f"find {shlex.quote(target)} -mindepth 1 -maxdepth {max_depth} -not -path '*/.*'"
        result = self._control(script)
        if result.exit_code != 0:
            raise SandboxError(f"cannot list {path}")
        return sorted(line for line in result.output.splitlines() if line)

    def tree_digest(self) -> str:
        script = "git add -A >/dev/null 2>&1; git diff --cached --binary HEAD | sha256sum"
        result = self._control(f"cd {SANDBOX_ROOT} && {script}")
        return result.output.split()[0] if result.output.strip() else ""

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.backend.run(["rm", "-f", self.container])
