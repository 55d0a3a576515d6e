"""WebShop pages, transitions and the real-data loader, on tiny fake files in the original schema."""

import json

import pytest

from envs.webshop.catalog import data_dir_catalog
from envs.webshop.env import WebShopEnv
from envs.webshop.products import parse_pricing

INSTRUCTION_0 = "i need a zanzibar widget that is easy clean"


def _product(i: int, **overrides) -> dict:
    raw = {
        "asin": f"B00000{i:04d}",
        "name": f"Acme Widget Model {i}",
        "full_description": "A sturdy widget for every home.",
        "small_description": ["DURABLE - built to last.", "COMPACT - fits anywhere."],
        "pricing": f"${10 + i}.00",
        "images": ["https://example.invalid/img.jpg"],
        "customization_options": None,
        "category": "electronics",
        "query": "Widget ",
        "product_category": "Electronics › Gadgets › Widgets",
        "brand": "Acme",
        "total_reviews": 3,
    }
    raw.update(overrides)
    return raw


def write_fake_data(root, suffix="_1000"):
    products = [
        _product(
            0,
            name="Acme Zanzibar Widget",
            full_description="Easy clean zanzibar widget. Wipe it with a cloth.",
            small_description="EASY CLEAN - just wipe.",
            customization_options={
                "Color": [{"value": "Navy Blue", "image": None}, {"value": "Red/Black", "image": None}],
                "Size": [{"value": " Small ", "image": None}, {"value": "Large", "image": None}],
            },
        )
    ]
    products += [_product(i) for i in range(1, 23)]
    products += [
        _product(
            23, name="Globex Gadget", full_description="A gadget.", query="gadget", pricing="$12.50 - $20.00"
        ),
        _product(24, name="Globex Gizmo", full_description="A gizmo.", query="gizmo", pricing=""),
        _product(0, name="duplicate asin, skipped"),
        _product(25, asin="nan"),
        _product(26, asin="B0123456789"),  # 11 characters: skipped
    ]
    attributes = {
        "B000000000": {
            "attributes": ["easy clean", "durable"],
            "instruction": INSTRUCTION_0,
            "instruction_attributes": ["easy clean"],
        },
        "B000000001": {
            "attributes": ["durable"],
            "instruction": "i want a durable widget",
            "instruction_attributes": ["durable"],
        },
        "B000000023": {
            "attributes": ["portable"],
            "instruction": "i want a portable gadget",
            "instruction_attributes": ["portable"],
        },
        "B000000024": {"attributes": ["shiny"], "instruction": "a gizmo", "instruction_attributes": []},
    }
    human = {
        "B000000000": [
            {
                "instruction": "I want a red zanzibar widget that is easy clean.",
                "instruction_attributes": ["easy clean"],
                "instruction_options": ["red | black", "large"],
            },
            {
                "instruction": "no attributes, skipped",
                "instruction_attributes": [],
                "instruction_options": [],
            },
        ]
    }
    (root / f"items_shuffle{suffix}.json").write_text(json.dumps(products))
    (root / f"items_ins_v2{suffix}.json").write_text(json.dumps(attributes))
    (root / "items_human_ins.json").write_text(json.dumps(human))
    return root


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(write_fake_data(tmp_path_factory.mktemp("webshop_data")))


def _task(env: WebShopEnv, asin: str, options: dict | None = None) -> int:
    for i in env.task_ids:
        goal = env.catalog.goals[i]
        if goal.asin == asin and (options is None or goal.goal_options == options):
            return i
    raise AssertionError(f"no goal for {asin} {options}")


def _zanzibar_env(data_dir, **kwargs):
    env = WebShopEnv(split="all", data_dir=data_dir, **kwargs)
    task = _task(env, "B000000000", {"color": "navy blue", "size": "large"})
    return env, task


# ---- loader -----------------------------------------------------------------------------------


