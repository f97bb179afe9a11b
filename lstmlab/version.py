"""lstmlab's version: recorded in every run's config.json, printed by `lstmlab --version`."""

__version__ = "0.1.0"
