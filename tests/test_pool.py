"""EnvPool: batched stepping equals direct stepping; crashes, hangs and env exceptions stay contained."""

import os
import signal
import subprocess
import sys
import time

import gymnasium
import pytest

import envs  # noqa: F401  (registers turnrl/Toy-v0)
from envs.pool import EnvPool, StepResult
from envs.toy.env import ToyEnv


class FaultyToyEnv(ToyEnv):
    """Test-only ToyEnv whose special actions misbehave the way real envs sometimes do."""

    def step(self, action):
        if action == "hang":
            time.sleep(3600)
        if action == "raise":
            raise ValueError("the env broke on purpose")
        if action == "exit":
            os._exit(3)
        if action == "unpicklable":
            obs, reward, terminated, truncated, info = super().step("look")
            return obs, reward, terminated, truncated, {**info, "callback": lambda: None}
        return super().step(action)


class BrokenInitEnv(ToyEnv):
    def __init__(self, **kwargs):
        raise RuntimeError("cannot load the game files")


FAULTY_ID = "turnrl-test/FaultyToy-v0"
BROKEN_ID = "turnrl-test/BrokenInit-v0"
for _id, _cls in [(FAULTY_ID, FaultyToyEnv), (BROKEN_ID, BrokenInitEnv)]:
    if _id not in gymnasium.registry:
        gymnasium.register(_id, entry_point=f"{__name__}:{_cls.__name__}")

# "module:id" makes the spawned workers import this test module, which registers the ids above.
FAULTY = f"{__name__}:{FAULTY_ID}"
BROKEN = f"{__name__}:{BROKEN_ID}"
TOY_KWARGS = {"split": "test", "n_tasks": 8, "max_steps": 6}


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def faulty_pool():
    with EnvPool(FAULTY, TOY_KWARGS, num_envs=4, num_workers=2, step_timeout_s=1.5) as pool:
        yield pool


def _reset_all(pool, task_ids=(0, 1, 2, 3)):
    return pool.reset(list(range(len(task_ids))), list(task_ids))


def test_batched_pool_matches_direct_env_play():
    direct = [ToyEnv(**TOY_KWARGS) for _ in range(4)]
    task_ids = [5, 1, 7, 1]
    with EnvPool("turnrl/Toy-v0", TOY_KWARGS, num_envs=4, num_workers=2) as pool:
        assert pool.task_ids == direct[0].task_ids
        pooled = pool.reset([0, 1, 2, 3], task_ids)
        expected = [env.reset(options={"task_id": t}) for env, t in zip(direct, task_ids)]
        assert pooled == expected
        live = [0, 1, 2, 3]
        infos = {slot: info for slot, (_, info) in enumerate(expected)}
        turns = 0
        while live:
            # slot 3 wastes its first move, so the slots finish at different turns
            actions = [
                "dance" if (slot == 3 and turns == 0) else infos[slot]["expert_action"] for slot in live
            ]
            results = pool.step(live, actions)
            for slot, action, result in zip(live, actions, results):
                assert isinstance(result, StepResult)
                assert tuple(vars(result).values()) == direct[slot].step(action)
                infos[slot] = result.info
            live = [s for s, r in zip(live, results) if not (r.terminated or r.truncated)]
            turns += 1
            if turns == 1:
                assert results[3].obs == "Nothing happens." and results[3].info["valid_action"] is False
        assert all(info["won"] for info in infos.values())


def test_reset_is_deterministic_for_a_task_and_for_a_seed():
    with EnvPool("turnrl/Toy-v0", TOY_KWARGS, num_envs=2, num_workers=2) as pool:
        first = pool.reset([0, 1], [3, 3])
        again = pool.reset([1, 0], [3, 3])
        assert first[0] == first[1] == again[0] == again[1]
        by_seed = pool.reset([0, 1], [None, None], seeds=[11, 11])
        assert by_seed[0] == by_seed[1]
        assert by_seed[0][1]["task_id"] in pool.task_ids


