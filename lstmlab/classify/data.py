"""Labelled texts for classification: reading, label mapping, splits, statistics.

Three layouts are read:

    CSV/TSV files   a text column and a label column, by name (header row) or by
                    number (0 = first, -1 = last; headerless files). ".csv" files
                    follow the CSV quoting rules (a quoted field may hold commas
                    and newlines); other files (".tsv", ".txt") are split on tabs
                    with quotes read as ordinary characters, which files such as
                    UCI's imdb_labelled.txt need (their stray quotes would
                    otherwise swallow hundreds of rows).
    a folder        one sub-folder per label holding .txt files, one text each:
                    pos/*.txt, neg/*.txt (Pang & Lee's txt_sentoken, IMDB's
                    aclImdb/train). Label folders under train/ and test/ (aclImdb)
                    become the given train and test splits; "unsup" is skipped.
    a .tar.gz       either folder layout, read straight from the archive: nothing
                    is extracted, and only regular files with plain relative
                    names are read (links, devices, absolute or ".." names are
                    skipped).

Labels are strings; mapping options turn them into the classes to learn
(`--positive-vs-rest positive`: seed 002's binary airline task).
"""

from __future__ import annotations

import csv
import html
import re
import sys
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Optional

import numpy as np

from .config import LabelledDataConfig
from .splits import sklearn_folds, sklearn_split, stratified_folds, stratified_split
from ..errors import LstmlabError

SPLIT_NAMES = {"train": "train", "test": "test", "val": "val", "valid": "val", "validation": "val", "dev": "val"}
UNLABELLED_FOLDERS = {"unsup", "unlabeled", "unlabelled"}
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a review may be longer than csv's 128 KiB default

# C1 control characters in text that was decoded as latin-1 but written as
# Windows-1252 (U+0085 for "…", U+0096 for "–" ...): give them their intended characters.
_C1 = re.compile("[\u0080-\u009f]")
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def _c1_char(match: re.Match) -> str:
    try:
        return bytes([ord(match.group())]).decode("cp1252")
    except UnicodeDecodeError:
        return " "


def repair_text(text: str) -> str:
    """Repair C1 control characters, turn HTML line breaks (IMDB) into spaces and
    HTML entities (tweets' "&amp;") into their characters, trim."""
    text = _C1.sub(_c1_char, text)
    text = _HTML_BREAK.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return text.strip()


@dataclass
class Labelled:
    """Texts with their labels (strings). `splits`, when the source itself is
    split (aclImdb's train/ and test/ folders), names each text's split."""

    texts: list[str]
    labels: list[str]
    source: str
    splits: Optional[list[str]] = None
    where: list[str] = field(default_factory=list)  # "row 12" or a file name, for messages
    # For messages about a table: the text and label columns' names, and all of them.
    text_name: str = "text"
    label_name: str = "label"
    column_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Iterable[int], labels: Optional[list[str]] = None) -> "Labelled":
        """The examples at `index` (with their split names), optionally relabelled first."""
        index = list(index)
        labels = self.labels if labels is None else labels
        return Labelled([self.texts[i] for i in index], [labels[i] for i in index], self.source,
                        [self.splits[i] for i in index] if self.splits else None,
                        [self.where[i] for i in index] if self.where else [],
                        self.text_name, self.label_name, self.column_names)

    def counts(self) -> Counter:
        return Counter(self.labels)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def read_labelled(source: str, cfg: LabelledDataConfig, map_labels: bool = True) -> Labelled:
    """Read `source` with the reading options of `cfg`, clean the texts and (by
    default) apply its label mapping. Rows without a label are an error unless
    cfg.drop_missing; texts left empty are dropped (with a warning)."""
    path = Path(source)
    if not path.exists():
        raise LstmlabError(f"no such file or folder: {source}")
    if path.is_dir():
        data = _read_tree(_folder_entries(path), source, cfg.encoding)
    elif path.name.lower().endswith(ARCHIVE_SUFFIXES):
        data = _read_archive(path, cfg.encoding)
    else:
        data = _read_table(path, cfg)
    data = _drop_missing_and_empty(data, cfg)
    if map_labels:
        data = apply_label_mapping(data, cfg)
    return data


