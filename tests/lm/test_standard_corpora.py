"""Standard corpora (PTB, WikiText) read and scored as the literature does: --tokenizer whitespace,
train.txt/valid.txt/test.txt folders, --val FILE, evaluate over every token, generation with
<eos> as a new line; and the engine's fixes found against PyTorch's word_language_model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import lstmlab
from lstmlab.config import TrainConfig
from lstmlab.errors import LstmlabError
from lstmlab.lm.config import DataConfig, ModelConfig, RunConfig
from lstmlab.lm.data import PreparedCorpus
from lstmlab.lm.model import TIED_INIT_RANGE, RecurrentLM
from lstmlab.lm.presets import choose_defaults
from lstmlab.tokenizers import EOS, PAD, UNK, UNK_ID, WhitespaceTokenizer
from lstmlab.trainer import Trainer

from tests.helpers import TINY, shared_file

QUIET = dict(log=lambda line: None, show_progress=False)


def wikitext_lines(name: str, count: int) -> str:
    with open(shared_file(f"text/wikitext-2/{name}"), encoding="utf-8") as fh:
        return "".join(line for _, line in zip(range(count), fh))


@pytest.fixture(scope="module")
def split_folder(tmp_path_factory):
    """A WikiText-2 split in small slices, and a test.txt holding a word no other file has."""
    folder = tmp_path_factory.mktemp("wikitext-slice")
    (folder / "train.txt").write_text(wikitext_lines("train.txt", 400), encoding="utf-8")
    (folder / "valid.txt").write_text(wikitext_lines("valid.txt", 60), encoding="utf-8")
    (folder / "test.txt").write_text(wikitext_lines("test.txt", 60) + " Zyzzyvaquux \n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def split_run(split_folder, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "wikitext"
    lstmlab.train(str(split_folder), run, level="word", max_steps=3, hidden_sizes=(32,), embed_dim=16,
                  batch_size=4, seq_len=16, eval_every=3, **QUIET)
    return run


def test_whitespace_tokens_are_verbatim_with_eos_at_line_ends_and_unk_as_unknown():
    text = "The cat 's <unk> .\n = Heading = \n\nlast"
    tokenizer = WhitespaceTokenizer.build([text])
    assert tokenizer.tokenize(text) == ["The", "cat", "'s", "<unk>", ".", EOS, "=", "Heading", "=", EOS, EOS, "last"]
    assert not tokenizer.lowercase and "The" in tokenizer and "the" not in tokenizer
    ids = tokenizer.encode(text)
    assert ids[3] == UNK_ID and tokenizer.symbols[:2] == [PAD, UNK]
    # Every type of the text has a symbol: no cut by frequency.
    assert set(tokenizer.symbols[2:]) == set(tokenizer.tokenize(text)) - {UNK}
    assert tokenizer.join(tokenizer.tokenize("a b\nc d\n")) == "a b\nc d\n"


def test_a_split_folder_trains_on_train_validates_on_valid_and_never_reads_test(split_folder, split_run):
    config = RunConfig.load(split_run / "config.json")
    data = config.data
    assert (data.tokenizer, data.lowercase, data.min_freq, data.max_vocab) == ("whitespace", False, 1, 0)
    assert data.source.endswith("train.txt") and data.val_source.endswith("valid.txt")
    prepared = PreparedCorpus.open(split_run / "data")
    tokenizer = prepared.vocab
    train_tokens = [t for line in (split_folder / "train.txt").open(encoding="utf-8") for t in line.split() + [EOS]]
    valid_tokens = [t for line in (split_folder / "valid.txt").open(encoding="utf-8") for t in line.split() + [EOS]]
    # The vocabulary is every type of train.txt, nothing from the other files.
    assert set(tokenizer.symbols) - {PAD, UNK} == set(train_tokens) - {UNK}
    assert "Zyzzyvaquux" not in tokenizer
    assert prepared.train_chars == len(train_tokens) and len(prepared.val) == len(valid_tokens)
    np.testing.assert_array_equal(prepared.val, tokenizer.lookup(valid_tokens))
    np.testing.assert_array_equal(prepared.train, tokenizer.lookup(train_tokens))


def test_the_log_says_which_file_plays_which_part(split_folder, tmp_path):
    lines = []
    lstmlab.train(str(split_folder), tmp_path / "run", level="word", max_steps=1, hidden_sizes=(16,), embed_dim=8,
                  batch_size=2, seq_len=8, log=lines.append, show_progress=False)
    said = "\n".join(lines)
    assert "training on" in said and "train.txt" in said and "validating on" in said and "valid.txt" in said
    assert "test.txt is never read" in said
    # valid.txt has types train.txt lacks: the share is reported.
    assert "types of the validation text" in said and "read as <unk>" in said


def test_evaluate_scores_every_token_as_one_stream_with_a_hand_computed_perplexity(split_run, tmp_path):
    """With every weight zero but the output bias, each token's probability is softmax(bias), whatever
    came before: the perplexity follows by hand from the counts of the tokens scored."""
    lm = lstmlab.load(split_run)
    vocab = lm.tokenizer
    bias = torch.linspace(-2.0, 3.0, len(vocab))
    with torch.no_grad():
        for p in lm.model.parameters():
            p.zero_()
        lm.model.head.bias.copy_(bias)
    text = "the of the\n, and .\nnot-a-word the\n"
    tokens = vocab.tokenize(text)  # every token scored, <eos> included; the first follows an <eos>
    assert len(tokens) == 11
    log_probs = torch.log_softmax(bias.double(), dim=0)
    nats = -sum(float(log_probs[vocab.lookup([t])[0]]) for t in tokens) / len(tokens)
    score = lm.evaluate(text)
    assert score.words == len(tokens)
    assert math.isclose(score.nats_per_word, nats, rel_tol=1e-5)
    assert math.isclose(score.perplexity, math.exp(nats), rel_tol=1e-5)
    assert math.isclose(score.unknown_share, 1 / 11)
    # A text without a final newline reads as if it had one, as a file's last line does.
    assert lm.evaluate(text.rstrip("\n")).words == len(tokens)


def test_evaluate_of_test_txt_counts_every_token_and_warns_about_unseen_types(split_folder, split_run, cli):
    code, out, err = cli("evaluate", split_run, split_folder / "test.txt")
    assert code == 0, err
    expected = sum(len(line.split()) + 1 for line in (split_folder / "test.txt").open(encoding="utf-8"))
    assert f"over {expected:,} words" in out
    assert "warning:" in err and "types of the text" in err and "read as <unk>" in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1


def test_a_corpus_without_unk_warns_that_unseen_test_types_will_score_badly(tmp_path, cli):
    folder = tmp_path / "corpus"
    folder.mkdir()
    words = wikitext_lines("train.txt", 300).replace("<unk>", "thing")
    (folder / "train.txt").write_text(words, encoding="utf-8")
    (folder / "valid.txt").write_text(wikitext_lines("valid.txt", 40).replace("<unk>", "thing"), encoding="utf-8")
    code, _, err = cli("train", folder, "--level", "word", "--steps", "1", "--out", tmp_path / "run", *TINY)
    assert code == 0, err
    code, out, err = cli("evaluate", tmp_path / "run", folder / "valid.txt")
    assert code == 0 and "perplexity" in out
    assert "the training text has no <unk>" in err and "--min-freq 2" in err


def test_generation_writes_tokens_spaced_with_eos_as_a_new_line(split_run, cli):
    lm = lstmlab.load(split_run)
    with torch.no_grad():  # a 3-step model would rarely end a line: make <eos> likely
        lm.model.head.bias[lm.tokenizer.lookup([EOS])[0]] += 4.0
    text = lm.generate("", length=80, temperature=1.0, seed=3)
    assert "<eos>" not in text and "<unk>" not in text and "<pad>" not in text
    assert "\n" in text and "  " not in text
    assert all(token in lm.tokenizer for token in text.split())
    # A prompt ending in a line end continues on the next line.
    continued = lm.generate("The game\n", length=5, temperature=1.0, seed=3)
    assert continued.startswith("The game\n") and not continued.startswith("The game\n ")
    code, out, err = cli("generate", split_run, "--prompt", "The", "--length", "20", "--seed", "3")
    assert code == 0 and out.startswith("The ") and "<eos>" not in out


def test_val_file_gives_any_corpus_its_validation_text(shakespeare_slice, tmp_path):
    text = shakespeare_slice.read_text(encoding="utf-8")
    train, val = tmp_path / "train_part.txt", tmp_path / "held_out.txt"
    train.write_text(text[:50_000], encoding="utf-8")
    val.write_text(text[50_000:], encoding="utf-8")
    lstmlab.train(str(train), tmp_path / "run", val_source=str(val), max_steps=2, hidden_sizes=(16,), embed_dim=8,
                  batch_size=4, seq_len=16, **QUIET)
    prepared = PreparedCorpus.open(tmp_path / "run" / "data")
    assert prepared.train_chars == 50_000 and len(prepared.val) == len(text) - 50_000
    assert prepared.vocab.decode(prepared.val[:40]) == text[50_000:50_040]


@pytest.mark.parametrize("make, args, needles", [
    (lambda d: (d / "valid.txt").write_text("a b\n"), ["--level", "word"], ["no train.txt", "train.txt"]),
    (lambda d: (d / "test.txt").write_text("a b\n"), [], ["no train.txt"]),
])
def test_a_split_folder_without_train_txt_fails_in_one_line(cli, tmp_path, make, args, needles):
    folder = tmp_path / "split"
    folder.mkdir()
    make(folder)
    code, _, err = cli("train", folder, *args, "--out", tmp_path / "run", "--steps", "1", "--no-progress")
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and all(n in lines[0] for n in needles), err


def test_whitespace_tokenizer_at_character_level_fails_in_one_line(cli, shakespeare_slice, tmp_path):
    code, _, err = cli("train", shakespeare_slice, "--tokenizer", "whitespace", "--out", tmp_path / "run",
                       "--steps", "1", "--no-progress")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "--level word" in err


def test_plateau_with_zero_patience_is_refused_before_training():
    with pytest.raises(LstmlabError, match="--plateau-patience must be at least 1"):
        TrainConfig(schedule="plateau", plateau_patience=0)
    TrainConfig(schedule="cosine", plateau_patience=0)  # unused there, and saved runs may hold it


# ---------------------------------------------------------------------------
# The engine's fixes (BENCHMARKS.md §17)
# ---------------------------------------------------------------------------


def test_a_tied_model_starts_near_the_uniform_perplexity():
    """Drawn from N(0, 1), a tied output layer started 2.5 times above the vocabulary's size."""
    torch.manual_seed(0)
    vocab = 10_000
    model = RecurrentLM(ModelConfig(vocab_size=vocab, hidden_sizes=(200, 200), embed_dim=200, tie_embeddings=True))
    assert model.embedding.weight.abs().max() <= TIED_INIT_RANGE and not model.head.bias.any()
    ids = torch.randint(0, vocab, (4, 50))
    with torch.no_grad():
        logits, _ = model.eval()(ids)
    nats = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), torch.roll(ids, -1, 1).reshape(-1))
    assert math.exp(float(nats)) < 1.05 * vocab


