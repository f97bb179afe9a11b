"""Language models, character- or word-level: prepare a corpus, train, load, generate, score, import Keras models.

    corpus -> prepare (prepare.py, words.py) -> tokens.bin -> batches (data.py) -> LanguageModelTask (task.py)
           -> runs.train_run (train.py) -> run folder -> load (trained.py) -> generate / evaluate / inspect
"""

from .keras_import import import_keras
from .train import prepare, train
from .trained import LanguageModel, Score, WordLanguageModel, WordScore, load

__all__ = ["LanguageModel", "Score", "WordLanguageModel", "WordScore", "import_keras", "load", "prepare", "train"]
