"""TF.js layers models: `model.json` (topology + weights manifest) and its weight shards, as
written by tensorflowjs_converter (any version) and by tfjs-layers' own `model.save`: the Keras
config in and out of the topology, and the manifest's weights assigned to layers."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from modelport._version import __version__
from modelport.errors import FormatError, UnsupportedError
from modelport.formats import tfjs_weights
from modelport.formats.common import read_json
from modelport.formats.record import FOLDER, Format, Probe, WriteResult
from modelport.formats.tfjs_weights import (
    DEFAULT_SHARD_SIZE,
    LAYERS_MODEL_FORMAT,
    json_kind,
    model_json_path,
    read_manifest,
    weight_groups,
    write_manifest,
)
from modelport.keras_config.applications import application_layer
from modelport.keras_config.dialects import (
    KERAS2_VERSION,
    from_tfjs,
    portable_keras2,
    snake_case,
    to_canonical,
)
from modelport.keras_config.entries import layer_name
from modelport.keras_config.layouts import layer_layout, tfjs_lookup_name
from modelport.keras_config.ops import with_tfjs_layers
from modelport.keras_config.targets import (
    BUILTIN_LAYERS,
    KERAS3_ONLY_LAYERS,
    TFJS_LAYERS,
    check_dialect_semantics,
    iter_layer_entries,
    missing_layers,
    tfjs_argument_problems,
)
from modelport.model import Metadata, Model, Weight
from modelport.quantize import QuantizationPlan

NAME = "tfjs_layers_model"


def detect(probe: Probe) -> bool:
    return json_kind(probe.json) == "layers"


# ------------------------------------------------------------------------------------ reading

def _assign_to_layers(model_config: dict[str, Any], weights: list[Weight], source: Path
                      ) -> dict[str, list[Weight]]:
    """Map manifest weights to top-level layers by name, as TF.js does (an exact name, or the
    name without its second-to-last part), and order them the Keras way."""
    by_name = {w.name: w for w in weights}
    by_lookup: dict[str, Weight] = {}
    for w in weights:
        by_lookup.setdefault(tfjs_lookup_name(w.name), w)
    used: set[str] = set()
    result: dict[str, list[Weight]] = {}
    for entry in model_config.get("config", {}).get("layers", []):
        name = layer_name(entry)
        layout = layer_layout(entry)
        group: list[Weight] = []
        if layout is None:
            group = [w for w in weights if w.name.startswith(name + "/") and w.name not in used]
        else:
            for expected, trainable in layout:
                found = by_name.get(expected) or by_lookup.get(tfjs_lookup_name(expected))
                if found is None or found.name in used:
                    raise FormatError(
                        f"layer '{name}' needs weight '{expected}', which the weights manifest "
                        "does not have", source)
                group.append(found.relabelled(expected, trainable))
                used.add(found.name)
        used.update(w.name for w in group)
        result[name] = group
    extra = [w.name for w in weights if w.name not in used]
    if extra:
        raise FormatError(
            f"the weights manifest has weights no layer of the model uses: {', '.join(extra)}",
            source)
    return result


def _unwrap_topology(data: dict[str, Any], source: Path
                     ) -> tuple[dict[str, Any], dict[str, Any] | None, str | None, str | None]:
    topology = data["modelTopology"]
    if "model_config" in topology:
        config = topology["model_config"]
        training = topology.get("training_config")
    else:
        config = {k: v for k, v in topology.items() if k not in ("keras_version", "backend")}
        training = None
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise FormatError("modelTopology holds no Keras model config", source)
    return (config, training, _text_field(topology, "keras_version", source),
            _text_field(topology, "backend", source))


def _text_field(data: dict[str, Any], key: str, source: Path) -> str | None:
    """A field that must be text when present (versions, producer names)."""
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise FormatError(f"'{key}' is a {type(value).__name__}, not text", source)
    return value


def _training_from_tfjs(training: dict[str, Any]) -> dict[str, Any]:
    """tfjs-layers' top-level trainingConfig uses camelCase optimizer keys; Keras snake_case."""
    out = from_tfjs(training)
    optimizer = out.get("optimizer_config")
    if isinstance(optimizer, dict):
        cfg = optimizer.get("config")
        for js, py in (("beta1", "beta_1"), ("beta2", "beta_2")):
            if isinstance(cfg, dict) and js in cfg:
                cfg[py] = cfg.pop(js)
    loss = out.get("loss")
    if isinstance(loss, str):
        out["loss"] = snake_case(loss)
    return out


