"""`lstmlab serve`: trained runs over HTTP, with continuous batching of generation.

    from lstmlab.serve.app import create_app        # the FastAPI app over served runs
    from lstmlab.serve.models import load_served    # runs by name, as the command loads them
    from lstmlab.serve.limits import Limits         # what one request may ask
    from lstmlab.serve.engine import Engine         # continuous batching for one language model
    from lstmlab.serve import use_serving_threads   # one BLAS and one PyTorch thread, as a server wants

A program that embeds create_app calls use_serving_threads() itself, before it serves
(`lstmlab serve` does): the app leaves the process's thread settings alone.

Nothing else is imported here: every `lstmlab` command reads the limits for its help
text, and importing FastAPI would add a sixth of a second to each of them.
"""

from .threads import use_serving_threads

__all__ = ["use_serving_threads"]
