"""Reading labelled data (CSV with quoting, TSV without, folders, .tar.gz), labels, splits and length statistics,
on small real slices of ../shared/data/sentiment."""

from __future__ import annotations

import csv
import io
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from lstmlab.classify.config import LabelledDataConfig
from lstmlab.errors import LstmlabError
from lstmlab.classify.data import check_classes, length_stats, read_labelled, split_data, stratified_folds, stratified_split, suggest_length

from tests.helpers import shared_file

TWEETS = "sentiment/twitter_airline/Tweets.csv"
IMDB = "sentiment/sentiment_labelled_sentences/imdb_labelled.txt"
POLARITY = "sentiment/review_polarity/review_polarity.tar.gz"


def read(source, **settings):
    return read_labelled(str(source), LabelledDataConfig(source=str(source), **settings))


@pytest.fixture(scope="module")
def tweets_slice(tmp_path_factory) -> tuple[Path, list[list[str]]]:
    """The header and first 400 tweets of Tweets.csv, written back as CSV: quoted fields, commas, newlines."""
    with open(shared_file(TWEETS), encoding="utf-8", newline="") as fh:
        rows = [row for _, row in zip(range(401), csv.reader(fh))]
    path = tmp_path_factory.mktemp("tweets") / "tweets.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path, rows


@pytest.fixture(scope="module")
def polarity_members() -> dict[str, bytes]:
    """The first 12 positive and 12 negative reviews of the Pang & Lee archive, by name."""
    wanted: Counter = Counter()
    out = {}
    with tarfile.open(shared_file(POLARITY)) as archive:
        for member in archive:
            label = Path(member.name).parent.name
            if member.isfile() and label in ("pos", "neg") and wanted[label] < 12:
                wanted[label] += 1
                out[member.name] = archive.extractfile(member).read()
            if len(out) == 24:
                break
    return out


def test_csv_with_quoting_keeps_commas_quotes_and_newlines(tweets_slice):
    path, rows = tweets_slice
    data = read(path, text_column="text", label_column="airline_sentiment")
    assert len(data) == 400 and data.counts() == Counter(r[1] for r in rows[1:])
    by_text = dict(zip(data.texts, data.labels))
    # Row 217 holds a line break and quotes inside one quoted field; row 4 quotes "entertainment".
    assert any("\n" in t and '"{{header' in t for t in data.texts)
    assert any('obnoxious "entertainment"' in t for t in by_text)
    assert data.where[0] == "row 2"
    # HTML entities in tweets are decoded.
    assert not any("&amp;" in t for t in data.texts)


def test_tsv_without_quoting_reads_all_of_imdb_labelled():
    data = read(shared_file(IMDB))  # two columns, no header: text 0, label 1
    assert len(data) == 1000 and data.counts() == Counter({"0": 500, "1": 500})
    assert sum('"' in t for t in data.texts) > 10  # stray quotes stay ordinary characters
    # C1 control characters (U+0085, U+0096, U+0097) become the characters they stood for.
    assert not any(ch in t for t in data.texts for ch in "\x85\x96\x97")
    assert any("\u2026" in t or "\u2013" in t or "\u2014" in t for t in data.texts)


def test_columns_by_number_count_from_zero_or_from_the_end(tweets_slice):
    by_number = read(shared_file(IMDB), text_column=0, label_column=-1)
    assert by_number.labels == read(shared_file(IMDB)).labels
    path, _ = tweets_slice
    numbered = read(path, text_column=10, label_column=1, header=True)
    assert numbered.texts == read(path, text_column="text", label_column="airline_sentiment").texts
    # CSV quoting would let imdb_labelled.txt's stray quotes swallow hundreds of rows: why TSV reads without it.
    assert len(read(shared_file(IMDB), quoting="csv", text_column=0, label_column=1)) < 800