def test_loader_follows_the_original_schema(data_dir):
    catalog = data_dir_catalog(data_dir, False, True, None, 500)
    assert [p.asin for p in catalog.products] == [f"B00000{i:04d}" for i in range(25)]
    first = catalog.products[0]
    assert first.options == {"color": ["navy blue", "red | black"], "size": ["small", "large"]}
    assert first.bullet_points == ["EASY CLEAN - just wipe."]
    assert first.attributes == ["easy clean", "durable"]
    assert first.query == "widget"
    assert catalog.products[2].attributes == ["DUMMY_ATTR"]
    gadget, gizmo = catalog.products[23], catalog.products[24]
    assert (gadget.pricing, gadget.price_tag) == ([12.5, 20.0], "$12.5 to $20.0")
    assert 12.5 <= catalog.prices[gadget.asin] <= 20.0
    assert (gizmo.pricing, gizmo.price_tag) == ([100.0], "$100.0")
    # 4 option combinations of product 0, one goal each for products 1 and 23; none for 24 (no attributes)
    assert len(catalog.goals) == 6
    assert sorted(g.asin for g in catalog.goals) == ["B000000000"] * 4 + ["B000000001", "B000000023"]


def test_synthetic_goal_text_and_budget(data_dir):
    catalog = data_dir_catalog(data_dir, False, True, None, 500)
    goal = next(g for g in catalog.goals if g.goal_options == {"color": "red | black", "size": "small"})
    assert goal.instruction_text.startswith(
        f"{INSTRUCTION_0} with color: red | black, and size: small, and price lower than "
    )
    # price 10.0 -> budget drawn from the first four multiples of 10 above it, the larger of two draws
    assert goal.price_upper in (30.0, 40.0, 50.0)
    assert goal.instruction_text.endswith(f"{goal.price_upper:.2f} dollars")
    assert goal.name == "Acme Zanzibar Widget"


def test_human_goals(data_dir):
    env = WebShopEnv(split="all", data_dir=data_dir, human_goals=True)
    assert len(env.catalog.goals) == 1  # the instruction without attributes is skipped
    goal = env.catalog.goals[0]
    assert goal.instruction_text.startswith(
        "I want a red zanzibar widget that is easy clean, and price lower than"
    )
    assert goal.goal_options == ("red | black", "large")
    obs, info = env.reset(options={"task_id": 0})
    for _ in range(env.max_steps):
        obs, reward, terminated, truncated, info = env.step(info["expert_action"])
        if terminated:
            break
    assert terminated and info["won"] and info["task_score"] == 1.0


