"""TF.js graph models: SavedModels (tf_keras `save`, Keras 3 `export`) and Keras files converted
to graph models and run by TF.js on Node; graph models converted back to SavedModels and frozen
GraphDefs and run by TensorFlow; the op check; inspect."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import modelport
from modelport.cli import main
from modelport.formats import tfjs_graph
from modelport.quantize import QuantizationPlan
from modelport.registry import detect_input
from modelport.tensorflow import graph_model

import harness
import tfjs
import zoo

ROOT = Path(__file__).resolve().parent.parent
RUN_GRAPH = tfjs.NODE_DIR / "run_graph_model.js"
# Fusion and batch-norm folding change the order of float32 sums a little.
ATOL = 2e-5
MODELS = sorted(zoo.ZOO)


def in_model_order(keys) -> list[str]:
    """Signature keys in the Keras model's input/output order: keys are layer names
    (input_9, input_10) or Keras 3 export's keras_tensor, keras_tensor_1 / output_0, ...;
    numbers compare as numbers."""
    return sorted(keys, key=lambda k: [int(p) if p.isdigit() else p
                                       for p in re.split(r"(\d+)", k)])


def run_graph_model(model_dir: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Outputs TF.js computes for `inputs` (in model input order), in model output order."""
    data = json.loads((model_dir / "model.json").read_text())
    signature = data.get("signature") or data["userDefinedMetadata"]["signature"]
    job = {"inputs": {key: tfjs._encode(x) for key, x in zip(in_model_order(
               signature["inputs"]), inputs, strict=True)},
           "outputs": in_model_order(signature["outputs"])}
    with tempfile.TemporaryDirectory(prefix="run_graph_") as tmp:
        job_path, out_path = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job_path.write_text(json.dumps(job))
        tfjs._node([str(RUN_GRAPH), str(model_dir / "model.json"), str(job_path),
                    str(out_path)])
        return [tfjs._decode(e) for e in json.loads(out_path.read_text())["outputs"]]


class SavedModels:
    """Zoo models saved as SavedModels by their own library, once per session."""

    def __init__(self, root: Path, zoo_cache: harness.ZooCache):
        self.root, self.zoo_cache, self.paths = root, zoo_cache, {}

    def get(self, library: str, name: str) -> tuple[Path, harness.SavedZooModel]:
        case = self.zoo_cache.get(library, name)
        key = (library, name)
        if key not in self.paths:
            model = zoo.build(name, harness.keras_module(library))
            path = self.root / library / name
            if library == "tf_keras":
                model.save(str(path), save_format="tf")
            else:
                model.export(str(path), verbose=False)
            self.paths[key] = path
        return self.paths[key], case


@pytest.fixture(scope="session")
def saved_models(zoo_cache, tmp_path_factory) -> SavedModels:
    return SavedModels(tmp_path_factory.mktemp("saved_models"), zoo_cache)


@pytest.fixture(scope="session")
def graph_models(saved_models, tmp_path_factory):
    """``graph_models(library, name)`` -> (graph model folder, zoo case), converted once."""
    root = tmp_path_factory.mktemp("graph_models")
    made = {}

    def get(library: str, name: str):
        if (library, name) not in made:
            saved, case = saved_models.get(library, name)
            out = root / library / name
            graph_model.saved_model_to_graph_model(saved, out)
            made[library, name] = (out, case)
        return made[library, name]

    return get


def _nodes(model_dir: Path) -> list[dict]:
    return json.loads((model_dir / "model.json").read_text())["modelTopology"]["node"]


# ---------------------------------------------------------------------------- the op list

