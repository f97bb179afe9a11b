"""A classifier whose encoder starts as a language model's (--init-from LM_RUN; ULMFiT).

The language model's embedding and recurrent layers become the classifier's; its vocabulary,
extended with the training texts' words seen --min-freq times, becomes the classifier's tokenizer,
so every word the model knows keeps what it learnt. The head (pooling, hidden layer, output) starts
at random.

    language model (lm/model.py)          classifier (classify/model.py)
    embedding.weight   (V, E)      ->     embedding.weight   (V', E), a row per classifier id
    rnn.layers.{i}.*               ->     layers.{i}.0.*     (one direction: the model reads forwards)

Ids: a word model's tokenizer already has <pad> at 0 and <unk> at 1, so its ids are the
classifier's. A character model's vocabulary has its unknown symbol at 0 and no padding; the
classifier's character tokenizer puts <pad> and <unk> first, so rows are mapped (`rows`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np
import torch

from .. import checkpoint
from ..checkpoint import BEST
from ..errors import LstmlabError
from ..lm.train import train as train_language_model
from ..lm.transfer import SourceRun, known_share
from ..lm.vocab import CharVocab
from ..tokenizers import PAD, PAD_ID, UNK, UNK_ID, CharTokenizer, Tokenizer
from .config import TransferConfig
from .model import SequenceClassifier

# Rows of `rows` that the language model has no row for: new symbols start at the mean of its rows.
NEW_ROW = -1
# The classifier's architecture comes from the language model; these flags would change it.
ARCHITECTURE = ("cell", "hidden_sizes", "embed_dim")


def tokenizer_kind(source: SourceRun) -> str:
    """The classifier tokenizer that reads text as the language model did."""
    return "char" if source.level == "char" else str(source.config.data.tokenizer)


def check_source(source: SourceRun, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings a classifier started from `source` must have: its tokenizer, case and
    network; one way only. Conflicting settings are refused in one line."""
    model = source.config.model
    if model.input != "embedding":
        raise LstmlabError(f"--init-from {source.folder} feeds symbols through a fixed --input {model.input} table; "
                           "a classifier starts from a language model with a learned embedding")
    kind = tokenizer_kind(source)
    given = settings.get("tokenizer")
    if given is not None and given != kind:
        level = "character" if source.level == "char" else "word"
        raise LstmlabError(f"--init-from {source.folder} is a {level}-level language model (its tokenizer is {kind}), "
                           f"but --tokenizer {given} was given; drop --tokenizer, or start from a run that reads "
                           f"{given} tokens")
    lowercase = bool(source.config.data.lowercase)
    if settings.get("lowercase", lowercase) != lowercase:
        raise LstmlabError(f"--init-from {source.folder} was trained on {'lowercased' if lowercase else 'cased'} text; "
                           f"drop {'--keep-case' if lowercase else '--lowercase'}")
    fixed = {"tokenizer": kind, "lowercase": lowercase, "bidirectional": False,
             **{name: getattr(model, name) for name in ARCHITECTURE}}
    clashes = [name for name in (*ARCHITECTURE, "bidirectional") if name in settings and settings[name] != fixed[name]]
    if clashes:
        raise LstmlabError(f"--init-from {source.folder} gives the classifier its network (one direction, "
                           f"{model.cell} {'x'.join(map(str, model.hidden_sizes))}, embeddings {model.embed_dim}); "
                           f"drop {', '.join('--' + name.replace('_', '-') for name in clashes)}")
    if settings.get("embeddings"):
        raise LstmlabError("--init-from starts the embedding from the language model's; drop --embeddings")
    return {**settings, **fixed}


def classifier_vocabulary(source: SourceRun, texts: Iterable[str], min_freq: int, max_size: int = 0
                          ) -> tuple[Tokenizer, np.ndarray, list[str]]:
    """The classifier's tokenizer: the language model's symbols, then the training texts' symbols
    it lacks (seen `min_freq` times, `max_size` capping the total; 0: no cap); for every
    classifier id, the language model's row (NEW_ROW for the added ones, and for a character
    model's <pad>, which it lacks; init_encoder keeps <pad> at zero either way); and the symbols
    added."""
    vocab = source.vocab
    if isinstance(vocab, CharVocab):
        base: Tokenizer = CharTokenizer([PAD, UNK, *vocab.symbols[1:]], bool(source.config.data.lowercase))
        known = np.array([NEW_ROW, 0, *range(1, len(vocab))], dtype=np.int64)  # unknown is row 0 of the model
    else:
        base = vocab
        known = np.arange(len(vocab), dtype=np.int64)
    probe = type(base)([PAD, UNK], base.lowercase)
    counts: Counter = Counter()
    for text in texts:
        counts.update(probe.tokenize(text))
    tokenizer, added = base.extended(counts, min_freq, max_size)
    rows = np.concatenate([known, np.full(len(added), NEW_ROW, dtype=np.int64)])
    return tokenizer, rows, added


