"""Word-level language models (--level word): tokenizer, prepare, train, generate, evaluate, load."""

import json
import math
import re

import numpy as np
import pytest

import lstmlab
from lstmlab.lm.config import DataConfig, RunConfig
from lstmlab.lm.presets import SMALL_BOOK_DEFAULTS
from lstmlab.lm.data import PreparedCorpus
from lstmlab.lm.prepare import prepare
from lstmlab.errors import LstmlabError
from lstmlab.tokenizers import PAD, PAD_ID, UNK, UNK_ID, Joiner, WordTokenizer, load_tokenizer
from lstmlab.lm.trained import WordLanguageModel, WordScore

from tests.helpers import TINY, shared_file, validation_rows

# Sentence -> how it reads after tokenising and joining again (lowercased).
ROUND_TRIPS = {
    '"Hello, world!" she said.': '"hello, world!" she said.',
    "It costs $3.50 (about 1,000 yen).": "it costs $3.50 (about 1,000 yen).",
    "Don't panic; it's John's and o'er the well-known hill.": "don't panic; it's john's and o'er the well-known hill.",
    "Wait... what?! 50% off": "wait... what?! 50% off",
    "He said (\"quoted\") it\u2014fine, at 10:30.": "he said (\"quoted\") it \u2014 fine, at 10: 30.",
    "\u201cNo,\u201d she cried--\u201cnever!\u201d (He left.)": "\u201cno,\u201d she cried--\u201cnever!\u201d (he left.)",
    "The young man\u2019s heart [sic] {x}": "the young man\u2019s heart [sic] {x}",
}


@pytest.mark.parametrize("text", list(ROUND_TRIPS))
def test_tokenizer_round_trips_and_detokenises(text):
    tokenizer = WordTokenizer.build([text], min_freq=1)
    tokens = tokenizer.tokenize(text)
    assert tokenizer.join(tokens) == ROUND_TRIPS[text]
    ids = tokenizer.encode(text)
    assert UNK_ID not in ids and PAD_ID not in ids
    assert tokenizer.decode(ids) == ROUND_TRIPS[text]
    # Streaming: the pieces one token at a time add up to the joined text.
    joiner = Joiner()
    assert "".join(joiner.piece(t) for t in tokens) == ROUND_TRIPS[text]


def test_tokens_keep_contractions_numbers_and_dashes_whole():
    tokens = WordTokenizer([PAD, UNK]).tokenize("Don't pay 1,000.50 for well-known him--there, ok?")
    assert tokens == ["don't", "pay", "1,000.50", "for", "well-known", "him", "--", "there", ",", "ok", "?"]
    assert WordTokenizer([PAD, UNK], lowercase=False).tokenize("The End") == ["The", "End"]


def test_vocabulary_cap_min_freq_pad_unk_and_save_load(tmp_path):
    texts = ["the cat sat on the mat .", "the dog sat .", "a cat ran ."]
    full = WordTokenizer.build(texts, min_freq=1)
    assert full.symbols[:2] == [PAD, UNK] and (PAD_ID, UNK_ID) == (0, 1)
    assert full.symbols[2:5] == [".", "the", "cat"]  # most frequent first, ties in sorted order
    frequent = WordTokenizer.build(texts, min_freq=2)
    assert frequent.symbols == [PAD, UNK, ".", "the", "cat", "sat"]
    capped = WordTokenizer.build(texts, max_size=4, min_freq=1)
    assert capped.symbols == [PAD, UNK, ".", "the"]
    assert capped.encode("The cat.").tolist() == [3, UNK_ID, 2]
    assert capped.unknown_share("the cat") == 0.5
    (tmp_path / "tokenizer.json").write_text(frequent.to_json(), encoding="utf-8")
    loaded = load_tokenizer(tmp_path / "tokenizer.json")
    assert isinstance(loaded, WordTokenizer) and loaded.symbols == frequent.symbols and loaded.lowercase
    (tmp_path / "bad.json").write_text('{"kind": "word"}', encoding="utf-8")
    with pytest.raises(LstmlabError, match="corrupt"):
        load_tokenizer(tmp_path / "bad.json")


def test_word_settings_are_checked():
    assert DataConfig().level == "char" and DataConfig().lowercase is False
    assert DataConfig(level="word").lowercase is True
    assert DataConfig(level="word", lowercase=False).lowercase is False
    for bad, needle in [({"level": "sentence"}, "--level"), ({"max_vocab": 2}, "--max-vocab"),
                        ({"min_freq": 0}, "--min-freq")]:
        with pytest.raises(LstmlabError, match=needle):
            DataConfig(**bad)


