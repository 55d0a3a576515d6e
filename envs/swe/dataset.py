"""SWE task instances in the SWE-bench schema, and loaders for our task set and real datasets.

One record = one instance: `instance_id`, `repo`, `base_commit`, `problem_statement`, `patch`
(gold fix), `test_patch` (hidden tests), `FAIL_TO_PASS`, `PASS_TO_PASS` (test ids; SWE-bench
stores them as JSON-encoded strings, SWE-Gym and others as lists: both are read),
`hints_text`, `created_at`, `version`, `environment_setup_commit`. Unknown keys are kept in
`extra` (e.g. R2E-Gym's `docker_image`), so nothing in a real dataset is lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
TASKS_DIR = DATA_DIR / "tasks"
REPOS_DIR = DATA_DIR / "repos"
SPLITS = ("train", "test")

SCHEMA_KEYS = (
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
)
# Other datasets name a few fields differently (R2E-Gym, SWE-smith style exports).
ALIASES = {
    "instance_id": ("id", "task_id"),
    "repo": ("repo_name",),
    "base_commit": ("commit_hash", "base_sha"),
    "problem_statement": ("issue", "problem"),
    "patch": ("gold_patch",),
}


class DatasetError(ValueError):
    pass


@dataclass(frozen=True)
class SWEInstance:
    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    patch: str
    test_patch: str
    fail_to_pass: tuple[str, ...]
    pass_to_pass: tuple[str, ...]
    hints_text: str = ""
    created_at: str = ""
    version: str = ""
    environment_setup_commit: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def repo_name(self) -> str:
        """Short repository name ('owner/name' -> 'name'), used as the task type."""
        return self.repo.rsplit("/", 1)[-1]

    @property
    def test_files(self) -> list[str]:
        """Test files to run: the file part of every F2P/P2P id, in first-seen order."""
        seen: dict[str, None] = {}
        for test_id in (*self.fail_to_pass, *self.pass_to_pass):
            seen.setdefault(test_id.split("::", 1)[0], None)
        return list(seen)

    def to_record(self) -> dict:
        """The SWE-bench JSON form (F2P/P2P JSON-encoded, as in the published datasets)."""
        record = {
            "instance_id": self.instance_id,
            "repo": self.repo,
            "base_commit": self.base_commit,
            "problem_statement": self.problem_statement,
            "patch": self.patch,
            "test_patch": self.test_patch,
            "FAIL_TO_PASS": json.dumps(list(self.fail_to_pass)),
            "PASS_TO_PASS": json.dumps(list(self.pass_to_pass)),
            "hints_text": self.hints_text,
            "created_at": self.created_at,
            "version": self.version,
            "environment_setup_commit": self.environment_setup_commit,
        }
        record.update(self.extra)
        return record

    @classmethod
    def from_record(cls, record: dict, source: str = "<record>") -> SWEInstance:
        if not isinstance(record, dict):
            raise DatasetError(f"{source}: expected a JSON object, got {type(record).__name__}")
        values = dict(record)
        for key, alternatives in ALIASES.items():
            if key not in values:
                for alt in alternatives:
                    if alt in values:
                        values[key] = values.pop(alt)
                        break
        missing = [
            k for k in ("instance_id", "repo", "base_commit", "problem_statement") if not values.get(k)
        ]
        if missing:
            raise DatasetError(f"{source}: missing required field(s) {missing}")
        f2p = _test_list(values.get("FAIL_TO_PASS"), "FAIL_TO_PASS", source)
        p2p = _test_list(values.get("PASS_TO_PASS"), "PASS_TO_PASS", source)
        if not f2p and not p2p:
            f2p = _expected_passing(values.get("expected_output_json"), source)
        extra = {k: v for k, v in values.items() if k not in SCHEMA_KEYS}
        return cls(
            instance_id=str(values["instance_id"]),
            repo=str(values["repo"]),
            base_commit=str(values["base_commit"]),
            problem_statement=str(values["problem_statement"]),
            patch=str(values.get("patch") or ""),
            test_patch=str(values.get("test_patch") or ""),
            fail_to_pass=tuple(f2p),
            pass_to_pass=tuple(p2p),
            hints_text=str(values.get("hints_text") or ""),
            created_at=str(values.get("created_at") or ""),
            version=str(values.get("version") or ""),
            environment_setup_commit=str(values.get("environment_setup_commit") or ""),
            extra=extra,
        )


def _test_list(value: object, key: str, source: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{source}: {key} is neither a list nor a JSON-encoded list") from exc
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"{source}: {key} must be a list of test ids")
    return value


def _expected_passing(value: object, source: str) -> list[str]:
    """R2E-Gym keeps expected per-test outcomes instead of F2P/P2P: every expected pass must pass."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{source}: expected_output_json is not valid JSON") from exc
    if not isinstance(value, dict):
        raise DatasetError(f"{source}: expected_output_json must map test ids to outcomes")
    return sorted(k for k, v in value.items() if str(v).upper() in ("PASSED", "PASS", "XFAIL"))


def read_records(path: str | Path) -> list[dict]:
    """Records of one .json (a list, one object, or {"instances": [...]}) or .jsonl file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{number}: invalid JSON: {exc.msg}") from exc
        return records
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: invalid JSON: {exc.msg}") from exc
    if isinstance(data, dict):
        data = data.get("instances", [data])
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a list of instances")
    return data


def load_instances(paths: Iterable[str | Path]) -> list[SWEInstance]:
    instances: list[SWEInstance] = []
    seen: set[str] = set()
    for path in paths:
        for index, record in enumerate(read_records(path)):
            name = next(
                (
                    record.get(k)
                    for k in ("instance_id", *ALIASES["instance_id"])
                    if isinstance(record, dict) and record.get(k)
                ),
                None,
            )
            source = f"{path}[{index}]" + (f" ({name})" if name else "")
            instance = SWEInstance.from_record(record, source=source)
            if instance.instance_id in seen:
                raise DatasetError(f"{path}: duplicate instance_id {instance.instance_id}")
            seen.add(instance.instance_id)
            instances.append(instance)
    return instances


def split_files(data_dir: str | Path, split: str | None) -> list[Path]:
    """The JSON(L) files of `split` in `data_dir`: files whose name contains the split name,
    or every file when none does (a directory holding a single split); a file path is used as is."""
    data_dir = Path(data_dir)
    if data_dir.is_file():
        return [data_dir]
    if not data_dir.is_dir():
        raise DatasetError(f"data_dir {data_dir} does not exist")
    files = sorted(p for p in data_dir.iterdir() if p.suffix in (".json", ".jsonl"))
    if not files:
        raise DatasetError(f"no .json/.jsonl files in {data_dir}")
    if split is None:
        return files
    chosen = [p for p in files if split in p.stem.lower()]
    return chosen or files


def load_split(split: str = "test", data_dir: str | Path | None = None) -> list[SWEInstance]:
    """Instances of a split: the shipped task set by default, or a real dataset directory/file."""
    if data_dir is None:
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; the shipped task set has {SPLITS}")
        path = TASKS_DIR / f"{split}.jsonl"
        if not path.exists():
            raise DatasetError(f"{path} is missing; run `python -m envs.swe.generation.generate`")
        return load_instances([path])
    return load_instances(split_files(data_dir, split))
