"""basic-pitch 0.4.0's own layer classes, for --custom-objects: the package's modules
(basic_pitch/nn.py, layers/signal.py, layers/nnaudio.py, from the wheel the corpus fetched)
run as they ship. Each import of this module runs them afresh, so modelport's import for each
Keras (`tensorflow.keras` being that Keras) gets classes of that Keras. The package's
__init__.py is not run (it probes optional runtimes such as coremltools): a stand-in package
module whose path is the cached folder lets their `from basic_pitch... import` lines work.

Two of the classes cannot be built from the configs they write (the package loads its model
with tf.saved_model.load, never from a config): HarmonicStacking's and CQT2010v2's __init__
take none of the name / trainable / dtype every layer config has, and CQT2010v2 writes
`sample_rate` for its `sr` argument. Each class is therefore given to Keras as a subclass
that takes its own config and otherwise is the package's class.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fetch  # noqa: E402

ROOT = fetch.cache_dir() / "basic-pitch-nmp-savedmodel" / "basic_pitch"
MODULES = ("nn.py", "layers/signal.py", "layers/nnaudio.py")


def _package(name: str, folder: Path) -> None:
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [str(folder)]
        sys.modules[name] = package


def _run(relative: str) -> types.ModuleType:
    name = f"{__name__}.{relative.removesuffix('.py').replace('/', '.')}"
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# Config keys that name another __init__ argument (CQT2010v2.get_config: "sample_rate").
_RENAMED = {"sample_rate": "sr"}


def _from_its_config(cls: type) -> type:
    """`cls`, built from the config its get_config writes."""
    takes = inspect.signature(cls.__init__).parameters

    def __init__(self, name=None, trainable=True, dtype=None, **config):  # noqa: N807
        config = {_RENAMED.get(k, k) if _RENAMED.get(k) in takes else k: v
                  for k, v in config.items()}
        config.update({k: v for k, v in (("name", name), ("trainable", trainable))
                       if k in takes})
        cls.__init__(self, **config)
        if name is not None and "name" not in takes:
            # tf_keras keeps a layer's name in _name (name is a read-only property).
            if isinstance(getattr(type(self), "name", None), property):
                self._name = name
            else:
                self.name = name
        self.trainable = trainable

    return type(cls.__name__, (cls,), {"__init__": __init__, "__module__": cls.__module__})


_package("basic_pitch", ROOT)
_package("basic_pitch.layers", ROOT / "layers")
custom_objects = {
    name: _from_its_config(value)
    for module in map(_run, MODULES)
    for name, value in vars(module).items()
    if inspect.isclass(value) and value.__module__ == module.__name__
    and hasattr(value, "call")
}
