"""Translation of Keras model configs between dialects: Keras 3 and TF.js files are read into
the canonical Keras 2 dialect, and Keras 2 output is rendered so that tf_keras, Keras 3 and
TF.js all accept it."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from modelport.errors import UnsupportedError
from modelport.keras_config import ops
from modelport.keras_config.entries import (
    KERAS3_EXPORTED_NAMES,
    has_builtin_node,
    is_keras3_op,
    is_model_entry,
)
from modelport.keras_config.operations import keras3_call_to_canonical
from modelport.keras_config.structure import check_model_config

KERAS2_VERSION = "2.15.0"  # what Keras 2 dialect output claims when the source was not Keras 2

# Per-class arguments Keras 3 has and Keras 2 lacks, with the value that means "as Keras 2".
_KERAS3_ONLY_DEFAULTS: dict[str, dict[str, Any]] = {
    "*": {"quantization_config": None},
    "BatchNormalization": {
        "synchronized": False, "renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99
    },
    "LayerNormalization": {"rms_scaling": False},
    "MultiHeadAttention": {"use_gate": False, "sliding_window": None, "seed": None},
    "Attention": {"seed": None},
    "RandomContrast": {"value_range": [0, 255], "data_format": "channels_last"},
    "StringLookup": {"oov_method": "floormod", "salt": None},
    "IntegerLookup": {"oov_method": "floormod", "salt": None},
    "Resizing": {"data_format": "channels_last", "pad_to_aspect_ratio": False,
                 "fill_mode": "constant", "fill_value": 0.0, "antialias": False},
    **{cls: {"data_format": "channels_last"} for cls in (
        "ZeroPadding1D", "CenterCrop", "RandomFlip", "RandomRotation", "RandomTranslation",
        "RandomZoom", "RandomCrop", "RandomBrightness")},
}
# Arguments both Keras write only when set; a default value is dropped.
_DROPPED_AT_DEFAULT = {"zero_output_for_mask": False}
# Arguments Keras 2 writes that Keras 3 rejects, dropped from portable output at these values.
KERAS2_ONLY_DEFAULTS: dict[str, dict[str, Any]] = {
    "LSTM": {"time_major": False},
    "GRU": {"time_major": False},
    "SimpleRNN": {"time_major": False},
    "RNN": {"time_major": False},
    "Conv1DTranspose": {"groups": 1},
    "Conv2DTranspose": {"groups": 1},
    "Conv3DTranspose": {"groups": 1},
    "DepthwiseConv1D": {"groups": 1},
    "DepthwiseConv2D": {"groups": 1},
    "SeparableConv1D": {"groups": 1},
    "SeparableConv2D": {"groups": 1},
    "Embedding": {"input_length": None},
    **{cls: {"time_major": False} for cls in ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")},
    # Keras 3 takes no `trainable` argument for these.
    "Discretization": {"trainable": True},
    **{cls: {"trainable": True, "noise_shape": None} for cls in (
        "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")},
}
# The random-number generator kind of tf_keras's augmentation layers: Keras 3's generators
# are stateful, which is what these values mean.
KERAS2_RNG_TYPES = (None, "stateful")
# Arguments some Keras 2 writers include that TF.js refuses and Keras ignores for the class.
IGNORED_BY_KERAS = {
    cls: ("kernel_initializer", "kernel_regularizer", "kernel_constraint")
    for cls in ("SeparableConv1D", "SeparableConv2D")
}
_RNN_CLASSES = frozenset({"LSTM", "GRU", "SimpleRNN", "RNN", "ConvLSTM1D", "ConvLSTM2D",
                          "ConvLSTM3D"})
# Positional call arguments after the first, by name, for layers Keras 3 calls with several.
_POSITIONAL_CALL_ARGS = {"MultiHeadAttention": ["query", "value", "key"],
                         "GroupQueryAttention": ["query", "value", "key"]}
# Keras 3 class names -> the legacy .h5 (canonical) names, where they differ.
_LEGACY_NAMES = {exported: legacy for legacy, exported in KERAS3_EXPORTED_NAMES.items()}


def _is_keras3_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def detect_dialect(model_config: dict[str, Any]) -> str:
    """'keras3' when the config uses any Keras 3 form, else 'keras2'."""
    found = False

    def visit(value: Any) -> None:
        nonlocal found
        if found:
            return
        if isinstance(value, dict):
            if "batch_shape" in value or value.get("class_name") in (
                "DTypePolicy", "__keras_tensor__", "FloatDTypePolicy"
            ):
                found = True
                return
            nodes = value.get("inbound_nodes")
            if isinstance(nodes, list) and any(isinstance(n, dict) for n in nodes):
                found = True
                return
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(model_config)
    return "keras3" if found else "keras2"


# ---------------------------------------------------------------- reading: Keras 3 -> canonical

def policy_name(dtype: Any) -> Any:
    if isinstance(dtype, dict) and dtype.get("class_name") in (
        "DTypePolicy", "FloatDTypePolicy", "Policy"
    ):
        return dtype.get("config", {}).get("name", "float32")
    return dtype


def _drop_keras3_object_args(value: Any) -> Any:
    """Initializer/regularizer/constraint objects: drop arguments only Keras 3 has."""
    if isinstance(value, dict):
        if "class_name" in value and isinstance(value.get("config"), dict) and str(
            value.get("module") or ""
        ).startswith("keras"):
            inner = {
                k: v for k, v in value["config"].items()
                if not (k in ("input_axes", "output_axes") and v is None)
            }
            # Keras 3 marks objects shared in memory; the mark carries no meaning in a file.
            return {k: v for k, v in value.items() if k != "shared_object_id"} | {
                "config": inner}
        return {k: _drop_keras3_object_args(v) for k, v in value.items()
                if k != "shared_object_id"}
    return value


def _keras3_layer_config(class_name: str, cfg: dict[str, Any], warn: Callable[[str], None]
                         ) -> dict[str, Any]:
    cfg = dict(cfg)
    name = cfg.get("name", class_name)
    if "dtype" in cfg:
        cfg["dtype"] = policy_name(cfg["dtype"])
    if "batch_shape" in cfg:
        cfg["batch_input_shape"] = cfg.pop("batch_shape")
    for key, default in {**_KERAS3_ONLY_DEFAULTS["*"],
                         **_KERAS3_ONLY_DEFAULTS.get(class_name, {})}.items():
        if key in cfg:
            value = cfg.pop(key)
            # renorm_momentum means nothing unless renorm is on, which is refused anyway.
            if value != default and key != "renorm_momentum":
                raise UnsupportedError(
                    f"layer '{name}' ({class_name}) sets {key}={value!r}, which Keras 2 and "
                    "TF.js cannot represent"
                )
    for key, default in _DROPPED_AT_DEFAULT.items():
        if key in cfg and cfg[key] == default:
            del cfg[key]
    if class_name in _RNN_CLASSES and cfg.get("seed") is not None:
        warn(f"layer '{name}': the dropout seed is not kept (Keras 2 RNNs have no seed)")
    if class_name in _RNN_CLASSES:
        cfg.pop("seed", None)
    # Keras 3 writes its float policy for these; tf_keras requires the input dtype.
    if class_name == "TextVectorization" and cfg.get("dtype") == "float32":
        cfg["dtype"] = "string"
    if class_name in ("IntegerLookup", "StringLookup") and cfg.get("dtype") == "float32" and (
        cfg.get("output_mode", "int") == "int"
    ):
        cfg["dtype"] = "int64"
    if class_name == "LeakyReLU" and "negative_slope" in cfg:
        cfg["alpha"] = cfg.pop("negative_slope")
    if class_name == "Lambda":
        _keras2_lambda(cfg)
    if class_name == "MultiHeadAttention":
        # tf_keras requires these keys; None lets it build the layer when it is called.
        for key in ("query_shape", "key_shape", "value_shape"):
            cfg.setdefault(key, None)
    for key, value in list(cfg.items()):
        if key in ("layer", "backward_layer", "cell") and isinstance(value, dict):
            cfg[key] = _keras3_layer_entry(value, warn)
        elif key == "cells" and isinstance(value, list):
            cfg[key] = [_keras3_layer_entry(v, warn) if isinstance(v, dict) else v
                        for v in value]
        elif key != "layers":
            cfg[key] = _drop_keras3_object_args(value)
    if class_name == "Bidirectional":
        _collapse_mirrored_backward_layer(cfg)
    return cfg


def _keras2_function(value: Any) -> tuple[Any, str, str | None] | None:
    if isinstance(value, dict) and value.get("class_name") == "__lambda__":
        inner = value.get("config") or {}
        return [inner.get("code"), inner.get("defaults"), inner.get("closure")], "lambda", None
    if isinstance(value, dict) and value.get("class_name") == "function":
        return value.get("config"), "function", value.get("module")
    return None


def _keras2_lambda(cfg: dict[str, Any]) -> None:
    """Keras 3 spells a Lambda's function as a `__lambda__` object, Keras 2 as
    [code, defaults, closure] + function_type. The bytecode is carried as data, never run."""
    for key, type_key, module_key in (("function", "function_type", "module"),
                                      ("output_shape", "output_shape_type",
                                       "output_shape_module")):
        if key not in cfg:
            continue
        translated = _keras2_function(cfg[key])
        if translated is None:
            cfg[type_key] = "raw"
            cfg[module_key] = None
            continue
        cfg[key], cfg[type_key], cfg[module_key] = translated
    # tf_keras reads these keys unconditionally.
    cfg.setdefault("output_shape", None)
    cfg.setdefault("output_shape_type", "raw")
    cfg.setdefault("output_shape_module", None)


def _collapse_mirrored_backward_layer(cfg: dict[str, Any]) -> None:
    """Keras 3 always writes the backward layer and names the forward one 'forward_x'; Keras 2
    names the wrapped layer 'x' and derives both. Restore that form when they mirror."""
    forward, backward = cfg.get("layer"), cfg.get("backward_layer")
    if not forward or not backward:
        return
    fname = forward["config"].get("name", "")
    bname = backward["config"].get("name", "")
    if not (fname.startswith("forward_") and bname == "backward_" + fname[len("forward_"):]):
        return
    base = fname[len("forward_"):]
    mirrored = dict(backward["config"], name=fname, go_backwards=forward["config"].get(
        "go_backwards", False))
    if mirrored != forward["config"] or backward["class_name"] != forward["class_name"]:
        return
    forward["config"] = dict(forward["config"], name=base)
    del cfg["backward_layer"]


def _keras3_layer_entry(entry: dict[str, Any], warn: Callable[[str], None]) -> dict[str, Any]:
    class_name = _LEGACY_NAMES.get(entry["class_name"], entry["class_name"])
    entry = {**entry, "class_name": class_name}
    if is_model_entry(entry):
        converted = _keras3_model(entry, warn)
    else:
        converted = {"class_name": class_name,
                     "config": _keras3_layer_config(class_name, entry.get("config", {}), warn)}
    if "name" in entry:
        converted["name"] = entry["name"]
    if entry.get("registered_name") and not str(entry.get("module") or "").startswith("keras"):
        # A custom class: how Keras finds it again ('my_pkg>MyLayer').
        converted["module"] = entry.get("module")
        converted["registered_name"] = entry["registered_name"]
    return converted


def _keras3_model(model_config: dict[str, Any], warn: Callable[[str], None]) -> dict[str, Any]:
    class_name = model_config["class_name"]
    cfg = dict(model_config["config"])
    cfg.pop("dtype", None)  # Keras 2 models carry no dtype of their own
    layers = cfg.get("layers", [])
    by_name = {entry.get("name") or entry["config"].get("name"): entry for entry in layers}
    builtin = {name for name, entry in by_name.items() if has_builtin_node(entry)}
    sequential_nested = {name for name in builtin if by_name[name]["class_name"] == "Sequential"}

    def ref(history: list[Any], shift_all: bool) -> list[Any]:
        layer, node, tensor = history[0], history[1], history[2]
        if layer in builtin and (shift_all or layer in sequential_nested):
            node += 1
        return [layer, node, tensor]

    new_layers = []
    for entry in layers:
        entry = _legacy_keras3_op(entry)
        if is_keras3_op(entry):
            new_layers.append(_keras3_op_entry(entry, lambda r: ref(r, shift_all=True)))
            continue
        converted = _keras3_layer_entry(entry, warn)
        if "inbound_nodes" in entry:
            converted["inbound_nodes"] = [
                _keras3_node(node, entry, ref) for node in entry["inbound_nodes"]
            ]
        new_layers.append(converted)
    cfg["layers"] = new_layers
    for key in ("input_layers", "output_layers"):
        if key not in cfg:
            continue
        value = cfg[key]
        if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
            value = [value]
        # Keras 3 already counts nested Functional models from 1 here, not Sequential ones.
        cfg[key] = _map_refs(value, lambda r: ref(r, shift_all=False))
    return {"class_name": "Functional" if class_name == "Model" else class_name, "config": cfg}


def _legacy_keras3_op(entry: dict[str, Any]) -> dict[str, Any]:
    """Keras 3's legacy .h5 writer leaves an operation's module out: an entry without one whose
    config has no `trainable` (every Keras 3 layer writes it) and whose class is an operation
    of the op table is that operation."""
    cfg = entry.get("config")
    nodes = entry.get("inbound_nodes") or []
    if "module" in entry or not isinstance(cfg, dict) or "trainable" in cfg or not all(
            isinstance(n, dict) for n in nodes):
        return entry
    module = ops.keras3_module_of(str(entry.get("class_name")))
    if module is None:
        return entry
    return {**entry, "module": module, "registered_name": entry.get("class_name")}


def _keras3_op_entry(entry: dict[str, Any], ref: Callable[[list[Any]], list[Any]]
                     ) -> dict[str, Any]:
    """A Keras 3 operation node kept as Keras 3 wrote it, its calls as canonical call nodes
    (keras_config.operations)."""
    name = entry.get("name") or (entry.get("config") or {}).get("name")
    nodes = []
    for node in entry.get("inbound_nodes") or []:
        if not isinstance(node, dict):
            raise UnsupportedError(f"operation '{name}' ({entry.get('class_name')}) has a "
                                   "list-form node, which Keras 3 never writes for operations")
        nodes.append(keras3_call_to_canonical(node, ref))
    return {"module": entry["module"], "class_name": entry.get("class_name"),
            "registered_name": entry.get("registered_name"), "name": name,
            "config": copy.deepcopy(entry.get("config") or {}), "inbound_nodes": nodes}


def _map_refs(value: Any, fn: Callable[[list[Any]], list[Any]]) -> Any:
    if isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str) and all(
        isinstance(v, int) for v in value[1:3]
    ):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_refs(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_refs(v, fn) for v in value]
    return value  # a constant (iterating a string would never end)


def _keras3_node(node: Any, entry: dict[str, Any], ref: Callable[..., list[Any]]) -> Any:
    if not isinstance(node, dict):
        # Keras 3 reads list-form nodes too, counting a nested model's calls from 0.
        return _map_refs(node, lambda r: [*ref(r, shift_all=True), *r[3:]])
    layer = entry.get("name") or entry["config"].get("name")
    args = list(node.get("args", []))
    # Keras 3 records the `training` flag of the call; Keras 2 nodes never carry it (a
    # recorded True would run augmentation layers in training mode at inference).
    kwargs = {k: v for k, v in (node.get("kwargs") or {}).items()
              if v is not None and k != "training"}
    names = _POSITIONAL_CALL_ARGS.get(
        _LEGACY_NAMES.get(entry["class_name"], entry["class_name"]), [])
    for index, extra in enumerate(args[1:], start=1):
        if index >= len(names):
            raise UnsupportedError(
                f"layer '{layer}' ({entry['class_name']}) is called with {len(args)} positional "
                "arguments, which the Keras 2 node format cannot express"
            )
        kwargs[names[index]] = extra

    def kwarg_tensor(value: Any) -> Any:
        if _is_keras3_tensor(value):
            return ref(value["config"]["keras_history"], shift_all=True)
        if isinstance(value, list):
            return [kwarg_tensor(v) for v in value]
        if isinstance(value, dict):
            return {k: kwarg_tensor(v) for k, v in value.items()}
        return value

    kwargs = {k: kwarg_tensor(v) for k, v in kwargs.items()}

    def first_arg(value: Any) -> Any:
        if _is_keras3_tensor(value):
            return [*ref(value["config"]["keras_history"], shift_all=True), kwargs]
        if isinstance(value, dict):
            return {k: first_arg(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [first_arg(v) for v in value]
        raise UnsupportedError(
            f"layer '{layer}' is called on a constant ({value!r}), which the Keras 2 node "
            "format cannot express"
        )

    if not args:
        return []
    data = first_arg(args[0])
    if _is_keras3_tensor(args[0]):
        data = [data]
    return data


# ------------------------------------------------------------------- reading: TF.js -> canonical

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake_case(key: str) -> str:
    return _CAMEL.sub(r"_\1", key).lower()


# tfjs-layers writes null for these where Keras means "default"; Keras would take null literally.
_TFJS_NULL_MEANS_DEFAULT = ("unit_forget_bias", "implementation")


def _tfjs_value(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = snake_case(key) if key not in ("name",) else key
            if key in _TFJS_NULL_MEANS_DEFAULT and item is None:
                continue
            out[key] = item if key in ("name", "inbound_nodes") else _tfjs_value(item)
        return out
    if isinstance(value, list):
        return [_tfjs_value(v) for v in value]
    return value


def from_tfjs(model_config: dict[str, Any]) -> dict[str, Any]:
    """tfjs-layers writes snake_case keys but may leave camelCase ones and nulls for defaults."""
    return _tfjs_value(model_config)


# ------------------------------------------------------------------------------ entry points

def to_canonical(model_config: dict[str, Any], warn: Callable[[str], None] | None = None,
                 keras_version: str | None = None, translated: list[str] | None = None
                 ) -> dict[str, Any]:
    """Any Keras 2 / Keras 3 / TF.js model config -> the canonical Keras 2 dialect.
    `keras_version` is the file's (forms whose meaning changed after that Keras are made
    explicit); each such translation is described in `translated`."""
    warn = warn or (lambda message: None)
    check_model_config(model_config)
    model_config = copy.deepcopy(model_config)
    if detect_dialect(model_config) == "keras3":
        return _keras3_model(model_config, warn)
    if model_config.get("class_name") == "Model":
        model_config["class_name"] = "Functional"
    note = translated.append if translated is not None else (lambda message: None)
    _explicit_old_keras2_forms(model_config, keras2_release(keras_version), note)
    return model_config


def keras2_release(keras_version: str | None) -> tuple[int, ...] | None:
    """The standalone Keras 2 release that wrote a file ("2.0.2" -> (2, 0, 2)); None for
    tf.keras ("2.1.6-tf": TensorFlow's own Keras had tf.layers' meanings from the start),
    Keras 3, TF.js and unknown versions."""
    parts = re.fullmatch(r"2\.(\d+)\.(\d+)", (keras_version or "").strip())
    return (2, int(parts.group(1)), int(parts.group(2))) if parts else None


# Keras 2.0.0-2.0.6 forced dtype='int32' on every Embedding (keras 2.0.2
# layers/embeddings.py: `kwargs['dtype'] = 'int32'`), which Layer.__init__ took as the dtype
# of the input it makes (`batch_input_shape` is always set on an Embedding), while its weights
# were floatx (add_weight's default). 2.0.7 (keras-team/keras 5a7f6b0e, "fix dtype handling")
# dropped the forcing and created the embeddings with the layer's dtype, which is what tf_keras
# and TF.js read `dtype` as: taken literally, a 2.0.0-2.0.6 file gets int32 embeddings.
_EMBEDDING_DTYPE_IS_ITS_INPUTS_BEFORE = (2, 0, 7)

# Arguments a later Keras 2 added with a default that differs from what files written before it
# computed: absent from an old config, they must be set to the old behaviour, or tf_keras and
# modelport read the new default (GRU's reset_after appeared in Keras 2.1.3 defaulting to False;
# tf.keras 2 made True the default). An absent key says the file predates the argument,
# whatever its keras_version.
_ADDED_LATER = {"GRU": {"reset_after": False}, "GRUCell": {"reset_after": False}}


def _int_dtype(cfg: Any) -> bool:
    return isinstance(cfg, dict) and str(cfg.get("dtype")).startswith(("int", "uint"))


def _embedding_dtype_is_its_inputs(release: tuple[int, ...] | None) -> bool:
    return release is not None and release < _EMBEDDING_DTYPE_IS_ITS_INPUTS_BEFORE


def _integer_embedding_inputs(layers: list[Any]) -> list[Any]:
    """A Sequential that starts with a Keras 2.0.0-2.0.6 Embedding of dtype int32 (no
    InputLayer): its implicit input took that dtype, so it is made explicit as an int32
    InputLayer."""
    first = layers[0] if layers and isinstance(layers[0], dict) else {}
    if first.get("class_name") != "Embedding" or not _int_dtype(first.get("config")):
        return layers
    return explicit_input_layer(layers)


def _explicit_old_keras2_forms(value: Any, release: tuple[int, ...] | None,
                               note: Callable[[str], None]) -> None:
    """Keras <= 2.2 forms spelled as later Keras 2 spells them, in place: a Sequential's config
    as a bare list of layers (nested ones too; a spelling only, every Keras reads it), and the
    forms tf_keras and TF.js would read with another meaning (`note`d): arguments added later
    with another default, and (files of Keras 2.0.0-2.0.6, by `release`) an Embedding's dtype
    that was its input's."""
    if isinstance(value, dict):
        cfg = value.get("config")
        cls = str(value.get("class_name"))
        name = cfg.get("name", cls) if isinstance(cfg, dict) else cls
        if cls == "Sequential" and isinstance(cfg, list):
            value["config"] = cfg = {"name": value.get("name") or "sequential", "layers": cfg}
        if _embedding_dtype_is_its_inputs(release):
            if cls == "Sequential" and isinstance(cfg, dict):
                cfg["layers"] = _integer_embedding_inputs(cfg.get("layers", []))
            if cls == "Embedding" and _int_dtype(cfg):
                note(f"layer '{name}' (Embedding): dtype '{cfg['dtype']}' is its input's "
                     "dtype (Keras 2.0.0-2.0.6 forced it; the weights are float32), not its "
                     "weights' as today's Keras reads it")
                cfg["dtype"] = "float32"
        if isinstance(cfg, dict):
            for key, old in _ADDED_LATER.get(cls, {}).items():
                if key not in cfg:
                    note(f"layer '{name}' ({cls}): {key}={old!r}, what the Keras that wrote "
                         "it computed (it predates the argument; today's Keras reads its "
                         "absence as another default)")
                    cfg[key] = old
        for item in value.values():
            _explicit_old_keras2_forms(item, release, note)
    elif isinstance(value, list):
        for item in value:
            _explicit_old_keras2_forms(item, release, note)