def test_prepare_word_level_builds_the_vocabulary_on_the_training_part(tmp_path):
    # 81 training tokens, then 9 held out (the last 10%): "zebra" is seen only in validation.
    text = "The cat sat, and the dog ran. " * 9 + "zebra zebra zebra zebra zebra the cat sat ."
    source = tmp_path / "t.txt"
    source.write_text(text, encoding="utf-8")
    lines = []
    prepared = prepare(DataConfig(source=str(source), level="word", min_freq=2), tmp_path / "data", report=lines.append)
    meta = json.loads((tmp_path / "data" / "meta.json").read_text())
    assert meta["level"] == "word" and meta["num_tokens"] == 90 and meta["train_tokens"] == 81
    assert (tmp_path / "data" / "tokenizer.json").is_file() and not (tmp_path / "data" / "vocab.json").exists()
    assert prepared.level == "word" and prepared.tokens.dtype == np.uint16 and isinstance(prepared.vocab, WordTokenizer)
    assert "zebra" not in prepared.vocab and "cat" in prepared.vocab
    assert np.count_nonzero(np.asarray(prepared.val) == UNK_ID) == 5 and UNK_ID not in np.asarray(prepared.train)
    assert prepared.vocab.decode(prepared.train[:9]) == "the cat sat, and the dog ran."
    report = lines[0]
    assert "words: 90 tokens (train 81, validation 9)" in report
    assert "vocabulary: 10 symbols" in report and "covers 100.00% of training tokens" in report
    assert "55.56% of validation tokens (5) read as <unk>" in report
    assert report.split("most common (of the training part):\n")[1].split()[:2] == ["'the'", "18"]
    reopened = PreparedCorpus.open(tmp_path / "data")
    assert reopened.train_chars == 81 and reopened.vocab.symbols == prepared.vocab.symbols


@pytest.fixture(scope="module")
def word_run(tmp_path_factory):
    """A small word model trained for a few seconds on the start of Crime and Punishment."""
    text = shared_file("text/crime_and_punishment.txt").read_text(encoding="utf-8-sig")[:250_000]
    folder = tmp_path_factory.mktemp("word")
    (folder / "crime.txt").write_text(text, encoding="utf-8")
    lines = []
    lm = lstmlab.train(str(folder / "crime.txt"), folder / "run", level="word", max_vocab=2000, max_steps=60,
                       hidden_sizes=(64,), embed_dim=32, batch_size=16, seq_len=32, eval_every=20, lr=1e-2,
                       log=lines.append, show_progress=False)
    return folder / "run", lm, lines


def test_word_model_lowers_validation_perplexity(word_run):
    run, lm, lines = word_run
    assert isinstance(lm, WordLanguageModel)
    metrics = validation_rows(run)
    ppl = [m["val_ppl"] for m in metrics]
    assert ppl[0] > 1000 and ppl[-1] < ppl[0] / 4, ppl  # about the vocabulary size before training
    assert all(abs(m["val_ppl"] - math.exp(m["val_loss"])) < 1e-6 * m["val_ppl"] for m in metrics)
    assert "val_bpc" not in metrics[0] and "words_per_s" in metrics[-1]
    assert any("nats/word (perplexity" in line for line in lines)
    assert "bits/char" not in "\n".join(lines)
    assert "vocabulary: 2,000 symbols" in "\n".join(lines)
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["level"] == "word" and config["data"]["lowercase"] is True
    # 250,000 characters hold fewer than 100,000 words: a small book, whose dropout wins over the level's 0.3.
    assert config["model"]["vocab_size"] == 2000 and config["model"]["dropout"] == SMALL_BOOK_DEFAULTS["word"]["dropout"]
    assert any(line.startswith("a small book (") and "--dropout 0.5" in line for line in lines)
    assert (run / "tokenizer.json").is_file() and not (run / "vocab.json").exists()


def test_generate_with_a_prompt_is_detokenised_and_never_writes_pad_or_unk(word_run, cli):
    run, lm, _ = word_run
    text = lm.generate("He said (", length=60, temperature=1.0, seed=3)
    assert text.startswith("he said (") and "<pad>" not in text and "<unk>" not in text
    assert not re.search(r" [,.;:!?)\u201d]|[(\u201c] ", text), text  # no space before closing marks or after opening ones
    assert len(lm.tokenize(text)) >= 3 + 60 - 2  # 60 words (a word may re-split when read again, e.g. "1" "," "000")
    # CLI and API agree; stream pieces add up to the same text.
    code, out, err = cli("generate", run, "--prompt", "He said (", "--length", "60", "--temperature", "1.0", "--seed", "3")
    assert code == 0, err
    assert out == text + "\n"
    pieces = [step[0] for step in lm.stream("He said (", length=60, temperature=1.0, seed=3)]
    assert lm.prompt_text("He said (") + "".join(pieces) == text
    samples = lm.generate("", length=20, num_samples=3, seed=1, top_k=10, top_p=0.9)
    assert len(samples) == 3 and all(s and s[0] != " " for s in samples)
    assert lm.generate("the", length=10, temperature=0, seed=1) == lm.generate("the", length=10, temperature=0, seed=2)


