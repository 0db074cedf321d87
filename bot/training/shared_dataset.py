"""Datasets whose arrays live in one shared memory block that every worker maps read-only.

Pickled into a worker process (at its start), a :class:`SharedDataset` carries only the block and a small skeleton
(config-sized values, split ranges, the scaler); the worker rebuilds the dataset as read-only NumPy views on the block.
So N workers hold one copy of the candles and feature matrices instead of N + 1, and none can change the data another
sees. The block comes from :mod:`multiprocessing`'s heap (a file in /dev/shm, or in the temp dir when that is small),
like the observation buffers of :mod:`bot.training.obs_buffer`.
"""

from __future__ import annotations

import ctypes
import dataclasses
import pickle
from multiprocessing.reduction import ForkingPickler
from multiprocessing.sharedctypes import RawArray
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.data import Dataset, Universe

#: array offsets in the block are multiples of this (cache lines; keeps every dtype aligned)
_ALIGN = 64


def _arrays_of(obj: Any) -> dict[str, npt.NDArray[Any]]:
    """The NumPy array fields of a dataclass instance, by field name."""
    return {f.name: v for f in dataclasses.fields(obj) if isinstance(v := getattr(obj, f.name), np.ndarray)}


class SharedArrays:
    """Named NumPy arrays copied once into one shared memory block; pickled, they travel as a handle on it.

    :param arrays: name -> array; :meth:`get` returns these same arrays in the process that made the block.
    """

    def __init__(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        specs: dict[str, tuple[int, str, tuple[int, ...]]] = {}
        offset = 0
        for name, array in arrays.items():
            specs[name] = (offset, array.dtype.str, array.shape)
            offset += -(-array.nbytes // _ALIGN) * _ALIGN
        self._raw = RawArray(ctypes.c_byte, max(offset, 1))
        self._specs = specs
        for name, array in arrays.items():
            self._view(name, writeable=True)[...] = array
        self._arrays: dict[str, npt.NDArray[Any]] | None = dict(arrays)

    @property
    def nbytes(self) -> int:
        """Size of the shared block in bytes."""
        return ctypes.sizeof(self._raw)

    def _view(self, name: str, writeable: bool = False) -> npt.NDArray[Any]:
        offset, dtype, shape = self._specs[name]
        count = int(np.prod(shape, dtype=np.int64))
        buffer = memoryview(self._raw).cast("B")
        view = np.frombuffer(buffer, dtype=np.dtype(dtype), count=count, offset=offset).reshape(shape)
        view.flags.writeable = writeable
        return view

    def __getstate__(self) -> dict[str, Any]:
        # The block travels as a handle (a file descriptor passed while a process starts); the arrays are never
        # pickled. The handle is pickled here with multiprocessing's own pickler: the factory around this object is
        # pickled by cloudpickle, which does not know how to pass the block's descriptor.
        return {"_raw": bytes(ForkingPickler.dumps(self._raw)), "_specs": self._specs, "_arrays": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._raw = pickle.loads(state["_raw"])

    def get(self) -> dict[str, npt.NDArray[Any]]:
        """The arrays: the originals in the parent, read-only views on the shared block in a worker."""
        if self._arrays is None:
            self._arrays = {name: self._view(name) for name in self._specs}
        return self._arrays


class SharedDataset:
    """A dataset shared with worker processes through one read-only memory block.

    :param dataset: the dataset built in the parent; :meth:`get` returns it there unchanged.
    """

    def __init__(self, dataset: Dataset) -> None:
        arrays = {f"market.{k}": v for k, v in _arrays_of(dataset.market).items()}
        arrays.update({k: v for k, v in _arrays_of(dataset).items()})
        self._block = SharedArrays(arrays)
        empty: dict[str, Any] = {k: np.empty(0) for k in arrays}
        market = dataclasses.replace(dataset.market, **{k.split(".", 1)[1]: v for k, v in empty.items() if "." in k})
        self._skeleton = dataclasses.replace(dataset, market=market, **{k: v for k, v in empty.items() if "." not in k})
        self._dataset: Dataset | None = dataset

    @property
    def nbytes(self) -> int:
        """Size of the shared block in bytes."""
        return self._block.nbytes

    def __getstate__(self) -> dict[str, Any]:
        return {"_block": self._block, "_skeleton": self._skeleton, "_dataset": None}

    def get(self) -> Dataset:
        """The dataset: the original in the parent, read-only views on the shared block in a worker."""
        if self._dataset is None:
            views: dict[str, Any] = self._block.get()
            market_views = {k.split(".", 1)[1]: v for k, v in views.items() if "." in k}
            market = dataclasses.replace(self._skeleton.market, **market_views)
            own = {k: v for k, v in views.items() if "." not in k}
            self._dataset = dataclasses.replace(self._skeleton, market=market, **own)
        return self._dataset


class SharedUniverse:
    """A :class:`~bot.data.universe.Universe` shared with worker processes: one block per symbol plus the clock.

    :param universe: built in the parent; :meth:`get` returns it there unchanged.
    """

    def __init__(self, universe: Universe) -> None:
        self._datasets = tuple(SharedDataset(d) for d in universe.datasets)
        self._index = SharedArrays({"clock_ms": universe.clock_ms, "row": universe.row})
        empty_row = np.empty((0, 0), np.int32)
        self._skeleton = dataclasses.replace(universe, datasets=(), clock_ms=np.empty(0, np.int64), row=empty_row)
        self._universe: Universe | None = universe

    @property
    def nbytes(self) -> int:
        """Size of the shared blocks in bytes."""
        return self._index.nbytes + sum(d.nbytes for d in self._datasets)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_universe": None}

    def get(self) -> Universe:
        """The universe: the original in the parent, read-only views on the shared blocks in a worker."""
        if self._universe is None:
            index = self._index.get()
            datasets = tuple(d.get() for d in self._datasets)
            self._universe = dataclasses.replace(
                self._skeleton, datasets=datasets, clock_ms=index["clock_ms"], row=index["row"]
            )
        return self._universe