def read_architecture(path: Path) -> Model:
    """The model of a `model.json` without its weights (the shards need not exist)."""
    source = model_json_path(path)
    return _architecture(read_json(source), source)


def _architecture(data: Any, source: Path) -> Model:
    kind = json_kind(data)
    if kind == "graph":
        raise UnsupportedError("this is a TF.js graph model; modelport reads TF.js layers "
                               "models so far", source)
    if kind != "layers":
        raise FormatError("not a TF.js layers model (no modelTopology with a Keras model "
                          "config)", source)
    config, training, keras_version, backend = _unwrap_topology(data, source)
    warnings: list[str] = []
    generated_by = _text_field(data, "generatedBy", source)
    if (keras_version or "").startswith("tfjs") or (generated_by or "").startswith(
            "TensorFlow.js tfjs-layers"):
        config = from_tfjs(config)
    translations: list[str] = []
    config = to_canonical(config, warnings.append, keras_version, translations)
    if data.get("trainingConfig"):
        if not isinstance(data["trainingConfig"], dict):
            raise FormatError("trainingConfig is not an object", source)
        training = _training_from_tfjs(data["trainingConfig"])
    return Model(
        config=config,
        training_config=training,
        metadata=Metadata(
            source_format=NAME, keras_version=keras_version, backend=backend,
            generated_by=generated_by, converted_by=_text_field(data, "convertedBy", source),
            user_defined_metadata=data.get("userDefinedMetadata"), translations=translations,
        ),
        warnings=warnings,
    )


def read(path: Path, probe: Probe | None = None) -> Model:
    source = model_json_path(path)
    data = read_json(source, probe)
    if json_kind(data) == "weights":  # modelTopology null: the weights alone
        return tfjs_weights.read(source, probe)
    model = _architecture(data, source)
    assert model.config is not None
    manifest = data.get("weightsManifest") or []
    weights = read_manifest(manifest, source.parent, source)
    model.weights = _assign_to_layers(model.config, [w for w, g in weights if g != "optimizer"],
                                      source)
    model.optimizer_weights = [w for w, group in weights if group == "optimizer"]
    return model


# ------------------------------------------------------------------------------------ writing

def check_target(model: Model) -> None:
    assert model.config is not None  # weights alone are written without a topology
    missing = missing_layers(model.config, TFJS_LAYERS)
    if missing:
        raise UnsupportedError(f"TF.js has no layer class {_by_class(missing)}; "
                               + _graph_model_route(model.config, [cls for _, cls in missing]))
    problems = tfjs_argument_problems(model.config)
    if problems:
        raise UnsupportedError("TF.js cannot run " + "; ".join(problems))
    check_dialect_semantics(model, "keras2")


def _by_class(missing: list[tuple[str, str]]) -> str:
    """Each missing class once, with its first layer and how many more use it, so the route
    that works stays on the line when a model repeats the class (23 MultiplyBeta layers)."""
    layers: dict[str, list[str]] = {}
    for where, cls in missing:
        layers.setdefault(cls, []).append(where)
    return ", ".join(f"{cls} ('{found[0]}'" + (f" and {len(found) - 1} more)" if len(found) > 1
                                               else ")") for cls, found in layers.items())


def _graph_model_route(model_config: dict[str, Any], classes: list[str]) -> str:
    """What to do instead of a layers model: the graph-model route goes through tf_keras and
    runs any layer it builds as TensorFlow ops (not a Lambda's bytecode, not a Keras 3-only
    class; a custom class with the user's module, keras.applications' own without)."""
    refused = [c for c in classes if c == "Lambda" or c in KERAS3_ONLY_LAYERS]
    if refused:
        return f"the model cannot be converted to a TF.js layers model ({refused[0]})"
    custom = [str(entry.get("class_name")) for _, entry in iter_layer_entries(model_config)
              if entry.get("class_name") in classes and entry.get("class_name")
              not in BUILTIN_LAYERS and application_layer(entry) is None]
    needs = f" with --custom-objects FILE.py for {custom[0]}" if custom else ""
    return (f"--to tfjs_graph_model{needs} runs it in TF.js as a graph model; no TF.js layers "
            "model can hold it")


