"""WebShopEnv on the built-in generated catalog: expert, determinism, API contract, EnvPool."""

import random
import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers turnrl/WebShop-v0)
from envs.webshop.env import WebShopEnv

INFO_KEYS = {
    "task",
    "admissible_actions",
    "won",
    "anchor",
    "valid_action",
    "task_type",
    "expert_action",
    "task_score",
}


@pytest.fixture(scope="module", autouse=True)
def isolated_cache(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv("TURNRL_CACHE", str(tmp_path_factory.mktemp("turnrl_cache")))
    yield
    patch.undo()


def play_expert(env: WebShopEnv, task_id: int) -> tuple[float, float, int]:
    """(env reward sum, final task score, steps) of the scripted expert on one goal."""
    obs, info = env.reset(options={"task_id": task_id})
    total = 0.0
    for step in range(1, env.max_steps + 1):
        obs, reward, terminated, truncated, info = env.step(info["expert_action"])
        total += reward
        if terminated or truncated:
            return total, info["task_score"], step
    raise AssertionError("episode neither terminated nor truncated")


def test_registered_env_uses_the_generated_catalog():
    env = gymnasium.make("turnrl/WebShop-v0", split="test")
    assert isinstance(env.unwrapped, WebShopEnv)
    assert env.unwrapped.task_ids == list(range(500))
    assert len(env.unwrapped.catalog.products) == 2000
    obs, info = env.reset(options={"task_id": 0})
    assert obs.startswith("WebShop [SEP] Instruction: [SEP] ")


def test_expert_scores_one_on_every_test_goal():
    env = WebShopEnv(split="test")
    results = [play_expert(env, t) for t in env.task_ids]
    assert len(results) == 500
    assert all(score == 1.0 and reward == 10.0 for reward, score, _ in results)
    assert max(steps for *_, steps in results) <= 10


def test_expert_on_small_catalog():
    env = WebShopEnv(split="test", catalog="small")
    assert len(env.task_ids) == 100
    assert all(play_expert(env, t)[1] == 1.0 for t in env.task_ids)


@pytest.mark.slow
def test_expert_scores_one_on_every_train_goal():
    env = WebShopEnv(split="train")
    assert len(env.task_ids) > 5000
    assert all(play_expert(env, t)[1] == 1.0 for t in env.task_ids)


def test_info_contract_on_every_reset_and_step():
    env = WebShopEnv(split="test", catalog="small")
    obs, info = env.reset(options={"task_id": 3})
    assert INFO_KEYS <= info.keys()
    goal = env.catalog.goals[3]
    assert (info["task"], info["task_type"], info["won"], info["task_score"]) == (
        goal.instruction_text,
        goal.category,
        False,
        0.0,
    )
    while True:
        action = info["expert_action"]
        obs, reward, terminated, truncated, info = env.step(action)
        assert INFO_KEYS <= info.keys()
        assert isinstance(info["anchor"], str) and info["anchor"] in obs
        assert all(isinstance(a, str) for a in info["admissible_actions"])
        if terminated or truncated:
            break
        assert info["expert_action"] in info["admissible_actions"] or info["expert_action"].startswith(
            "search["
        )
    assert info["won"] and reward == 10.0


def test_reward_modes_on_a_wrong_purchase():
    def buy_first_result(reward_mode):
        env = WebShopEnv(split="test", catalog="small", reward_mode=reward_mode)
        env.reset(options={"task_id": 0})
        goal = env.catalog.goals[0]
        *_, info = env.step("search[zzz " + goal.query + "]")
        wrong = next(
            a
            for a in info["admissible_actions"]
            if a.startswith("click[b0") and a != f"click[{goal.asin.lower()}]"
        )
        env.step(wrong)
        _, reward, terminated, _, info = env.step("click[buy now]")
        assert terminated
        return reward, info

    success_reward, info = buy_first_result("success")
    score_reward, score_info = buy_first_result("score")
    assert info["task_score"] == score_info["task_score"]
    assert 0.0 < info["task_score"] < 1.0  # no options chosen: cannot be a full match
    assert success_reward == 0.0 and not info["won"]
    assert score_reward == info["task_score"]


def _random_walk(env: WebShopEnv, seed: int) -> list:
    rng = random.Random(seed)
    obs, info = env.reset(seed=seed)
    trace = [obs]
    for _ in range(env.max_steps):
        choices = info["admissible_actions"] + ["not an action"]
        action = rng.choice(choices).replace("<your query>", rng.choice(["shampoo", "red", "usb c charger"]))
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((action, obs, reward, info["valid_action"], info["task_score"]))
        if terminated or truncated:
            break
    return trace


def test_determinism():
    a = WebShopEnv(split="train", catalog="small")
    b = WebShopEnv(split="train", catalog="small")
    for seed in range(5):
        assert _random_walk(a, seed) == _random_walk(b, seed)
    assert a.reset(seed=11)[0] == b.reset(seed=11)[0]
    first = a.reset(options={"task_id": a.task_ids[5]})
    assert a.reset(options={"task_id": a.task_ids[5]}) == first


def test_gymnasium_env_checker():
    env = WebShopEnv(split="test", catalog="small")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)
    render_env = WebShopEnv(split="test", catalog="small", render_mode="ansi")
    obs, _ = render_env.reset(seed=0)
    assert render_env.render() == obs


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="reward_mode"):
        WebShopEnv(reward_mode="dense")
    with pytest.raises(ValueError, match="catalog must be one of"):
        WebShopEnv(catalog="huge")
    with pytest.raises(ValueError, match="human_goals needs data_dir"):
        WebShopEnv(human_goals=True)
    with pytest.raises(ValueError, match="split must be"):
        WebShopEnv(split="validation", catalog="small")
    with pytest.raises(ValueError, match="option_matching"):
        WebShopEnv(option_matching="loose", catalog="small")
    with pytest.raises(ValueError, match="max_steps"):
        WebShopEnv(max_steps=0, catalog="small")


