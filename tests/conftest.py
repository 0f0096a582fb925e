"""Shared test setup: 8 fake CPU devices for sharding tests, and fixtures for the real data, shards and engine."""
import os

# Must happen before JAX is imported anywhere in the test process.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pathlib  # noqa: E402
import shutil  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_LICHESS = REPO_ROOT.parent / "shared" / "data" / "lichess"


@pytest.fixture(scope="session")
def shared_lichess_dir() -> pathlib.Path:
    """The real Lichess sample beside the checkout; tests that need it skip when it is absent."""
    if not SHARED_LICHESS.is_dir() or not list(SHARED_LICHESS.glob("*.pgn.zst")):
        pytest.skip(f"real Lichess sample not found at {SHARED_LICHESS} (../shared/data/lichess beside the checkout)")
    return SHARED_LICHESS


@pytest.fixture(scope="session")
def stockfish_path() -> str:
    """Debian's Stockfish; `make test` installs it, so its absence is a setup error, not a skip."""
    path = shutil.which("stockfish") or ("/usr/games/stockfish" if os.access("/usr/games/stockfish", os.X_OK) else None)
    if path is None:
        pytest.fail("Stockfish not found: install Debian's package `stockfish` (make test does this)")
    return path


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> str:
    """Real shards of random games for the training tests (test_train_data.build_shards), built once per module."""
    from test_train_data import build_shards  # imports JAX: only for the tests that ask for shards

    return build_shards(tmp_path_factory.mktemp("shards"))
