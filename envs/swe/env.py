"""SWEEnv: fix a bug in a repository with bash and an editor; hidden tests decide the reward.

An episode: reset builds a fresh sandboxed working copy of one instance at its base commit; each
step runs one tool call (model text with a function-call block, or a structured dict); `submit`
or the turn limit ends the episode with a grading: the working copy's diff is applied to another
fresh copy, the hidden test patch is added, FAIL_TO_PASS and PASS_TO_PASS run, and the reward is
1.0 iff all of them pass. Registered as turnrl/SWE-v0.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import gymnasium

from envs.swe.bwrap import default_cache_dir
from envs.swe.dataset import DATA_DIR, SWEInstance, load_split
from envs.swe.editor import Editor, EditorError
from envs.swe.expert import GoldPatchExpert
from envs.swe.grading import (
    GRADING_LIMITS,
    GradeResult,
    extract_patch,
    grade,
    grading_slot,
    protected_paths,
)
from envs.swe.patches import PatchError
from envs.swe.repo_store import SHIPPED_OWNER, RepoStore
from envs.swe.sandbox import (
    ExecResult,
    Limits,
    Sandbox,
    SandboxBackend,
    SandboxError,
    WorkspaceSpec,
    get_backend,
)
from envs.swe.tools import TOOL_PROMPT, ActionError, ToolCall, parse_action
from envs.text_spaces import TextSpace

log = logging.getLogger(__name__)

DEFAULT_COMMAND_LIMITS = Limits(wall_s=60.0, cpu_s=60, output_bytes=10_000)
LIMIT_NOTES = {
    "wall_time": "the command ran past its {wall_s:g} s time limit and was killed with all its processes",
    "cpu_time": "the command used up its {cpu_s} s of CPU time and was killed",
    "output_size": "the command printed too much output and was killed",
    "memory": "the command ran out of memory (limit {memory_gib:g} GiB)",
    "process_count": "the command hit the process limit ({nproc} processes)",
    "file_size": "the command tried to write a file larger than {file_mib:g} MiB",
}


def _limits(value: Limits | dict | None, default: Limits) -> Limits:
    if value is None:
        return default
    if isinstance(value, Limits):
        return value
    if isinstance(value, dict):
        return default.with_overrides(**value)
    raise TypeError(f"limits must be a Limits or a dict of its fields, not {type(value).__name__}")


class SWEEnv(gymnasium.Env):
    """Args:
    split: 'train' or 'test' of the shipped task set (or a split name matched in `data_dir` file names).
    data_dir: directory or file of SWE-bench / SWE-Gym / R2E style JSON(L) instead of the shipped set.
    repos_dir: with `data_dir` and the bwrap backend, local git mirrors named `owner__name[.git]`.
    max_turns: tool calls per episode; reaching it grades the working copy as if submitted.
    backend: 'bwrap' (default), 'docker', or a SandboxBackend; backend_kwargs go to its constructor.
    command_limits / grading_limits: `Limits` or dicts overriding fields (wall_s, cpu_s, memory_bytes,
        nproc, file_bytes, tmp_bytes, output_bytes = the observation's output cap).
    grading_slots: gradings allowed at once across every process sharing `cache_dir`.
    tool_prompt_in_obs: start the first observation with the tool instructions (TOOL_PROMPT).
    show_hints: append the instance's hints_text to the first observation.
    task_ids: restrict the split to these instance ids.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        split: str = "test",
        data_dir: str | Path | None = None,
        repos_dir: str | Path | None = None,
        max_turns: int = 40,
        backend: str | SandboxBackend = "bwrap",
        backend_kwargs: dict | None = None,
        command_limits: Limits | dict | None = None,
        grading_limits: Limits | dict | None = None,
        editor_output_chars: int = 10_000,
        cache_dir: str | Path | None = None,
        grading_slots: int = 2,
        tool_prompt_in_obs: bool = True,
        show_hints: bool = False,
        task_ids: list[str] | None = None,
    ) -> None:
        if max_turns < 1:
            raise ValueError("max_turns must be at least 1")
        self.instances: dict[str, SWEInstance] = {i.instance_id: i for i in load_split(split, data_dir)}
        if task_ids is not None:
            unknown = sorted(set(task_ids) - set(self.instances))
            if unknown:
                raise ValueError(f"unknown task ids for split {split!r}: {unknown[:5]}")
            self.instances = {t: self.instances[t] for t in task_ids}
        if not self.instances:
            raise ValueError(f"split {split!r} has no instances")
        self.task_ids: list[str] = list(self.instances)
        self.repos_dir = Path(repos_dir) if repos_dir else None
        self.max_turns = max_turns
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        kwargs = dict(backend_kwargs or {})
        if isinstance(backend, str) and backend == "bwrap":
            kwargs.setdefault("cache_dir", self.cache_dir)
            kwargs.setdefault("hidden_paths", (DATA_DIR, *([data_dir] if data_dir else [])))
        self.backend = get_backend(backend, **kwargs)
        self.command_limits = _limits(command_limits, DEFAULT_COMMAND_LIMITS)
        self.grading_limits = _limits(grading_limits, GRADING_LIMITS)
        self.editor_output_chars = editor_output_chars
        self.grading_slots = grading_slots
        self.tool_prompt_in_obs = tool_prompt_in_obs
        self.show_hints = show_hints
        self.repo_store = RepoStore(self.cache_dir)
        self.observation_space = TextSpace(max_length=1_000_000)
        self.action_space = TextSpace(max_length=1_000_000)
        self.tool_prompt = TOOL_PROMPT
        self.instance: SWEInstance | None = None
        self.sandbox: Sandbox | None = None
        self.editor: Editor | None = None
        self.expert: GoldPatchExpert | None = None
        self.workspace: WorkspaceSpec | None = None
        self.turn = 0
        self.done = True

    # ----- episode ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        options = options or {}
        task_id = options.get("task_id")
        if task_id is None:
            task_id = self.task_ids[int(self.np_random.integers(len(self.task_ids)))]
        if task_id not in self.instances:
            raise ValueError(f"unknown task_id {task_id!r}")
        self._close_sandbox()
        self.instance = self.instances[task_id]
        self.workspace = self._workspace(self.instance)
        self.sandbox = self.backend.create(self.workspace)
        self.editor = Editor(self.sandbox, self.editor_output_chars)
        try:
            self.expert = GoldPatchExpert(self.instance.patch, self.sandbox) if self.instance.patch else None
        except PatchError as exc:
            log.warning("%s: no gold-patch expert: %s", task_id, exc)
            self.expert = None
        self.turn = 0
        self.done = False
        return self._first_observation(), self._info(last_call=None, valid=True)

    def step(self, action: str | dict) -> tuple[str, float, bool, bool, dict]:
        if self.done or self.sandbox is None:
            raise RuntimeError("the episode is over (or never started): call reset() first")
        self.turn += 1
        extra: dict[str, Any] = {}
        call: ToolCall | None = None
        submitted = False
        try:
            call = parse_action(action)
        except ActionError as exc:
            obs = f"Invalid action: {exc}"
        else:
            extra["tool"] = call.tool
            if call.tool == "bash":
                result = self.sandbox.exec(call.args["command"], self.command_limits)
                extra["exec"] = result.summary()
                obs = self._format_exec(result)
            elif call.tool == "str_replace_editor":
                try:
                    obs = self.editor.run(call.args)
                except EditorError as exc:
                    obs = f"Error: {exc}"
                    extra["tool_error"] = str(exc)
            else:
                submitted = True
                obs = "Submitted. Your changes were graded by the hidden tests."
        truncated = not submitted and self.turn >= self.max_turns
        reward = 0.0
        info = self._info(last_call=call, valid=call is not None)
        info.update(extra)
        if submitted or truncated:
            grading = self._grade()
            reward = 1.0 if grading.resolved else 0.0
            info.update(self._grading_info(grading))
            if truncated:
                obs += (
                    f"\n\nThe turn limit ({self.max_turns}) is reached; the working copy was graded as it is."
                )
            self.done = True
            info["expert_action"] = None
            self._close_sandbox()
        return obs, reward, submitted, truncated, info

    def close(self) -> None:
        self._close_sandbox()
        super().close()

    # ----- helpers ---------------------------------------------------------------------------
    def _workspace(self, instance: SWEInstance) -> WorkspaceSpec:
        git_dir = None
        if instance.repo.startswith(f"{SHIPPED_OWNER}/") and self.backend.name == "bwrap":
            git_dir = self.repo_store.git_dir(instance)
        elif self.repos_dir is not None:
            owner_name = instance.repo.replace("/", "__")
            candidates = [
                self.repos_dir / f"{owner_name}.git",
                self.repos_dir / owner_name,
                self.repos_dir / instance.repo_name,
            ]
            git_dir = next((c for c in candidates if c.exists()), None)
            if git_dir is None and self.backend.name == "bwrap":
                raise SandboxError(
                    f"no local mirror of {instance.repo} in {self.repos_dir} (tried {candidates})"
                )
        elif self.backend.name == "bwrap":
            raise SandboxError(
                "real SWE-bench data with the bwrap backend needs repos_dir (local git mirrors); "
                "or use backend='docker' with the official images"
            )
        return WorkspaceSpec(
            instance.instance_id,
            instance.base_commit,
            git_dir=git_dir,
            image=instance.extra.get("docker_image"),
        )

    def _first_observation(self) -> str:
        issue = self.instance.problem_statement.strip()
        parts = [TOOL_PROMPT] if self.tool_prompt_in_obs else []
        parts.append(f"<issue>\n{issue}\n</issue>")
        if self.show_hints and self.instance.hints_text:
            parts.append(f"Hint: {self.instance.hints_text}")
        parts.append(
            "The repository is at /testbed. Edit the source (not the tests) to fix the issue, then submit."
        )
        return "\n\n".join(parts)

    def _format_exec(self, result: ExecResult) -> str:
        output = result.output.rstrip("\n") or "(no output)"
        text = f"{output}\n[exit code {result.exit_code}]"
        if result.limit in LIMIT_NOTES:
            lim = self.command_limits
            note = LIMIT_NOTES[result.limit].format(
                wall_s=lim.wall_s,
                cpu_s=lim.cpu_s,
                memory_gib=lim.memory_bytes / 2**30,
                nproc=lim.nproc,
                file_mib=lim.file_bytes / 2**20,
            )
            text += f"\n[{note}]"
        return text

    def _anchor(self, last_call: ToolCall | None) -> str:
        digest = self.sandbox.tree_digest() if self.sandbox is not None and not self.done else "closed"
        last = last_call.canonical() if last_call is not None else ("start" if self.turn == 0 else "invalid")
        return hashlib.sha256(f"{self.instance.instance_id}\n{digest}\n{last}".encode()).hexdigest()[:32]

    def _info(self, last_call: ToolCall | None, valid: bool) -> dict:
        expert = None
        if self.expert is not None:
            try:
                expert = self.expert.next_action()
            except SandboxError as exc:
                log.warning("%s: expert failed: %s", self.instance.instance_id, exc)
        return {
            "task": self.instance.problem_statement,
            "task_type": self.instance.repo_name,
            "task_id": self.instance.instance_id,
            "admissible_actions": None,
            "won": False,
            "anchor": self._anchor(last_call),
            "valid_action": valid,
            "expert_action": expert,
            "turn": self.turn,
        }

    def _grade(self) -> GradeResult:
        patch, error = extract_patch(self.sandbox, self.instance.base_commit, protected_paths(self.instance))
        if error is not None:
            f2p, p2p = len(self.instance.fail_to_pass), len(self.instance.pass_to_pass)
            return GradeResult(False, 0, f2p, 0, p2p, False, 0.0, error=error)
        with grading_slot(self.cache_dir / "locks", self.grading_slots):
            return grade(self.backend, self.workspace, self.instance, patch, self.grading_limits)

    @staticmethod
    def _grading_info(result: GradeResult) -> dict:
        return {
            "won": result.resolved,
            "resolved": result.resolved,
            "f2p_passed": result.f2p_passed,
            "f2p_total": result.f2p_total,
            "p2p_passed": result.p2p_passed,
            "p2p_total": result.p2p_total,
            "grading": result.info(),
        }

    def _close_sandbox(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
        self.sandbox = None
        self.editor = None
        self.expert = None