def init_encoder(model: SequenceClassifier, source: SourceRun, rows: np.ndarray) -> None:
    """Copy the language model's embedding (row by `rows`; new symbols at the mean of its rows,
    <pad> at zero) and recurrent layers into the classifier."""
    tensors = source.tensors
    embedding = tensors["embedding.weight"]
    mean = embedding.float().mean(dim=0)
    index = torch.from_numpy(rows)
    table = torch.where((index >= 0).unsqueeze(1), embedding[index.clamp(min=0)].float(), mean)
    table[PAD_ID] = 0.0
    state = {"embedding.weight": table}
    for name, tensor in tensors.items():
        if name.startswith("rnn.layers."):
            layer, rest = name.removeprefix("rnn.layers.").split(".", 1)
            state[f"layers.{layer}.0.{rest}"] = tensor
    mine = model.state_dict()
    wrong = [name for name, tensor in state.items() if name not in mine or mine[name].shape != tensor.shape]
    if wrong:
        raise LstmlabError(f"--init-from {source.folder}: its {wrong[0]} does not fit the classifier's encoder; "
                           "was the run's config.json edited?")
    with torch.no_grad():
        for name, tensor in state.items():
            mine[name].copy_(tensor)


def start_text(source: SourceRun, tokenizer: Tokenizer, added: int, ids: list[np.ndarray]) -> str:
    """The log line: what the classifier took from the language model (`added` symbols more), and
    how much of the training text (`ids`) it already knew: ids before the added ones, not <unk>."""
    flat = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    share = known_share(flat, len(tokenizer) - added, UNK_ID)
    model = source.config.model
    return (f"encoder from {source.folder}: its embedding and {model.cell} "
            f"{'x'.join(map(str, model.hidden_sizes))} layers, one direction; vocabulary: its {len(source.vocab):,} "
            f"symbols and {added:,} new ones from the training texts (rows at the mean of the known ones); it "
            f"already knew {share:.1%} of the training tokens")


# --lm-finetune: the language model's own run folder inside the classifier's, and the text it reads.
LM_FOLDER = "lm"
LM_TEXT = "lm-text.txt"


def unlabelled_texts(source: str) -> list[str]:
    """--unlabelled: a text file (one text), or a folder whose .txt files (read recursively, in
    sorted order) are one text each."""
    path = Path(source)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise LstmlabError(f"--unlabelled {source} holds no .txt file; give a text file or a folder of them")
    else:
        raise LstmlabError(f"--unlabelled {source}: no such file or folder")
    try:
        return [f.read_text(encoding="utf-8") for f in files]
    except UnicodeDecodeError as exc:
        raise LstmlabError(f"--unlabelled {source}: a file is not UTF-8 ({exc.reason}); convert it to UTF-8") from None


def finetune_plan(transfer: TransferConfig, texts: int, unlabelled: int, classifier_minutes: Optional[float]) -> str:
    """What --lm-finetune will do and roughly how long it takes, logged before it starts."""
    more = f" and {unlabelled:,} unlabelled text(s)" if unlabelled else ""
    then = (f" then (2) the classifier, for at most {classifier_minutes:g} minutes: about "
            f"{transfer.lm_finetune + classifier_minutes:g} minutes in all" if classifier_minutes else
            " then (2) the classifier, within its budget")
    return (f"plan: (1) fine-tune the language model {transfer.init_from} on the {texts:,} training texts{more} "
            f"(never the validation or test texts) for {transfer.lm_finetune:g} minutes, in RUN/{LM_FOLDER};{then}")


def finetuned_language_model(transfer: TransferConfig, texts: list[str], run_dir: Path, log: Callable[[str], None],
                             show_progress: Optional[bool] = None) -> SourceRun:
    """The --init-from language model fine-tuned on `texts` for --lm-finetune minutes, as its own
    run in RUN/lm (resumable with lstmlab train --resume RUN/lm). A run already there is reused."""
    folder = run_dir / LM_FOLDER
    if (folder / BEST).is_file():
        log(f"{folder} holds a fine-tuned language model already: reusing it (delete it to fine-tune again, or "
            f"continue it with lstmlab train --resume {folder} --minutes M)")
        return SourceRun.open(folder)
    run_dir.mkdir(parents=True, exist_ok=True)
    corpus = run_dir / LM_TEXT
    checkpoint.save_text_atomic(corpus, "\n\n".join(text.strip() for text in texts) + "\n")
    train_language_model(str(corpus), folder, init_from=transfer.init_from, minutes=transfer.lm_finetune,
                         strip_gutenberg=False, log=log, show_progress=show_progress)
    return SourceRun.open(folder)
