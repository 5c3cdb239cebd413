"""Make the worked example of docs/developing.md importable as ``example_estimator``.

The tests folders have no ``__init__.py`` (pytest's default, rootdir-based
import), so the example's folder goes on ``sys.path`` here.
"""

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
