"""Bubblewrap sandbox backend: fresh working copies on the host, commands jailed with bwrap.

Isolation per command: new mount/PID/network/IPC/UTS namespaces, a read-only view of the system
(/usr, /etc and the Python install), a private size-capped /tmp, the working copy as the only
writable host path (at /testbed), rlimits on CPU time, address space, processes and file size,
and a wall-clock limit enforced from outside. When we run as root, the command is switched to an
unprivileged uid inside the jail: the kernel never applies RLIMIT_NPROC to uid 0, so without this
a fork bomb would not be contained. Files the agent edits through the editor tool are touched on
the host, after checking that the path resolves inside the working copy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

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

log = logging.getLogger(__name__)

SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc")
DIGEST_SKIP_DIRS = {".git", "__pycache__", ".pytest_cache"}
MAX_EDITOR_FILE_BYTES = 8 * 2**20
UNPRIVILEGED_UID_BASE = 200_000


def default_cache_dir() -> Path:
    """Where built git repositories and working-copy templates live (never visible to sandboxes)."""
    env = os.environ.get("TURNRL_SWE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "turnrl" / "swe"


def python_roots() -> list[str]:
    """Directories the sandboxed `python` needs: the venv and the interpreter install it points to."""
    roots = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    roots.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    return sorted(r for r in roots if not any(_is_within(r, s) for s in SYSTEM_PATHS))


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _git(args: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(
        ["git", "-c", "safe.directory=*", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SandboxError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()}")
    return proc.stdout


class BwrapBackend(SandboxBackend):
    """Makes `BwrapSandbox`es from local git repositories."""

    name = "bwrap"

    def __init__(
        self,
        limits: Limits | None = None,
        work_root: str | Path | None = None,
        cache_dir: str | Path | None = None,
        hidden_paths: tuple[str | Path, ...] = (),
        extra_ro_paths: tuple[str | Path, ...] = (),
        sandbox_uid: int | None = None,
    ) -> None:
        self.bwrap = shutil.which("bwrap")
        if self.bwrap is None:
            raise SandboxError(
                "bubblewrap (bwrap) is not installed: `apt-get install bubblewrap` "
                "(or scripts/ci_system_deps.sh), or select the docker backend"
            )
        self.limits = limits or Limits()
        self.work_root = Path(work_root or Path(tempfile.gettempdir()) / "turnrl-swe-work")
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.ro_paths = python_roots() + [os.path.realpath(p) for p in extra_ro_paths]
        # Hidden paths (task data, the repo cache) are masked if they happen to sit under a bound path,
        # e.g. the project installed into the venv's site-packages.
        self.hidden_paths = [os.path.realpath(p) for p in (*hidden_paths, self.cache_dir)]
        self.as_root = os.geteuid() == 0
        if self.as_root:
            self.uid = (
                sandbox_uid if sandbox_uid is not None else UNPRIVILEGED_UID_BASE + os.getpid() % 100_000
            )
        else:
            self.uid = None
        self.work_root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.work_root, 0o755)

    def create(self, spec: WorkspaceSpec) -> BwrapSandbox:
        if spec.git_dir is None:
            raise SandboxError(
                f"{spec.instance_id}: the bwrap backend needs a local git repository (git_dir)"
            )
        template = self._template(spec)
        dest = self.work_root / f"{_safe_name(spec.instance_id)}-{uuid.uuid4().hex[:10]}"
        shutil.copytree(template, dest, symlinks=True)
        if self.uid is not None:
            _chown_tree(dest, self.uid)
        return BwrapSandbox(self, dest)

    def wrap(self, directory: str | Path) -> BwrapSandbox:
        """A sandbox over an existing host directory (the generator's scratch copies); closing it
        deletes the directory."""
        directory = Path(directory)
        if self.uid is not None:
            _chown_tree(directory, self.uid)
        return BwrapSandbox(self, directory)

    def _template(self, spec: WorkspaceSpec) -> Path:
        """A pristine checkout of base_commit, built once and copied for every episode."""
        key = hashlib.sha1(f"{os.path.realpath(spec.git_dir)}\0{spec.base_commit}".encode()).hexdigest()[:16]
        template = self.cache_dir / "worktrees" / f"{_safe_name(spec.instance_id)}-{key}"
        if template.is_dir():
            return template
        template.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=template.parent, prefix=".build-"))
        try:
            _git(["init", "-q", str(tmp)])
            # Only the base commit travels (depth 1): the working copy must not hold later commits (the fix).
            upload_pack = "git -c safe.directory=* -c uploadpack.allowAnySHA1InWant=true upload-pack"
            _git(
                [
                    "fetch",
                    "-q",
                    "--depth",
                    "1",
                    f"--upload-pack={upload_pack}",
                    f"file://{os.path.realpath(spec.git_dir)}",
                    spec.base_commit,
                ],
                cwd=tmp,
            )
            _git(["-c", "advice.detachedHead=false", "checkout", "-q", spec.base_commit], cwd=tmp)
            head = _git(["rev-parse", "HEAD"], cwd=tmp).strip()
            if head != spec.base_commit:
                raise SandboxError(f"{spec.instance_id}: checked out {head}, expected {spec.base_commit}")
            os.rename(tmp, template)
        except OSError:
            if not template.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process built it first
        except SandboxError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return template


class BwrapSandbox(Sandbox):
    def __init__(self, backend: BwrapBackend, host_dir: Path) -> None:
        self.backend = backend
        self.host_dir = host_dir
        self.host_real = os.path.realpath(host_dir)
        self.closed = False

    # ----- commands -------------------------------------------------------------------------
    def exec(self, command: str, limits: Limits | None = None, stdin: bytes | None = None) -> ExecResult:
        if self.closed:
            raise SandboxError("sandbox is closed")
        limits = limits or self.backend.limits
        argv = self._argv(command, limits)
        return run_capped(argv, limits, stdin=stdin, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})

    def _argv(self, command: str, limits: Limits) -> list[str]:
        b = self.backend
        argv = [
            b.bwrap,
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]
        if not b.as_root:
            argv.append("--unshare-user")
        # /tmp first: a tmpfs mounted after a bind below /tmp would hide it.
        argv += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
        created: set[str] = {"/", "/tmp"}
        for path in SYSTEM_PATHS:
            if os.path.islink(path):
                argv += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                argv += ["--ro-bind", path, path]
        for path in b.ro_paths:
            argv += _parent_dirs(path, created)
            argv += ["--ro-bind", path, path]
        for hidden in b.hidden_paths:
            if any(_is_within(hidden, root) for root in b.ro_paths) and os.path.exists(hidden):
                argv += ["--tmpfs", hidden] if os.path.isdir(hidden) else ["--ro-bind", "/dev/null", hidden]
        argv += [
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--bind",
            str(self.host_dir),
            SANDBOX_ROOT,
            "--remount-ro",
            "/",
            "--chdir",
            SANDBOX_ROOT,
            "--clearenv",
        ]
        bins = [os.path.join(p, "bin") for p in reversed(b.ro_paths)]
        env = {
            "PATH": ":".join([*bins, "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PAGER": "cat",
            "GIT_PAGER": "cat",
            "TERM": "dumb",
        }
        for key, value in env.items():
            argv += ["--setenv", key, value]
        if b.uid is not None:
            argv += [
                "--cap-add",
                "CAP_SETUID",
                "--cap-add",
                "CAP_SETGID",
                "setpriv",
                f"--reuid={b.uid}",
                f"--regid={b.uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
            ]
        argv += [
            "prlimit",
            f"--as={limits.memory_bytes}",
            f"--cpu={limits.cpu_s}:{limits.cpu_s + 5}",
            f"--nproc={limits.nproc}",
            f"--fsize={limits.file_bytes}",
            "--core=0",
            "--",
            "bash",
            "-c",
            command,
        ]
        return argv

    # ----- files (host side, confined to the working copy) ----------------------------------
    def _host_path(self, path: str) -> str:
        if not isinstance(path, str) or not path:
            raise SandboxError("empty path")
        full = path if path.startswith("/") else posixpath.join(SANDBOX_ROOT, path)
        norm = posixpath.normpath(full)
        if not _is_within(norm, SANDBOX_ROOT):
            raise SandboxError(f"path {path} is outside {SANDBOX_ROOT}")
        rel = norm[len(SANDBOX_ROOT) :].lstrip("/")
        host = os.path.join(self.host_real, rel) if rel else self.host_real
        real = os.path.realpath(host)
        if not _is_within(real, self.host_real):
            raise SandboxError(f"path {path} resolves outside {SANDBOX_ROOT}")
        return real

    def _sandbox_path(self, host: str) -> str:
        rel = os.path.relpath(host, self.host_real)
        return SANDBOX_ROOT if rel == "." else posixpath.join(SANDBOX_ROOT, rel)

    def read_file(self, path: str) -> bytes:
        host = self._host_path(path)
        try:
            fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            raise SandboxError(f"cannot read {path}: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise SandboxError(f"{path} is not a regular file")
            if info.st_size > MAX_EDITOR_FILE_BYTES:
                raise SandboxError(f"{path} is too large ({info.st_size} bytes)")
            return fh.read()

    def write_file(self, path: str, data: bytes) -> None:
        host = self._host_path(path)
        parent = os.path.dirname(host)
        missing = []
        probe = parent
        while not os.path.exists(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        os.makedirs(parent, exist_ok=True)
        try:
            fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise SandboxError(f"cannot write {path}: {exc.strerror}") from exc
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if self.backend.uid is not None:
            for created in [*missing, host]:
                os.chown(created, self.backend.uid, self.backend.uid, follow_symlinks=False)

    def remove_file(self, path: str) -> None:
        host = self._host_path(path)
        if os.path.isdir(host):
            raise SandboxError(f"{path} is a directory")
        try:
            os.unlink(host)
        except OSError as exc:
            raise SandboxError(f"cannot remove {path}: {exc.strerror}") from exc

    def path_kind(self, path: str) -> str | None:
        host = self._host_path(path)
        try:
            mode = os.lstat(host).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(mode):
            return "dir"
        return "file" if stat.S_ISREG(mode) else "other"

    def list_dir(self, path: str, max_depth: int = 2) -> list[str]:
        top = self._host_path(path)
        if not os.path.isdir(top):
            raise SandboxError(f"{path} is not a directory")
        out: list[str] = []
        base_depth = top.rstrip("/").count("/")
        for root, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            depth = root.rstrip("/").count("/") - base_depth
            for name in dirs + sorted(f for f in files if not f.startswith(".")):
                out.append(self._sandbox_path(os.path.join(root, name)))
            if depth + 1 >= max_depth:
                dirs[:] = []
        return sorted(out)

    def tree_digest(self) -> str:
        digest = hashlib.sha256()
        for root, dirs, files in os.walk(self.host_real):
            dirs[:] = sorted(d for d in dirs if d not in DIGEST_SKIP_DIRS)
            for name in sorted(files):
                if name.endswith(".pyc"):
                    continue
                full = os.path.join(root, name)
                rel = os.path.relpath(full, self.host_real)
                digest.update(rel.encode("utf-8", "surrogateescape") + b"\0")
                digest.update(_file_fingerprint(full))
        return digest.hexdigest()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        _force_rmtree(self.host_dir)


def _file_fingerprint(path: str) -> bytes:
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return b"link:" + os.readlink(path).encode("utf-8", "surrogateescape")
    if not stat.S_ISREG(info.st_mode):
        return b"special"
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.digest()


def _parent_dirs(path: str, created: set[str]) -> list[str]:
    """`--dir` for each missing ancestor, world-traversable (bwrap would copy e.g. /root's 0700)."""
    args: list[str] = []
    parts = path.strip("/").split("/")[:-1]
    current = ""
    for part in parts:
        current += "/" + part
        if current not in created:
            created.add(current)
            args += ["--perms", "0755", "--dir", current]
    return args


def _chown_tree(top: Path, uid: int) -> None:
    os.chown(top, uid, uid)
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)


def _force_rmtree(path: Path) -> None:
    """Remove a working copy even if the agent made parts of it read-only."""

    def fix_and_retry(func, target, _exc):
        try:
            os.chmod(os.path.dirname(target), 0o700)
            os.chmod(target, 0o700) if os.path.isdir(target) and not os.path.islink(target) else None
            func(target)
        except OSError as exc:
            log.warning("could not remove %s: %s", target, exc)

    shutil.rmtree(path, onexc=fix_and_retry) if sys.version_info >= (3, 12) else shutil.rmtree(
        path, onerror=fix_and_retry
    )


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
