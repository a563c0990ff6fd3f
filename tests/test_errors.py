"""Bad input through the real command line: one line on stderr naming the file and the
problem, exit code 2, no traceback, no output (not even a temporary one) left behind, and the
input untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import modelport

from harness import assert_outputs_close


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "modelport", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("modelport: error: "), lines[0]
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def assert_nothing_left(directory: Path, *expected: str) -> None:
    assert sorted(p.name for p in directory.iterdir()) == sorted(expected)


@pytest.fixture
def web_model(zoo_cache, tmp_path) -> Path:
    case = zoo_cache.get("tf_keras", "mlp")
    web = tmp_path / "web"
    modelport.convert(case.path, web, shard_size=64)
    return web


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_missing_shard(web_model, tmp_path):
    shards = sorted(web_model.glob("*.bin"))
    assert len(shards) >= 2
    shards[1].unlink()
    before = _snapshot(web_model)
    out = tmp_path / "out"
    out.mkdir()
    proc = run_cli("convert", web_model / "model.json", out / "model.h5")
    assert_one_line_error(proc, str(web_model / "model.json"), shards[1].name, "missing")
    assert_nothing_left(out)
    assert _snapshot(web_model) == before


def test_short_shard(web_model, tmp_path):
    shard = sorted(web_model.glob("*.bin"))[-1]
    shard.write_bytes(shard.read_bytes()[:-5])
    out = tmp_path / "out"
    out.mkdir()
    proc = run_cli("convert", web_model, out / "model.h5")
    assert_one_line_error(proc, "model.json", "truncated")
    assert_nothing_left(out)


def test_json_that_is_not_a_model(tmp_path):
    bad = tmp_path / "model.json"
    bad.write_text(json.dumps({"name": "not a model", "layers": []}))
    proc = run_cli("convert", bad, tmp_path / "out.h5")
    assert_one_line_error(proc, str(bad), "not a model")
    assert_nothing_left(tmp_path, "model.json")


def test_json_that_is_not_json(tmp_path):
    bad = tmp_path / "model.json"
    bad.write_text("{ this is not json")
    proc = run_cli("inspect", bad)
    assert_one_line_error(proc, str(bad), "not valid JSON")


def test_h5_without_a_model(tmp_path):
    bad = tmp_path / "data.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("x", data=np.arange(3))
    proc = run_cli("convert", bad, tmp_path / "web")
    assert_one_line_error(proc, str(bad), "no Keras model")
    assert_nothing_left(tmp_path, "data.h5")


def test_missing_input(tmp_path):
    proc = run_cli("convert", tmp_path / "nope.h5", tmp_path / "web")
    assert_one_line_error(proc, "nope.h5", "no such file")


def test_layer_the_target_lacks(tmp_path):
    import tf_keras

    inputs = tf_keras.Input((3,))
    doubled = tf_keras.layers.Lambda(lambda x: x * 2.0, name="doubler")(inputs)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(2, name="head")(doubled))
    src = tmp_path / "lambda.h5"
    model.save(src)
    before = src.read_bytes()
    proc = run_cli("convert", src, tmp_path / "web")
    assert_one_line_error(proc, str(src), "Lambda ('", "doubler')", "TF.js has no layer class")
    assert_nothing_left(tmp_path, "lambda.h5")
    assert src.read_bytes() == before


def test_existing_output_is_not_overwritten(zoo_cache, tmp_path):
    case = zoo_cache.get("tf_keras", "mlp")
    out = tmp_path / "out.h5"
    out.write_bytes(b"precious")
    proc = run_cli("convert", case.path, out)
    assert_one_line_error(proc, str(out), "--overwrite")
    assert out.read_bytes() == b"precious"
    proc = run_cli("convert", case.path, out, "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert modelport.inspect(out)["format"] == "keras_h5"


def test_existing_tfjs_output_is_not_overwritten(web_model, zoo_cache):
    case = zoo_cache.get("tf_keras", "mlp")
    before = _snapshot(web_model)
    proc = run_cli("convert", case.path, web_model, "--shard-size", "64")
    assert_one_line_error(proc, "model.json", "already exists")
    assert _snapshot(web_model) == before


def test_a_file_where_a_folder_output_goes_is_blamed(zoo_cache, tmp_path):
    """`convert model.h5 afile` with afile an existing file: the error names the output, not
    the input, with or without --overwrite, and the file is untouched."""
    case = zoo_cache.get("tf_keras", "mlp")
    afile = tmp_path / "afile"
    afile.write_bytes(b"precious")
    for extra in ((), ("--overwrite",)):
        proc = run_cli("convert", case.path, afile, *extra)
        line = assert_one_line_error(proc, f"{afile}: already exists as a file")
        assert str(case.path) not in line
        assert afile.read_bytes() == b"precious"
        assert_nothing_left(tmp_path, "afile")


def test_outputs_get_the_usual_permissions(web_model, tmp_path):
    """Written under a temporary name (mkstemp: owner-only), an output still ends up with what
    the umask gives any new file."""
    old = os.umask(0o022)
    try:
        modelport.convert(web_model / "model.json", tmp_path / "m.h5")
        modelport.convert(tmp_path / "m.h5", tmp_path / "web2")
    finally:
        os.umask(old)
    assert (tmp_path / "m.h5").stat().st_mode & 0o777 == 0o644
    for path in (tmp_path / "web2").iterdir():
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_closed_stdout_ends_quietly(web_model):
    """`modelport inspect x | head -1`: stdout's reader is gone before modelport writes; it
    ends without a word on stderr (no 'cannot be read (BrokenPipeError)', no traceback)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "modelport", "inspect", str(web_model)],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr


