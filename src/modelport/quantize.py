"""TF.js weight quantization: which weights the --quantize-* flags select, the affine uint8 /
uint16 and float16 encodings exactly as TF.js decodes them, and the per-weight cost summary."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where values are: the command line's help needs none
    import numpy as np

from modelport.errors import UnsupportedError
from modelport.text import table_lines

QUANTIZED_DTYPES = ("float16", "uint8", "uint16")
_QMAX = {"uint8": 255, "uint16": 65535}
_STORAGE = {"uint8": "<u1", "uint16": "<u2", "float16": "<f2"}  # numpy dtypes


@dataclass(frozen=True)
class QuantizationPlan:
    """Per quantized dtype, the fnmatch patterns over weight names it applies to; None: the
    dtype is the fallback for every float32 weight no pattern selects."""

    rules: Mapping[str, tuple[str, ...] | None]

    def __post_init__(self) -> None:
        fallbacks = [dtype for dtype, patterns in self.rules.items() if patterns is None]
        if len(fallbacks) > 1:
            raise UnsupportedError(f"--quantize-{fallbacks[0]} and --quantize-{fallbacks[1]} "
                                   "are both given without patterns: only one dtype can "
                                   "quantize every weight no pattern selects")
        unknown = set(self.rules) - set(QUANTIZED_DTYPES)
        if unknown:
            raise UnsupportedError(f"cannot quantize to {', '.join(sorted(unknown))}; "
                                   f"choose from {', '.join(QUANTIZED_DTYPES)}")

    def dtype_for(self, name: str, dtype: str, values: np.ndarray | None = None
                  ) -> str | None:
        """The dtype weight `name` is stored as (None: unquantized). float32 weights are
        quantized as selected. int32 weights (their `values` given) only when a pattern names
        them (the fallback takes float32 weights alone, as tensorflowjs_converter quantizes
        nothing else), only to uint8 / uint16, and only where that is exact: TF.js rounds
        them back (tensorflowjs's quantize_weights does ints the same way), so their range
        must fit in the dtype's steps, else they stay int32."""
        if dtype == "int32":
            chosen = self._selected(name, fallback=False)
            return chosen if chosen in _QMAX and values is not None and ints_fit(
                values, chosen) else None
        if dtype != "float32":
            return None
        return self._selected(name)

    def _selected(self, name: str, fallback: bool = True) -> str | None:
        matched = [d for d, patterns in self.rules.items() if patterns is not None
                   and any(fnmatch.fnmatchcase(name, p) for p in patterns)]
        if len(matched) > 1:
            raise UnsupportedError(f"weight '{name}' matches the patterns of both "
                                   f"--quantize-{matched[0]} and --quantize-{matched[1]}")
        if matched or not fallback:
            return matched[0] if matched else None
        fallbacks = [d for d, patterns in self.rules.items() if patterns is None]
        return fallbacks[0] if fallbacks else None


def parse_flag(value: str | bool | None) -> tuple[str, ...] | None | bool:
    """A --quantize-* flag's value: False (not given, or 'False'), None (given without
    patterns, or 'True': the fallback), or the comma-separated patterns."""
    if value is None or value is False:
        return False
    if value is True or str(value).strip().lower() in ("true", "1", "yes"):
        return None
    if str(value).strip().lower() in ("false", "0", "no", ""):
        return False
    return tuple(p.strip() for p in str(value).split(",") if p.strip())


def plan_from_flags(flags: Mapping[str, str | bool | None]) -> QuantizationPlan | None:
    """The plan for {dtype: flag value} (see `parse_flag`); None when nothing is quantized."""
    rules = {}
    for dtype, value in flags.items():
        parsed = parse_flag(value)
        if parsed is not False:
            rules[dtype] = parsed
    return QuantizationPlan(rules) if rules else None


FLOAT16_MAX = 65504.0  # the largest finite float16


def ints_fit(values: np.ndarray, dtype: str) -> bool:
    """Whether integer `values` come back exactly from `dtype` (uint8 / uint16): their range
    spans at most its largest value, so a step is at most 1 and rounding restores each."""
    import numpy as np

    data = np.asarray(values)
    if data.size == 0:
        return False
    return int(data.max()) - int(data.min()) <= _QMAX[dtype]


class Quantizer:
    """One float32 weight quantized to `dtype` in bounded chunks, so no whole-tensor copy is
    ever held: `observe` every chunk of its values (the min/max pass), then `entry` (the
    manifest's `quantization`), then `encode` the same chunks again, in order. Chunk by chunk
    the arithmetic is elementwise what it is on the whole array, so the bytes are the same.
    The float64 and stored temporaries are allocated once, for the largest chunk, and reused:
    a fresh multi-MiB array per chunk costs a page fault per page (the kernel zeroes each)."""

    def __init__(self, dtype: str, name: str = "", original: str = "float32"):
        self.dtype = dtype
        self.name = name  # for the message when float16 cannot hold the values
        self.original = original  # int32 weights are quantized affinely and rounded back
        self._lows: list[float] = []
        self._highs: list[float] = []
        self._entry: dict[str, object] | None = None
        self._wide: np.ndarray | None = None  # float64 scratch
        self._stored: np.ndarray | None = None  # the encoded chunk
        self._narrow: np.ndarray | None = None  # float32 scratch

    def _buffers(self, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The float64 and float32 scratch and the stored buffer for `count` elements (grown
        when a chunk is larger than any before)."""
        import numpy as np

        if self._wide is None or self._wide.size < count:
            self._wide = np.empty(count, np.float64)
            self._narrow = np.empty(count, np.float32)
            self._stored = np.empty(count, _STORAGE[self.dtype])
        assert self._narrow is not None and self._stored is not None
        return self._wide[:count], self._narrow[:count], self._stored[:count]

    def observe(self, values: np.ndarray) -> None:
        """One chunk of the weight's float32 values, before any is encoded."""
        import numpy as np

        if not values.size:
            return
        if self.dtype == "float16":
            largest = float(np.maximum(values.max(), -values.min()))
            if not math.isfinite(largest):  # an infinity or NaN: the finite values' largest
                finite = values[np.isfinite(values)]
                if not finite.size:
                    return
                largest = float(np.max(np.abs(finite)))
            self._highs.append(largest)
        else:
            self._lows.append(float(values.min()))
            self._highs.append(float(values.max()))

    def entry(self) -> dict[str, object]:
        """The manifest's `quantization` entry, once every chunk has been observed."""
        if self.dtype == "float16":
            largest = _reduced("max", self._highs)
            if largest > FLOAT16_MAX:
                raise UnsupportedError(
                    f"weight '{self.name}' has values up to {largest:g}, beyond float16's "
                    f"+-{FLOAT16_MAX:g}: float16 would store them as infinity. Leave it out "
                    "of --quantize-float16's patterns (e.g. '*/kernel'), or quantize it with "
                    "--quantize-uint16")
            self._entry = {"dtype": "float16", "original_dtype": "float32"}
            return self._entry
        qmax = _QMAX[self.dtype]
        low, high = _reduced("min", self._lows), _reduced("max", self._highs)
        if low == high:
            self._entry = {"dtype": self.dtype, "min": low, "scale": 1.0,
                           "original_dtype": self.original}
            return self._entry
        scale = (high - low) / qmax
        if low <= 0 <= high:
            # Nudge the range so that 0 is exactly representable (zero padding stays zero).
            import numpy as np

            zero_point = float(np.round(-low / scale))
            low = -zero_point * scale
            high = qmax * scale + low
        self._entry = {"dtype": self.dtype, "min": low, "scale": scale, "high": high,
                       "original_dtype": self.original}
        return {k: v for k, v in self._entry.items() if k != "high"}

    def encode(self, values: np.ndarray) -> np.ndarray:
        """The stored values of one chunk of float32 values, flat; the array is reused by the
        next call, so its bytes must be written (and `error` asked) before then."""
        import numpy as np

        assert self._entry is not None, "entry() comes before encode()"
        flat = values.reshape(-1)
        wide, _, stored = self._buffers(flat.size)
        if self.dtype == "float16":
            np.copyto(stored, flat, casting="unsafe")
            return stored
        if "high" not in self._entry:  # every value the same
            stored.fill(0)
            return stored
        low, scale = float(self._entry["min"]), float(self._entry["scale"])  # type: ignore[arg-type]
        # In float64 and in this order (clip, - min, / scale, round half to even), as ever:
        # the stored bytes depend on every rounding step.
        np.copyto(wide, flat, casting="unsafe")
        np.clip(wide, low, float(self._entry["high"]), out=wide)  # type: ignore[arg-type]
        np.subtract(wide, low, out=wide)
        np.divide(wide, scale, out=wide)
        np.rint(wide, out=wide)
        np.copyto(stored, wide, casting="unsafe")
        return stored

    def error(self, values: np.ndarray, stored: np.ndarray) -> float:
        """The largest absolute error of one encoded chunk (0 for an empty one): what
        max|float64(dequantized) - float64(values)| is, found mostly in float32. Rounding is
        monotonic, so the largest float32 |difference| belongs to the largest exact one; only
        the elements that reach it are computed again in float64, and 0 in float32 is exactly
        0 (a difference of two float32 values is a multiple of their smallest step)."""
        if not values.size:
            return 0.0
        import numpy as np

        flat = values.reshape(-1)
        wide, narrow, _ = self._buffers(flat.size)
        if self.original != "float32":  # int32 weights: small, and rounded back
            np.copyto(wide, dequantize(stored, self._entry or {}, self.original))
            np.subtract(wide, flat, out=wide)
            np.abs(wide, out=wide)
            return float(wide.max())
        if self.dtype == "float16":
            np.copyto(narrow, stored)  # float16 widens exactly
        else:
            # dequantize's arithmetic (q * scale + min in float64, stored as float32), pass by
            # pass in the scratch buffers: whole-array temporaries would be allocated per chunk.
            entry = self._entry or {}
            np.copyto(wide, stored)
            np.multiply(wide, float(entry["scale"]), out=wide)  # type: ignore[arg-type]
            np.add(wide, float(entry["min"]), out=wide)  # type: ignore[arg-type]
            np.copyto(narrow, wide, casting="unsafe")
        np.subtract(narrow, flat, out=narrow)
        np.abs(narrow, out=narrow)
        largest = narrow.max()
        if not largest or largest != largest:  # all exact, or a NaN (NaN in float64 too)
            return float(largest)
        reaching = np.flatnonzero(narrow == largest)
        restored = dequantize(stored[reaching], self._entry or {}, self.original)
        exact = restored.astype(np.float64) - flat[reaching].astype(np.float64)
        return float(np.max(np.abs(exact)))


def _reduced(kind: str, found: list[float]) -> float:
    """The chunks' "min" or "max" (a NaN in any chunk makes it NaN, as over the whole array);
    0 when there were no values."""
    if not found:
        return 0.0
    import numpy as np

    values = np.array(found, dtype=np.float64)
    return float(values.min() if kind == "min" else values.max())


def dequantize(stored: np.ndarray, quantization: Mapping[str, object], dtype: str
               ) -> np.ndarray:
    """What TF.js's tf.io.decodeWeights makes of stored values: `q*scale + min` computed in
    float64 and stored as float32, or rounded half up (Math.round) for int32; float16 widened."""
    import numpy as np

    if quantization["dtype"] == "float16":
        return stored.astype(np.float32)
    scale, low = float(quantization["scale"]), float(quantization["min"])  # type: ignore[arg-type]
    values = stored.astype(np.float64) * scale + low
    if dtype == "int32":
        floor = np.floor(values)
        return (floor + (values - floor >= 0.5)).astype(np.int32)
    return values.astype(np.float32)


def storage_dtype(quantized: str) -> np.dtype:
    import numpy as np

    return np.dtype(_STORAGE[quantized])


@dataclass(frozen=True)
class QuantizedWeight:
    """What quantizing one weight cost: bytes before and after, largest absolute error."""

    name: str
    dtype: str
    bytes_before: int
    bytes_after: int
    max_abs_error: float


def render_summary(rows: list[QuantizedWeight]) -> str:
    """The table printed after a quantized conversion (every weight written, totals)."""
    total_before = sum(r.bytes_before for r in rows)
    total_after = sum(r.bytes_after for r in rows)
    header = ("weight", "stored as", "bytes", "after", "max abs error")
    lines = ["quantization:", *table_lines([header] + [
        (r.name, r.dtype, f"{r.bytes_before:,}", f"{r.bytes_after:,}",
         f"{r.max_abs_error:.3g}" if r.dtype in QUANTIZED_DTYPES else "-") for r in rows],
        right=(2, 3, 4))]
    ratio = total_after / total_before if total_before else 1.0
    lines.append(f"  total: {total_before:,} bytes -> {total_after:,} bytes ({ratio:.0%})")
    return "\n".join(lines)
