"""The original data files: human goals as the original builds them, and build-time errors.

Fixtures in tests/fixtures/webshop/ follow the exact record format of WebShop's
items_shuffle_1000.json, items_ins_v2_1000.json and items_human_ins.json (made-up products).
``TURNRL_REAL_DATA=<folder with the real files>`` runs the last tests on the real data.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from envs.webshop.catalog import data_dir_catalog
from envs.webshop.datacheck import WebShopDataError
from envs.webshop.env import WebShopEnv
from envs.webshop.goals import PRICE_RANGE
from envs.webshop.shop import ShopSession

FIXTURE = Path(__file__).parent / "fixtures" / "webshop"
REAL_DATA = os.environ.get("TURNRL_REAL_DATA")


def _budget_candidates(price: float) -> list[float]:
    return [p for p in PRICE_RANGE if p > price][:4]


def test_human_goals_take_the_instruction_fields_as_the_original_does():
    catalog = data_dir_catalog(str(FIXTURE), True, True, None, 500)
    # B0FIXTURE2: two instructions, one without attributes (skipped); B0FIXTURE3: one;
    # B0NOTINSHOP: not a catalog product. B0FIXTURE1 has no human instruction.
    assert sorted(g.asin for g in catalog.goals) == ["B0FIXTURE2", "B0FIXTURE3"]
    goals = {g.asin: g for g in catalog.goals}

    shoes = goals["B0FIXTURE2"]
    price = catalog.prices["B0FIXTURE2"]
    assert 18.5 <= price <= 32.0  # a price range is scored at a uniform draw within it
    # instruction_attributes / instruction_options, not the record's attributes / options
    assert shoes.attributes == ("quick dry",)
    assert shoes.goal_options == ("black | grey", "8.5 wide")
    assert shoes.weight == 1.0
    assert shoes.name == "Trailwise Women's Slip-On Water Shoes, Quick Dry"
    assert shoes.query == "water shoes" and shoes.category == "fashion"
    # the larger of two of the first four multiples of 10 above the price: never the first
    assert shoes.price_upper in _budget_candidates(price)[1:]
    assert shoes.instruction_text == (
        "I need quick dry water shoes for women in black | grey, size 8.5 wide"
        f", and price lower than {shoes.price_upper:.2f} dollars"
    )

    # str.strip('.') takes dots off both ends; no pricing -> $100.0
    shampoo = goals["B0FIXTURE3"]
    assert catalog.prices["B0FIXTURE3"] == 100.0
    assert shampoo.instruction_text.startswith(
        "I want a tea tree shampoo that is sulfate free, and price lower"
    )
    assert shampoo.goal_options == ()


def test_synthetic_goals_from_the_fixture():
    catalog = data_dir_catalog(str(FIXTURE), False, True, None, 500)
    per_asin = {
        a: sum(g.asin == a for g in catalog.goals) for a in ("B0FIXTURE1", "B0FIXTURE2", "B0FIXTURE3")
    }
    # one goal per option combination: none -> 1, 2 colours x 2 sizes -> 4, 2 sizes -> 2
    assert per_asin == {"B0FIXTURE1": 1, "B0FIXTURE2": 4, "B0FIXTURE3": 2}
    shoes = next(g for g in catalog.goals if g.goal_options == {"color": "black | grey", "size": "8.5 wide"})
    assert shoes.instruction_text.startswith(
        "i need quick dry water shoes with a rubber sole with color: black | grey, and size: 8.5 wide, and price"
    )


def test_expert_wins_every_fixture_human_goal():
    env = WebShopEnv(split="all", data_dir=str(FIXTURE), human_goals=True)
    for task_id in env.task_ids:
        obs, info = env.reset(options={"task_id": task_id})
        for _ in range(env.max_steps):
            obs, reward, terminated, truncated, info = env.step(info["expert_action"])
            if terminated:
                break
        assert terminated and info["task_score"] == 1.0, (task_id, info["task"])


def _copy_fixture(tmp_path: Path) -> Path:
    for f in FIXTURE.glob("*.json"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [
        ("items_shuffle_1000.json", lambda d: d.clear(), "top level: no products"),
        ("items_shuffle_1000.json", lambda d: d[1].pop("name"), "product 1 .*'B0FIXTURE2'.*'name'"),
        ("items_shuffle_1000.json", lambda d: d[2].pop("asin"), "product 2: missing or non-string 'asin'"),
        (
            "items_shuffle_1000.json",
            lambda d: d[1]["customization_options"]["Color"].append("red"),
            "B0FIXTURE2.*option 'Color'",
        ),
        ("items_shuffle_1000.json", lambda d: d[0].update(pricing=23.99), "'pricing' is float"),
        (
            "items_ins_v2_1000.json",
            lambda d: d["B0FIXTURE1"].update(attributes="gift box"),
            "'attributes' must",
        ),
        (
            "items_ins_v2_1000.json",
            lambda d: [d.pop(k) for k in list(d)] and d.update(B0OTHER={}),
            "none of the 3 products of items_shuffle_1000.json",
        ),
        (
            "items_human_ins.json",
            lambda d: d["B0FIXTURE3"][0].pop("instruction_options"),
            "instruction 0.*options",
        ),
        ("items_human_ins.json", lambda d: d.update(B0FIXTURE3={"instruction": "x"}), "expected a list"),
    ],
)
def test_bad_data_fails_when_the_env_is_built(tmp_path, file, change, message):
    root = _copy_fixture(tmp_path)
    _edit(root / file, change)
    with pytest.raises(WebShopDataError, match=message) as err:
        WebShopEnv(data_dir=str(root), human_goals=True)
    assert file in str(err.value)


def test_truncated_file_names_the_file(tmp_path):
    root = _copy_fixture(tmp_path)
    text = (root / "items_human_ins.json").read_text()
    (root / "items_human_ins.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="items_human_ins.json is not valid JSON"):
        WebShopEnv(data_dir=str(root), human_goals=True)


# ---- opt-in: the real files ---------------------------------------------------------------

real = pytest.mark.skipif(not REAL_DATA, reason="set TURNRL_REAL_DATA to a folder with WebShop's data files")


@real
def test_real_data_builds_synthetic_goals():
    catalog = data_dir_catalog(str(REAL_DATA), False, True, None, 500)
    assert len(catalog.products) > 900  # the 1000-product files, minus duplicate/odd asins
    assert len(catalog.goals) > 500
    assert all(g.asin in catalog.index_of for g in catalog.goals)


@real
def test_real_data_human_goals():
    if not (Path(REAL_DATA) / "items_human_ins.json").exists():
        pytest.skip("no items_human_ins.json in TURNRL_REAL_DATA")
    catalog = data_dir_catalog(str(REAL_DATA), True, True, None, 500)
    assert catalog.goals and all(isinstance(g.goal_options, tuple) for g in catalog.goals)


def test_pages_of_real_format_records_render_as_the_original_text_mode():
    """Expected strings: the original's templates (item/features/description page) rendered and
    converted by web_agent_text_env's simple mode, checked once against these fixture records:
    option values lower-cased with '/' -> ' | ', a price range as "$a to $b", stripped bullets,
    an empty description leaving no segment, a newline inside the description kept."""
    catalog = data_dir_catalog(str(FIXTURE), False, True, None, 500)
    session = ShopSession(catalog, catalog.goals[0])
    session.step("search[water shoes]")
    session.step("click[b0fixture2]")
    assert session.anchor() == (
        "Back to Search [SEP] < Prev [SEP] color [SEP] black | grey [SEP] navy [SEP] size [SEP] 7 "
        "[SEP] 8.5 wide [SEP] Trailwise Women's Slip-On Water Shoes, Quick Dry [SEP] "
        "Price: $18.5 to $32.0 [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now"
    )
    session.step("click[features]")
    assert session.anchor() == "Back to Search [SEP] < Prev [SEP] Rubber sole"
    session.step("click[< prev]")
    session.step("click[description]")
    assert session.anchor() == "Back to Search [SEP] < Prev"

    session.step("search[sausage gift box]")
    session.step("click[b0fixture1]")
    session.step("click[description]")
    assert session.anchor() == (
        "Back to Search [SEP] < Prev [SEP] A gift box of smoked summer sausage and aged cheddar.\n"
        "Ready to slice for appetizers."
    )
    session.step("click[< prev]")
    session.step("click[features]")
    assert session.anchor() == (
        "Back to Search [SEP] < Prev [SEP] Smoked summer sausage and aged cheddar [SEP] "
        "Ready to slice for appetizers [SEP] Makes entertaining easy"
    )