def test_debug_before_the_command_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for args in (("--debug", "inspect", bad), ("inspect", bad, "--debug")):
        proc = run_cli(*args)
        assert proc.returncode != 0 and "Traceback" in proc.stderr, (args, proc.stderr)
    assert_one_line_error(run_cli("inspect", bad), "not valid JSON")


def test_python_callers_are_told_the_keyword(zoo_cache, tmp_path):
    """The same refusal names the flag on the command line and the keyword in Python."""
    case = zoo_cache.get("tf_keras", "mlp")
    out = tmp_path / "out.h5"
    out.write_bytes(b"precious")
    with pytest.raises(modelport.OutputExistsError) as raised:
        modelport.convert(case.path, out)
    assert "overwrite=True" in str(raised.value) and "--overwrite" not in str(raised.value)
    assert_one_line_error(run_cli("convert", case.path, out), "pass --overwrite")
    assert out.read_bytes() == b"precious"


def test_keyword_spelling_survives_a_command_line_call(zoo_cache, tmp_path):
    """cli.main in the same process does not leave Python callers with its spelling."""
    from modelport.cli import main

    case = zoo_cache.get("tf_keras", "mlp")
    out = tmp_path / "out.h5"
    out.write_bytes(b"x")
    assert main(["convert", str(case.path), str(out)]) == 2
    with pytest.raises(modelport.OutputExistsError, match="overwrite=True"):
        modelport.convert(case.path, out)


def _big_weights_file(path: Path) -> Path:
    """A save_weights .h5 of 40 MB (over the size progress is shown for)."""
    from modelport.model import array_weight

    weights = modelport.Model(config=None, weights={"d": [array_weight(
        "d/kernel", np.zeros((1000, 10_000), "float32"))]})
    modelport.write(weights, path, "keras_weights_h5")
    return path


def _stderr_on_a_terminal(*args: str | Path) -> tuple[int, str]:
    import pty

    main_fd, terminal = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "modelport", *map(str, args)],
                              stdout=subprocess.PIPE, stderr=terminal, timeout=120)
    finally:
        os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main_fd)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_progress_only_on_a_terminal_and_not_with_quiet(tmp_path):
    big = _big_weights_file(tmp_path / "big.h5")
    code, shown = _stderr_on_a_terminal("convert", big, tmp_path / "a")
    assert code == 0 and "writing a" in shown and "B/s" in shown, shown
    code, quiet = _stderr_on_a_terminal("--quiet", "convert", big, tmp_path / "b")
    assert code == 0 and "writing" not in quiet, quiet
    proc = run_cli("convert", big, tmp_path / "c")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_overwrite_replaces_a_folder_output_as_a_whole(zoo_cache, tmp_path, run_tfjs):
    """--overwrite of a TF.js folder leaves no shard of the previous, larger model beside the
    new one; the new model runs."""
    big, small = zoo_cache.get("tf_keras", "cnn"), zoo_cache.get("tf_keras", "mlp")
    web = tmp_path / "web"
    assert run_cli("convert", big.path, web, "--shard-size", "64").returncode == 0
    before = {p.name for p in web.iterdir()}
    proc = run_cli("convert", small.path, web, "--overwrite")
    assert proc.returncode == 0, proc.stderr
    after = {p.name for p in web.iterdir()}
    assert after == {"model.json", "group1-shard1of1.bin"} and len(before) > len(after)
    assert_outputs_close(run_tfjs(web / "model.json", small.inputs), small.outputs,
                         what="TF.js")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["web"]


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_manifest_paths_stay_inside_the_model_folder(web_model, tmp_path, kind):
    """A model.json naming '../x.bin', an absolute path, or a shard linking outside: refused
    naming the path, nothing written (the canary outside is never read)."""
    document = json.loads((web_model / "model.json").read_text())
    first = document["weightsManifest"][0]["paths"][0]
    canary = tmp_path / "canary.bin"
    canary.write_bytes((web_model / first).read_bytes())
    if kind == "symlink":
        (web_model / first).unlink()
        (web_model / first).symlink_to(canary)
    else:
        document["weightsManifest"][0]["paths"][0] = (
            "../canary.bin" if kind == "dotdot" else str(canary))
        (web_model / "model.json").write_text(json.dumps(document))
    proc = run_cli("convert", web_model, tmp_path / "out.h5")
    assert_one_line_error(proc, "outside the model's folder")
    assert not (tmp_path / "out.h5").exists()
