"""Seed inputs for the fuzzer: small real models saved by tf_keras, Keras 3, TF.js and modelport
in every format modelport reads, built once into a cache folder (`python -m fuzz.seeds DIR`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = Path(__file__).resolve().parent / ".seeds"
# Bump when the seed set changes, so an old cache is rebuilt rather than silently reused.
SEED_VERSION = 2

# Zoo models that cover the reader paths (Sequential, functional, multi-IO, RNNs, nesting).
MODELS = ("mlp", "cnn", "multi_io_shared", "embedding_lstm", "layer_norm", "nested_sequential",
          "gru_reset_after")
TFJS_UNSUPPORTED = ("gru_reset_after",)  # TF.js has no GRU reset_after=True
SAVED_MODELS = ("mlp", "cnn")  # SavedModel export is slow; two are enough for its readers.

# The Lambda's bytecode creates the file named by $MODELPORT_FUZZ_MARKER when run: a reader
# that executes model code betrays itself by that file appearing.
MARKER_ENV = "MODELPORT_FUZZ_MARKER"


def seed_dir() -> Path:
    """The seed cache: $MODELPORT_FUZZ_DIR/seeds, else fuzz/.seeds."""
    base = os.environ.get("MODELPORT_FUZZ_DIR")
    return Path(base) / "seeds" if base else DEFAULT_DIR


def load_seeds(directory: Path | None = None) -> list[dict]:
    """The seeds in the cache, sorted by name (building them first if the cache is absent)."""
    directory = directory or seed_dir()
    stamp = directory / "VERSION"
    if not stamp.is_file() or stamp.read_text().strip() != str(SEED_VERSION):
        build_in_subprocess(directory)
    seeds = []
    for meta in sorted(directory.glob("*/seed.json")):
        info = json.loads(meta.read_text())
        info["name"] = meta.parent.name
        info["root"] = str(meta.parent / "in")
        seeds.append(info)
    return seeds


def build_in_subprocess(directory: Path) -> None:
    """Build the seeds in a fresh interpreter: TensorFlow must never be imported into the
    fuzzing parent, whose forked children would inherit its threads."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT), env.get("PYTHONPATH", "")])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    subprocess.run([sys.executable, "-m", "fuzz.seeds", str(directory)], check=True, env=env,
                   timeout=1800)


def _save(directory: Path, name: str, fmt: str, entry: str, build, architecture: str | None = None,
          **extra) -> None:
    target = directory / name / "in"
    if target.parent.exists():
        shutil.rmtree(target.parent)
    target.mkdir(parents=True)
    build(target)
    meta = {"format": fmt, "entry": entry, "architecture": architecture, **extra}
    (target.parent / "seed.json").write_text(json.dumps(meta, indent=1))
    print(f"seed {name}: {fmt}", flush=True)


def _marker_lambda(keras):
    # A lambda (not a def) so both Keras versions store it as marshalled bytecode.
    return keras.layers.Lambda(
        lambda x: x + 0.0 * len(open(__import__("os").environ.get(  # noqa: SIM115
            "MODELPORT_FUZZ_MARKER", "/dev/null"), "a").name), name="marker")


def _lambda_model(keras):
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3),
                              _marker_lambda(keras)])
    return model