def test_op_list_is_what_the_installed_tfjs_converter_maps(node_tfjs, tmp_path):
    spec = importlib.util.spec_from_file_location("tfjs_ops", ROOT / "scripts" / "tfjs_ops.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    committed = json.loads((ROOT / "src/modelport/tensorflow/tfjs_ops.json").read_text())
    assert committed == script.supported_ops(), "run python scripts/tfjs_ops.py"
    # Independently of how the script reads the sources: TF.js's own op mapper knows exactly
    # these ops (and not ops of op list files it does not load, nor made-up ones).
    probe = committed["ops"] + ["Svd", "RaggedTensorToTensor", "SimpleMLCreateModelResource"]
    (tmp_path / "ops.json").write_text(json.dumps(probe))
    tfjs._node([str(RUN_GRAPH), "--mapped-ops", str(tmp_path / "ops.json"),
                str(tmp_path / "mapped.json")])
    assert json.loads((tmp_path / "mapped.json").read_text()) == committed["ops"]
    assert graph_model.tfjs_supported_ops() == frozenset(committed["ops"])


# ------------------------------------------------------------------- SavedModel -> TF.js

@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("library", harness.LIBRARIES)
def test_saved_model_to_graph_model_runs_in_tfjs(graph_models, node_tfjs, library, name):
    out, case = graph_models(library, name)
    data = json.loads((out / "model.json").read_text())
    assert data["format"] == "graph-model" and data["convertedBy"].startswith("modelport")
    assert detect_input(out).name == tfjs_graph.NAME
    actual = run_graph_model(out, case.inputs)
    harness.assert_outputs_close(actual, case.outputs, atol=ATOL,
                                 what=f"{library} {name} graph model in TF.js")


@pytest.mark.parametrize("library", harness.LIBRARIES)
def test_fusions_and_folding_happen(graph_models, library):
    def fused(name: str, op: str) -> list[list[str]]:
        out, _ = graph_models(library, name)
        import base64

        return [[base64.b64decode(s).decode() for s in n["attr"]["fused_ops"]["list"]["s"]]
                for n in _nodes(out) if n["op"] == op]

    assert ["BiasAdd", "Relu"] in fused("mlp", "_FusedMatMul")  # Dense(activation="relu")
    assert ["BiasAdd", "Tanh"] not in fused("mlp", "_FusedMatMul")  # TF.js has no fused tanh
    assert ["BiasAdd", "Prelu"] in fused("activations", "_FusedMatMul")  # Dense + PReLU
    assert ["BiasAdd", "Relu"] in fused("depthwise_separable", "FusedDepthwiseConv2dNative")
    cnn_ops = {n["op"] for n in _nodes(graph_models(library, "cnn")[0])}
    # The batch norm right after a conv is folded into it; the one after a ReLU cannot be.
    assert "_FusedConv2D" in cnn_ops and "Conv2D" not in cnn_ops
    assert len([n for n in _nodes(graph_models(library, "cnn")[0])
                if n["op"].startswith("FusedBatchNorm") or n["op"] == "Mul"]) == 1


def test_keras_h5_to_graph_model_cli(zoo_cache, node_tfjs, tmp_path, capsys):
    case = zoo_cache.get("tf_keras", "multi_io_shared")
    out = tmp_path / "web"
    assert main(["convert", str(case.path), str(out), "--to", "tfjs_graph_model"]) == 0
    signature = json.loads((out / "model.json").read_text())["signature"]
    assert len(signature["inputs"]) == 2 and len(signature["outputs"]) == 2
    harness.assert_outputs_close(run_graph_model(out, case.inputs), case.outputs, atol=ATOL,
                                 what="Keras .h5 -> graph model")


def test_quantized_graph_model_runs_within_tolerance(saved_models, node_tfjs, tmp_path,
                                                     capsys):
    saved, case = saved_models.get("keras3", "cnn")
    out = tmp_path / "web"
    assert main(["convert", str(saved), str(out), "--to", "tfjs_graph_model",
                 "--quantize-uint8", "--shard-size", "64",
                 "--metadata", f"info:{_write_json(tmp_path / 'm.json', {'a': 1})}"]) == 0
    assert "uint8" in capsys.readouterr().out  # the per-weight cost table
    data = json.loads((out / "model.json").read_text())
    specs = data["weightsManifest"][0]["weights"]
    assert any(s.get("quantization", {}).get("dtype") == "uint8" for s in specs)
    assert all(s["dtype"] != "float32" or "quantization" in s for s in specs)
    assert len(data["weightsManifest"][0]["paths"]) > 1 and data["userDefinedMetadata"] == {
        "info": {"a": 1}}
    actual = run_graph_model(out, case.inputs)
    error = max(float(np.max(np.abs(a - e))) for a, e in zip(actual, case.outputs,
                                                              strict=True))
    assert 0 < error < 0.05, error  # quantized, and still the same model


def _write_json(path: Path, value) -> Path:
    path.write_text(json.dumps(value))
    return path


# ------------------------------------------------------------- graph model -> TensorFlow

ROUND_TRIP = ["mlp", "cnn", "depthwise_separable", "activations", "multi_io_shared"]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_graph_model_to_saved_model(graph_models, tmp_path, name):
    import tensorflow as tf

    model_dir, case = graph_models("keras3", name)
    out = tmp_path / "saved"
    written = graph_model.graph_model_to_saved_model(model_dir, out)
    assert out / "saved_model.pb" in written
    serving = tf.saved_model.load(str(out)).signatures["serving_default"]
    signature = json.loads((model_dir / "model.json").read_text())["signature"]
    feeds = {key: tf.constant(x) for key, x in zip(in_model_order(signature["inputs"]),
                                                    case.inputs, strict=True)}
    assert sorted(serving.structured_input_signature[1]) == sorted(signature["inputs"])
    result = serving(**feeds)
    assert sorted(result) == sorted(signature["outputs"])
    harness.assert_outputs_close([result[k].numpy() for k in in_model_order(result)],
                                 case.outputs,
                                 atol=ATOL, what=f"{name} graph model -> SavedModel")


@pytest.mark.parametrize("name", ["activations", "depthwise_separable"])
def test_graph_model_to_frozen_pb(graph_models, tmp_path, name, capsys):
    import tensorflow as tf

    model_dir, case = graph_models("tf_keras", name)
    out = tmp_path / "frozen.pb"
    assert main(["convert", str(model_dir), str(out)]) == 0
    graph_def = tf.compat.v1.GraphDef.FromString(out.read_bytes())
    ops = {n.op for n in graph_def.node}
    # TF.js-only ops are spelled in TensorFlow ops; TF's own fused kernels stay.
    assert not ops & {"Prelu", "FusedDepthwiseConv2dNative"} and "_FusedMatMul" in ops
    signature = json.loads((model_dir / "model.json").read_text())["signature"]
    wrapped = tf.compat.v1.wrap_function(
        lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    names = [signature["inputs"][k]["name"] for k in in_model_order(signature["inputs"])]
    fetches = [signature["outputs"][k]["name"] for k in in_model_order(signature["outputs"])]
    run = wrapped.prune([wrapped.graph.as_graph_element(n) for n in names],
                        [wrapped.graph.as_graph_element(n) for n in fetches])
    outputs = run(*map(tf.constant, case.inputs))
    harness.assert_outputs_close([t.numpy() for t in outputs], case.outputs, atol=ATOL,
                                 what=f"{name} graph model -> .pb")


def test_old_graph_model_signature_in_user_metadata(graph_models, tmp_path):
    import shutil

    import tensorflow as tf

    model_dir, case = graph_models("tf_keras", "mlp")
    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    data = json.loads((old / "model.json").read_text())
    data["userDefinedMetadata"] = {"signature": data.pop("signature")}
    (old / "model.json").write_text(json.dumps(data))
    assert main(["convert", str(old), str(tmp_path / "saved"), "--to", "tf_saved_model"]) == 0
    serving = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    key = next(iter(data["userDefinedMetadata"]["signature"]["inputs"]))
    result = serving(**{key: tf.constant(case.inputs[0])})
    harness.assert_outputs_close(list(result.values()), case.outputs, atol=ATOL)


# ------------------------------------------------------------------- refusals and inspect

def test_op_tfjs_lacks_is_refused_before_writing(tmp_path, capsys):
    import tensorflow as tf

    class Decompose(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3, 3], tf.float32, name="x")])
        def __call__(self, x):
            return {"singular_values": tf.linalg.svd(x, compute_uv=False) * 2.0}

    module = Decompose()
    saved = tmp_path / "svd"
    tf.saved_model.save(module, str(saved), signatures={"serving_default": module.__call__})
    out = tmp_path / "web"
    assert main(["convert", str(saved), str(out), "--to", "tfjs_graph_model"]) == 2
    err = capsys.readouterr().err
    assert "Svd (node '" in err and str(saved) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".web*"))