def test_save_load_generate_is_identical_under_a_seed(word_run):
    run, lm, _ = word_run
    loaded = lstmlab.load(run)
    assert isinstance(loaded, WordLanguageModel)
    first = lm.generate("The old woman", length=40, temperature=0.8, seed=7)
    assert loaded.generate("The old woman", length=40, temperature=0.8, seed=7) == first
    assert loaded.generate("The old woman", length=40, temperature=0.8, seed=8) != first


def test_unknown_prompt_words_warn_and_next_word_probs(word_run):
    run, lm, _ = word_run
    warnings = []
    lm.encode("the zyzzyva sat", warn=warnings.append)
    assert len(warnings) == 1 and "'zyzzyva'" in warnings[0] and "<unk>" in warnings[0]
    probs = lm.next_word_probs("He said", top=5)
    assert len(probs) == 5 and list(probs.values()) == sorted(probs.values(), reverse=True)
    every = lm.next_word_probs("He said", top=None)
    assert len(every) == 2000 - 1 and PAD not in every and abs(sum(every.values()) - 1) < 1e-6
    with pytest.raises(LstmlabError, match="next_word_probs"):
        lm.next_char_probs("he")
    # inspect reads a word run word by word (tests/inspect/test_word_inspect.py checks it in full).
    assert len(lm.inspect("he said")) == 2


def test_evaluate_prints_perplexity(word_run, cli, tmp_path):
    run, lm, _ = word_run
    sample = tmp_path / "sample.txt"
    sample.write_text("He went out into the street. \u201cWhat is it?\u201d she asked, and he was silent.\n" * 20)
    code, out, err = cli("evaluate", run, sample)
    assert code == 0, err
    match = re.fullmatch(r"perplexity ([\d,]+\.\d) \((\d+\.\d{3}) nats/word, (\d+\.\d{3}) bits/word\) over ([\d,]+) "
                         r"words; (\d+\.\d)% of the text's words are <unk>\n", out)
    assert match, out
    perplexity, nats = float(match[1].replace(",", "")), float(match[2])
    assert abs(math.log(perplexity) - nats) < 0.01 and abs(float(match[3]) - nats / math.log(2)) < 0.01
    score = lm.evaluate(sample.read_text())
    assert isinstance(score, WordScore) and score.words == int(match[4].replace(",", ""))


def test_old_char_runs_without_a_level_still_load(cli, shakespeare_slice, tmp_path):
    run = tmp_path / "char"
    assert cli("train", shakespeare_slice, "--out", run, "--steps", "2", *TINY)[0] == 0
    config = json.loads((run / "config.json").read_text())
    for key in ("level", "max_vocab", "min_freq"):  # as written before word models existed
        del config["data"][key]
    (run / "config.json").write_text(json.dumps(config))
    assert RunConfig.load(run / "config.json").data.level == "char"
    lm = lstmlab.load(run)
    assert type(lm) is lstmlab.LanguageModel and len(lm.generate("RO", length=10, seed=1)) == 12
    assert len(lm.next_char_probs("ROMEO")) == lm.config.model.vocab_size


@pytest.mark.parametrize("flags, needle", [
    (["--level", "sentence"], "invalid choice: 'sentence'"),
    (["--max-vocab", "100"], "--max-vocab apply to word-level models; add --level word"),
    (["--level", "word", "--min-count", "2"], "--min-count is for characters"),
    (["--level", "word", "--max-vocab", "2"], "--max-vocab must be at least 3"),
    (["--level", "word", "--min-freq", "1000"], "no word of the training part"),
    (["--level", "word", "--lowercase", "--keep-case"], "not allowed with argument"),
])
def test_bad_word_settings_fail_in_one_line(cli, tmp_path, flags, needle):
    source = tmp_path / "t.txt"
    source.write_text("a few words of text, repeated. " * 50, encoding="utf-8")
    code, out, err = cli("prepare", source, "--out", tmp_path / "p", *flags)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_a_corpus_with_too_few_words_fails_in_one_line(cli, tmp_path):
    source = tmp_path / "short.txt"
    source.write_text("Hello there, hello again. " * 20, encoding="utf-8")
    code, _, err = cli("train", source, "--out", tmp_path / "run", "--level", "word", "--steps", "5", "--no-progress")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "the training text has 108 words, too short" in err
    (tmp_path / "one.txt").write_text("!", encoding="utf-8")
    code, _, err = cli("prepare", tmp_path / "one.txt", "--out", tmp_path / "p", "--level", "word")
    assert code == 2 and "1 word(s) after cleaning" in err