def test_folder_and_tar_gz_layouts_read_the_same_examples(tmp_path, polarity_members):
    root = tmp_path / "folder"
    for name, raw in polarity_members.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(raw)
    archive = tmp_path / "slice.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, raw in polarity_members.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    from_folder, from_tar = read(root), read(archive)
    assert from_folder.counts() == Counter({"pos": 12, "neg": 12})
    assert (from_folder.texts, from_folder.labels) == (from_tar.texts, from_tar.labels)
    assert read(root / "txt_sentoken").labels == from_folder.labels


def test_tar_gz_skips_links_and_path_tricks(tmp_path):
    archive = tmp_path / "tricky.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        def add(name, text=b"fine text", kind=tarfile.REGTYPE, target=""):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            info.size = len(text) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(text) if kind == tarfile.REGTYPE else None)
        add("data/pos/a.txt", b"good film")
        add("data/pos/b.txt", b"great film")
        add("data/neg/c.txt", b"bad film")
        add("data/neg/d.txt", b"awful film")
        add("../escape/pos/e.txt", b"outside")
        add("/abs/neg/f.txt", b"absolute")
        add("data/pos/link.txt", kind=tarfile.SYMTYPE, target="/etc/passwd")
        add("data/neg/hard.txt", kind=tarfile.LNKTYPE, target="data/pos/a.txt")
    data = read(archive)
    assert sorted(data.texts) == ["awful film", "bad film", "good film", "great film"]
    assert not list(tmp_path.glob("**/escape")) and not (tmp_path / "data").exists()  # nothing was extracted


def test_acl_imdb_layout_gives_its_own_train_and_test_split(tmp_path):
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            for i in range(6):
                path = tmp_path / "aclImdb" / split / label / f"{i}_7.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"{label} review {i}<br /><br />the end")
    (tmp_path / "aclImdb" / "train" / "unsup").mkdir()
    (tmp_path / "aclImdb" / "train" / "unsup" / "0_0.txt").write_text("no label")
    cfg = LabelledDataConfig(source=str(tmp_path / "aclImdb"), val_fraction=0.25)
    split = split_data(read_labelled(cfg.source, cfg), cfg)
    # ceil(0.25 * 12) for validation (splitter 2; splitter 1 rounded each class: 2 + 2).
    assert len(split.test) == 12 and len(split.train) + len(split.val) == 12 and len(split.val) == 3
    assert "<br" not in split.train.texts[0]
    with pytest.raises(LstmlabError, match="several places"):
        (tmp_path / "aclImdb" / "extra" / "pos").mkdir(parents=True)
        (tmp_path / "aclImdb" / "extra" / "pos" / "x.txt").write_text("x")
        read(tmp_path / "aclImdb")


def test_label_mapping_positive_vs_rest_merge_and_keep(tweets_slice):
    path, rows = tweets_slice
    base = dict(text_column="text", label_column="airline_sentiment")
    binary = read(path, positive_vs_rest="positive", **base)
    positives = sum(r[1] == "positive" for r in rows[1:])
    assert binary.counts() == Counter({"positive": positives, "not positive": 400 - positives})
    merged = read(path, map_labels=("neutral=negative",), **base)
    assert set(merged.labels) == {"negative", "positive"}
    kept = read(path, keep_labels=("positive", "negative"), **base)
    assert set(kept.labels) == {"negative", "positive"} and len(kept) < 400
    with pytest.raises(LstmlabError, match="its labels are: negative, neutral, positive"):
        read(path, positive_vs_rest="Positive", **base)