def test_sigkilled_worker_is_replaced_and_only_its_slots_fail(faulty_pool):
    _reset_all(faulty_pool)
    old_pids = faulty_pool.worker_pids
    os.kill(old_pids[1], signal.SIGKILL)  # worker 1 hosts slots 1 and 3
    results = faulty_pool.step([0, 1, 2, 3], ["look"] * 4)
    for slot in (1, 3):
        assert results[slot].truncated and results[slot].reward == 0.0
        # "died" when the kill lands mid-step, "was dead before step" when it lands before the command is sent
        assert "died" in results[slot].info["env_error"] or "was dead" in results[slot].info["env_error"]
    for slot in (0, 2):
        assert "env_error" not in results[slot].info and results[slot].obs.startswith("You are in the middle")
    new_pids = faulty_pool.worker_pids
    assert new_pids[0] == old_pids[0] and new_pids[1] != old_pids[1]
    assert not _pid_exists(old_pids[1])
    # until reset, the lost slots keep reporting the error; afterwards they play normally
    assert "reset the slot" in faulty_pool.step([3], ["look"])[0].info["env_error"]
    obs, info = faulty_pool.reset([3], [2])[0]
    assert "env_error" not in info and "Your task is to" in obs
    assert "env_error" not in faulty_pool.step([3], ["look"])[0].info


def test_worker_exiting_mid_step_is_reported_with_its_exit_code(faulty_pool):
    _reset_all(faulty_pool)
    results = faulty_pool.step([0, 1], ["exit", "look"])
    assert "exit code 3" in results[0].info["env_error"] and results[0].truncated
    assert "env_error" not in results[1].info


def test_hanging_step_times_out_and_the_worker_restarts(faulty_pool):
    _reset_all(faulty_pool)
    old_pids = faulty_pool.worker_pids
    start = time.monotonic()
    results = faulty_pool.step([0, 1, 2, 3], ["look", "hang", "look", "look"])
    elapsed = time.monotonic() - start
    assert 1.5 <= elapsed < 5.0
    assert "step_timeout_s" in results[1].info["env_error"] and results[1].truncated
    # slot 3 shares the hung worker and was queued behind slot 1, so its episode is lost too
    assert "env_error" in results[3].info
    assert "env_error" not in results[0].info and "env_error" not in results[2].info
    assert not _pid_exists(old_pids[1])
    obs, info = faulty_pool.reset([1], [0])[0]
    assert "env_error" not in info
    assert faulty_pool.step([1], ["look"])[0].info["valid_action"] is True


def test_env_exception_is_reported_and_the_worker_keeps_running(faulty_pool):
    _reset_all(faulty_pool)
    old_pids = faulty_pool.worker_pids
    results = faulty_pool.step([0, 1, 2], ["raise", "look", "look"])
    error = results[0].info["env_error"]
    assert "ValueError: the env broke on purpose" in error and "Traceback" in error
    assert results[0].truncated and results[0].reward == 0.0 and results[0].info["won"] is False
    assert "env_error" not in results[1].info and "env_error" not in results[2].info
    assert faulty_pool.worker_pids == old_pids
    assert "env_error" not in faulty_pool.step([2], ["look"])[0].info  # same worker, other slot: unaffected


def test_unpicklable_env_result_becomes_an_env_error(faulty_pool):
    _reset_all(faulty_pool)
    result = faulty_pool.step([0], ["unpicklable"])[0]
    assert "could not be sent" in result.info["env_error"]
    assert "env_error" not in faulty_pool.step([2], ["look"])[0].info


def test_close_leaves_no_worker_processes():
    pool = EnvPool("turnrl/Toy-v0", TOY_KWARGS, num_envs=3, num_workers=2)
    pids = pool.worker_pids
    assert len(pids) == 2 and all(_pid_exists(p) for p in pids)
    pool.close()
    pool.close()  # idempotent
    assert not any(_pid_exists(p) for p in pids)
    with pytest.raises(RuntimeError, match="closed"):
        pool.reset([0], [0])


