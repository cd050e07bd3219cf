"""The bundled data sets (README.md here says where each comes from and how it is made).

This folder is installed as the package backprop_manual._data (setup.py maps it there), so its CSVs travel in the
wheel and the sdist, and importlib.resources finds them from a wheel and from an editable install alike: nothing in
backprop_manual finds data by a path relative to the clone.
"""

from importlib.resources import files
from pathlib import Path


def bundled(name: str) -> Path:
    """The bundled data set `name` (e.g. "cell_data.csv") as a path on disk."""
    # An installed wheel and an editable install both keep the files as plain files: files() is a directory there.
    return Path(str(files(__name__) / name))