def test_sgd_is_plain_by_default_and_runs_saved_before_momentum_existed_keep_0_9(tmp_path, shakespeare_slice):
    model = RecurrentLM(ModelConfig(vocab_size=30, hidden_sizes=(8,), embed_dim=4))
    trainer = Trainer(model, task=None, config=TrainConfig(optimizer="sgd", lr=1.0), run_dir=tmp_path)
    assert trainer.optimizer.param_groups[0]["momentum"] == 0.0
    lstmlab.train(str(shakespeare_slice), tmp_path / "run", optimizer="sgd", max_steps=1, hidden_sizes=(8,),
                  embed_dim=4, batch_size=2, seq_len=8, **QUIET)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["momentum"] == 0.0
    del saved["train"]["momentum"]  # as a run saved before the field existed
    assert RunConfig.from_dict(saved).train.momentum == 0.9


def test_word_level_drops_the_embedding_output_at_the_dropout_rate_and_characters_do_not():
    word, _ = choose_defaults({"dropout": 0.2}, level="word")
    assert word["embed_dropout"] == 0.2
    assert choose_defaults({"dropout": 0.2, "embed_dropout": 0.0}, level="word")[0]["embed_dropout"] == 0.0
    char, _ = choose_defaults({"dropout": 0.2, "minutes": 2}, level="char")
    assert "embed_dropout" not in char and ModelConfig(vocab_size=5).embed_dropout == 0.0
    model = RecurrentLM(ModelConfig(vocab_size=50, hidden_sizes=(8,), embed_dim=64, embed_dropout=0.5)).train()
    with torch.no_grad():
        model.embedding.weight.fill_(1.0)
    out = model.embed(torch.zeros(2, 3, dtype=torch.long))
    assert (out == 0).any() and set(out.unique().tolist()) <= {0.0, 2.0}
    # Old runs' config.json have no embed_dropout and load with none.
    raw = json.loads(RunConfig(data=DataConfig(), model=ModelConfig(vocab_size=5), train=TrainConfig()).to_json())
    del raw["model"]["embed_dropout"]
    assert RunConfig.from_dict(raw).model.embed_dropout == 0.0


