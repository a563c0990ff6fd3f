"""Keras model configs: dialect translation (Keras 2, Keras 3, TF.js) and weight layouts."""