def write(model: Model, path: Path, overwrite: bool = False,
          shard_size: int = DEFAULT_SHARD_SIZE, quantize: QuantizationPlan | None = None,
          split_weights_by_layer: bool = False, metadata: dict[str, Any] | None = None,
          include_optimizer: bool = False) -> WriteResult:
    """Write `model.json` and `group*-shard*.bin` into the folder `path` (or beside `path`
    when it names a .json file). `metadata` entries go into `userDefinedMetadata`. The
    optimizer's weights are left out unless `include_optimizer`, as TF.js's own model.save
    does: a browser downloads the model's weights only. Returns the files written and what
    quantizing each weight cost."""
    if model.config is None:  # weights alone: model.json with modelTopology null
        return tfjs_weights.write_weights(
            model, path, default_name="model.json",
            document=lambda manifest: _weights_only_json(model, manifest, metadata),
            overwrite=overwrite, shard_size=shard_size, quantize=quantize,
            split_weights_by_layer=split_weights_by_layer, include_optimizer=include_optimizer)
    # Operations become the TF.js layers that compute exactly the same, or are refused.
    model = dataclasses.replace(model, config=with_tfjs_layers(
        model.config, "`--to tfjs_graph_model` runs it"))
    check_target(model)
    written = write_manifest(
        path, weight_groups(model, split_weights_by_layer, with_optimizer=include_optimizer),
        default_name="model.json", document=lambda manifest: _model_json(model, manifest, metadata),
        overwrite=overwrite, shard_size=shard_size, plan=quantize)
    return WriteResult(written.files, quantization=written.quantization)


def _weights_only_json(model: Model, manifest: list[dict[str, Any]],
                       metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """tensorflowjs_converter's model.json for a weights-only input (its write_artifacts with
    no topology): no generator, modelTopology null; tf.io.decodeWeights reads the manifest."""
    document: dict[str, Any] = {"format": LAYERS_MODEL_FORMAT, "generatedBy": None,
                                "convertedBy": f"modelport v{__version__}"}
    user_metadata = _user_metadata(model, metadata)
    if user_metadata:
        document["userDefinedMetadata"] = user_metadata
    document["modelTopology"] = None
    document["weightsManifest"] = manifest
    return document


def _user_metadata(model: Model, metadata: dict[str, Any] | None) -> dict[str, Any]:
    user_metadata = dict(model.metadata.user_defined_metadata or {})
    user_metadata.update(metadata or {})
    return user_metadata


def _model_json(model: Model, manifest: list[dict[str, Any]],
                metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    assert model.config is not None
    keras_version = model.metadata.keras_version or ""
    if not keras_version.startswith("2."):
        keras_version = KERAS2_VERSION
    topology: dict[str, Any] = {
        "keras_version": keras_version,
        "backend": "tensorflow",
        "model_config": portable_keras2(model.config),
    }
    if model.training_config:
        topology["training_config"] = model.training_config
    document: dict[str, Any] = {
        "format": LAYERS_MODEL_FORMAT,
        "generatedBy": model.metadata.generated_by or f"keras v{keras_version}",
        "convertedBy": f"modelport v{__version__}",
        "modelTopology": topology,
        "weightsManifest": manifest,
    }
    user_metadata = _user_metadata(model, metadata)
    if user_metadata:
        document["userDefinedMetadata"] = user_metadata
    return document


def _native_in(runtime: str, keras_version: str | None, has_config: bool) -> bool:
    return runtime == "tfjs"


FORMATS = (
    Format(NAME, "TF.js layers model (model.json + group*-shard*.bin)", detect,
           extensions=(".json", FOLDER), read=read, write=write, weights_only=tfjs_weights.NAME,
           runtime="tfjs", native_in=_native_in, read_architecture=read_architecture,
           aliases=("tfjs",)),
)