def test_dropping_the_pool_reaps_its_workers():
    pool = EnvPool("turnrl/Toy-v0", TOY_KWARGS, num_envs=1, num_workers=1)
    pids = pool.worker_pids
    del pool
    assert not any(_pid_exists(p) for p in pids)


def test_env_that_cannot_be_built_raises_a_clear_error_and_leaves_nothing_behind():
    import multiprocessing

    before = set(multiprocessing.active_children())
    with pytest.raises(RuntimeError, match="cannot load the game files"):
        EnvPool(BROKEN, {}, num_envs=2, num_workers=2)
    assert set(multiprocessing.active_children()) <= before


def test_bad_calls_raise_clear_errors():
    with pytest.raises(ValueError, match="num_envs"):
        EnvPool("turnrl/Toy-v0", TOY_KWARGS, num_envs=0, num_workers=1)
    with EnvPool("turnrl/Toy-v0", TOY_KWARGS, num_envs=2, num_workers=5) as pool:
        assert pool.num_workers == 2
        with pytest.raises(RuntimeError, match="never reset"):
            pool.step([0], ["look"])
        with pytest.raises(ValueError, match="slots must be ints"):
            pool.reset([2], [0])
        with pytest.raises(ValueError, match="unique"):
            pool.reset([0, 0], [0, 1])
        with pytest.raises(ValueError, match="task_ids"):
            pool.reset([0, 1], [0])
        pool.reset([0], [0])
        with pytest.raises(ValueError, match="actions"):
            pool.step([0], [])
        bad_task = pool.reset([1], [999])[0]
        assert "task_id must be an int" in bad_task[1]["env_error"]


def test_restart_is_logged_as_a_warning(faulty_pool, caplog):
    _reset_all(faulty_pool)
    with caplog.at_level("WARNING", logger="envs.pool"):
        faulty_pool.step([0], ["exit"])
    assert any("restarting worker 0" in r.getMessage() for r in caplog.records)


def test_unpicklable_action_raises_before_anything_is_sent(faulty_pool):
    _reset_all(faulty_pool)
    pids = faulty_pool.worker_pids
    with pytest.raises(ValueError, match="picklable"):
        faulty_pool.step([0, 1], ["look", {"tool": lambda: None}])
    assert faulty_pool.worker_pids == pids
    assert all("env_error" not in r.info for r in faulty_pool.step([0, 1], ["look", "look"]))


def test_interrupted_call_loses_its_slots_but_leaves_the_pool_usable():
    with EnvPool(FAULTY, TOY_KWARGS, num_envs=3, num_workers=2, step_timeout_s=60) as pool:
        _reset_all(pool, (0, 1, 2))
        old_pids = pool.worker_pids

        def interrupt(signum, frame):
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGALRM, interrupt)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.5)
            with pytest.raises(KeyboardInterrupt):
                pool.step([0, 1], ["look", "hang"])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        assert pool.worker_pids[1] != old_pids[1] and not _pid_exists(old_pids[1])
        lost = pool.step([0, 1], ["look", "look"])
        assert all("reset the slot" in r.info["env_error"] for r in lost)
        assert "env_error" not in pool.step([2], ["look"])[0].info  # not part of the interrupted call
        pool.reset([0, 1], [0, 1])
        assert all("env_error" not in r.info for r in pool.step([0, 1], ["look", "look"]))


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie may linger if PID 1 does not reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_trainer_is_killed_without_closing():
    # Worker 0 idles (sees EOF); worker 1 is stuck in a hanging step (only its orphan watchdog can end it).
    code = (
        f"import os, signal, threading, time\n"
        f"from envs.pool import EnvPool\n"
        f"pool = EnvPool({FAULTY!r}, {TOY_KWARGS!r}, num_envs=2, num_workers=2)\n"
        f"pool.reset([0, 1], [0, 1])\n"
        f"print(*pool.worker_pids, flush=True)\n"
        f"threading.Thread(target=pool.step, args=([1], ['hang']), daemon=True).start()\n"
        f"time.sleep(0.5)\n"
        f"os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2, out.stderr
    deadline = time.monotonic() + 5
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(p) for p in pids)
