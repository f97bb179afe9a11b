"""lstmlab: recurrent networks (LSTM, GRU, RNN) that train in minutes on a laptop CPU.

    lstmlab.train / load / prepare        language models (lstmlab/lm)
    lstmlab.classify.train / load         text classifiers (lstmlab/classify)
    lstmlab.forecast.train / load         time-series forecasters (lstmlab/forecast)
    lstmlab.Inspection                    gates and states on a text (lstmlab/inspect)
"""

from .version import __version__
from .errors import LstmlabError
from .inspect import Inspection, find_units
from .lm import LanguageModel, Score, WordLanguageModel, WordScore, import_keras, load, prepare, train
from . import classify  # noqa: F401  (lstmlab.classify.train / .load: text classifiers)

__all__ = ["Inspection", "LanguageModel", "LstmlabError", "Score", "find_units", "import_keras", "load", "prepare",
           "train", "WordLanguageModel", "WordScore", "__version__"]
