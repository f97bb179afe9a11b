"""The thread settings a server process wants, set once by whoever owns the process.

`lstmlab serve` calls use_serving_threads() before it starts uvicorn. create_app does not:
the settings hold for the whole process, so a program that embeds the app (or a test
that builds one) decides for itself, and calls it if the process is the server's.
"""

from __future__ import annotations

from typing import Optional

# The threadpoolctl limit, held for the life of the process (None until it is set).
blas_limit: Optional[object] = None


def use_serving_threads() -> None:
    """One BLAS thread and one PyTorch thread for this whole process, as a server wants them.

    The engines' matrix products are small, and OpenBLAS's extra threads spin for the cores
    that the event loop needs (measured here: 32 streams went from 1,300 to 22,000
    characters/s). PyTorch's threads (reading prompts, classifying, forecasting) likewise:
    a second thread would spin for the core the event loop runs on. A server uses more
    cores by replicas, one process each (README, "More than one process")."""
    global blas_limit
    # Imported here: `import lstmlab.serve` stays light. NumPy and PyTorch come first, so
    # that their BLAS libraries are loaded, and limited, when threadpoolctl looks.
    import numpy  # noqa: F401
    import torch
    from threadpoolctl import threadpool_limits

    blas_limit = threadpool_limits(limits=1, user_api="blas")
    torch.set_num_threads(1)
