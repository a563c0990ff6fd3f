"""TensorFlow-backed conversions (extra `modelport[tensorflow]`): TensorFlow is imported only
inside these modules, and only when such a conversion runs."""
