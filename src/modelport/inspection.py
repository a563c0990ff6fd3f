"""`inspect`: a summary of a model (format, producer, inputs, outputs, layers, weights) as a dict
and as the text table the CLI prints."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from modelport.keras_config.layouts import layer_name
from modelport.model import Model


def model_inputs(model: Model) -> list[dict[str, Any]]:
    """The model's inputs from its config: name, batch shape (None: unknown) and dtype."""
    if model.config is None:
        return []
    cfg = model.config["config"]
    layers = {layer_name(e): e for e in cfg.get("layers", [])}
    if model.class_name == "Sequential":
        first = cfg["layers"][0]["config"] if cfg.get("layers") else {}
        shape = first.get("batch_input_shape")
        return [{"name": first.get("name"), "shape": shape, "dtype": first.get("dtype")}]
    result = []
    for ref in cfg.get("input_layers", []):
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
    refs = cfg.get("output_layers", [])
    return [{"name": ref[0], "node": ref[1], "tensor": ref[2]} for ref in refs]


def summarise(model: Model, format_name: str, path: Path) -> dict[str, Any]:
    layers = []
    entries = model.layers if model.config is not None else [
        {"class_name": "?", "config": {"name": name}} for name in model.weights]
    for entry in entries:
        name = layer_name(entry)
        weights = model.weights.get(name, [])
        layers.append({
            "name": name,
            "class_name": entry.get("class_name"),
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


def _shape(shape: Any, unknown: str = "None") -> str:
    if shape is None:
        return "?"
    dims = [unknown if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def shape_text(shape: Any) -> str:
    """A shape as the tables print it: (6, 8), (8,), (?, 16) for unknown dimensions."""
    return _shape(shape, unknown="?")


def table_lines(rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> list[str]:
    """Rows (the first a header) as aligned text lines: columns padded to their widest cell,
    `right` ones to the right; the last column left ragged."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.rjust(width) if i in right else cell.ljust(width)
                 for i, (cell, width) in enumerate(zip(row, widths, strict=True))]
        if len(row) - 1 not in right:
            cells[-1] = row[-1]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def _layer_table(summary: dict[str, Any]) -> list[str]:
    width = max([len(layer["name"]) for layer in summary["layers"]] + [5])
    class_width = max([len(str(layer["class_name"])) for layer in summary["layers"]] + [5])
    lines = [f"  {'layer':<{width}}  {'class':<{class_width}}  {'params':>10}  weights"]
    for layer in summary["layers"]:
        shapes = ", ".join(f"{w['name'].split('/')[-1]}{_shape(w['shape'])}"
                           for w in layer["weights"])
        lines.append(f"  {layer['name']:<{width}}  {str(layer['class_name']):<{class_width}}  "
                     f"{layer['params']:>10,}  {shapes}")
    return lines


def _weight_table(summary: dict[str, Any]) -> list[str]:
    """A weights-only file: every weight with its group, shape and dtype."""
    return table_lines([("group", "weight", "shape", "dtype")] + [
        (layer["name"], w["name"], _shape(w["shape"]), w["dtype"])
        for layer in summary["layers"] for w in layer["weights"]])


def render(summary: dict[str, Any]) -> str:
    if summary.get("format") == "tfjs_graph_model":
        from modelport.formats.tfjs_graph import render as render_graph_model

        return render_graph_model(summary)
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
        lines.append(f"  input:    {item['name']} {_shape(item.get('shape'))} "
                     f"{item.get('dtype') or ''}".rstrip())
    for item in summary["outputs"]:
        lines.append(f"  output:   {item['name']}")
    lines.append("")
    if summary.get("saved_model") and summary.get("model_class") is None:
        return "\n".join(lines + saved_model_lines(summary["saved_model"]))
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
    if summary.get("saved_model"):
        lines += [""] + saved_model_lines(summary["saved_model"])
    return "\n".join(lines)


def summarise_saved_model(path: Path) -> dict[str, Any]:
    """A SavedModel's signatures, op histogram and variables (under "saved_model"), with the
    Keras summary when it is a tf.keras SavedModel. Reads no TensorFlow."""
    from modelport.errors import UnsupportedError
    from modelport.formats import saved_model

    details = saved_model.describe(path)
    summary = None
    warnings = []
    if details["keras_metadata"]:
        try:
            with saved_model.read(path) as model:
                summary = summarise(model, saved_model.NAME, path)
        except UnsupportedError as exc:
            warnings.append(exc.message)
    if summary is None:
        summary = summarise(Model(config=None), saved_model.NAME, path)
        summary["warnings"] += warnings
    summary["saved_model"] = details
    return summary


_TOP_OPS = 20  # op types listed in the text view; --json has them all


def saved_model_lines(details: dict[str, Any]) -> list[str]:
    """The SavedModel part of `render`: signatures, variables and the commonest ops."""
    lines = [f"  saved model: tags {', '.join(details['tags']) or 'none'}, TensorFlow "
             f"{details['tensorflow_version'] or '?'}, Keras metadata: "
             f"{details['keras_metadata'] or 'none'}"]
    rows = [("signature", "", "name", "dtype", "shape")]
    for signature in details["signatures"]:
        for kind in ("inputs", "outputs"):
            rows += [(signature["name"], kind[:-1], t["name"], t["dtype"], shape_text(t["shape"]))
                     for t in signature[kind]]
    lines += table_lines(rows) if len(rows) > 1 else ["  signatures: none"]
    lines.append("")
    lines.append(f"  variables: {details['variable_count']} tensors, "
                 f"{details['variable_bytes']:,} bytes")
    ops = details["ops"]
    lines.append(f"  ops:      {details['node_count']:,} nodes of {len(ops)} op types in the "
                 f"graph and its {details['function_count']} functions")
    lines += table_lines([("op", "count")] + [(op, f"{count:,}") for op, count
                                              in list(ops.items())[:_TOP_OPS]], right=(1,))
    if len(ops) > _TOP_OPS:
        lines.append(f"  ... and {len(ops) - _TOP_OPS} more op types (--json lists them all)")
    return lines
