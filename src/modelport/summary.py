"""inspect's summary of an in-memory model (format, producer, inputs, outputs, layers, weights)
as a dict, and its text view; formats with more to say add to both in their own module."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from modelport.keras_config.entries import is_keras3_op, layer_name
from modelport.keras_config.graph import output_refs
from modelport.keras_config.ops import display_name
from modelport.model import Model
from modelport.text import shape_text, table_lines


def model_inputs(model: Model) -> list[dict[str, Any]]:
    """The model's inputs from its config: name, batch shape (None: unknown) and dtype."""
    if model.config is None:
        return []
    cfg = model.config["config"]
    layers = {layer_name(e): e for e in cfg.get("layers", [])}
    if model.class_name == "Sequential":
        first_entry = cfg["layers"][0] if cfg.get("layers") else {}
        first = first_entry.get("config", {})
        shape = first.get("batch_input_shape")
        name = first.get("name")
        if first_entry.get("class_name") != "InputLayer" and name is not None:
            # Without an InputLayer, Keras 2 names the implicit input after the first layer.
            name = f"{name}_input"
        return [{"name": name, "shape": shape, "dtype": first.get("dtype")}]
    result = []
    refs = cfg.get("input_layers") or []
    for ref in refs.values() if isinstance(refs, dict) else refs:
        layer = layers.get(ref[0], {}).get("config", {})
        dtype = layer.get("dtype")
        result.append({"name": ref[0], "shape": layer.get("batch_input_shape"),
                       "dtype": dtype if isinstance(dtype, str) else "float32"})
    return result


def model_outputs(model: Model) -> list[dict[str, Any]]:
    """The model's outputs from its config: the producing layer's name (node, tensor)."""
    if model.config is None:
        return []
    cfg = model.config["config"]
    if model.class_name == "Sequential":
        return [{"name": layer_name(cfg["layers"][-1])}] if cfg.get("layers") else []
    # output_refs: also a dict of outputs (tf.keras 2.4 writes {"onset": ["onset", 0, 0]}).
    return [{"name": ref[0], "node": ref[1], "tensor": ref[2]} for ref in output_refs(cfg)]


def summarise(model: Model, format_name: str, path: Path) -> dict[str, Any]:
    layers = []
    entries = model.layers if model.config is not None else [
        {"class_name": "?", "config": {"name": name}} for name in model.weights]
    for entry in entries:
        name = layer_name(entry)
        weights = model.weights.get(name, [])
        layers.append({
            "name": name,
            # A Keras 3 operation by its module: its class (Multiply, Add) is a layer's name too.
            "class_name": display_name(entry) if is_keras3_op(entry) else entry.get("class_name"),
            "params": sum(w.size for w in weights),
            "weights": [{"name": w.name, "shape": list(w.shape), "dtype": w.dtype,
                         "trainable": w.trainable} for w in weights],
        })
    all_weights = list(model.all_weights())
    return {
        "path": str(path),
        "format": format_name,
        "model_class": model.class_name,
        "name": model.name,
        "keras_version": model.metadata.keras_version,
        "backend": model.metadata.backend,
        "generated_by": model.metadata.generated_by,
        "converted_by": model.metadata.converted_by,
        "inputs": model_inputs(model),
        "outputs": model_outputs(model),
        "layers": layers,
        "weight_count": len(all_weights),
        "param_count": sum(w.size for w in all_weights),
        "weight_bytes": sum(w.nbytes for w in all_weights),
        "dtypes": dict(Counter(w.dtype for w in all_weights)),
        "optimizer_weight_count": len(model.optimizer_weights),
        "has_training_config": model.training_config is not None,
        "warnings": list(model.warnings),
    }


def _layer_table(summary: dict[str, Any]) -> list[str]:
    width = max([len(layer["name"]) for layer in summary["layers"]] + [5])
    class_width = max([len(str(layer["class_name"])) for layer in summary["layers"]] + [5])
    lines = [f"  {'layer':<{width}}  {'class':<{class_width}}  {'params':>10}  weights"]
    for layer in summary["layers"]:
        shapes = ", ".join(f"{w['name'].split('/')[-1]}{shape_text(w['shape'], unknown='None')}"
                           for w in layer["weights"])
        lines.append(f"  {layer['name']:<{width}}  {str(layer['class_name']):<{class_width}}  "
                     f"{layer['params']:>10,}  {shapes}")
    return lines


def _weight_table(summary: dict[str, Any]) -> list[str]:
    """A weights-only file: every weight with its group, shape and dtype."""
    return table_lines([("group", "weight", "shape", "dtype")] + [
        (layer["name"], w["name"], shape_text(w["shape"], unknown="None"), w["dtype"])
        for layer in summary["layers"] for w in layer["weights"]])


def header_lines(summary: dict[str, Any]) -> list[str]:
    """The head of inspect's text view: path, format, producer, model, inputs and outputs."""
    lines = [f"{summary['path']}", f"  format:   {summary['format']}"]
    producer = summary.get("generated_by") or (
        f"keras {summary['keras_version']}" if summary.get("keras_version") else None)
    if producer:
        lines.append(f"  producer: {producer}"
                     + (f" (converted by {summary['converted_by']})"
                        if summary.get("converted_by") else ""))
    if summary.get("keras_version"):
        lines.append(f"  keras:    {summary['keras_version']}")
    if summary.get("model_class"):
        lines.append(f"  model:    {summary['name']} ({summary['model_class']})")
    for item in summary["inputs"]:
        lines.append(f"  input:    {item['name']} {shape_text(item.get('shape'), unknown='None')} "
                     f"{item.get('dtype') or ''}".rstrip())
    for item in summary["outputs"]:
        lines.append(f"  output:   {item['name']}")
    lines.append("")
    return lines


def render(summary: dict[str, Any]) -> str:
    """inspect's text view of a model's summary: the head, then its layers (or, for a weights
    file, its weights) and totals."""
    lines = header_lines(summary)
    lines += _weight_table(summary) if summary.get("model_class") is None else _layer_table(
        summary)
    dtypes = ", ".join(f"{k} x{v}" for k, v in summary["dtypes"].items()) or "none"
    lines.append("")
    lines.append(f"  weights:  {summary['weight_count']} tensors, {summary['param_count']:,} "
                 f"parameters, {summary['weight_bytes']:,} bytes ({dtypes})")
    if summary["optimizer_weight_count"]:
        lines.append(f"  optimizer weights: {summary['optimizer_weight_count']}")
    if summary["has_training_config"]:
        lines.append("  training config: yes")
    return "\n".join(lines)