def test_the_word_tokenizer_stays_the_default_for_raw_text_and_old_word_runs():
    data = DataConfig(level="word")
    assert (data.tokenizer, data.lowercase, data.min_freq, data.max_vocab, data.strip_gutenberg) == (
        "word", True, 2, 20_000, True)
    raw = {"source": "book.txt", "level": "word", "encoding": "utf-8", "strip_gutenberg": True, "lowercase": True,
           "collapse_whitespace": False, "min_count": 1, "max_vocab": 20000, "min_freq": 2, "val_fraction": 0.1}
    assert DataConfig(**raw).tokenizer == "word"


def test_a_large_word_corpus_gets_the_example_recipe_with_groups_kept_together():
    chosen, choice = choose_defaults({"minutes": 10}, level="word", train_tokens=2_088_628)
    assert {k: chosen[k] for k in ("optimizer", "lr", "momentum", "clip_grad_norm", "hidden_sizes", "embed_dim",
                                   "tie_embeddings", "seq_len", "batch_size")} == {
        "optimizer": "sgd", "lr": 20.0, "momentum": 0.0, "clip_grad_norm": 0.25, "hidden_sizes": (200, 200),
        "embed_dim": 200, "tie_embeddings": False, "seq_len": 35, "batch_size": 20}
    assert chosen["embed_dropout"] == chosen["dropout"] == 0.2
    assert choice.preset == "adaptive" and choice.why.startswith("a large word corpus (2,088,628 training tokens")
    model = ModelConfig(vocab_size=33_279, **{k: chosen[k] for k in ("hidden_sizes", "embed_dim", "tie_embeddings",
                                                                   "adaptive_softmax")})
    assert model.adaptive_softmax == (2_000, 10_000)
    # An optimizer of one's own keeps its own rate: SGD's 20 would wreck Adam.
    adam, _ = choose_defaults({"optimizer": "adam"}, level="word", train_tokens=2_088_628)
    assert adam["lr"] < 0.01 and "clip_grad_norm" not in adam
    # A model of one's own is not tied to a 200-wide embedding it did not ask for.
    wide, _ = choose_defaults({"hidden_sizes": (650, 650)}, level="word", train_tokens=2_088_628)
    assert "tie_embeddings" not in wide and wide["optimizer"] == "sgd"
    # A book keeps the word defaults.
    book, _ = choose_defaults({}, level="word", train_tokens=226_732)
    assert "optimizer" not in book and "tie_embeddings" not in book


def test_classify_reads_pre_tokenized_texts_verbatim_too():
    from lstmlab.classify.config import LabelledDataConfig
    from lstmlab.tokenizers import TOKENIZERS

    config = LabelledDataConfig(tokenizer="whitespace")
    assert not config.lowercase  # tokens as written: a lowercasing default would not apply
    tokenizer = TOKENIZERS[config.tokenizer].build(["A fine film .\nI liked it ."], lowercase=config.lowercase)
    assert tokenizer.tokenize("A fine film .\nI liked it .") == ["A", "fine", "film", ".", EOS, "I", "liked", "it", "."]
