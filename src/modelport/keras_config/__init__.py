"""Keras model configs, bottom up: entries (config vocabulary) <- graph (calls, layer order) <-
layer_records (one record per layer class: its weights) <- layouts, shapes, initializers; and
dialects, keras3, targets, inline, which translate, check and reshape whole configs."""
