"""Fixtures of the data set tests: the offline data folder, and a clean search path."""

from pathlib import Path

import pytest

from sklearn_meta.datasets import DATA_HOME_ENV

# the offline benchmark data beside the repository, when there is one
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_file():
    """``get(name)``: the path of ``name`` in ../shared/data, or skip the test."""

    def get(name):
        path = SHARED_DATA / name
        if not path.is_file():
            pytest.skip(f"{path} not found")
        return path

    return get


@pytest.fixture
def no_default_home(tmp_path, monkeypatch):
    """Search only the folders a test names, never the real ones.

    Unsets ``SKLEARN_META_DATA`` and points ``HOME`` at ``tmp_path / "user"``,
    so that the last folder searched, ``~/sklearn_meta_data``, is an empty
    folder of the test; returns that folder.
    """
    monkeypatch.delenv(DATA_HOME_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    return tmp_path / "user" / "sklearn_meta_data"
