"""A word model with an adaptive softmax served over real HTTP: generation (the server's own
batched stepper) writes what the Python API writes, and scores are the model's exact ones."""

from __future__ import annotations

import pytest

import lstmlab

from tests.helpers import write_wikitext_slice
from tests.serve.conftest import Server

pytestmark = pytest.mark.slow  # a real `lstmlab serve` process


@pytest.fixture(scope="module")
def adaptive_run(tmp_path_factory):
    folder = write_wikitext_slice(tmp_path_factory.mktemp("adaptive"), 1500, 100, 20)
    run = folder / "run"
    lstmlab.train(str(folder), run, level="word", hidden_sizes=(32,), embed_dim=16, tie_embeddings=False,
                  adaptive_softmax=(200, 1000), batch_size=8, seq_len=20, max_steps=30, eval_every=30,
                  show_progress=False, log=lambda line: None)
    return run


def test_an_adaptive_softmax_model_generates_scores_and_completes_over_http(adaptive_run):
    lm = lstmlab.load(adaptive_run, device="cpu")
    assert lm.config.model.adaptive_softmax == (200, 1000)
    server = Server([f"words={adaptive_run}"])
    try:
        for seed in (1, 2):
            status, answer = server.post("/v1/generate", {"model": "words", "prompt": "The game", "length": 15,
                                                          "seed": seed, "temperature": 0.8})
            assert status == 200, answer
            assert answer["prompt"] + answer["samples"][0]["text"] == lm.generate("The game", length=15, seed=seed,
                                                                                  temperature=0.8)
        status, answer = server.post("/v1/next", {"model": "words", "text": "The game", "top": 3})
        assert status == 200 and [n["symbol"] for n in answer["next"]] == list(lm.next_word_probs("The game", top=3))
        text = "The game was released in Japan ."
        status, answer = server.post("/v1/score", {"model": "words", "text": text})
        assert status == 200
        assert answer["perplexity"] == pytest.approx(lm.evaluate(text).perplexity, rel=1e-4)
        status, answer = server.post("/v1/completions", {"model": "words", "prompt": "The game", "max_tokens": 10,
                                                         "seed": 3})
        assert status == 200 and answer["choices"][0]["text"]
    finally:
        server.stop()
