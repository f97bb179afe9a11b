"""Text classification: labelled data -> a recurrent classifier, scored beside a TF-IDF baseline.

    import lstmlab.classify as classify
    clf = classify.train("Tweets.csv", "runs/airline", text_column="text",
                         label_column="airline_sentiment", minutes=3)
    clf = classify.load("runs/airline")
    clf.predict(["@united thanks, great flight!"])        # ['positive']

    data.py (reading, splitting) -> task.py (encoded texts, batches) -> train.py (runs.train_run)
    -> run folder -> trained.py (Classifier, load) ; model.py the network, baseline.py, metrics.py
"""

from .config import TRAIN_DEFAULTS, ClassifierConfig, ClassifyRunConfig, LabelledDataConfig
from .metrics import Report
from .train import train
from .trained import CONFUSION_PNG, REPORT_FILE, TOKENIZER_FILE, TRAINING_PNG, Classifier, load, stats

__all__ = ["CONFUSION_PNG", "Classifier", "ClassifierConfig", "ClassifyRunConfig", "LabelledDataConfig", "REPORT_FILE",
           "Report", "TOKENIZER_FILE", "TRAINING_PNG", "TRAIN_DEFAULTS", "load", "stats", "train"]
