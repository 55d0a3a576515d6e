"""The multi-turn episode runner: groups of episodes against an ``EnvPool``, one policy call per turn.

Every live episode's action comes from a single call to the policy per turn (``rollout.policy``; by default the
engine, all prompts in one ``generate``, which the engine batches); the env pool steps all slots in parallel.
Finished episodes leave the batch and their slot starts the next pending episode at once, so the batch stays
full when there are more episodes than env slots. A group is G episodes of one task, reset with the same task id
and seed, so they share the initial state. A group may start later in the episode: each member replays the
same ``Prefix`` of env actions after its reset (env steps, no model call, no turn recorded) and the policy plays
from the state they reach (``rollout.branching`` chooses the prefixes).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import count
from typing import Any

from tqdm.auto import tqdm

from rollout.choices import INVALID_TURN_RULES
from rollout.engine import Engine, SamplingParams
from rollout.parse import NOT_ADMISSIBLE
from rollout.policy import EnginePolicy, LiveEpisode, Policy
from rollout.prompts import EpisodeMemory, PromptBuilder, PromptConfig
from rollout.trajectory import RolloutBatch, Trajectory, Turn

log = logging.getLogger(__name__)


def turn_seed(base: int, run_seed: int, turn: int) -> int:
    """The sampling seed of one generate call: a pure function of the configured seed, the run's seed and the
    call's index in the run, so a resumed training run draws exactly what the uninterrupted run drew (a counter
    over the process's calls restarts with the process). Below 2**30: the engines add a request's index."""
    digest = hashlib.blake2b(f"{base}:{run_seed}:{turn}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") >> 2


@dataclass(frozen=True)
class Prefix:
    """Where a group's episodes start: the env actions each member replays after its reset, and the anchor of
    the state they must reach (None: not checked). Empty: the reset itself."""

    actions: tuple[Any, ...] = ()
    anchor: str | None = None


FROM_RESET = Prefix()


@dataclass(frozen=True, kw_only=True)
class RunnerConfig:
    """How the runner plays episodes. No field has a default: the trainer fills every one from its config schema
    (``trainer.build.runner_config``), which holds each setting's one default and documentation; rollout/
    does not import trainer/, so the schema cannot be the type here."""

    group_size: int
    max_turns: int
    sampling: SamplingParams
    prompt: PromptConfig
    invalid_penalty: float
    """Recorded on invalid turns for the logs; the estimator applies it."""
    invalid_turn: str
    """What makes a turn invalid: ``malformed`` (the answer does not parse) or ``inadmissible`` (also a
    well-formed action the env rejects or that is not in its admissible list)."""
    max_action_chars: int
    progress: bool

    def __post_init__(self) -> None:
        if self.group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {self.group_size}")
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {self.max_turns}")
        if self.invalid_turn not in INVALID_TURN_RULES:
            raise ValueError(f"invalid_turn must be one of {INVALID_TURN_RULES}, got {self.invalid_turn!r}")


class EpisodeRunner:
    """Plays episodes with one policy over one env pool; stateless between calls apart from id counters."""

    def __init__(
        self, engine: Engine | None, tokenizer, pool, config: RunnerConfig, *, policy: Policy | None = None
    ) -> None:
        """``policy`` chooses the actions; without one the engine does, on prompts written with ``tokenizer``."""
        if policy is None:
            if engine is None:
                raise ValueError("the runner needs an engine or a policy to choose actions")
            policy = EnginePolicy(engine, PromptBuilder(tokenizer, config.prompt), config.max_action_chars)
        self.policy = policy
        self.pool = pool
        self.config = config
        self.num_slots = _pool_size(pool)
        self._run_counter = count()

    def rollout(self, task_ids: Sequence[Any], **kwargs: Any) -> RolloutBatch:
        """``run`` flattened to one row per turn."""
        return RolloutBatch.from_trajectories(self.run(task_ids, **kwargs))

    def run(
        self,
        task_ids: Sequence[Any],
        *,
        group_size: int | None = None,
        sampling: SamplingParams | None = None,
        seed: int = 0,
        desc: str = "rollout",
        prefixes: Sequence[Prefix] | None = None,
        stop_when: Callable[[Trajectory], bool] | None = None,
    ) -> list[Trajectory]:
        """G trajectories per task id (a repeated id gives a second, separate group). Order: group by group.

        ``prefixes``: one per task id, where its group starts (default: the reset). ``stop_when``: ends an
        episode after any turn for which it returns true (that turn's ``done`` is set)."""
        group_size = group_size or self.config.group_size
        sampling = sampling or self.config.sampling
        prefixes = list(prefixes) if prefixes is not None else [FROM_RESET] * len(task_ids)
        if len(prefixes) != len(task_ids):
            raise ValueError(f"got {len(prefixes)} prefixes for {len(task_ids)} task ids")
        too_long = [len(p.actions) for p in prefixes if len(p.actions) >= self.config.max_turns]
        if too_long:
            raise ValueError(
                f"a prefix of {too_long[0]} actions leaves no turn to play within max_turns={self.config.max_turns}"
            )
        run = next(self._run_counter)
        trajectories: list[Trajectory] = []
        pending: deque[tuple[Trajectory, int, Prefix]] = deque()
        for group, (task_id, prefix) in enumerate(zip(task_ids, prefixes)):
            for member in range(group_size):
                traj = Trajectory(
                    group_id=f"r{run}g{group}",
                    traj_id=f"r{run}g{group}t{member}",
                    task_id=task_id,
                    policy_version=self.policy.policy_version,
                    prefix_actions=list(prefix.actions),
                )
                trajectories.append(traj)
                pending.append((traj, seed + group, prefix))

        live: dict[int, LiveEpisode] = {}
        turns = count()
        free_slots = list(range(self.num_slots - 1, -1, -1))
        bar = tqdm(total=len(trajectories), desc=desc, disable=not self.config.progress, leave=False)
        try:
            while pending or live:
                starts = []
                while free_slots and pending:
                    starts.append((free_slots.pop(), *pending.popleft()))
                if starts:
                    for slot in self._start(starts, live):
                        free_slots.append(slot)
                        bar.update(1)
                if live:
                    turn_sampling = sampling
                    if sampling.seed is not None:
                        turn_sampling = replace(sampling, seed=turn_seed(sampling.seed, seed, next(turns)))
                    for slot in self._play_turn(live, turn_sampling, stop_when):
                        free_slots.append(slot)
                        bar.update(1)
        finally:
            bar.close()
        self.policy.drain()
        return trajectories

    def _start(
        self, starts: list[tuple[int, Trajectory, int, Prefix]], live: dict[int, LiveEpisode]
    ) -> list[int]:
        """Reset the slots and replay their prefixes; returns the slots whose reset or replay failed (their
        episodes end with no turns and an ``env_error``)."""
        slots = [slot for slot, _, _, _ in starts]
        results = self.pool.reset(
            slots, [start[1].task_id for start in starts], [start[2] for start in starts]
        )
        failed = []
        for (slot, traj, _, _), (obs, info) in zip(starts, results):
            traj.initial_observation = obs
            traj.task_type = str(info.get("task_type") or "")
            if info.get("env_error"):
                traj.env_error = str(info["env_error"])
                log.warning("env reset failed for task %r: %s", traj.task_id, traj.env_error)
                failed.append(slot)
                continue
            memory = EpisodeMemory(
                task=str(info.get("task") or ""),
                observation=obs,
                admissible_actions=info.get("admissible_actions"),
            )
            live[slot] = LiveEpisode(traj, memory, info, _anchor(info, obs))
        prefixes = {slot: prefix for slot, _, _, prefix in starts if slot in live and prefix.actions}
        return failed + self._replay(prefixes, live)

    def _replay(self, prefixes: dict[int, Prefix], live: dict[int, LiveEpisode]) -> list[int]:
        """Step every slot through its prefix, one pool step per action for all of them; returns the slots whose
        episode was lost on the way (an env error or a worker restart, an episode that ended, a state other than
        the prefix's anchor: the env did not replay), which leave ``live``."""
        lost: dict[int, str] = {}
        for index in range(max((len(p.actions) for p in prefixes.values()), default=0)):
            slots = [s for s, p in prefixes.items() if index < len(p.actions) and s not in lost]
            actions = [prefixes[slot].actions[index] for slot in slots]
            for slot, action, result in zip(slots, actions, self.pool.step(slots, actions)):
                info = result.info or {}
                where = f"action {index + 1} of its {len(prefixes[slot].actions)}"
                if info.get("env_error"):
                    lost[slot] = f"{where}: {info['env_error']}"
                elif result.terminated or result.truncated:
                    lost[slot] = f"the episode ended at {where}"
                else:
                    self._advance(live[slot], action, result.obs, info, not info.get("valid_action", True))
        for slot, prefix in prefixes.items():
            if slot not in lost and prefix.anchor is not None and live[slot].anchor != prefix.anchor:
                lost[slot] = (
                    "the replayed actions reached another state than the prefix's (is the env replayable?)"
                )
        for slot, reason in lost.items():
            episode = live.pop(slot)
            episode.traj.env_error = f"prefix replay: {reason}"
            log.warning("prefix replay failed for task %r: %s", episode.traj.task_id, reason)
        return list(lost)

    def _advance(
        self, episode: LiveEpisode, action: Any, observation: str, info: dict, rejected: bool
    ) -> None:
        """The episode moved on after ``action`` (``rejected``: the env refused it): its memory records the turn,
        and its state becomes the env's."""
        episode.memory.record(
            str(action),
            observation,
            info.get("admissible_actions"),
            restate=rejected and self.config.prompt.restate_after_rejection,
        )
        episode.info = info
        episode.anchor = _anchor(info, observation)

    def _play_turn(
        self,
        live: dict[int, LiveEpisode],
        sampling: SamplingParams,
        stop_when: Callable[[Trajectory], bool] | None = None,
    ) -> list[int]:
        """One policy call for every live episode, one pool step; returns the slots that finished."""
        slots = sorted(live)
        choices = self.policy.choose([live[slot] for slot in slots], sampling)
        if len(choices) != len(slots):
            raise RuntimeError(f"the policy made {len(choices)} choices for {len(slots)} episodes")
        results = self.pool.step(slots, [choice.action.action for choice in choices])

        finished = []
        for slot, choice, result in zip(slots, choices, results):
            episode = live[slot]
            action, completion = choice.action, choice.completion
            info = result.info or {}
            env_error = info.get("env_error")
            rejected = action.reason == NOT_ADMISSIBLE or not info.get("valid_action", True)
            malformed = not action.valid and action.reason != NOT_ADMISSIBLE
            valid = not malformed if self.config.invalid_turn == "malformed" else not (malformed or rejected)
            played = len(episode.traj.prefix_actions) + len(episode.traj.turns) + 1
            turn_limit = played >= self.config.max_turns
            done = bool(result.terminated or result.truncated or env_error or turn_limit)
            episode.traj.turns.append(
                Turn(
                    prompt_ids=choice.prompt_ids,
                    response_ids=list(completion.token_ids),
                    sampling_logprobs=list(completion.logprobs),
                    response_text=completion.text,
                    action=action.action,
                    reward=float(result.reward),
                    anchor=episode.anchor,
                    valid=valid,
                    done=done,
                    invalid_reason="" if valid else (action.reason or "env_rejected"),
                    penalty=0.0 if valid else self.config.invalid_penalty,
                    finish_reason=completion.finish_reason,
                    policy_logprobs=completion.policy_logprobs,
                    policy_entropy=completion.policy_entropy,
                    rejected=rejected,
                    admissible_actions=episode.memory.admissible_actions,
                )
            )
            if not done and stop_when is not None and stop_when(episode.traj):
                done = episode.traj.turns[-1].done = True
            episode.traj.won = bool(info.get("won", False))
            if env_error:
                episode.traj.env_error = str(env_error)
                log.warning("env error in task %r: %s", episode.traj.task_id, env_error)
            if done:
                episode.traj.hit_turn_limit = turn_limit and not (result.terminated or result.truncated)
                finished.append(slot)
                del live[slot]
            else:
                self._advance(episode, action.action, result.obs, info, rejected)
        return finished


@dataclass
class EvalResult:
    episodes: int
    success_rate: float
    per_task_type: dict[str, float]
    episodes_per_task_type: dict[str, int]
    mean_turns: float
    invalid_turn_rate: float
    env_errors: int
    outcomes: list[bool]
    """Won or not, per episode in the order played (task by task): two evaluations of the same tasks pair up
    episode by episode."""


@dataclass(frozen=True)
class EpisodeOutcome:
    """What an evaluation keeps of one episode: small enough to gather from every rank."""

    task_type: str
    won: bool
    turns: int
    invalid_turns: int
    env_error: bool

    @classmethod
    def of(cls, trajectory: Trajectory) -> EpisodeOutcome:
        return cls(
            task_type=trajectory.task_type,
            won=bool(trajectory.won),
            turns=len(trajectory.turns),
            invalid_turns=sum(not turn.valid for turn in trajectory.turns),
            env_error=trajectory.env_error is not None,
        )


def play(
    runner: EpisodeRunner,
    task_ids: Sequence[Any],
    *,
    greedy: bool = True,
    episodes_per_task: int = 1,
    seed: int = 0,
    desc: str = "eval",
) -> list[Trajectory]:
    """``len(task_ids) * episodes_per_task`` evaluation episodes: greedy, or with the runner's sampling settings."""
    sampling = runner.config.sampling
    if greedy:
        sampling = replace(sampling, temperature=0.0)
    return runner.run(task_ids, group_size=episodes_per_task, sampling=sampling, seed=seed, desc=desc)


def evaluate(
    runner: EpisodeRunner,
    task_ids: Sequence[Any],
    *,
    greedy: bool = True,
    episodes_per_task: int = 1,
    seed: int = 0,
) -> EvalResult:
    """Success rate over ``len(task_ids) * episodes_per_task`` episodes, overall and per task type.

    Greedy is the honest headline; sampled uses the runner's sampling settings.
    """
    trajectories = play(runner, task_ids, greedy=greedy, episodes_per_task=episodes_per_task, seed=seed)
    return summarize_eval([EpisodeOutcome.of(t) for t in trajectories])


def summarize_eval(outcomes: Sequence[EpisodeOutcome]) -> EvalResult:
    """Rates over the episodes, each weighing the same (the trainer passes every rank's, rank by rank)."""
    if not outcomes:
        raise ValueError("no episodes to evaluate")
    wins = Counter(o.task_type for o in outcomes if o.won)
    totals = Counter(o.task_type for o in outcomes)
    turns = sum(o.turns for o in outcomes)
    return EvalResult(
        episodes=len(outcomes),
        success_rate=sum(o.won for o in outcomes) / len(outcomes),
        per_task_type={kind: wins[kind] / n for kind, n in sorted(totals.items())},
        episodes_per_task_type=dict(sorted(totals.items())),
        mean_turns=turns / len(outcomes),
        invalid_turn_rate=sum(o.invalid_turns for o in outcomes) / turns if turns else 0.0,
        env_errors=sum(o.env_error for o in outcomes),
        outcomes=[o.won for o in outcomes],
    )


def _anchor(info: dict, observation: str) -> str:
    anchor = info.get("anchor")
    return observation if anchor is None else str(anchor)


def _pool_size(pool) -> int:
    size = getattr(pool, "num_envs", None)
    if not isinstance(size, int) or size < 1:
        raise ValueError("the env pool must expose num_envs (its number of env slots)")
    return size
