"""Where data files are looked for, and how the shipped ones are read.

Local files (the full Omniglot set, MNIST, USPS, the user's mini-ImageNet) are
searched in ``data_home``, then in the folder named by ``SKLEARN_META_DATA``,
then in ``~/sklearn_meta_data``. The small files that ship with the package
lie in ``sklearn_meta/datasets/data/`` and are read with :mod:`importlib.resources`,
so they work from a wheel or a zip as well.
"""

import os
from importlib import resources
from pathlib import Path

import numpy as np

DATA_HOME_ENV = "SKLEARN_META_DATA"
DEFAULT_DATA_HOME = Path("~") / "sklearn_meta_data"

# Where the shipped files lie, as DESCR texts and messages name it.
SHIPPED_DIR = "sklearn_meta/datasets/data"


def get_data_home(data_home=None):
    """Return the folders searched for local data files, in order.

    Parameters
    ----------
    data_home : str or path-like, default=None
        A folder to search first.

    Returns
    -------
    folders : list of pathlib.Path
        ``data_home`` (if given), then the folder named by the environment
        variable ``SKLEARN_META_DATA`` (if set), then ``~/sklearn_meta_data``.
        The folders need not exist.

    Examples
    --------
    >>> from sklearn_meta.datasets import get_data_home
    >>> get_data_home("/tmp/omniglot")[0].as_posix()
    '/tmp/omniglot'
    """
    folders = []
    if data_home is not None:
        folders.append(Path(os.fspath(data_home)).expanduser())
    env = os.environ.get(DATA_HOME_ENV)
    if env:
        folders.append(Path(env).expanduser())
    folders.append(DEFAULT_DATA_HOME.expanduser())
    unique = []
    for folder in folders:
        if folder not in unique:
            unique.append(folder)
    return unique


def find_file(filename, data_home):
    """``(path, folders)``: the first ``folder / filename`` that exists (or
    None) and the folders searched, in the order of :func:`get_data_home`."""
    folders = get_data_home(data_home)
    for folder in folders:
        candidate = folder / filename
        if candidate.is_file():
            return candidate, folders
    return None, folders


def not_found_error(filename, folders, fixes):
    """A FileNotFoundError that lists the places searched and numbers ``fixes``."""
    searched = "\n".join(f"  - {folder / filename}" for folder in folders)
    steps = "\n".join(f"  {i}. {fix}" for i, fix in enumerate(fixes, start=1))
    return FileNotFoundError(
        f"{filename} was not found. Searched, in order:\n{searched}\n"
        f"To fix this:\n{steps}"
    )


def read_npz(path, keys):
    """``{key: array}`` of the arrays ``keys`` of the ``.npz`` at ``path``."""
    with np.load(path, allow_pickle=False) as npz:
        missing = [key for key in keys if key not in npz.files]
        if missing:
            raise ValueError(f"{path} lacks the arrays {missing}")
        return {key: npz[key] for key in keys}


def shipped_file(filename):
    """The shipped data file ``filename``, as an :mod:`importlib.resources` path.

    Read it with ``.read_text()`` or ``.read_bytes()``, or wrap it in
    :func:`importlib.resources.as_file` where a file-system path is needed.
    """
    return resources.files("sklearn_meta.datasets").joinpath("data", filename)


def read_shipped_npz(filename, keys):
    """``{key: array}`` of the arrays ``keys`` of the shipped ``filename``."""
    with resources.as_file(shipped_file(filename)) as path:
        return read_npz(path, keys)
