"""`lstmlab serve`: trained runs over HTTP, with continuous batching of generation."""

from .app import create_app
from .engine import Engine, Sampling
from .limits import Limits
from .models import ServedModel, load_served

__all__ = ["Engine", "Limits", "Sampling", "ServedModel", "create_app", "load_served"]
