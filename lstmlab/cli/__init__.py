"""The `lstmlab` command line: main.py (the top-level parser), one module per command group
(lm.py, classify.py, forecast.py), and flags.py for what they share."""

from .main import COMMANDS, build_parser, help_markdown, main

__all__ = ["COMMANDS", "build_parser", "help_markdown", "main"]
