"""Rebuilds the bundled example: a small CNN trained with tf_keras on scikit-learn's digits
data set, converted by modelport to the TF.js layers model in examples/digits/.

Run with the test environment (`make test` creates it): .venv/bin/python examples/build_digits.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tf_keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import modelport  # noqa: E402

HERE = Path(__file__).parent


def main() -> None:
    tf_keras.utils.set_random_seed(0)
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")
    y = digits.target.astype("int32")
    layers = tf_keras.layers
    model = tf_keras.Sequential(
        [
            layers.Reshape((8, 8, 1), input_shape=(8, 8), name="pixels"),
            layers.Conv2D(8, 3, activation="relu", padding="same", name="conv"),
            layers.BatchNormalization(name="norm"),
            layers.MaxPooling2D(name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dense(32, activation="relu", name="hidden"),
            layers.Dropout(0.2, name="dropout"),
            layers.Dense(10, activation="softmax", name="digit"),
        ],
        name="digits_cnn",
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1500], y[:1500], epochs=15, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x[1500:], y[1500:], verbose=0)
    print(f"held-out accuracy: {accuracy:.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        h5 = Path(tmp) / "digits.h5"
        model.save(h5, include_optimizer=False)
        modelport.convert(h5, HERE / "digits", overwrite=True)
    np.savez(HERE / "digits" / "sample.npz", x=x[1500:1510], y=y[1500:1510],
             probabilities=model.predict(x[1500:1510], verbose=0))


if __name__ == "__main__":
    main()