def _decode(raw: bytes, where: str, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise LstmlabError(f"{where} is not valid {encoding} (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                           "pass --encoding latin-1 (or the file's encoding)") from None
    except LookupError:
        raise LstmlabError(f"unknown --encoding {encoding!r}; try utf-8 or latin-1") from None


def _folder_entries(root: Path):
    for path in sorted(root.rglob("*.txt")):
        if path.is_file() and not path.is_symlink():
            yield path.relative_to(root).parts, path.read_bytes


def _archive_entries(archive: tarfile.TarFile, skipped: Counter):
    for member in archive:
        name = PurePosixPath(member.name)
        if not member.isfile():
            if not member.isdir():
                skipped["links and special files"] += 1
            continue
        if name.is_absolute() or ".." in name.parts or "\\" in member.name:
            skipped["unsafe names"] += 1
            continue
        if name.suffix != ".txt":
            continue
        parts = tuple(p for p in name.parts if p not in ("", "."))
        yield parts, (lambda m=member: archive.extractfile(m).read())


def _read_archive(path: Path, encoding: str) -> Labelled:
    skipped: Counter = Counter()
    try:
        with tarfile.open(path, "r:*") as archive:
            data = _read_tree(_archive_entries(archive, skipped), str(path), encoding)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise LstmlabError(f"{path} is not a readable tar archive ({exc})") from None
    if skipped:
        parts = ", ".join(f"{n} {what}" for what, n in skipped.items())
        print(f"warning: {path}: skipped {parts}", file=sys.stderr)
    return data


def _read_tree(entries: Iterable[tuple[tuple[str, ...], Callable[[], bytes]]], source: str, encoding: str) -> Labelled:
    """label = the folder a .txt file is in; the folders above it group the files."""
    groups: dict[tuple[str, ...], list] = {}
    for parts, read in entries:
        if len(parts) < 2 or any(p.startswith(".") for p in parts) or parts[-2].lower() in UNLABELLED_FOLDERS:
            continue
        groups.setdefault(parts[:-2], []).append((parts, read))
    if not groups:
        raise LstmlabError(f"{source} has no label folders: expected one sub-folder per label holding .txt files "
                           "(e.g. pos/*.txt and neg/*.txt)")
    split_of = {}
    if len(groups) > 1:
        names = {g: (SPLIT_NAMES.get(g[-1].lower()) if g else None) for g in groups}
        if any(n is None for n in names.values()) or len(set(names.values())) < len(names):
            shown = ", ".join("/".join(g) or "." for g in sorted(groups))
            raise LstmlabError(f"{source} has label folders in several places ({shown}); give one of them, "
                               "or name them train/, val/ and test/")
        split_of = names
    texts, labels, where, splits = [], [], [], []
    for group in sorted(groups):
        for parts, read in sorted(groups[group], key=lambda item: item[0]):
            name = "/".join(parts)
            texts.append(repair_text(_decode(read(), f"{source}: {name}", encoding)))
            labels.append(parts[-2])
            where.append(name)
            splits.append(split_of.get(group, ""))
    return Labelled(texts, labels, source, splits if split_of else None, where)


def _is_number(column: str) -> bool:
    return re.fullmatch(r"-?\d+", column) is not None


def _read_table(path: Path, cfg: LabelledDataConfig) -> Labelled:
    is_csv = path.suffix.lower() == ".csv"
    delimiter = cfg.delimiter or ("," if is_csv else "\t")
    quoting = cfg.quoting if cfg.quoting != "auto" else ("csv" if is_csv else "none")
    try:
        with open(path, encoding=cfg.encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter,
                                quoting=csv.QUOTE_NONE if quoting == "none" else csv.QUOTE_MINIMAL)
            rows = [row for row in reader]
    except UnicodeDecodeError as exc:
        raise LstmlabError(f"{path} is not valid {cfg.encoding} (byte 0x{exc.object[exc.start]:02x}); "
                           "pass --encoding latin-1 (or the file's encoding)") from None
    except LookupError:
        raise LstmlabError(f"unknown --encoding {cfg.encoding!r}; try utf-8 or latin-1") from None
    except csv.Error as exc:
        raise LstmlabError(f"{path} could not be read as {'CSV' if quoting == 'csv' else 'delimited text'} ({exc}); "
                           "try --quoting none, or --delimiter") from None
    numbered = [(i + 1, row) for i, row in enumerate(rows) if row and any(cell.strip() for cell in row)]
    if not numbered:
        raise LstmlabError(f"{path} holds no rows")
    text_col, label_col, header = cfg.text_column, cfg.label_column, cfg.header
    first = numbered[0][1]
    if text_col is None and label_col is None:
        lowered = [c.strip().lower() for c in first]
        if header is not False and "text" in lowered and "label" in lowered:
            text_col, label_col, header = "text", "label", True
        elif len(first) == 2 and header is not True:
            text_col, label_col = "0", "1"
        else:
            raise LstmlabError(f"give --text-column and --label-column for {path}; its first row is: "
                               f"{', '.join(repr(c) for c in first[:20])}")
    elif text_col is None or label_col is None:
        raise LstmlabError("give both --text-column and --label-column (a name from the header row, or a number from 0)")
    by_name = not (_is_number(text_col) and _is_number(label_col))
    if header is None:
        header = by_name
    if by_name and not header:
        raise LstmlabError("columns named with --no-header: give column numbers (0 = the first) instead of names")
    names = [c.strip() for c in first] if header else [str(i) for i in range(len(first))]

    def index_of(column: str, flag: str) -> int:
        if _is_number(column):
            i = int(column)
            if not -len(names) <= i < len(names):
                raise LstmlabError(f"{flag} {column}: {path} has {len(names)} column(s), numbered 0 to {len(names) - 1}")
            return i % len(names)
        stripped = [n.lstrip("\ufeff") for n in names]
        if column in stripped:
            return stripped.index(column)
        lowered = [n.lower() for n in stripped]
        if column.lower() in lowered:
            return lowered.index(column.lower())
        raise LstmlabError(f"{flag} {column!r} is not a column of {path}; its columns are: {', '.join(stripped)} "
                           "(if its first row is not a header, give column numbers: 0 = the first)")

    ti, li = index_of(text_col, "--text-column"), index_of(label_col, "--label-column")
    if ti == li:
        raise LstmlabError(f"--text-column and --label-column name the same column ({names[ti]!r})")
    body = numbered[1:] if header else numbered
    texts, labels, where = [], [], []
    short = []
    for line, row in body:
        if len(row) <= max(ti, li):
            short.append(line)
            continue
        texts.append(repair_text(row[ti]))
        labels.append(row[li].strip())
        where.append(f"row {line}")
    if short:
        raise LstmlabError(f"{path}: {len(short)} row(s) have fewer than {max(ti, li) + 1} fields (first: row {short[0]}); "
                           + ("a quote may have been read as text: try --quoting csv" if quoting == "none" else
                              "fields with quotes or line breaks may be malformed: try --quoting none"))
    return Labelled(texts, labels, str(path), None, where, names[ti], names[li], names)


def _drop_missing_and_empty(data: Labelled, cfg: LabelledDataConfig) -> Labelled:
    text_name, label_name, columns = data.text_name, data.label_name, data.column_names
    missing = [i for i, label in enumerate(data.labels) if label.strip() == "" or label.strip().lower() in ("nan", "na", "null", "none")]
    if data.labels and len(missing) == len(data.labels):
        hint = f" (its columns are: {', '.join(columns)})" if columns else ""
        raise LstmlabError(f"the label column {label_name!r} of {data.source} is empty in every row; "
                           f"is it the right column?{hint}")
    if missing and not cfg.drop_missing:
        first = data.where[missing[0]] if data.where else f"example {missing[0]}"
        raise LstmlabError(f"{len(missing)} of {len(data)} rows of {data.source} have no label in column {label_name!r} "
                           f"(first: {first}); fix them, or pass --drop-missing to leave them out")
    empty = [i for i, text in enumerate(data.texts) if not text]
    if data.texts and len(empty) == len(data.texts):
        hint = f" (its columns are: {', '.join(columns)})" if columns else ""
        raise LstmlabError(f"the text column {text_name!r} of {data.source} is empty in every row; is it the right column?{hint}")
    drop = set(missing) | set(empty)
    if empty:
        print(f"warning: {data.source}: left out {len(empty)} example(s) with no text (first: "
              f"{data.where[empty[0]] if data.where else empty[0]})", file=sys.stderr)
    if drop:
        data = data.subset([i for i in range(len(data)) if i not in drop])
    if not len(data):
        raise LstmlabError(f"{data.source} holds no labelled examples")
    return data


# ---------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------


def rest_label(positive: str) -> str:
    return f"not {positive}"


def apply_label_mapping(data: Labelled, cfg: LabelledDataConfig) -> Labelled:
    """map_labels, then positive_vs_rest, then keep_labels; then check the classes."""
    labels = list(data.labels)
    seen = set(labels)
    if cfg.map_labels:
        mapping = dict(item.split("=", 1) for item in cfg.map_labels)
        unknown = sorted(set(mapping) - seen)
        if unknown:
            raise LstmlabError(f"--map-labels names label(s) not in {data.source}: {', '.join(unknown)}; "
                               f"its labels are: {', '.join(sort_labels(seen))}")
        labels = [mapping.get(label, label) for label in labels]
    if cfg.positive_vs_rest is not None:
        positive = cfg.positive_vs_rest
        if positive not in labels:
            raise LstmlabError(f"--positive-vs-rest {positive!r} is not a label of {data.source}; "
                               f"its labels are: {', '.join(sort_labels(set(labels)))}")
        labels = [label if label == positive else rest_label(positive) for label in labels]
    keep = list(range(len(labels)))
    if cfg.keep_labels:
        unknown = sorted(set(cfg.keep_labels) - set(labels))
        if unknown:
            raise LstmlabError(f"--keep-labels names label(s) not in {data.source}: {', '.join(unknown)}; "
                               f"its labels are: {', '.join(sort_labels(set(labels)))}")
        keep = [i for i, label in enumerate(labels) if label in cfg.keep_labels]
    return data.subset(keep, labels)


def check_classes(data: Labelled) -> list[str]:
    """The sorted classes of `data`, after checking that there is something to learn."""
    counts = data.counts()
    label_name, columns = data.label_name, data.column_names
    hint = f" (wrong --label-column? the columns are: {', '.join(columns)})" if columns else ""
    if len(counts) < 2:
        (only, n), = counts.items()
        raise LstmlabError(f"every example of {data.source} has the label {only!r} ({n} examples) in {label_name!r}; "
                           f"a classifier needs at least two classes{hint}")
    if len(counts) > max(50, len(data) // 2):
        raise LstmlabError(f"{len(counts)} different labels in {len(data)} examples of {data.source}: "
                           f"is {label_name!r} the label column?{hint}")
    lonely = [label for label, n in counts.items() if n < 2]
    if lonely:
        i = data.labels.index(lonely[0])
        where = data.where[i] if data.where else f"example {i}"
        raise LstmlabError(f"the label {lonely[0]!r} occurs only once in {data.source} ({where}"
                           + ("; a header row read as data? pass --header" if where == "row 1" else "")
                           + "); every class needs at least 2 examples: fix it, merge it with --map-labels "
                             "or keep the others with --keep-labels")
    return sort_labels(counts)


def sort_labels(labels: Iterable[str]) -> list[str]:
    """Numbers in numeric order (0, 1, 2, 10), then the rest alphabetically."""
    def key(label: str):
        try:
            return (0, float(label), label)
        except ValueError:
            return (1, 0.0, label)
    return sorted(set(labels), key=key)


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------


@dataclass
class Split:
    train: Labelled
    val: Labelled
    test: Optional[Labelled]
    how: str  # one line: where each part came from


def split_data(data: Labelled, cfg: LabelledDataConfig) -> Split:
    """Train/validation/test parts: given files, the source's own train/ and test/
    folders, a k-fold's fold, or stratified fractions drawn with cfg.split_seed, by the
    splitter cfg.split_version names (splits.py: 1 for runs saved before it existed, 2 now)."""
    classes = check_classes(data)
    y = np.array([classes.index(label) for label in data.labels])
    test: Optional[Labelled] = None
    val: Optional[Labelled] = None
    pool = np.arange(len(data))
    how = []
    if data.splits:
        named = np.array(data.splits)
        if not (named == "train").any():
            raise LstmlabError(f"{data.source} has no train/ folder of labelled texts")
        if (named == "test").any() and not cfg.test_source:
            test = data.subset(np.flatnonzero(named == "test"))
            how.append(f"test: the source's test/ folder ({len(test)})")
        if (named == "val").any() and not cfg.val_source:
            val = data.subset(np.flatnonzero(named == "val"))
            how.append(f"validation: the source's own folder ({len(val)})")
        pool = np.flatnonzero(named == "train")
    if cfg.test_source:
        test = read_labelled(cfg.test_source, cfg)
        how.append(f"test: {cfg.test_source} ({len(test)})")
    if cfg.val_source:
        val = read_labelled(cfg.val_source, cfg)
        how.append(f"validation: {cfg.val_source} ({len(val)})")
    if cfg.folds:
        if test is not None:
            raise LstmlabError(f"{data.source} comes with its own test set; --folds splits one set only")
        folds = (stratified_folds if cfg.split_version == 1 else sklearn_folds)(y[pool], cfg.folds, cfg.split_seed)
        test_index = pool[folds[cfg.fold]]
        test = data.subset(test_index)
        pool = np.setdiff1d(pool, test_index)
        how.append(f"test: fold {cfg.fold} of {cfg.folds} stratified folds, seed {cfg.split_seed} ({len(test)})")
    fractions, flags = [], []
    if val is None:
        fractions.append(cfg.val_fraction)
        flags.append("--val-fraction")
    if test is None:
        fractions.append(cfg.test_fraction)
        flags.append("--test-fraction")
    if not fractions:
        held = [np.arange(len(pool))]
    elif cfg.split_version == 1:  # runs saved before split_version: their parts as they were drawn
        held = stratified_split(y[pool], tuple(fractions), cfg.split_seed)
    else:
        held = sklearn_split(y[pool], tuple(fractions), cfg.split_seed, flags)
    parts = [pool[p] for p in held]
    k = 0
    if val is None:
        val = data.subset(parts[k])
        k += 1
        of = " of the rest" if cfg.folds or data.splits else ""
        how.append(f"validation: {cfg.val_fraction:.0%}{of}, stratified, seed {cfg.split_seed} ({len(val)})")
    if test is None:
        if cfg.test_fraction > 0:
            test = data.subset(parts[k])
            how.append(f"test: {cfg.test_fraction:.0%}, stratified, seed {cfg.split_seed} ({len(test)})")
        k += 1
    train = data.subset(parts[-1])
    if not len(val):
        raise LstmlabError("the validation set is empty; raise --val-fraction or give --val FILE")
    for name, part in (("validation", val), ("test", test)):
        if part is None:
            continue
        unknown = sorted(set(part.labels) - set(train.labels))
        if unknown:
            raise LstmlabError(f"the {name} set has label(s) the training set lacks: {', '.join(unknown)}; "
                               "map them with --map-labels or leave them out with --keep-labels")
    if test is not None and not len(test):
        test = None
    return Split(train, val, test, "; ".join([f"train: {len(train)}"] + how))


def balance_table(parts: dict[str, Labelled], classes: list[str]) -> str:
    """Examples per class and split, with shares: the class balance."""
    width = max([len(c) for c in classes] + [5])
    head = f"{'class':<{width}}" + "".join(f"  {name:>17}" for name in parts)
    lines = [head]
    for label in classes + ["total"]:
        cells = []
        for part in parts.values():
            counts = part.counts()
            n = len(part) if label == "total" else counts.get(label, 0)
            cells.append(f"  {n:>9,} ({n / max(len(part), 1):>6.1%})")
        lines.append(f"{label:<{width}}" + "".join(cells))
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Lengths
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LengthStats:
    """Seed 001's test_len: how many texts a fixed length pads, fits exactly or cuts."""

    count: int
    max_length: int
    padded: int
    equal: int
    truncated: int
    mean: float
    percentiles: dict[int, int]  # 50, 90, 95, 99 -> tokens
    longest: int

    @property
    def suggested(self) -> int:
        return suggest_length(self.percentiles[95])

    def format(self, unit: str = "tokens") -> str:
        n = max(self.count, 1)
        lines = [
            f"texts: {self.count:,}; max length {self.max_length:,} {unit}",
            f"Padded: {self.padded:,} ({self.padded / n:.1%})",
            f"Equal: {self.equal:,} ({self.equal / n:.1%})",
            f"Truncated: {self.truncated:,} ({self.truncated / n:.1%})",
            f"Avg length: {self.mean:.1f} {unit}",
            "percentiles: " + ", ".join(f"{p}%: {v:,}" for p, v in self.percentiles.items()) + f", longest: {self.longest:,}",
            f"suggested --max-length: {self.suggested:,} (keeps 95% of the texts whole)",
        ]
        return "\n".join(lines)


def suggest_length(p95: float) -> int:
    """The 95th percentile, rounded up to a multiple of 8 (at least 8)."""
    return max(8, int(np.ceil(p95 / 8.0)) * 8)


def length_stats(lengths: Iterable[int], max_length: int) -> LengthStats:
    lengths = np.asarray(list(lengths), dtype=np.int64)
    if not len(lengths):
        raise LstmlabError("there are no texts to measure")
    pct = {p: int(np.ceil(np.percentile(lengths, p))) for p in (50, 90, 95, 99)}
    return LengthStats(
        count=len(lengths), max_length=max_length,
        padded=int((lengths < max_length).sum()), equal=int((lengths == max_length).sum()),
        truncated=int((lengths > max_length).sum()), mean=float(lengths.mean()),
        percentiles=pct, longest=int(lengths.max()),
    )
