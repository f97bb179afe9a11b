"""Character vocabulary: symbol <-> id, saved as vocab.json in every run.

Id 0 is always the unknown symbol, so that rare characters (see --min-count)
and characters a prompt brings that training never saw have somewhere to go.
The other symbols are the corpus' characters in sorted order, as in the seeds.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LstmlabError

UNKNOWN_CHAR = "\ufffd"  # the Unicode replacement character, shown wherever UNKNOWN_CHAR is decoded
_CHUNK = 1 << 22  # characters per slice when counting/encoding, bounds memory on big corpora


def code_points(text: str) -> np.ndarray:
    """The text as an array of Unicode code points, (N,) uint32."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def count_chars(text: str) -> Counter:
    """Character frequencies, counted with numpy in slices (fast on 100 MB+)."""
    counts: Counter = Counter()
    for start in range(0, len(text), _CHUNK):
        cps = code_points(text[start : start + _CHUNK])
        values, freq = np.unique(cps, return_counts=True)
        counts.update({chr(v): int(f) for v, f in zip(values.tolist(), freq.tolist())})
    return counts


@dataclass(frozen=True)
class CharVocab:
    symbols: tuple[str, ...]  # symbols[0] is UNKNOWN_CHAR

    @classmethod
    def build(cls, counts: Counter, min_count: int = 1) -> "CharVocab":
        kept = sorted(ch for ch, n in counts.items() if n >= min_count and ch != UNKNOWN_CHAR)
        return cls((UNKNOWN_CHAR, *kept))

    def __len__(self) -> int:
        return len(self.symbols)

    def extended(self, counts: Counter, min_count: int = 1, max_size: int = 0) -> tuple["CharVocab", list[str]]:
        """This vocabulary with the characters of `counts` it lacks appended after its own (every
        old id keeps its character; the new ones in sorted order), each seen `min_count` times;
        with `max_size` (0: no cap), only the most frequent that keep the total within it.
        Returns it and the characters added (--init-from)."""
        known = set(self.symbols)
        new = [ch for ch, n in counts.items() if n >= min_count and ch not in known]
        if max_size:
            new = sorted(new, key=lambda ch: (-counts[ch], ch))[: max(max_size - len(self), 0)]
        new.sort()
        return CharVocab((*self.symbols, *new)), new

    @property
    def dtype(self) -> np.dtype:
        """The smallest unsigned integer type that holds every id."""
        return np.dtype(np.uint8 if len(self) <= 256 else np.uint16 if len(self) <= 65536 else np.uint32)

    def _lookup(self) -> np.ndarray:
        # Code point -> id table; anything past the table or absent maps to 0 (UNKNOWN_CHAR).
        table = np.zeros(max(ord(s) for s in self.symbols) + 1, dtype=np.int64)
        for index, symbol in enumerate(self.symbols[1:], start=1):
            table[ord(symbol)] = index
        return table

    def encode(self, text: str, dtype=np.int64) -> np.ndarray:
        """Text -> (N,) ids of `dtype`; unknown characters become 0.

        Works slice by slice into one preallocated array, so encoding a 100 MB
        corpus to uint8 needs about 100 MB more, not gigabytes of int64 copies.
        """
        table = self._lookup()
        out = np.empty(len(text), dtype=dtype)
        for start in range(0, len(text), _CHUNK):
            cps = code_points(text[start : start + _CHUNK])
            inside = cps < len(table)
            out[start : start + len(cps)] = np.where(inside, table[np.where(inside, cps, 0)], 0)
        return out

    def decode(self, ids) -> str:
        symbols = self.symbols
        return "".join(symbols[i] for i in np.asarray(ids).reshape(-1).tolist())

    def unknown_chars(self, text: str) -> list[str]:
        """Distinct characters of `text` that this vocabulary lacks, in order of appearance."""
        known = set(self.symbols[1:])
        return list(dict.fromkeys(ch for ch in text if ch not in known))

    def to_json(self) -> str:
        return json.dumps({"unk_id": 0, "symbols": list(self.symbols)}, ensure_ascii=False, indent=1) + "\n"

    @classmethod
    def load(cls, path: Path) -> "CharVocab":
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            symbols = tuple(raw["symbols"])
        except FileNotFoundError:
            raise LstmlabError(f"{path} is missing; the run or prepared corpus is incomplete, prepare or train it again") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise LstmlabError(f"{path} is corrupt ({exc}); prepare or train again") from None
        if not symbols or symbols[0] != UNKNOWN_CHAR or any(not isinstance(s, str) or len(s) != 1 for s in symbols):
            raise LstmlabError(f"{path} is not an lstmlab vocabulary (symbols must be single characters, UNKNOWN_CHAR first); prepare or train again")
        return cls(symbols)
