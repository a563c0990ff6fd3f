"""End-to-end conversions of the model zoo, checked with the real runtimes.

For each library (tf_keras, Keras 3) and zoo model, the library's own legacy .h5 is converted
by ``modelport.convert`` and the result is loaded by the consumers:
  (a) .h5 -> TF.js layers directory, run by @tensorflow/tfjs in Node;
  (b) .h5 -> .h5, loaded by Keras 3 and by tf_keras;
  (c) .h5 -> TF.js -> .h5, loaded by Keras 3 and by tf_keras.
and the tfjs-layers-native models go model.json -> .h5 -> Keras 3 and tf_keras.
Every output must match the original's within 1e-5 (absolute).
"""

from __future__ import annotations

import pytest

import modelport

import tfjs
import zoo
from harness import LIBRARIES, assert_outputs_close, keras_module

ZOO_CASES = [pytest.param(lib, name, id=f"{lib}-{name}") for lib in LIBRARIES for name in zoo.ZOO]
TFJS_CASES = [
    pytest.param(lib, name, id=f"{lib}-{name}")
    for lib in LIBRARIES
    for name in zoo.ZOO
    if name not in zoo.TFJS_SKIP
]
UNSUPPORTED_TFJS_CASES = [
    pytest.param(lib, name, id=f"{lib}-{name}") for lib in LIBRARIES for name in zoo.TFJS_SKIP
]


def _web_model_json(web_dir):
    model_json = web_dir / "model.json"
    assert model_json.is_file(), f"convert() wrote no {model_json}: {sorted(web_dir.iterdir())}"
    return model_json


# (a) -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("library, name", TFJS_CASES)
def test_h5_to_tfjs(library, name, zoo_cache, run_tfjs, tmp_path):
    case = zoo_cache.get(library, name)
    web = tmp_path / "web"
    modelport.convert(case.path, web)
    outputs = run_tfjs(_web_model_json(web), case.inputs)
    assert_outputs_close(outputs, case.outputs, what=f"TF.js on {library} {name}")


@pytest.mark.parametrize("library, name", UNSUPPORTED_TFJS_CASES)
def test_h5_to_tfjs_unsupported_is_refused(library, name, zoo_cache, run_tfjs, tmp_path):
    """A model TF.js cannot run (the zoo records TF.js's own refusal) is refused by modelport
    before anything is written, with a message naming the layer and the reason."""
    case = zoo_cache.get(library, name)
    web = tmp_path / "web"
    with pytest.raises(modelport.UnsupportedError, match="TF.js") as refused:
        modelport.convert(case.path, web)
    message = str(refused.value)
    assert str(case.path) in message
    assert any(cls in message for cls in ("GRU", "ELU", "Conv1D")), message
    assert not web.exists()


# (b) -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("consumer", LIBRARIES)
@pytest.mark.parametrize("library, name", ZOO_CASES)
def test_h5_to_h5(library, name, consumer, zoo_cache, load_and_predict, tmp_path):
    case = zoo_cache.get(library, name)
    out = tmp_path / "out.h5"
    modelport.convert(case.path, out)
    assert out.is_file()
    outputs = load_and_predict(consumer, out, case.inputs)
    assert_outputs_close(outputs, case.outputs, what=f"{consumer} on converted {library} {name}")


# (c) -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("consumer", LIBRARIES)
@pytest.mark.parametrize("library, name", TFJS_CASES)
def test_h5_to_tfjs_to_h5(library, name, consumer, zoo_cache, load_and_predict, tmp_path):
    case = zoo_cache.get(library, name)
    web = tmp_path / "web"
    modelport.convert(case.path, web)
    back = tmp_path / "back.h5"
    modelport.convert(_web_model_json(web), back)
    assert back.is_file()
    outputs = load_and_predict(consumer, back, case.inputs)
    assert_outputs_close(
        outputs, case.outputs, what=f"{consumer} on {library} {name} via TF.js format"
    )


# tfjs-layers-native models -------------------------------------------------------------------


@pytest.mark.parametrize("consumer", LIBRARIES)
@pytest.mark.parametrize("name", tfjs.TFJS_NATIVE_MODELS)
def test_tfjs_native_to_h5(name, consumer, tfjs_models, load_and_predict, tmp_path):
    model_dir, inputs, expected = tfjs_models[name]
    out = tmp_path / f"{name}.h5"
    modelport.convert(model_dir / "model.json", out)
    assert out.is_file()
    outputs = load_and_predict(consumer, out, inputs)
    assert_outputs_close(outputs, expected, what=f"{consumer} on tfjs-native {name}")


@pytest.mark.parametrize("library", LIBRARIES)
def test_in_memory_keras_models(library, zoo_cache, run_tfjs, tmp_path):
    """convert / write / verify take a keras.Model or tf_keras Model as it is in memory
    (saved by its own library first): the outputs compute what the model does."""
    case = zoo_cache.get(library, "cnn")
    model = keras_module(library).models.load_model(case.path, compile=False)
    modelport.convert(model, tmp_path / "web")
    assert_outputs_close(run_tfjs(tmp_path / "web" / "model.json", case.inputs), case.outputs,
                         what="TF.js")
    written = modelport.write(model, tmp_path / "copy.h5")
    assert list(written) == [tmp_path / "copy.h5"]
    result = modelport.verify(model, tmp_path / "copy.h5")
    assert result.passed, result.render()
    assert not [p for p in tmp_path.iterdir() if p.name not in ("web", "copy.h5")]