def build(directory: Path) -> None:
    """Write every seed into `directory` (run in a process that may import TensorFlow)."""
    os.environ[MARKER_ENV] = str(directory / "build-marker")
    import keras as keras3
    import tf_keras

    import modelport

    import zoo

    directory.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        k2 = zoo.build(name, tf_keras)
        arch2 = k2.to_json()

        def tf_keras_h5(t, m=k2):
            m.save(str(t / "m.h5"))

        def tf_keras_weights(t, m=k2, a=arch2):
            m.save_weights(str(t / "w.h5"))
            (t / "a.json").write_text(a)

        def tf_keras_ckpt(t, m=k2, a=arch2):
            (t / "ckpt").mkdir()
            m.save_weights(str(t / "ckpt" / "ckpt"))
            (t / "a.json").write_text(a)

        def tf_keras_json(t, a=arch2, m=k2):
            (t / "a.json").write_text(a)
            m.save_weights(str(t / "w.h5"))

        def tfjs_layers(t, m=k2, src=None):
            m.save(str(t / "src.h5"))
            modelport.convert(t / "src.h5", t / "web", shard_size=1024)
            (t / "src.h5").unlink()

        def tfjs_weights(t, m=k2, a=arch2):
            m.save(str(t / "src.h5"))
            modelport.convert(t / "src.h5", t / "tfjsw", weights_only=True)
            (t / "src.h5").unlink()
            (t / "a.json").write_text(a)

        _save(directory, f"{name}-k2-h5", "keras_h5", "m.h5", tf_keras_h5)
        _save(directory, f"{name}-k2-weights", "keras_weights_h5", "w.h5", tf_keras_weights,
              "a.json")
        _save(directory, f"{name}-k2-ckpt", "tf_checkpoint", "ckpt", tf_keras_ckpt, "a.json")
        _save(directory, f"{name}-k2-json", "keras_json", "a.json", tf_keras_json,
              weights="w.h5")
        if name not in TFJS_UNSUPPORTED:
            _save(directory, f"{name}-tfjs", "tfjs_layers_model", "web/model.json", tfjs_layers)
            manifest = "tfjsw/weights_manifest.json"
            _save(directory, f"{name}-tfjsw", "tfjs_weights", manifest, tfjs_weights, "a.json")

        k3 = zoo.build(name, keras3)
        arch3 = k3.to_json()

        def keras_v3(t, m=k3):
            m.save(str(t / "m.keras"))

        def keras_v3_weights(t, m=k3, a=arch3):
            m.save_weights(str(t / "m.weights.h5"))
            (t / "a.json").write_text(a)

        def keras_v3_sharded(t, m=k3, a=arch3):
            # Keras 3 takes the shard size in GB; this gives several shards per model.
            m.save_weights(str(t / "s.weights.json"), max_shard_size=0.0005)
            (t / "a.json").write_text(a)

        def keras3_json(t, a=arch3, m=k3):
            (t / "a.json").write_text(a)
            m.save_weights(str(t / "m.weights.h5"))

        _save(directory, f"{name}-k3-keras", "keras_v3", "m.keras", keras_v3)
        _save(directory, f"{name}-k3-weights", "keras_v3_weights", "m.weights.h5",
              keras_v3_weights, "a.json")
        _save(directory, f"{name}-k3-sharded", "keras_v3_weights", "s.weights.json",
              keras_v3_sharded, "a.json")
        _save(directory, f"{name}-k3-json", "keras_json", "a.json", keras3_json,
              weights="m.weights.h5")

    for name in SAVED_MODELS:
        k2 = zoo.build(name, tf_keras)

        def saved(t, m=k2):
            m.save(str(t / "sm"), save_format="tf")

        def graph(t, m=k2):
            m.save(str(t / "sm"), save_format="tf")
            modelport.convert(t / "sm", t / "graph", to_format="tfjs_graph_model")
            shutil.rmtree(t / "sm")

        _save(directory, f"{name}-k2-savedmodel", "tf_saved_model", "sm", saved)
        try:
            _save(directory, f"{name}-graph", "tfjs_graph_model", "graph/model.json", graph)
        except (ImportError, modelport.MissingExtraError) as exc:  # graph models need TF
            shutil.rmtree(directory / f"{name}-graph", ignore_errors=True)
            print(f"graph-model seed skipped: {exc}", flush=True)

    def digits(t):
        shutil.copytree(ROOT / "examples" / "digits", t / "digits")
        (t / "digits" / "sample.npz").unlink()

    _save(directory, "digits-tfjs", "tfjs_layers_model", "digits/model.json", digits)

    # Models whose Lambda would create the marker file if any reader ran its bytecode.
    lam2 = _lambda_model(tf_keras)
    lam3 = _lambda_model(keras3)
    _save(directory, "lambda-k2-h5", "keras_h5", "m.h5", lambda t: lam2.save(str(t / "m.h5")),
          lambda_marker=True)
    _save(directory, "lambda-k2-json", "keras_json", "a.json",
          lambda t: (t / "a.json").write_text(lam2.to_json()), lambda_marker=True)
    _save(directory, "lambda-k3-keras", "keras_v3", "m.keras",
          lambda t: lam3.save(str(t / "m.keras")), lambda_marker=True)

    _tfjs_native(directory)
    (directory / "VERSION").write_text(str(SEED_VERSION))


def _tfjs_native(directory: Path) -> None:
    """Models saved by tfjs-layers itself, when the test suite's node modules are installed."""
    if not (ROOT / "tests" / "node" / "node_modules").is_dir() or not shutil.which("node"):
        print("no node modules: TF.js-native seeds skipped", flush=True)
        return
    import tfjs

    scratch = directory / "_tfjs_native"
    try:
        models = tfjs.make_tfjs_models(scratch)
    except Exception as exc:  # a seed source missing must not stop the others
        print(f"TF.js-native seeds skipped: {exc}", flush=True)
        return
    for name, (model_dir, _inputs, _outputs) in sorted(models.items())[:3]:
        def copy(t, src=model_dir):
            shutil.copytree(src, t / "js", ignore=shutil.ignore_patterns("io.json"))

        _save(directory, f"js-{name}", "tfjs_layers_model", "js/model.json", copy)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else seed_dir())