def test_runs_in_env_pool_with_two_workers():
    from envs.pool import EnvPool

    kwargs = {"split": "test", "catalog": "small"}
    with EnvPool("turnrl/WebShop-v0", kwargs, num_envs=4, num_workers=2, step_timeout_s=120) as pool:
        assert pool.task_ids == list(range(100))
        slots = [0, 1, 2, 3]
        tasks = [7, 7, 8, 9]  # a group of two copies of one task plus two others
        first = pool.reset(slots, tasks)
        assert first[0] == first[1]
        infos = {slot: info for slot, (_, info) in zip(slots, first)}
        finished: dict[int, tuple[float, dict]] = {}
        for _ in range(15):
            live = [s for s in slots if s not in finished]
            if not live:
                break
            results = pool.step(live, [infos[s]["expert_action"] for s in live])
            for slot, result in zip(live, results):
                assert "env_error" not in result.info, result.info.get("env_error")
                infos[slot] = result.info
                if result.terminated or result.truncated:
                    finished[slot] = (result.reward, result.info)
    assert sorted(finished) == slots
    assert all(reward == 10.0 and info["won"] for reward, info in finished.values())


def test_every_clickable_a_walk_meets_is_a_name_to_copy():
    """The tiny tokenizer keeps these whole: a clickable missing from them would be spelled out again."""
    from envs.webshop.shop import names_to_copy

    env = WebShopEnv(split="train", catalog="small")
    names = set(names_to_copy(env.catalog))
    seen: set[str] = set()
    for task_id in env.task_ids[:10]:
        rng = random.Random(task_id)
        _, info = env.reset(options={"task_id": task_id})
        for step in range(12):
            seen.update(c for c in env.get_available_actions()["clickables"] if c != "search")
            # mostly the expert, so the walk reaches product pages and their options
            action = info["expert_action"] if step % 3 else rng.choice(info["admissible_actions"])
            _, _, terminated, _, info = env.step(action.replace("<your query>", "red"))
            if terminated:
                break
    assert {"buy now", "next >", "< prev", "description"} <= seen
    assert any(c.startswith("b0") for c in seen)
    assert seen <= names
    assert {p.asin for p in env.catalog.products} <= names  # as the results page shows them


def test_names_to_copy_skip_an_empty_option_value():
    """Real data can hold an empty option value: it cannot be clicked, and the tokenizer refuses a blank name."""
    from types import SimpleNamespace

    from envs.webshop.shop import names_to_copy

    product = SimpleNamespace(asin="B0ABC12345", options={"color": ["navy blue", ""], "size": ["55 inch"]})
    names = names_to_copy(SimpleNamespace(products=[product, product]))
    assert names[-4:] == ["B0ABC12345", "b0abc12345", "navy blue", "55 inch"]
    assert "" not in names and len(names) == len(set(names))
