"""Market data: loading and validation, gaps, resampling, TA-Lib features, scaling, splits and look-ahead checks."""

from bot.data.dataset import build_dataset, build_market, dataset_from_market, market_from_frame, schema_hash
from bot.data.gaps import Gap, find_gaps
from bot.data.loading import load_ohlcv
from bot.data.lookahead import LookAheadReport, check_lookahead
from bot.data.resample import align_to_base, resample_ohlcv
from bot.data.scaler import FeatureScaler
from bot.data.splits import Fold, split_ranges, walk_forward_folds
from bot.data.synthetic import generate_synthetic
from bot.data.types import Dataset, MarketData
from bot.data.universe import SCALERS, AlignedPrices, SymbolScalers, Universe, aligned_prices, build_universe
from bot.errors import DataValidationError

__all__ = [
    "SCALERS", "AlignedPrices", "DataValidationError", "Dataset", "FeatureScaler", "Fold", "Gap", "LookAheadReport",
    "MarketData", "SymbolScalers", "Universe", "align_to_base", "aligned_prices", "build_dataset", "build_market",
    "build_universe", "check_lookahead", "dataset_from_market", "find_gaps", "generate_synthetic", "load_ohlcv",
    "market_from_frame", "resample_ohlcv", "schema_hash", "split_ranges", "walk_forward_folds",
]
