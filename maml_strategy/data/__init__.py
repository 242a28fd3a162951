"""Market data: loading, validation and synthetic generation (no backtrader here).

Example:
    >>> from maml_strategy.data import load_ohlcv
    >>> spy = load_ohlcv("SPY", "2008-01-01", "2008-12-31")  # doctest: +SKIP
"""

from maml_strategy.data.adjust import PRICE_BASES, apply_price_basis, total_return_prices
from maml_strategy.data.sources import (
    ENV_VAR,
    candidate_paths,
    download_yfinance,
    load_ohlcv,
    normalise_yfinance,
    read_csv_ohlcv,
)
from maml_strategy.data.universe import UniverseSpec, load_universe, resolve_universe
from maml_strategy.data.synthetic import REGIME_PARAMS, synthetic_ohlcv
from maml_strategy.data.validate import OHLCV_COLUMNS, DataWarning, normalise_columns, validate_ohlcv

__all__ = [
    "ENV_VAR",
    "OHLCV_COLUMNS",
    "PRICE_BASES",
    "UniverseSpec",
    "apply_price_basis",
    "load_universe",
    "resolve_universe",
    "total_return_prices",
    "REGIME_PARAMS",
    "DataWarning",
    "candidate_paths",
    "download_yfinance",
    "load_ohlcv",
    "normalise_columns",
    "normalise_yfinance",
    "read_csv_ohlcv",
    "synthetic_ohlcv",
    "validate_ohlcv",
]