def _portable_layer_config(class_name: str, cfg: dict[str, Any]) -> dict[str, Any]:
    cfg = dict(cfg)
    name = cfg.get("name", class_name)
    if isinstance(cfg.get("dtype"), dict):
        cfg["dtype"] = policy_name(cfg["dtype"])
    if cfg.get("rng_type", "") in KERAS2_RNG_TYPES:
        del cfg["rng_type"]
    for key, default in KERAS2_ONLY_DEFAULTS.get(class_name, {}).items():
        if key in cfg and cfg[key] == default:
            del cfg[key]
        elif key in cfg and key == "time_major":
            raise UnsupportedError(
                f"layer '{name}' ({class_name}) is time-major, which Keras 3 and TF.js "
                "cannot load"
            )
    for key in IGNORED_BY_KERAS.get(class_name, ()):
        cfg.pop(key, None)
    if class_name == "BatchNormalization" and isinstance(cfg.get("axis"), list) and len(
        cfg["axis"]
    ) == 1:
        cfg["axis"] = cfg["axis"][0]
    for key in ("layer", "backward_layer", "cell"):
        if isinstance(cfg.get(key), dict):
            # Keras 3 deserialises a wrapped layer only in the module-qualified form.
            wrapped = portable_keras2(cfg[key])
            if not wrapped.get("registered_name"):
                module = "keras" if is_model_entry(wrapped) else "keras.layers"
                wrapped = {"module": module, "class_name": wrapped["class_name"],
                           "config": wrapped["config"], "registered_name": None}
            cfg[key] = wrapped
    if isinstance(cfg.get("cells"), list):
        cfg["cells"] = [_qualified(portable_keras2(c)) if isinstance(c, dict) else c
                        for c in cfg["cells"]]
    return _drop_keras3_object_args(cfg)