def test_missing_files_give_a_clear_error(tmp_path, data_dir):
    with pytest.raises(FileNotFoundError, match="items_shuffle_1000.json"):
        WebShopEnv(data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="items_shuffle.json"):
        WebShopEnv(data_dir=data_dir, use_small=False)
    (tmp_path / "items_shuffle_1000.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        WebShopEnv(data_dir=str(tmp_path))


def test_parse_pricing():
    assert parse_pricing("$7.99") == ([7.99], "$7.99")
    assert parse_pricing("$1,299.00") == ([1299.0], "$1299.0")
    assert parse_pricing(None) == ([100.0], "$100.0")


# ---- pages and transitions -------------------------------------------------------------------


def test_index_page(data_dir):
    env, task = _zanzibar_env(data_dir)
    obs, info = env.reset(options={"task_id": task})
    goal = env.catalog.goals[task]
    assert obs == f"WebShop [SEP] Instruction: [SEP] {goal.instruction_text} [SEP] Search"
    assert info["admissible_actions"] == ["search[<your query>]"]
    assert info["available_actions"] == {"has_search_bar": True, "clickables": ["search"]}
    assert info["task"] == goal.instruction_text and info["task_type"] == "electronics"
    assert info["anchor"] == "Search" and info["valid_action"] and not info["won"]


def test_results_pagination(data_dir):
    env, task = _zanzibar_env(data_dir)
    env.reset(options={"task_id": task})
    goal = env.catalog.goals[task]
    obs, reward, terminated, truncated, info = env.step("search[Widget]")
    assert (reward, terminated, truncated, info["valid_action"]) == (0.0, False, False, True)
    header = f"Instruction: [SEP] {goal.instruction_text} [SEP] Back to Search [SEP] Page 1 (Total results: 23) [SEP] Next > [SEP] "
    assert obs.startswith(header)
    assert info["anchor"] == obs[len(f"Instruction: [SEP] {goal.instruction_text} [SEP] ") :]
    seen = []
    for page, size in ((1, 10), (2, 10), (3, 3), (4, 0)):
        products = [a[len("click[") : -1] for a in info["admissible_actions"] if a.startswith("click[b0")]
        assert len(products) == size, page
        assert f"Page {page} (Total results: 23)" in obs
        assert ("< Prev" in obs) == (page > 1)
        buttons = ["click[back to search]"] + (["click[< prev]"] if page > 1 else []) + ["click[next >]"]
        assert info["admissible_actions"][: len(buttons)] == buttons
        for asin in products:  # each result shows asin, title, price in that order
            product = env.catalog.products[env.catalog.index_of[asin.upper()]]
            assert f"{product.asin} [SEP] {product.title} [SEP] {product.price_tag}" in obs
        seen += products
        obs, *_, info = env.step("click[Next >]")
    assert len(set(seen)) == 23
    obs, *_, info = env.step("click[< prev]")
    assert "Page 4 (Total results: 23)" in obs  # the original always offers "Next >"
    obs, *_, info = env.step("click[< prev]")
    assert "Page 3 (Total results: 23)" in obs


def test_item_page_options_sub_pages_and_buy(data_dir):
    env, task = _zanzibar_env(data_dir)
    env.reset(options={"task_id": task})
    goal = env.catalog.goals[task]
    head = f"Instruction: [SEP] {goal.instruction_text} [SEP] Back to Search [SEP] < Prev [SEP] "
    obs, *_, info = env.step("search[zanzibar widget]")
    assert "click[b000000000]" in info["admissible_actions"]
    obs, *_, info = env.step("click[B000000000]")
    item_page = head + (
        "color [SEP] navy blue [SEP] red | black [SEP] size [SEP] small [SEP] large [SEP] Acme Zanzibar Widget "
        "[SEP] Price: $10.0 [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now"
    )
    assert obs == item_page
    assert info["admissible_actions"] == [
        "click[back to search]", "click[< prev]", "click[description]", "click[features]", "click[reviews]",
        "click[buy now]", "click[navy blue]", "click[red | black]", "click[small]", "click[large]",
    ]  # fmt: skip
    obs, *_, info = env.step("click[Navy Blue]")
    assert obs == item_page and info["valid_action"]
    obs, *_, info = env.step("click[description]")
    assert obs == head + "Easy clean zanzibar widget. Wipe it with a cloth."
    assert info["admissible_actions"] == ["click[back to search]", "click[< prev]"]
    obs, *_, info = env.step("click[< prev]")
    assert obs == item_page
    obs, *_, info = env.step("click[features]")
    assert obs == head + "EASY CLEAN - just wipe."
    env.step("click[< prev]")
    obs, *_, info = env.step("click[reviews]")
    assert obs == head.removesuffix(" [SEP] ")
    env.step("click[< prev]")
    env.step("click[large]")
    obs, reward, terminated, truncated, info = env.step("click[buy now]")
    assert (reward, terminated, truncated) == (10.0, True, False)
    assert info["won"] and info["task_score"] == 1.0 and info["admissible_actions"] == []
    assert obs == "Thank you for shopping with us! [SEP] Your score (min 0.0, max 1.0) [SEP] 1.0"
    assert info["score_details"]["option_matches"] == 2
    assert info["expert_action"] is None


def test_prev_from_item_forgets_options_like_the_original(data_dir):
    env, task = _zanzibar_env(data_dir, reward_mode="score")
    env.reset(options={"task_id": task})
    for action in [
        "search[zanzibar widget]",
        "click[b000000000]",
        "click[navy blue]",
        "click[large]",
        "click[< prev]",
    ]:
        obs, *_, info = env.step(action)
    assert "Page 1 (Total results:" in obs
    env.step("click[b000000000]")
    obs, reward, terminated, _, info = env.step("click[buy now]")
    # attributes 1/1 + options 0/2 + price 1 -> 2/4
    assert terminated and reward == info["task_score"] == pytest.approx(0.5) and not info["won"]


def test_back_to_search_and_search_from_any_page(data_dir):
    env, task = _zanzibar_env(data_dir)
    first, _ = env.reset(options={"task_id": task})
    env.step("search[widget]")
    obs, *_, info = env.step("click[back to search]")
    assert obs == first and info["admissible_actions"] == ["search[<your query>]"]
    env.step("search[zanzibar]")
    env.step("click[b000000000]")
    # the original runs a search from any page, not only from the one with the search bar
    obs, *_, info = env.step("search[gadget]")
    assert info["valid_action"] and "Page 1 (Total results:" in obs


@pytest.mark.parametrize(
    "action",
    ["click[nothing]", "click[search]", "click[]", "search[]", "buy now", "", "jump[b000000000]", "click[next >",
     None, {"tool": "bash"}, 42],
)  # fmt: skip
def test_invalid_actions_are_flagged_and_harmless(data_dir, action):
    env, task = _zanzibar_env(data_dir)
    env.reset(options={"task_id": task})
    before, *_ = env.step("search[widget]")
    obs, reward, terminated, truncated, info = env.step(action)
    assert (obs, reward, terminated, truncated, info["valid_action"]) == (before, 0.0, False, False, False)
    assert "Page 1 (Total results: 23)" in obs
    assert env.step("click[next >]")[4]["valid_action"]  # the session still works


def test_unknown_clickable_on_index_page(data_dir):
    env, task = _zanzibar_env(data_dir)
    first, _ = env.reset(options={"task_id": task})
    obs, _, _, _, info = env.step("click[b000000000]")  # a product, but not on this page
    assert obs == first and not info["valid_action"]


def test_step_limit_and_after_purchase(data_dir):
    env, task = _zanzibar_env(data_dir, max_steps=3)
    env.reset(options={"task_id": task})
    assert env.step("nonsense")[3] is False
    assert env.step("nonsense")[3] is False
    assert env.step("nonsense")[3] is True  # truncated at the third step
    env.reset(options={"task_id": task})
    for action in ["search[zanzibar]", "click[b000000000]", "click[buy now]"]:
        *_, terminated, truncated, info = env.step(action)
    assert terminated and not truncated
    obs, reward, terminated, truncated, info = env.step("click[buy now]")
    assert (reward, terminated, info["valid_action"], info["won"]) == (0.0, True, False, False)


def test_reset_task_validation(data_dir):
    env = WebShopEnv(split="test", data_dir=data_dir, num_test_goals=2)
    assert env.task_ids == [0, 1]
    with pytest.raises(ValueError, match="not a goal of the 'test' split"):
        env.reset(options={"task_id": 2})
    with pytest.raises(ValueError, match="not a goal"):
        env.reset(options={"task_id": "0"})
    train = WebShopEnv(split="train", data_dir=data_dir, num_test_goals=2)
    assert train.task_ids == [2, 3, 4, 5]
    with pytest.raises(RuntimeError, match="reset"):
        WebShopEnv(split="test", data_dir=data_dir).step("search[x]")


def test_search_ranks_ties_by_catalog_order_and_cuts_at_n():
    from envs.webshop.search import ProductSearch

    docs = ["red widget", "blue widget", "red widget", "widget widget red", "gadget", "red widget"]
    search = ProductSearch(docs)
    assert search.search("red widget") == (3, 0, 2, 5, 1)  # best first; identical docs 0, 2, 5 by index
    assert search.search("red widget", 3) == (3, 0, 2)
    assert search.search("gadgets") == (4,)  # stemming
    assert search.search("the of") == () and search.search("unknownword") == ()


def test_attributes_sub_page_when_shown(data_dir):
    env, task = _zanzibar_env(data_dir, show_attrs=True)
    env.reset(options={"task_id": task})
    env.step("search[zanzibar]")
    obs, *_, info = env.step("click[b000000000]")
    assert (
        "Reviews [SEP] Attributes [SEP] Buy Now" in obs and "click[attributes]" in info["admissible_actions"]
    )
    obs, *_ = env.step("click[attributes]")
    assert obs.endswith(
        "< Prev [SEP] easy clean [SEP] durable [SEP] electronics [SEP] widget [SEP] Electronics › Gadgets › Widgets"
    )


def test_num_products_keeps_the_first_products(data_dir):
    catalog = data_dir_catalog(data_dir, False, True, 5, 500)
    assert [p.asin for p in catalog.products] == [f"B00000{i:04d}" for i in range(5)]
