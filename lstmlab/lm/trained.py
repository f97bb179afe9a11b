"""A trained language model: load a run folder, then generate, stream, score and inspect.

    lm = lstmlab.load("runs/demo")
    print(lm.generate("ROMEO:", length=300, temperature=0.7, seed=1))
    print(lm.evaluate("To be, or not to be, that is the question."))

LanguageModel reads characters; WordLanguageModel (--level word) reads words
and puts the spaces back as it writes (tokenizers.Joiner). Losses are nats per
character or per word; perplexity is exp(nats per word), the number of equally
likely words the model is, on average, choosing between.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

import numpy as np
import torch

from .. import checkpoint
from ..checkpoint import PathLike
from ..devices import resolve_device
from ..errors import LstmlabError
from ..inspect.inspection import TOP_KEPT, Inspection, WordPredictions
from ..tokenizers import EOS, PAD_ID, UNK_ID, WordTokenizer, as_lines, load_tokenizer
from . import corpus
from .config import RunConfig
from .model import RecurrentLM
from .task import LN2, score_tokens
from .words import unseen_text
from .vocab import CharVocab


def warn(message: str) -> None:
    """Where a model's warnings go by default: one line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


warn_on_stderr = warn  # for methods whose `warn` argument shadows the name


@dataclass(frozen=True)
class Score:
    nats_per_char: float
    chars: int

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / LN2

    def __str__(self) -> str:
        return f"{self.bits_per_char:.3f} bits/char ({self.nats_per_char:.3f} nats/char) over {self.chars:,} characters"