def test_bad_labels_and_columns_give_one_line_errors(tmp_path, tweets_slice):
    path, _ = tweets_slice
    with pytest.raises(LstmlabError, match="label column 'negativereason_gold' .* is empty in every row"):
        read(path, text_column="text", label_column="negativereason_gold", drop_missing=True)
    gaps = tmp_path / "gaps.tsv"
    gaps.write_text("good\t1\nbad\t\nfine\t1\nawful\t0\n")
    with pytest.raises(LstmlabError, match="1 of 4 rows .* no label in column '1' \\(first: row 2\\)"):
        read(gaps)
    assert read(gaps, drop_missing=True).texts == ["good", "fine", "awful"]
    with pytest.raises(LstmlabError, match="is not a column.*its columns are: tweet_id, airline_sentiment"):
        read(path, text_column="tweet", label_column="airline_sentiment")
    with pytest.raises(LstmlabError, match="text column 'negativereason_gold' .* is empty in every row"):
        read(_with_empty_column(tmp_path), text_column="negativereason_gold", label_column="airline_sentiment")
    single = read(path, text_column="text", label_column="airline")
    with pytest.raises(LstmlabError, match="every example .* has the label 'Virgin America'.*at least two classes"):
        check_classes(single)
    headerless = tmp_path / "headerless.tsv"
    headerless.write_text("sentence\tlabel\n" + "".join(f"text {i}\t{i % 2}\n" for i in range(10)))
    with pytest.raises(LstmlabError, match="'label' occurs only once .*row 1.*--header"):
        check_classes(read(headerless, text_column=0, label_column=1))
    assert check_classes(read(headerless, text_column=0, label_column=1, header=True)) == ["0", "1"]


def _with_empty_column(tmp_path: Path) -> Path:
    path = tmp_path / "empty.csv"
    path.write_text("airline_sentiment,negativereason_gold\npositive,\nnegative,\n")
    return path


def test_stratified_splits_and_folds():
    labels = np.array([0] * 90 + [1] * 10)
    val, test, train = stratified_split(labels, (0.1, 0.2), seed=3)
    assert (len(val), len(test), len(train)) == (10, 20, 70)
    assert labels[val].sum() == 1 and labels[test].sum() == 2 and labels[train].sum() == 7
    assert not set(val) & set(test) and not set(val) & set(train)
    again = stratified_split(labels, (0.1, 0.2), seed=3)
    assert all((a == b).all() for a, b in zip(again, (val, test, train)))
    folds = stratified_folds(labels, 5, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(100))
    assert [len(f) for f in folds] == [20] * 5 and all(labels[f].sum() == 2 for f in folds)


def test_split_data_with_folds_and_given_files(tmp_path):
    source = str(shared_file(IMDB))
    cfg = LabelledDataConfig(source=source, folds=5, fold=2)
    split = split_data(read_labelled(source, cfg), cfg)
    assert (len(split.train), len(split.val), len(split.test)) == (720, 80, 200)
    assert Counter(split.test.labels) == Counter({"0": 100, "1": 100})
    lines = Path(source).read_bytes().split(b"\n")
    given = tmp_path / "test.txt"
    given.write_bytes(b"\n".join(lines[:50]))
    cfg = LabelledDataConfig(source=source, test_source=str(given))
    split = split_data(read_labelled(source, cfg), cfg)
    assert len(split.test) == 50 and "test.txt" in split.how


def test_length_statistics_like_seed_001():
    stats = length_stats([3, 5, 5, 8, 12], max_length=5)
    assert (stats.padded, stats.equal, stats.truncated) == (1, 2, 2)
    assert stats.mean == pytest.approx(6.6) and stats.longest == 12
    assert stats.percentiles[50] == 5
    text = stats.format()
    for line in ("Padded: 1", "Equal: 2", "Truncated: 2", "Avg length: 6.6"):
        assert line in text
    assert suggest_length(33) == 40 and suggest_length(3) == 8 and suggest_length(1357) == 1360


def test_stats_command_on_imdb_labelled(cli):
    code, out, err = cli("classify", "stats", shared_file(IMDB), "--max-length", "20")
    assert code == 0, err
    assert "1,000 examples, 2 classes" in out
    numbers = {line.split(":")[0]: line.split(":")[1].split()[0] for line in out.splitlines()
               if line.startswith(("Padded", "Equal", "Truncated"))}
    assert sum(int(v.replace(",", "")) for v in numbers.values()) == 1000
    assert "suggested --max-length: 40" in out
    code, _, err = cli("classify", "stats", shared_file(IMDB), "--text-column", "review", "--label-column", "score")
    assert code == 2 and err.count("\n") == 1 and "give column numbers" in err