def test_output_is_not_overwritten_without_overwrite(graph_models, saved_models, tmp_path,
                                                     capsys):
    saved, _ = saved_models.get("keras3", "mlp")
    out = tmp_path / "web"
    assert main(["convert", str(saved), str(out), "--to", "tfjs_graph_model"]) == 0
    before = (out / "model.json").read_bytes()
    assert main(["convert", str(saved), str(out), "--to", "tfjs_graph_model",
                 "--quantize-float16"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "model.json").read_bytes() == before
    model_dir, _ = graph_models("keras3", "mlp")
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "keep.txt").write_text("mine")
    assert main(["convert", str(model_dir), str(tmp_path / "saved"), "--to",
                 "tf_saved_model"]) == 2
    assert (tmp_path / "saved" / "keep.txt").read_text() == "mine"


def test_inspect_graph_model(graph_models, capsys):
    model_dir, _ = graph_models("tf_keras", "mlp")
    assert main(["inspect", str(model_dir)]) == 0
    text = capsys.readouterr().out
    assert "tfjs_graph_model" in text and "_FusedMatMul" in text and "Identity:0" in text
    assert main(["inspect", str(model_dir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ops"]["_FusedMatMul"] == 3 and summary["inputs"][0]["shape"] == [None, 6]
    assert summary["weight_count"] == 6 and summary["quantization"] == {}


def test_graph_model_refuses_keras_outputs_and_layers_flags(graph_models, tmp_path, capsys):
    model_dir, _ = graph_models("tf_keras", "mlp")
    assert main(["convert", str(model_dir), str(tmp_path / "m.h5")]) == 2
    assert "tf_saved_model" in capsys.readouterr().err
    with pytest.raises(Exception, match="split"):
        modelport.convert(model_dir, tmp_path / "s", split_weights_by_layer=True)
    with pytest.raises(Exception, match="quantize"):
        modelport.convert(model_dir, tmp_path / "s",
                          quantize=QuantizationPlan({"uint8": None}))


def test_missing_tensorflow_is_one_line(graph_models, tmp_path):
    model_dir, _ = graph_models("tf_keras", "mlp")
    script = ("import sys; sys.modules['tensorflow'] = None\n"
              "from modelport.cli import main\n"
              f"sys.exit(main(['convert', {str(model_dir)!r}, {str(tmp_path / 's')!r}]))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("modelport: error: TensorFlow is not installed: pip "
                                   "install 'modelport[tensorflow]'")


def test_tfjs_converter_0x_folder_is_named_and_refused(tmp_path, capsys):
    """tfjs-converter 0.x wrote tensorflowjs_model.pb (a binary GraphDef) beside a bare weights
    manifest: not a weights file to convert, but a graph model modelport names and refuses."""
    import tensorflow as tf

    from modelport.model import array_weight

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def double(x):
        return x * 2.0

    folder = tmp_path / "web_model"
    folder.mkdir()
    graph_def = double.get_concrete_function().graph.as_graph_def()
    (folder / "tensorflowjs_model.pb").write_bytes(graph_def.SerializeToString())
    weights = modelport.Model(config=None, weights={"c": [array_weight(
        "c/w", np.ones((2, 2), "float32"))]})
    modelport.write(weights, folder, "tfjs_weights")
    assert (folder / "weights_manifest.json").is_file()
    for given in (folder, folder / "weights_manifest.json", folder / "tensorflowjs_model.pb"):
        assert detect_input(given).name == "tfjs_graph_model_0x"
        for command in (["inspect", str(given)], ["convert", str(given), str(tmp_path / "o.h5")]):
            assert main(command) == 2
            err = capsys.readouterr().err
            assert "tfjs-converter 0.x" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o.h5").exists()


# ------------------------------------------- graph models as older converters wrote them
# modelport's own graph models, altered the way tensorflowjs_converter 1.x-3.x and others wrote
# theirs (the real files: tests/realworld/SURVEY.md groups 2-5), back to SavedModels.

def _older(model_dir: Path, dst: Path, change) -> Path:
    """A copy of the graph model `model_dir` in `dst` whose model.json `change(data)` alters."""
    import shutil

    shutil.copytree(model_dir, dst)
    data = json.loads((dst / "model.json").read_text())
    change(data)
    (dst / "model.json").write_text(json.dumps(data))
    return dst


def _serve(model_dir: Path, out: Path):
    import tensorflow as tf

    graph_model.graph_model_to_saved_model(model_dir, out)
    return tf.saved_model.load(str(out)).signatures["serving_default"]


@pytest.mark.parametrize(("name", "attr"), [("cnn", "TArgs"), ("activations", "T")])
def test_fused_ops_without_type_attrs_convert(graph_models, tmp_path, name, attr):
    """tensorflowjs_converter <= 3.x wrote _FusedConv2D without TArgs and TF.js-only Prelu
    without T (TF.js needs neither; tf.import_graph_def refuses such nodes). Any type attr
    the OpDef declares for inputs is inferred from the input dtypes: with T stripped from
    every op (activations: _FusedMatMul with Prelu and Elu expanded, Maximum, Softmax...)."""
    import tensorflow as tf

    model_dir, case = graph_models("tf_keras", name)

    def strip(data):
        for node in data["modelTopology"]["node"]:
            if node["op"] not in ("Const", "Placeholder"):
                node.get("attr", {}).pop(attr, None)

    assert {"_FusedConv2D", "_FusedMatMul"} & {n["op"] for n in _nodes(model_dir)}
    assert any(attr in n.get("attr", {}) for n in _nodes(model_dir)
               if n["op"] not in ("Const", "Placeholder"))  # something to strip
    old = _older(model_dir, tmp_path / "old", strip)
    serving = _serve(old, tmp_path / "saved")
    signature = json.loads((old / "model.json").read_text())["signature"]
    feeds = {key: tf.constant(x) for key, x in zip(in_model_order(signature["inputs"]),
                                                    case.inputs, strict=True)}
    result = serving(**feeds)
    harness.assert_outputs_close([result[k].numpy() for k in in_model_order(result)],
                                 case.outputs, atol=ATOL, what=f"{name} without TArgs")


def test_signature_keys_that_are_tensor_names_convert(graph_models, tmp_path):
    """Converters keyed signatures by tensor name (`age_pred/Softmax:0`, `input:0`): the
    output key stays as it is, the input key becomes the closest Python name."""
    import tensorflow as tf

    model_dir, case = graph_models("tf_keras", "mlp")

    def rename(data):
        signature = data["signature"]
        (output,) = signature["outputs"].values()
        (input_,) = signature["inputs"].values()
        signature["outputs"] = {"out/Softmax:0": output}
        signature["inputs"] = {"input:0": input_}

    old = _older(model_dir, tmp_path / "old", rename)
    serving = _serve(old, tmp_path / "saved")
    assert list(serving.structured_input_signature[1]) == ["input_0"]
    result = serving(input_0=tf.constant(case.inputs[0]))
    assert list(result) == ["out/Softmax:0"]
    harness.assert_outputs_close([result["out/Softmax:0"].numpy()], case.outputs, atol=ATOL,
                                 what="mlp with tensor-name keys")
    assert graph_model.input_keys(["input:0", "input_0", "1x", "class", "ok"]) == [
        "input_0", "input_0_1", "input_1x", "input_class", "ok"]


def test_control_inputs_from_fed_placeholders_are_dropped(graph_models, tmp_path):
    """tfjs-converter 1.3 / 1.5 left `^input` control edges from the input Placeholder on
    ReadVariableOp / PReLU nodes; the Placeholder is replaced by the signature's argument."""
    import tensorflow as tf

    model_dir, case = graph_models("tf_keras", "cnn")

    def add_control_edges(data):
        nodes = data["modelTopology"]["node"]
        placeholder = next(n["name"] for n in nodes if n["op"] == "Placeholder")
        users = [n for n in nodes if n["op"] not in ("Const", "Placeholder")]
        for node in users[:3]:
            node["input"] = node.get("input", []) + [f"^{placeholder}"]

    old = _older(model_dir, tmp_path / "old", add_control_edges)
    serving = _serve(old, tmp_path / "saved")
    (key,) = serving.structured_input_signature[1]
    result = serving(**{key: tf.constant(case.inputs[0])})
    harness.assert_outputs_close(list(result.values()), case.outputs, atol=ATOL,
                                 what="cnn with control edges from its input")


def test_graph_model_without_signature_converts_and_verifies(graph_models, node_tfjs,
                                                             tmp_path, capsys):
    """tfjs-converter 1.1 wrote no signature: inputs are the Placeholders (keyed by node name,
    dtype and shape from their attrs), outputs the sink nodes, in the SavedModel and in
    verify's generated inputs alike."""
    import tensorflow as tf

    model_dir, case = graph_models("tf_keras", "mlp")
    old = _older(model_dir, tmp_path / "old", lambda data: data.pop("signature"))
    nodes = _nodes(old)
    placeholder = next(n["name"] for n in nodes if n["op"] == "Placeholder")
    assert tfjs_graph.signature_inputs(old) == [(placeholder, (None, 6), "float32")]
    serving = _serve(old, tmp_path / "saved")
    assert list(serving.structured_input_signature[1]) == [placeholder]
    result = serving(**{placeholder: tf.constant(case.inputs[0])})
    consumed = {i.lstrip("^").split(":")[0] for n in nodes for i in n.get("input", [])}
    sinks = [n["name"] for n in nodes if n["name"] not in consumed and n["op"] != "Const"]
    assert list(result) == sinks
    harness.assert_outputs_close(list(result.values()), case.outputs, atol=ATOL,
                                 what="mlp without a signature")
    capsys.readouterr()
    assert main(["verify", str(old), str(tmp_path / "saved")]) == 0
    out = capsys.readouterr().out
    assert f"input {placeholder}: (8, 6) float32" in out and "PASS" in out, out