def _qualified(entry: dict[str, Any]) -> dict[str, Any]:
    if entry.get("registered_name"):
        return entry
    return {"module": "keras.layers", "class_name": entry["class_name"],
            "config": entry["config"], "registered_name": None}


def explicit_input_layer(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keras 3 misreads `batch_input_shape` on a Sequential's first layer when no InputLayer
    comes before it (it adds a second batch axis); an explicit InputLayer, as tf_keras writes,
    reads the same everywhere. The first layer keeps its own batch_input_shape, as tf_keras
    writes it too (its to_json() has both): Keras 2 and TF.js read it, and the Keras 3
    renderer drops it from every layer but InputLayers."""
    if not layers or layers[0].get("class_name") == "InputLayer":
        return layers
    first = layers[0]["config"]
    if "batch_input_shape" not in first:
        return layers
    dtype = first.get("dtype")
    input_layer = {"class_name": "InputLayer", "config": {
        "batch_input_shape": first["batch_input_shape"],
        "dtype": dtype if isinstance(dtype, str) else "float32",
        "sparse": False, "ragged": False, "name": f"{first.get('name', 'layer')}_input"}}
    return [input_layer, *layers]


def _first_layer(layers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A Sequential's first layer after its InputLayer (the one a shape may be given to)."""
    rest = [e for e in layers[:2] if e.get("class_name") != "InputLayer"]
    return rest[0] if rest else None


def portable_keras2(entry: dict[str, Any]) -> dict[str, Any]:
    """The canonical config rendered for output: the Keras 2 dialect less what Keras 3 rejects
    (time_major, groups, Policy dicts, module-wrapped built-in objects)."""
    if is_keras3_op(entry):
        return ops.keras3_to_tf(entry)
    class_name = entry.get("class_name", "")
    out = {k: v for k, v in entry.items() if k not in ("config", "build_config",
                                                       "compile_config")}
    if class_name == "Model":
        out["class_name"] = "Functional"
    cfg = entry.get("config", {})
    if is_model_entry(entry):
        cfg = dict(cfg)
        cfg["layers"] = [portable_keras2(layer) for layer in cfg["layers"]]
        first = None
        if class_name == "Sequential":
            cfg["layers"] = explicit_input_layer(cfg["layers"])
            first = _first_layer(cfg["layers"])
        # Only InputLayers give a model its shapes; Keras 3 rejects batch_input_shape
        # elsewhere (tf_keras writes it on Embedding). A Sequential's first layer keeps the
        # shape it was given, as tf_keras's .h5 has it (tf_keras and TF.js read it, Keras 3
        # takes it as an input_shape its InputLayer overrides) unless the entry is
        # module-qualified: Keras 3 then builds the class directly, which refuses it.
        for layer in cfg["layers"]:
            if layer.get("class_name") != "InputLayer" and (
                    layer is not first or "module" in layer):
                layer["config"].pop("batch_input_shape", None)
        out["config"] = cfg
    else:
        out["config"] = _portable_layer_config(class_name, cfg)
    return out
