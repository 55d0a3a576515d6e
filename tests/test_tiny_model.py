"""The locally trained tokenizer and the demonstrations it is trained on: an answer is spelled in the prompt's tokens."""

from __future__ import annotations

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
