"""lstmlab: recurrent networks (LSTM, GRU, RNN) that train in minutes on a laptop CPU."""

__version__ = "0.1.0"

from .api import LanguageModel, Score, load, prepare, train  # noqa: E402
from .errors import LstmlabError  # noqa: E402
from .inspection import Inspection, find_units  # noqa: E402
from .keras_import import import_keras  # noqa: E402
from . import classify  # noqa: E402, F401  (lstmlab.classify.train / .load: text classifiers)
from .words import WordLanguageModel, WordScore  # noqa: E402

__all__ = ["Inspection", "LanguageModel", "LstmlabError", "Score", "find_units", "import_keras", "load", "prepare",
           "train", "WordLanguageModel", "WordScore", "__version__"]
