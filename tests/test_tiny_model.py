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
    prompt = PromptBuilder(None, PromptConfig(intro=get_spec("alfworld").intro())).render_text(fields, [], 0)
    answer = response_text(action, "action")
    tokenizer = train_tokenizer([prompt, answer] * 20, vocab_size=512)
    listed = tokenizer.encode(prompt, add_special_tokens=False)
    inner = tokenizer.encode(answer, add_special_tokens=False)[1:-1]  # between <action> and </action>
    assert any(listed[i : i + len(inner)] == inner for i in range(len(listed)))
