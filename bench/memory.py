"""Peak memory of converting a large model (.h5 -> TF.js -> .h5) against its size: weights are
streamed one tensor at a time, so the peak should follow the largest tensor, not the model.
The baseline is modelport converting a tiny model in the same script."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from modelport.formats import keras_h5  # noqa: E402
from modelport.model import Model, Weight  # noqa: E402

from common import measure  # noqa: E402


def dense_stack(layers: int, width: int) -> Model:
    """A Sequential of Dense layers whose weights are generated when the writer asks."""
    config_layers = [{"class_name": "InputLayer", "config": {
        "batch_input_shape": [None, width], "dtype": "float32", "name": "x"}}]
    weights: dict[str, list[Weight]] = {}
    for index in range(layers):
        name = f"dense_{index}"
        config_layers.append({"class_name": "Dense", "config": {
            "name": name, "units": width, "activation": "linear", "use_bias": True,
            "dtype": "float32"}})

        def kernel(seed: int = index) -> np.ndarray:
            return np.random.default_rng(seed).standard_normal((width, width), "float32")

        weights[name] = [
            Weight(f"{name}/kernel", (width, width), "float32", kernel),
            Weight(f"{name}/bias", (width,), "float32",
                   lambda: np.zeros(width, "float32")),
        ]
    config = {"class_name": "Sequential", "config": {"name": "big", "layers": config_layers}}
    return Model(config=config, weights=weights)


def main() -> None:
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for label, layers, width in (("tiny (baseline)", 1, 8), ("large", 8, 4096)):
            h5 = Path(tmp) / f"{layers}x{width}.h5"
            keras_h5.write(dense_stack(layers, width), h5)
            size = h5.stat().st_size / 2**20
            largest = width * width * 4 / 2**20
            to_web = [py, "-m", "modelport", "convert", str(h5), f"{tmp}/web{layers}",
                      "--overwrite"]
            back = [py, "-m", "modelport", "convert", f"{tmp}/web{layers}",
                    f"{tmp}/back{layers}.h5", "--overwrite"]
            wall1, rss1 = measure(to_web, runs=3)
            wall2, rss2 = measure(back, runs=3)
            rows.append((label, size, largest, wall1, rss1, wall2, rss2))
        base = rows[0]
        for label, size, largest, wall1, rss1, wall2, rss2 in rows:
            print(f"{label:<16} model {size:8.1f} MiB, largest tensor {largest:6.1f} MiB | "
                  f".h5->TF.js {wall1:5.2f} s, peak {rss1:6.1f} MiB (+{rss1 - base[4]:6.1f}) | "
                  f"TF.js->.h5 {wall2:5.2f} s, peak {rss2:6.1f} MiB (+{rss2 - base[6]:6.1f})")


if __name__ == "__main__":
    main()
