"""Builds, with tf_keras, the architectures of the corpus's weights-only entries from each
package's own architecture code (a companion file), and a reference full model loaded the way
the package loads its weights: OUT/<id>/arch.json and OUT/<id>/reference.h5.

This imports the packages' architecture modules (their code, shipped beside the weights);
modelport itself never does. Usage: python tests/realworld/architectures.py OUT [ID ...]
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import sys
import types
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, str(Path(__file__).parent))
import fetch  # noqa: E402


def _load(path: Path, name: str, package: str | None = None) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    if package:
        mod.__package__ = package
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _keras2():
    # The packages import `tensorflow.keras` (or bare `keras`): with TF_USE_LEGACY_KERAS=1 the
    # former is tf_keras; the latter is pointed at tf_keras here, as those packages meant it.
    import tf_keras

    sys.modules["keras"] = tf_keras
    return tf_keras


def deepcut(root: Path):
    _keras2()
    mod = _load(root / "deepcut/model.py", "deepcut_model")
    model = mod.get_convo_nn2()
    model.load_weights(str(root / "deepcut/weight/cnn_without_ne_ab.h5"))
    return model, None


def textgenrnn(root: Path):
    keras = _keras2()
    pkg = root / "textgenrnn-2.0.0/textgenrnn"
    sys.modules["textgenrnn_pkg"] = types.ModuleType("textgenrnn_pkg")
    sys.modules["textgenrnn_pkg"].__path__ = [str(pkg)]
    awa = _load(pkg / "AttentionWeightedAverage.py", "textgenrnn_pkg.AttentionWeightedAverage")
    mod = _load(pkg / "model.py", "textgenrnn_pkg.model", package="textgenrnn_pkg")
    vocab = json.loads((pkg / "textgenrnn_vocab.json").read_text())
    # textgenrnn.textgenrnn.config's defaults, which the shipped weights were trained with.
    cfg = {"rnn_layers": 2, "rnn_size": 128, "rnn_bidirectional": False, "max_length": 40,
           "max_words": 10000, "dim_embeddings": 100, "word_level": False, "single_text": False}
    model = mod.textgenrnn_model(len(vocab) + 1, cfg,
                                 weights_path=str(pkg / "textgenrnn_weights.hdf5"),
                                 optimizer=keras.optimizers.Adam())
    return model, pkg / "AttentionWeightedAverage.py" if awa else None


def chars2vec(root: Path):
    _keras2()
    pkg = root / "chars2vec-0.1.7/chars2vec"
    mod = _load(pkg / "model.py", "chars2vec_model")
    dim, char_to_ix = pickle.loads((pkg / "trained_models/eng_50/model.pkl").read_bytes())
    c2v = mod.Chars2Vec(dim, char_to_ix)
    c2v.embedding_model.load_weights(str(pkg / "trained_models/eng_50/weights.h5"))
    return c2v.embedding_model, None


BUILDERS = {
    "deepcut-cnn-weights-k202": deepcut,
    "textgenrnn-weights-k215": textgenrnn,
    "chars2vec-eng50-weights-k220": chars2vec,
}


def build(entry_id: str, out: Path) -> Path:
    """Writes out/<id>/arch.json, reference.h5 (and custom_objects.py when needed)."""
    model_path = fetch.ensure(entry_id)
    root = fetch.cache_dir() / entry_id
    model, custom = BUILDERS[entry_id](root)
    dest = out / entry_id
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "arch.json").write_text(model.to_json())
    model.save(str(dest / "reference.h5"))
    if custom:
        # The package's own module, as it ships: it is written against `tensorflow.keras`,
        # which verify resolves to each runtime's Keras when it imports it.
        (dest / "custom_objects.py").write_bytes(custom.read_bytes())
    print(entry_id, model_path, dest)
    return dest


if __name__ == "__main__":
    target = Path(sys.argv[1])
    for eid in sys.argv[2:] or list(BUILDERS):
        build(eid, target)