class LanguageModel:
    """A trained run: its config, vocabulary and best weights."""

    # Symbols generation never writes: the unknown symbol stands for characters the model cannot name.
    suppressed: tuple[int, ...] = (0,)
    # evaluate reads a text in this many parallel streams (task.score_tokens): a character
    # text of a megabyte would take minutes as one stream, and 64 fresh starts cost nothing
    # measurable in bits per character.
    scoring_streams = 64

    def __init__(self, run_dir: Path, config: RunConfig, vocab: CharVocab, model: RecurrentLM):
        self.run_dir, self.config, self.vocab, self.model = run_dir, config, vocab, model

    def normalize(self, text: str) -> str:
        """Clean text the way the training text was (lowercase, whitespace), minus Gutenberg stripping."""
        data = self.config.data
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return corpus.clean_text(text, strip_gutenberg_boilerplate=False, lowercase=data.lowercase,
                                 collapse_whitespace=data.collapse_whitespace)

    def prompt_text(self, prompt: str) -> str:
        """What generated text continues: the prompt, normalised."""
        return self.normalize(prompt)

    def encode(self, text: str, warn: Optional[Callable[[str], None]] = warn) -> np.ndarray:
        unknown = self.vocab.unknown_chars(text)
        if unknown and warn:
            shown = " ".join(repr(ch) for ch in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
            warn(f"{len(unknown)} character(s) not in the model's vocabulary are read as unknown: {shown}")
        return self.vocab.encode(text)

    def prompt_ids(self, prompt: str, warn: Optional[Callable[[str], None]] = warn) -> np.ndarray:
        """The ids generation reads before it writes: the prompt, normalised."""
        return self.encode(self.normalize(prompt), warn)

    def piece_writer(self, prompt: str) -> Callable[[int], str]:
        """A function from each generated id to the text it adds to one sample."""
        return self.vocab.symbols.__getitem__

    def stream(self, prompt: str = "", length: int = 400, temperature: float = 0.7, top_k: Optional[int] = None,
               top_p: Optional[float] = None, num_samples: int = 1, seed: Optional[int] = None,
               warn: Optional[Callable[[str], None]] = warn) -> Iterator[list[str]]:
        """Yield one list of `num_samples` characters per generated step."""
        check_sampling(length, temperature, top_k, top_p, num_samples)
        ids = torch.from_numpy(self.prompt_ids(prompt, warn)).long()
        batch = ids.unsqueeze(0).expand(num_samples, -1).contiguous()  # (N, P)
        writers = [self.piece_writer(prompt) for _ in range(num_samples)]
        for next_ids in self.model.generate(batch, length, temperature, top_k, top_p, seed, suppress=self.suppressed):
            yield [write(i) for write, i in zip(writers, next_ids.tolist())]

    def generate(self, prompt: str = "", length: int = 400, temperature: float = 0.7, top_k: Optional[int] = None,
                 top_p: Optional[float] = None, num_samples: int = 1, seed: Optional[int] = None) -> Union[str, list[str]]:
        """The (normalised) prompt followed by `length` generated characters.
        Returns a string, or a list of strings when num_samples > 1."""
        pieces = [[] for _ in range(num_samples)]
        for step in self.stream(prompt, length, temperature, top_k, top_p, num_samples, seed):
            for sample, ch in zip(pieces, step):
                sample.append(ch)
        head = self.normalize(prompt)
        texts = [head + "".join(p) for p in pieces]
        return texts[0] if num_samples == 1 else texts

    def next_char_probs(self, text: str, warn: Optional[Callable[[str], None]] = warn) -> dict[str, float]:
        """Every vocabulary symbol's probability of coming next after `text` (normalised first);
        with no text, of the first symbol (read from the all-zero state)."""
        text = self.normalize(text)
        if not text:
            probs = torch.softmax(self.model.next_logits(torch.zeros(1, 0, dtype=torch.long))[0].double(), -1).numpy()
        else:
            probs = self._read(text, warn)[1][-1]
        return {symbol: float(p) for symbol, p in zip(self.vocab.symbols, probs)}

    def inspect(self, text: str, warn: Optional[Callable[[str], None]] = warn) -> Inspection:
        """Read `text` and keep every gate, cell state and prediction along the way (see inspection.py)."""
        text = self.normalize(text)
        if not text:
            raise LstmlabError("there is no text to inspect; give some with --text or --file")
        ids, probs, gates = self._read(text, warn)
        numpy_gates = [{name: values[0].double().numpy() for name, values in layer.items()} for layer in gates]
        return Inspection(text, ids, self.vocab.symbols, self.config.model.cell, numpy_gates, probs)

    def _read(self, text: str, warn) -> tuple[np.ndarray, np.ndarray, list]:
        """ids (T,), next-symbol probabilities (T + 1, V) from the empty state onwards, per-layer gates."""
        ids = self.encode(text, warn)
        logits, _, gates = self.model.trace(torch.from_numpy(ids).long()[None])
        # Before the first character nothing has been read: the head sees the all-zero state.
        start = self.model.next_logits(torch.zeros(1, 0, dtype=torch.long))
        logits = torch.cat([start[:, None], logits], dim=1)[0].double()
        return ids, torch.softmax(logits, dim=-1).numpy(), gates

    def evaluate(self, text: str, warn: Optional[Callable[[str], None]] = warn) -> Score:
        """Average negative log-likelihood of `text` under the model, each character given all before it."""
        nll, count, _ = self._score(text, warn, "characters")
        return Score(nll / count, count)

    def _score(self, text: str, warn, units: str) -> tuple[float, int, np.ndarray]:
        """Clean `text` like the training text and score it, read in `scoring_streams` streams with
        the state carried: total nats, tokens scored, and the ids read (the first is context only)."""
        ids = self.scoring_ids(text, warn)
        if len(ids) < 2:
            raise LstmlabError(f"the text to evaluate has fewer than 2 {units} after cleaning; give a longer text")
        nll, count = score_tokens(self.model, ids, self.config.objective.seq_len, self.scoring_streams)
        return nll, count, ids

    def scoring_ids(self, text: str, warn) -> np.ndarray:
        """The ids `evaluate` reads: `text` cleaned like the training text. The first is
        context only; every later one is scored."""
        data = self.config.data
        text = corpus.clean_text(text, strip_gutenberg_boilerplate=data.strip_gutenberg,
                                 lowercase=data.lowercase, collapse_whitespace=data.collapse_whitespace)
        return self.encode(text, warn)

    def evaluate_file(self, path: PathLike, encoding: str = "utf-8") -> Score:
        return self.evaluate(corpus.load_text(str(path), encoding=encoding))


# The most one call may generate, checked before any work (a typo such as 10**12 would
# otherwise run for days, or fill the memory: generate() holds every symbol until it returns).
# Ten million symbols take minutes to an hour on a CPU; `lstmlab serve` has its own limits.
MAX_GENERATE_LENGTH = 10_000_000
MAX_NUM_SAMPLES = 10_000  # the batch generated together: one state row each
MAX_GENERATED_SYMBOLS = 100_000_000  # length x samples: a few hundred megabytes held


def check_sampling(length, temperature, top_k, top_p, num_samples) -> None:
    if length < 0:
        raise LstmlabError(f"--length must be >= 0, got {length}")
    if length > MAX_GENERATE_LENGTH:
        raise LstmlabError(f"--length must be at most {MAX_GENERATE_LENGTH:,} symbols, got {length:,}; "
                           "generate a long text in parts, each continuing the last through --prompt")
    if not (temperature >= 0 and math.isfinite(temperature)):
        raise LstmlabError(f"--temperature must be a finite number >= 0 (0 means greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise LstmlabError(f"--top-k must be at least 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise LstmlabError(f"--top-p must be in (0, 1], got {top_p}")
    if num_samples < 1:
        raise LstmlabError(f"--num-samples must be at least 1, got {num_samples}")
    if num_samples > MAX_NUM_SAMPLES:
        raise LstmlabError(f"--num-samples must be at most {MAX_NUM_SAMPLES:,}, got {num_samples:,}; "
                           "run generate again (with another --seed) for more")
    if length * num_samples > MAX_GENERATED_SYMBOLS:
        raise LstmlabError(f"--length {length:,} x --num-samples {num_samples:,} is {length * num_samples:,} symbols, "
                           f"more than {MAX_GENERATED_SYMBOLS:,} at once; ask for fewer or shorter samples")


@dataclass(frozen=True)
class WordScore:
    """A word-level model's score of a text: nats per word and perplexity."""

    nats_per_word: float
    words: int
    unknown_share: float = 0.0  # share of the text's words that read as <unk> (scored like any word)

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats_per_word)

    @property
    def bits_per_word(self) -> float:
        return self.nats_per_word / LN2

    def __str__(self) -> str:
        return (f"perplexity {self.perplexity:,.1f} ({self.nats_per_word:.3f} nats/word, {self.bits_per_word:.3f} "
                f"bits/word) over {self.words:,} words; {self.unknown_share:.1%} of the text's words are <unk>")


class WordLanguageModel(LanguageModel):
    """A trained word-level run: generate, stream and evaluate as for characters,
    plus next_word_probs. `vocab` and `tokenizer` are its WordTokenizer."""

    suppressed = (PAD_ID, UNK_ID)
    # One stream, as the literature scores word-level test sets.
    scoring_streams = 1
    # inspect holds at most this many next-word scores at once (about 32 MB in float64): with
    # 270,000 words that is 14 words per trace, with 10,000 words 400.
    inspect_chunk_values = 4_000_000

    def __init__(self, run_dir: Path, config, tokenizer: WordTokenizer, model):
        super().__init__(run_dir, config, tokenizer, model)
        self.tokenizer = tokenizer

    def tokenize(self, text: str) -> list[str]:
        """The words of `text`, normalised as the training text was."""
        return self.tokenizer.tokenize(self.normalize(text))

    def _ids(self, tokens: list[str], warn: Optional[Callable[[str], None]]) -> np.ndarray:
        unknown = list(dict.fromkeys(t for t in tokens if t not in self.tokenizer))
        if unknown and warn:
            shown = " ".join(repr(t) for t in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
            warn(f"{len(unknown)} word(s) not in the model's vocabulary are read as <unk>: {shown}")
        return self.tokenizer.lookup(tokens)

    def encode(self, text: str, warn: Optional[Callable[[str], None]] = warn) -> np.ndarray:
        return self._ids(self.tokenizer.tokenize(text), warn)

    def prompt_text(self, prompt: str) -> str:
        if self.pretokenized:  # tokens as the run writes them: spaced, a final <eos> as a new line
            return self.tokenizer.join(self.tokenize(prompt))
        # Generated words bring their own leading space.
        return self.normalize(prompt).rstrip()

    def prompt_ids(self, prompt: str, warn: Optional[Callable[[str], None]] = warn) -> np.ndarray:
        tokens = self.tokenize(prompt)
        if self.pretokenized and not tokens:
            tokens = [EOS]  # no prompt: a text starts after a line end, as the training text's lines do
        return self._ids(tokens, warn)

    def piece_writer(self, prompt: str) -> Callable[[int], str]:
        """Each generated word with the space that goes before it (none before "," or after "(";
        a pre-tokenized run puts a space between tokens and writes <eos> as a new line)."""
        joiner = self.tokenizer.joiner()
        for token in self.tokenize(prompt):  # the prompt decides the first word's spacing (after "(", in quotes...)
            joiner.piece(token)
        symbols = self.tokenizer.symbols
        return lambda i: joiner.piece(symbols[i])

    def stream(self, prompt: str = "", length: int = 100, temperature: float = 0.7, top_k: Optional[int] = None,
               top_p: Optional[float] = None, num_samples: int = 1, seed: Optional[int] = None,
               warn: Optional[Callable[[str], None]] = warn) -> Iterator[list[str]]:
        """Yield one list of `num_samples` pieces of text per generated word: the
        word with the space that goes before it (none before "," or after "(")."""
        return super().stream(prompt, length, temperature, top_k, top_p, num_samples, seed, warn)

    def generate(self, prompt: str = "", length: int = 100, temperature: float = 0.7, top_k: Optional[int] = None,
                 top_p: Optional[float] = None, num_samples: int = 1, seed: Optional[int] = None) -> Union[str, list[str]]:
        """The (normalised) prompt followed by `length` generated words, detokenised.
        Returns a string, or a list of strings when num_samples > 1."""
        pieces: list[list[str]] = [[] for _ in range(num_samples)]
        for step in self.stream(prompt, length, temperature, top_k, top_p, num_samples, seed):
            for sample, piece in zip(pieces, step):
                sample.append(piece)
        head = self.prompt_text(prompt)
        texts = [head + "".join(p) for p in pieces]
        return texts[0] if num_samples == 1 else texts

    def next_word_probs(self, text: str = "", top: Optional[int] = 10,
                        warn: Optional[Callable[[str], None]] = warn) -> dict[str, float]:
        """The `top` likeliest next words after `text` (normalised first) and their
        probabilities, likeliest first; top=None gives every word. "<unk>" stands
        for all the words outside the vocabulary together; <pad> is never a next
        word and is left out (the others sum to 1)."""
        if top is not None and top < 1:
            raise LstmlabError(f"top must be at least 1 (or None for every word), got {top}")
        ids = torch.from_numpy(self.encode(self.normalize(text), warn)).long()
        logits = self.model.next_logits(ids[None])[0].double()  # nothing read yet: the all-zero state's
        logits[PAD_ID] = -math.inf  # padding is never a next word
        probs = torch.softmax(logits, dim=-1).numpy()
        probs[PAD_ID] = -1.0  # sorts last, and is cut below
        order = np.argsort(-probs, kind="stable")[: (len(probs) - 1 if top is None else min(top, len(probs) - 1))]
        return {self.tokenizer.symbols[i]: float(probs[i]) for i in order}

    def next_char_probs(self, text: str, warn=warn) -> dict[str, float]:
        raise LstmlabError(f"next_char_probs is for character-level runs; {self.run_dir} is word-level: "
                           "use next_word_probs(text, top=10)")

    def inspect(self, text: str, warn: Optional[Callable[[str], None]] = warn) -> Inspection:
        """Read `text` word by word and keep every gate and cell state, each word's probability and
        the likeliest next words (not the whole vocabulary's: see inspection.py). The inspection's
        text is the words joined as generation writes them (piece_writer)."""
        tokens = self.tokenize(text)
        if not tokens:
            raise LstmlabError("there is no text to inspect; give some with --text or --file")
        ids = self._ids(tokens, warn)
        joiner = self.tokenizer.joiner()
        pieces = tuple(joiner.piece(token) for token in tokens)
        gates, predictions = self._read_words(ids)
        return Inspection("".join(pieces), ids, self.tokenizer.symbols, self.config.model.cell, gates, None,
                          tokens=tuple(tokens), pieces=pieces, predictions=predictions, unknown_id=UNK_ID)

    def _read_words(self, ids: np.ndarray) -> tuple[list[dict[str, np.ndarray]], WordPredictions]:
        """Per-layer gates (T, H) and the kept predictions, reading `inspect_chunk_values // V` words
        per trace with the state carried, so that at most that many scores are held at once."""
        T, V = len(ids), len(self.tokenizer)
        k = min(TOP_KEPT, V - 1)
        actual = np.empty(T)
        top_ids, top_probs = np.empty((T + 1, k), dtype=np.int64), np.empty((T + 1, k))
        tensor = torch.from_numpy(ids).long()

        def keep(scores: torch.Tensor, row: int) -> None:
            """Rows row, row + 1, ... of the next-word distributions, from the model's scores (R, V)."""
            # Softmax whatever the model returns: logits, or log-probabilities from an adaptive softmax.
            logp = torch.log_softmax(scores.double(), dim=-1)  # (R, V)
            n = min(len(logp), T - row)  # the rows with a word to score (the last row guesses past the text)
            actual[row: row + n] = logp[torch.arange(n), tensor[row: row + n]].exp().numpy()
            logp[:, PAD_ID] = -math.inf  # padding is never a next word
            values, best = torch.topk(logp, k, dim=-1)
            top_ids[row: row + len(logp)], top_probs[row: row + len(logp)] = best.numpy(), values.exp().numpy()

        # Before the first word nothing has been read: the all-zero state's guess.
        keep(self.model.next_logits(torch.zeros(1, 0, dtype=torch.long)), 0)
        step = max(1, self.inspect_chunk_values // V)
        state, layers = None, []
        for start in range(0, T, step):
            scores, state, gates = self.model.trace(tensor[None, start: start + step], state)
            keep(scores[0], start + 1)
            layers.append(gates)
        numpy_gates = [{name: torch.cat([chunk[i][name][0] for chunk in layers]).double().numpy()
                        for name in layers[0][i]} for i in range(len(layers[0]))]
        # topk leaves the order of equal probabilities open; make it the likeliest, then the lowest id.
        order = np.lexsort((top_ids, -top_probs), axis=1)
        predictions = WordPredictions(actual, np.take_along_axis(top_ids, order, 1), np.take_along_axis(top_probs, order, 1))
        return numpy_gates, predictions

    def evaluate(self, text: str, warn: Optional[Callable[[str], None]] = None) -> WordScore:
        """Average negative log-likelihood per word of `text` (cleaned like the
        training text), each word given all before it, and its perplexity.

        A pre-tokenized run (--tokenizer whitespace) scores as the literature does: the text
        is one stream, every token is scored, <eos> included, and the first is predicted
        after an <eos> (as if the text followed a line end). PyTorch's word_language_model
        reads the first token and scores the rest: one token fewer (82,429 of PTB test's
        82,430), a difference far below the figures' last digit."""
        nll, count, ids = self._score(text, warn, "words")
        return WordScore(nll / count, count, float(np.mean(ids[1:] == UNK_ID)))

    def unknown_in_training(self) -> Optional[int]:
        """How many training tokens read as <unk>, from the run's prepared corpus (None if it is gone)."""
        folder = Path(self.config.data_dir)
        try:
            meta = json.loads(((folder if folder.is_absolute() else self.run_dir / folder) / "meta.json").read_text())
            return int(meta["unknown_train_tokens"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @property
    def pretokenized(self) -> bool:
        return self.tokenizer.kind == "whitespace"

    def scoring_ids(self, text: str, warn) -> np.ndarray:
        if not self.pretokenized:
            return super().scoring_ids(text, warn)
        tokens = self.tokenize(as_lines(self.normalize(text)))
        # One summary of the types outside the vocabulary, not a list of every unknown word.
        unseen = unseen_text(Counter(tokens), self.tokenizer, "the text", self.unknown_in_training())
        if unseen:
            (warn or warn_on_stderr)(unseen)
        return self.tokenizer.lookup([EOS, *tokens])


def load(run_dir: PathLike, device: Optional[str] = "auto") -> LanguageModel:
    """Load a trained run folder (config.json, vocab.json or, for a word-level
    run, tokenizer.json, model.safetensors) onto `device`: auto (None too) picks
    cuda, then mps, then cpu; or cpu, cuda, cuda:N, mps."""
    where = resolve_device(device)  # first: a device that is not here is the error to report
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LstmlabError(f"no such run folder: {run_dir}; train one with: lstmlab train CORPUS --out {run_dir}")
    config = RunConfig.load(run_dir / "config.json")
    word = config.data.level == "word"
    vocab_file = "tokenizer.json" if word else "vocab.json"
    vocab = load_tokenizer(run_dir / vocab_file) if word else CharVocab.load(run_dir / vocab_file)
    if len(vocab) != config.model.vocab_size:
        raise LstmlabError(f"{run_dir}/{vocab_file} has {len(vocab)} symbols but config.json expects {config.model.vocab_size}; restore the run's files")
    model = RecurrentLM(config.model)
    checkpoint.load_weights(model, run_dir / checkpoint.BEST)  # read on the CPU, then moved
    model.to(where).eval()
    if word:
        return WordLanguageModel(run_dir, config, vocab, model)
    return LanguageModel(run_dir, config, vocab, model)
