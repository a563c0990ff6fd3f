"""TensorFlow checkpoints read without TensorFlow (modelport.formats.tf_checkpoint, with
modelport.protobuf): every tensor and the object graph are compared with what TensorFlow itself
reads from the same files, for checkpoints written by tf_keras save_weights, tf.train.Checkpoint
(all dtypes, size-sharded), the TF1 Saver (partitioned variables) and SavedModel; damaged files
must give one clear FormatError."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from tensorflow.core.framework import (  # noqa: E402
    attr_value_pb2,
    tensor_pb2,
    tensor_shape_pb2,
    tensor_slice_pb2,
    versions_pb2,
)
from tensorflow.core.protobuf import tensor_bundle_pb2, trackable_object_graph_pb2  # noqa: E402

from modelport import protobuf  # noqa: E402
from modelport.errors import FormatError  # noqa: E402
from modelport.formats import tensor_bundle  # noqa: E402
from modelport.formats import tf_checkpoint as ckpt  # noqa: E402
from modelport.formats.record import Probe  # noqa: E402

GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


# ------------------------------------------------------------------------------------ crc32c

def bitwise_crc32c(data: bytes) -> int:
    """The definition, one bit at a time: slow, but shares nothing with the module."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


_REF_TABLE = [bitwise_crc32c(bytes([b])) for b in range(256)]


def table_crc32c(data: bytes) -> int:
    """Byte-at-a-time reference for sizes too large for the bitwise one. Built from the bitwise
    CRC of single bytes: with init/xorout 0xFFFFFFFF, T[b] = crc(b) ^ crc(0) ^ T[0], T[0] = 0."""
    base = _REF_TABLE[0]
    table = [c ^ base for c in _REF_TABLE]
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def test_crc32c_known_vectors():
    # RFC 3720 (iSCSI) appendix B.4 and the common check value.
    assert tensor_bundle.crc32c(b"123456789") == 0xE3069283
    assert tensor_bundle.crc32c(b"") == 0
    assert tensor_bundle.crc32c(bytes(32)) == 0x8A9136AA
    assert tensor_bundle.crc32c(b"\xff" * 32) == 0x62A8AB43
    assert tensor_bundle.crc32c(bytes(range(32))) == 0x46DD794E
    assert tensor_bundle.crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C
    assert bitwise_crc32c(b"123456789") == 0xE3069283


def test_crc32c_matches_reference_for_many_lengths():
    rng = np.random.default_rng(7)
    small = [*range(70), 127, 128, 255, 256, 511, 1023, 1024, 1025, 1031, 1032, 2047, 4095, 4096,
             4097, 4103]
    for n in small:
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert tensor_bundle.crc32c(data) == bitwise_crc32c(data), n
    large = [8191, 65535, 65536, 65537, 123457, (1 << 20) - 1, 1 << 20, (1 << 20) + 1,
             3 * (1 << 20) + 5]
    for n in large:
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert tensor_bundle.crc32c(data) == table_crc32c(data), n


def test_crc32c_inputs_and_extend():
    rng = np.random.default_rng(8)
    data = rng.integers(0, 256, 300_001, dtype=np.uint8).tobytes()
    whole = tensor_bundle.crc32c(data)
    for cut in (0, 1, 999, 1024, 150_000, 300_000, 300_001):
        assert tensor_bundle.crc32c_extend(
            tensor_bundle.crc32c(data[:cut]), data[cut:]) == whole, cut
    # Arrays count by their raw bytes, whatever their dtype, layout or alignment.
    array = rng.standard_normal((301, 77))
    assert tensor_bundle.crc32c(array) == tensor_bundle.crc32c(array.tobytes())
    assert tensor_bundle.crc32c(array.T) == tensor_bundle.crc32c(array.T.copy().tobytes())
    assert tensor_bundle.crc32c(memoryview(data)[3:]) == table_crc32c(data[3:])
    assert tensor_bundle.crc32c(bytearray(data)) == whole
    # The masked form, both ways.
    assert tensor_bundle.masked_crc32c(b"") == 0xA282EAD8
    for value in (0, 1, 0xE3069283, 0xFFFFFFFF, whole):
        assert tensor_bundle.unmask_crc32c(tensor_bundle.mask_crc32c(value)) == value
    assert tensor_bundle.masked_crc32c(data) == tensor_bundle.mask_crc32c(whole)


def test_crc32c_throughput():
    data = np.random.default_rng(9).integers(0, 256, 32 << 20, dtype=np.uint8)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        tensor_bundle.crc32c(data)
        best = min(best, time.perf_counter() - start)
    # ~500 MB/s on a laptop core; the bound only catches a fall back to per-byte speed.
    assert 32 / best > 40, f"{32 / best:.0f} MB/s"


# ---------------------------------------------------------------------------------- protobuf

def test_varints_round_trip():
    for value in (0, 1, 127, 128, 300, 2**31, 2**32, 2**63 - 1, -1, -300, -(2**63)):
        encoded = protobuf.encode_varint(value)
        decoded, end = protobuf.decode_varint(encoded + b"\x07")
        assert end == len(encoded)
        assert protobuf.as_int64(decoded) == value
        if value < 0:
            assert len(encoded) == 10
    with pytest.raises(protobuf.DecodeError, match="truncated"):
        protobuf.decode_varint(b"\x80\x80")
    with pytest.raises(protobuf.DecodeError, match="longer than 10"):
        protobuf.decode_varint(b"\xff" * 11)


def test_message_decodes_what_protobuf_encodes():
    entry = tensor_bundle_pb2.BundleEntryProto(
        dtype=19, shard_id=3, offset=2**40 + 3, size=7, crc32c=0xFFFFFFFF,
        shape=tensor_shape_pb2.TensorShapeProto(dim=[
            tensor_shape_pb2.TensorShapeProto.Dim(size=-1, name="batch"),
            tensor_shape_pb2.TensorShapeProto.Dim(size=5)]),
        slices=[tensor_slice_pb2.TensorSliceProto(extent=[
            tensor_slice_pb2.TensorSliceProto.Extent(start=2, length=3),
            tensor_slice_pb2.TensorSliceProto.Extent()])])
    message = protobuf.Message(entry.SerializeToString())
    assert message.uint(1) == 19
    assert message.int32(3) == 3
    assert message.int64(4) == 2**40 + 3
    assert message.int64(5) == 7
    assert message.fixed32(6) == 0xFFFFFFFF
    dims = message.message(2).messages(2)
    assert [(d.int64(1), d.string(2)) for d in dims] == [(-1, "batch"), (5, "")]
    [extents] = [s.messages(1) for s in message.messages(7)]
    assert [(e.int64(1), e.int64(2), 2 in e) for e in extents] == [(2, 3, True), (0, 0, False)]
    assert [n for n, _, _ in protobuf.fields(entry.SerializeToString())] == [1, 2, 3, 4, 5, 6, 7]

    # Packed repeated fields (proto3 default), negative int32s, floats and doubles.
    version = protobuf.Message(versions_pb2.VersionDef(
        producer=1, bad_consumers=[3, -4, 300]).SerializeToString())
    assert [protobuf.as_int32(v) for v in version.repeated_uint(3)] == [3, -4, 300]
    tensor = protobuf.Message(tensor_pb2.TensorProto(
        float_val=[1.5, -2.0], double_val=[0.1], int64_val=[-5, 2**62]).SerializeToString())
    assert [protobuf.as_float(v) for v in tensor.repeated_fixed(5, 4)] == [1.5, -2.0]
    assert [protobuf.as_double(v) for v in tensor.repeated_fixed(6, 8)] == [0.1]
    assert tensor.repeated_int64(10) == [-5, 2**62]
    attr = protobuf.Message(attr_value_pb2.AttrValue(f=0.25).SerializeToString())
    assert attr.float32(4) == 0.25
    assert protobuf.Message(attr_value_pb2.AttrValue(b=True).SerializeToString()).boolean(5)

    data = entry.SerializeToString()
    with pytest.raises(protobuf.DecodeError):
        protobuf.Message(data[:-1])
    with pytest.raises(protobuf.DecodeError, match="wire type"):
        message.uint(2)


# ------------------------------------------------------------------- checking against TF

def assert_same_as_tensorflow(prefix: Path, skip: tuple[str, ...] = ()) -> ckpt.Checkpoint:
    """Every key, dtype, shape and value of our Bundle equals what TensorFlow reads."""
    bundle = ckpt.open_bundle(prefix)
    reader = tf.train.load_checkpoint(str(prefix))
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    assert sorted(bundle.entries) == sorted(shapes)
    for key, entry in bundle.entries.items():
        assert entry.shape == tuple(shapes[key]), key
        assert entry.dtype == dtypes[key].name, key
        if key in skip:
            continue
        got = bundle.read(key)
        raw = reader.get_tensor(key)
        # A scalar string comes back as bytes; np.asarray would make it 'S' and drop trailing
        # NULs (which serialized protos end with).
        want = np.array(raw, dtype=object) if isinstance(raw, bytes) else np.asarray(raw)
        assert got.shape == want.shape, key
        if entry.dtype == "string":
            assert got.dtype == object, key
            assert got.tolist() == want.tolist(), key
            continue
        if entry.dtype == "bfloat16":
            assert got.dtype == np.float32, key
            want = want.astype(np.float32)
        assert got.dtype == want.dtype, key
        assert np.array_equal(got, want), key
    return bundle


def assert_graph_as_tensorflow(bundle: ckpt.Checkpoint, prefix: Path) -> None:
    reader = tf.train.load_checkpoint(str(prefix))
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor(GRAPH_KEY))
    nodes = bundle.object_graph()
    assert nodes is not None and len(nodes) == len(graph.nodes)
    for ours, theirs in zip(nodes, graph.nodes, strict=True):
        assert [(c.node_id, c.local_name) for c in ours.children] == [
            (c.node_id, c.local_name) for c in theirs.children]
        assert [(a.name, a.full_name, a.checkpoint_key) for a in ours.attributes] == [
            (a.name, a.full_name, a.checkpoint_key) for a in theirs.attributes]
        assert [(s.original_variable_node_id, s.slot_name, s.slot_variable_node_id)
                for s in ours.slot_variables] == [
            (s.original_variable_node_id, s.slot_name, s.slot_variable_node_id)
            for s in theirs.slot_variables]


# ------------------------------------------------------------------------ tf_keras models

def _mlp():
    layers = tf_keras.layers
    return tf_keras.Sequential([layers.Dense(5, activation="relu", input_shape=(4,)),
                                layers.Dense(3)])


def _conv_bn():
    layers = tf_keras.layers
    inputs = layers.Input((6, 6, 2))
    x = layers.Conv2D(3, 3)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Flatten()(x)
    return tf_keras.Model(inputs, layers.Dense(2)(x))


def _lstm():
    layers = tf_keras.layers
    inputs = layers.Input((5, 3))
    x = layers.LSTM(4, return_sequences=True)(inputs)
    return tf_keras.Model(inputs, layers.LSTM(2)(x))


def _bidirectional():
    layers = tf_keras.layers
    inputs = layers.Input((5, 3))
    x = layers.Bidirectional(layers.LSTM(3, return_sequences=True))(inputs)
    return tf_keras.Model(inputs, layers.Bidirectional(layers.GRU(2), merge_mode="sum")(x))


def _embedding():
    layers = tf_keras.layers
    inputs = layers.Input((7,), dtype="int32")
    x = layers.Embedding(11, 4)(inputs)
    x = layers.GlobalAveragePooling1D()(x)
    return tf_keras.Model(inputs, layers.Dense(2)(x))


def _nested():
    layers = tf_keras.layers
    inner = tf_keras.Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(3)],
                                name="inner")
    inputs = layers.Input((4,))
    return tf_keras.Model(inputs, layers.Dense(2)(inner(inputs)))


def _trained(optimizer):
    def build():
        model = _nested()
        model.compile(optimizer=optimizer(), loss="mse")
        model.fit(np.ones((4, 4)), np.ones((4, 2)), verbose=0)
        return model
    return build


KERAS_MODELS = {
    "mlp": _mlp, "conv_bn": _conv_bn, "lstm": _lstm, "bidirectional": _bidirectional,
    "embedding": _embedding, "nested": _nested,
    "trained_adam": _trained(lambda: tf_keras.optimizers.Adam()),
    "trained_legacy_adam": _trained(lambda: tf_keras.optimizers.legacy.Adam()),
}


@pytest.fixture(scope="module", params=sorted(KERAS_MODELS))
def keras_checkpoint(request, tmp_path_factory):
    tf_keras.utils.set_random_seed(0)
    model = KERAS_MODELS[request.param]()
    if not request.param.startswith("trained"):
        rng = np.random.default_rng(1)
        model.set_weights([rng.standard_normal(w.shape).astype(w.dtype.as_numpy_dtype)
                           for w in model.weights])
    prefix = tmp_path_factory.mktemp(request.param) / "ckpt"
    model.save_weights(str(prefix))
    return model, prefix


def test_keras_checkpoint_matches_tensorflow(keras_checkpoint):
    model, prefix = keras_checkpoint
    bundle = assert_same_as_tensorflow(prefix)
    assert bundle.num_shards == 1
    assert GRAPH_KEY in bundle.entries
    assert len([k for k in bundle.entries if "/.ATTRIBUTES/" in k]) >= len(model.weights)


def test_keras_object_graph_matches_tensorflow(keras_checkpoint):
    _, prefix = keras_checkpoint
    assert_graph_as_tensorflow(ckpt.open_bundle(prefix), prefix)


def _variables_under(nodes: list[ckpt.Node], node_id: int, seen: set[int]
                     ) -> list[ckpt.SerializedTensor]:
    """The variables below a node, depth first in child order; `layer-i` and
    `layer_with_weights-j` name the same node, so each node counts once."""
    if node_id in seen:
        return []
    seen.add(node_id)
    found = [a for a in nodes[node_id].attributes if a.name == "VARIABLE_VALUE"]
    for child in nodes[node_id].children:
        found += _variables_under(nodes, child.node_id, seen)
    return found


def test_keras_object_graph_maps_layer_weights(keras_checkpoint):
    """What a reader needs to map a tf_keras checkpoint to layers: the root's
    `layer_with_weights-<j>` child is the j-th layer that has weights, and the variables below it
    (depth first, child order) are that layer's `weights` in order, full_name = weight name."""
    model, prefix = keras_checkpoint
    bundle = ckpt.open_bundle(prefix)
    nodes = bundle.object_graph()
    root = {c.local_name: c.node_id for c in nodes[0].children}
    weighted = [layer for layer in model.layers if layer.weights]
    assert sorted(n for n in root if n.startswith("layer_with_weights-")) == sorted(
        f"layer_with_weights-{j}" for j in range(len(weighted)))
    for j, layer in enumerate(weighted):
        found = _variables_under(nodes, root[f"layer_with_weights-{j}"], set())
        assert [a.full_name for a in found] == [w.name.removesuffix(":0") for w in layer.weights]
        for attribute, weight in zip(found, layer.weights, strict=True):
            assert np.array_equal(bundle.read(attribute.checkpoint_key), weight.numpy())


def test_keras_object_graph_layout(tmp_path):
    """The shapes a checkpoint-to-Keras mapper relies on, spelled out for one model."""
    prefix = tmp_path / "ckpt"
    model = _bidirectional()
    model.save_weights(str(prefix))
    nodes = ckpt.open_bundle(prefix).object_graph()
    names = [c.local_name for c in nodes[0].children]
    assert names == ["layer-0", "layer_with_weights-0", "layer-1", "layer_with_weights-1",
                     "layer-2", "root"]
    root = {c.local_name: c.node_id for c in nodes[0].children}
    assert root["root"] == 0 and root["layer-1"] == root["layer_with_weights-0"]
    bidi = nodes[root["layer_with_weights-0"]]
    assert [c.local_name for c in bidi.children] == ["forward_layer", "backward_layer"]
    forward = nodes[bidi.children[0].node_id]
    assert [c.local_name for c in forward.children] == ["cell", "state_spec"]
    cell = nodes[forward.children[0].node_id]
    assert [c.local_name for c in cell.children] == [
        "state_size", "kernel", "recurrent_kernel", "bias"]
    kernel = nodes[cell.children[1].node_id].attributes
    # full_name is the variable's name (e.g. "bidirectional/forward_lstm/lstm_cell/kernel"),
    # numbered by however many such layers the session built before.
    variable = model.layers[1].forward_layer.cell.kernel
    assert [(a.name, a.full_name, a.checkpoint_key) for a in kernel] == [(
        "VARIABLE_VALUE", variable.name.removesuffix(":0"),
        "layer_with_weights-0/forward_layer/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE")]
    assert re.fullmatch(r"bidirectional(_\d+)?/forward_lstm(_\d+)?/lstm_cell/kernel",
                        kernel[0].full_name)


# ----------------------------------------------------------------- tf.train.Checkpoint

def _dtype_values() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "f16": np.array([[1.5, -2.25, 65504.0], [6e-8, 0.0, -0.0]], np.float16),
        # Exactly representable in bfloat16, including a subnormal and infinity.
        "bf16": np.array([1.0, -2.5, 3.140625, 2.0**100, -(2.0**-100), 2.0**-133, np.inf],
                         np.float32),
        "f32": rng.standard_normal((3, 4, 5)).astype(np.float32),
        "f64": rng.standard_normal(9),
        "i8": np.array([-128, -1, 0, 127], np.int8),
        "u8": np.array([[0, 1], [254, 255]], np.uint8),
        "i16": np.array([-32768, 32767], np.int16),
        "u16": np.array([0, 65535], np.uint16),
        "i32": np.array([-(2**31), 2**31 - 1], np.int32),
        "u32": np.array([0, 2**32 - 1], np.uint32),
        "i64": np.array([-(2**63), -1, 2**63 - 1], np.int64),
        "u64": np.array([0, 2**64 - 1], np.uint64),
        "bool": np.array([[True, False, True]]),
        "c64": (rng.standard_normal(4) + 1j * rng.standard_normal(4)).astype(np.complex64),
        "c128": np.array([1 + 2j, -3.5j]),
        "empty": np.zeros((0, 3), np.float32),
        "scalar": np.array(2.5, np.float32),
        "str_scalar": np.array(b"hello", dtype=object),
        "str_2d": np.array([[b"", b"\x00\xff", b"a" * 300],
                            ["naïve ✓".encode(), b"x", b"\n\n"]], dtype=object),
        "str_empty": np.zeros((0,), dtype=object),
    }


def _write_variables(prefix: Path, values: dict[str, np.ndarray], **options) -> str:
    variables = {
        name: tf.Variable(value, dtype=tf.bfloat16) if name.startswith("bf16")
        else tf.Variable(value.astype(bytes) if value.dtype == object and value.size == 0
                         else value)
        for name, value in values.items()}
    saver = tf.train.Checkpoint(**variables)
    return saver.write(str(prefix), options=tf.train.CheckpointOptions(**options))


def test_all_dtypes_match_tensorflow(tmp_path):
    values = _dtype_values()
    prefix = Path(_write_variables(tmp_path / "ckpt", values))
    bundle = assert_same_as_tensorflow(prefix)
    assert_graph_as_tensorflow(bundle, prefix)
    for name, value in values.items():
        key = f"{name}/.ATTRIBUTES/VARIABLE_VALUE"
        got = bundle.read(key)
        if name.startswith("str"):
            assert got.shape == value.shape and got.tolist() == value.tolist(), name
            continue
        assert got.shape == value.shape, name
        assert got.dtype == (np.float32 if name == "bf16" else value.dtype), name
        assert np.array_equal(got, value), name  # these bfloat16 values are exact
    assert bundle.entries["bf16/.ATTRIBUTES/VARIABLE_VALUE"].dtype == "bfloat16"
    assert bundle.entries["f16/.ATTRIBUTES/VARIABLE_VALUE"].dtype == "float16"
    assert bundle.entries["scalar/.ATTRIBUTES/VARIABLE_VALUE"].shape == ()
    assert bundle.entries["empty/.ATTRIBUTES/VARIABLE_VALUE"].size == 0


def test_dtype_names_are_tensorflows():
    for number, name in tensor_bundle.DTYPE_NAMES.items():
        assert tf.as_dtype(number).name == name, number


def test_large_tensors_checked_against_tensorflow_crc(tmp_path):
    # Sizes that span several crc chunks and leave odd tails: TF's own checksums must match.
    rng = np.random.default_rng(4)
    values = {"big": rng.standard_normal(1_500_007).astype(np.float32),
              "wide": rng.standard_normal((1031, 517)),
              "text": np.array([bytes(rng.integers(0, 256, 70_001, dtype=np.uint8))] * 3,
                               dtype=object)}
    prefix = Path(_write_variables(tmp_path / "ckpt", values))
    bundle = assert_same_as_tensorflow(prefix)
    assert np.array_equal(bundle.read("big/.ATTRIBUTES/VARIABLE_VALUE"), values["big"])


def test_size_sharded_checkpoint(tmp_path):
    """A MaxShardSizePolicy splits variables into slices spread over several data files."""
    rng = np.random.default_rng(5)
    values = {"a": rng.standard_normal((37, 23)).astype(np.float32),
              "b": rng.standard_normal((5, 7, 9)),
              "bf16": rng.standard_normal((50, 20)).astype(np.float32),
              "i": np.arange(600, dtype=np.int64),
              "s": np.array([b"x" * 50, b"yy" * 40, b"z" * 70] * 10, dtype=object)}
    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=700)
    prefix = Path(_write_variables(tmp_path / "ckpt", values,
                                   experimental_sharding_callback=policy))
    # TensorFlow's reader cannot assemble a sliced string tensor ("Dtype string not
    # supported"); it is compared with the values written instead.
    bundle = assert_same_as_tensorflow(prefix, skip=("s/.ATTRIBUTES/VARIABLE_VALUE",))
    assert bundle.num_shards > 2
    assert len(list(tmp_path.glob("ckpt.data-*"))) == bundle.num_shards
    sliced = {k for k, e in bundle.entries.items() if e.slices}
    assert {f"{n}/.ATTRIBUTES/VARIABLE_VALUE" for n in ("a", "b", "s")} <= sliced
    for name, value in values.items():
        got = bundle.read(f"{name}/.ATTRIBUTES/VARIABLE_VALUE")
        want = value if name != "bf16" else tf.cast(tf.cast(value, tf.bfloat16),
                                                    tf.float32).numpy()
        assert got.tolist() == want.tolist(), name
    assert_graph_as_tensorflow(bundle, prefix)


def test_tf1_partitioned_variables_and_moved_directory(tmp_path):
    tf1 = tf.compat.v1
    init = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    long = np.arange(20_000, dtype=np.int32).reshape(20_000, 1)  # slice starts of 1-3 bytes
    graph = tf.Graph()
    with graph.as_default():
        tf1.get_variable("pv", initializer=tf.constant(init),
                         partitioner=tf1.fixed_size_partitioner(4))
        tf1.get_variable("long", initializer=tf.constant(long),
                         partitioner=tf1.fixed_size_partitioner(3))
        tf1.get_variable("w", initializer=tf.constant([1, -2], dtype=tf.int64))
        saver = tf1.train.Saver()
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            saver.save(session, str(tmp_path / "old" / "model"))
    bundle = assert_same_as_tensorflow(tmp_path / "old" / "model")
    assert len(bundle.entries["pv"].slices) == 4
    assert np.array_equal(bundle.read("pv"), init)
    assert bundle.entries["long"].slices == (
        ((0, 6667), (0, 1)), ((6667, 6667), (0, 1)), ((13334, 6666), (0, 1)))
    assert np.array_equal(bundle.read("long"), long)
    assert bundle.object_graph() is None  # name-based: no object graph
    # The state file names the checkpoint by absolute path; the directory has moved since.
    assert '"/' in (tmp_path / "old" / "checkpoint").read_text()
    shutil.move(tmp_path / "old", tmp_path / "new")
    moved = ckpt.open_bundle(tmp_path / "new")
    assert moved.prefix == tmp_path / "new" / "model"
    assert np.array_equal(moved.read("w"), [1, -2])


def test_tf1_saver_checkpoint_is_inspected_and_refused(tmp_path, capsys):
    """A TF1 Saver checkpoint names variables, not Keras layers: inspect lists them as
    tf.train.list_variables does; converting it is refused in one line, nothing written."""
    import modelport
    from modelport.cli import main

    tf1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        tf1.get_variable("dense/kernel", [3, 2])
        tf1.get_variable("dense/bias", [2])
        tf1.get_variable("step", initializer=tf.constant(7, dtype=tf.int64))
        saver = tf1.train.Saver()
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            saver.save(session, str(tmp_path / "ckpt" / "model.ckpt"))
    for given in (tmp_path / "ckpt", tmp_path / "ckpt" / "model.ckpt",
                  tmp_path / "ckpt" / "model.ckpt.index"):
        summary = modelport.inspect(given)
        listed = [(w["name"], w["shape"]) for layer in summary["layers"]
                  for w in layer["weights"]]
        assert listed == [(n, s) for n, s in tf.train.list_variables(str(tmp_path / "ckpt"))]
        assert any("TF1 Saver" in w for w in summary["warnings"])
        assert main(["convert", str(given), str(tmp_path / "out.h5")]) == 2
        err = capsys.readouterr().err
        assert "TF1 Saver" in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "out.h5").exists()


def test_tf1_checkpoint_with_an_empty_prefix(tmp_path, capsys):
    """A TF1 Saver given a directory name ('run/') writes run/.index, run/.data-… and a state
    file naming '…/run/' (musicnn does). Every path to it designates it, also after the
    directory moved: inspect lists its variables as TensorFlow does, convert refuses in one
    line."""
    import modelport
    from modelport.cli import main

    tf1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        tf1.get_variable("conv/kernel", [3, 3, 1, 2])
        tf1.get_variable("conv/bias", initializer=tf.constant([0.5, -1.5]))
        saver = tf1.train.Saver()
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            saver.save(session, str(tmp_path / "run") + os.sep)
    assert (tmp_path / "run" / ".index").is_file()
    assert '/run/"' in (tmp_path / "run" / "checkpoint").read_text()
    expected = [(n, s) for n, s in tf.train.list_variables(str(tmp_path / "run") + os.sep)]
    shutil.move(tmp_path / "run", tmp_path / "moved")
    folder = tmp_path / "moved"
    reader = tf1.train.NewCheckpointReader(str(folder) + os.sep)
    for given in (folder, folder / ".index", folder / ".data-00000-of-00001"):
        bundle = ckpt.open_bundle(given)
        assert bundle.index_path == folder / ".index" and str(bundle.prefix) == str(
            folder) + os.sep
        assert np.array_equal(bundle.read("conv/bias"), reader.get_tensor("conv/bias"))
        summary = modelport.inspect(given)
        listed = [(w["name"], w["shape"]) for layer in summary["layers"]
                  for w in layer["weights"]]
        assert listed == expected
        assert main(["convert", str(given), str(tmp_path / "out.h5")]) == 2
        err = capsys.readouterr().err
        assert "TF1 Saver" in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "out.h5").exists()


def test_saved_model_variables(tmp_path):
    module = tf.Module()
    module.dense = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    module.step = tf.Variable(np.int64(12))
    module.f = tf.function(lambda x: tf.matmul(x, module.dense),
                           input_signature=[tf.TensorSpec((None, 2), tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "sm"))
    bundle = assert_same_as_tensorflow(tmp_path / "sm" / "variables" / "variables")
    assert ckpt.open_bundle(tmp_path / "sm" / "variables").prefix == bundle.prefix
    assert np.array_equal(bundle.read("dense/.ATTRIBUTES/VARIABLE_VALUE"), module.dense.numpy())
    assert_graph_as_tensorflow(bundle, bundle.prefix)


def _ordered_code_signed(value: int) -> bytes:
    """TensorFlow OrderedCode's SignedNumIncreasing: two's complement in the fewest bytes L
    that hold the value in 7L - 1 bits, its top L bits flipped to say the length."""
    magnitude = ~value if value < 0 else value
    length = next(n for n in range(1, 11) if magnitude < 1 << (7 * n - 1))
    raw = value & ((1 << 8 * length) - 1)
    raw ^= ((1 << length) - 1) << (7 * length)
    return raw.to_bytes(length, "big")


def test_slice_keys_decode():
    # Small values as TensorFlow writes them (bytes seen in real checkpoints), then the full
    # range through an encoder written from OrderedCode's definition.
    assert tensor_bundle._parse_slice_key(b"\x00pv\x00\x01\x01\x02\x8a\x8a\x80\x83") == (
        "pv", [(10, 10), (0, 3)])
    assert _ordered_code_signed(-65) == b"\x3f\xbf" and _ordered_code_signed(125) == b"\xc0}"
    values = [0, 1, 63, 64, 8191, 8192, 2**20, 2**40, 2**62, 2**63 - 1,
              -1, -64, -65, -8193, -(2**40), -(2**63)]
    # NUL is escaped as 00 ff inside the name (UTF-8 never contains the byte ff itself).
    name = "a\x00b/ké"
    escaped = name.encode("utf-8").replace(b"\x00", b"\x00\xff")
    for start, length in zip(values, reversed(values), strict=True):
        key = (b"\x00" + escaped + b"\x00\x01" + b"\x01\x02" + _ordered_code_signed(start)
               + _ordered_code_signed(length) + _ordered_code_signed(7)
               + _ordered_code_signed(-1))
        assert tensor_bundle._parse_slice_key(key) == (name, [(start, length), (7, -1)])
    with pytest.raises(protobuf.DecodeError):
        tensor_bundle._parse_slice_key(b"\x00pv\x00\x01\x01\x02\x8a")


# ------------------------------------------------------------------------- locating files

def test_paths_that_designate_a_checkpoint(tmp_path):
    model = _mlp()
    model.save_weights(str(tmp_path / "keras" / "ckpt"))  # also writes a `checkpoint` file
    prefix = tmp_path / "keras" / "ckpt"
    for path in (prefix, tmp_path / "keras" / "ckpt.index",
                 tmp_path / "keras" / "ckpt.data-00000-of-00001", tmp_path / "keras"):
        assert ckpt.open_bundle(path).prefix == prefix, path
        assert ckpt.detect(Probe(path)), path
    assert ckpt.open_bundle(str(prefix)).prefix == prefix
    # tf.train.Checkpoint.write leaves no state file: a lone *.index decides.
    written = Path(_write_variables(tmp_path / "plain" / "weights", {"x": np.ones(2)}))
    assert ckpt.open_bundle(tmp_path / "plain").prefix == written
    # save() numbers checkpoints and the state file names the latest.
    variable = tf.Variable([1.0])
    manager = tf.train.Checkpoint(v=variable)
    manager.save(str(tmp_path / "saved" / "ckpt"))
    variable.assign([2.0])
    manager.save(str(tmp_path / "saved" / "ckpt"))
    latest = ckpt.open_bundle(tmp_path / "saved")
    assert latest.prefix.name == "ckpt-2"
    assert latest.read("v/.ATTRIBUTES/VARIABLE_VALUE").tolist() == [2.0]
    with pytest.raises(FormatError, match="several checkpoints"):
        ckpt.open_bundle(_without_state_file(tmp_path / "saved"))


def _without_state_file(directory: Path) -> Path:
    (directory / "checkpoint").unlink()
    return directory


def test_paths_that_do_not(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "model.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    (tmp_path / "junk.index").write_bytes(bytes(200))
    for path in (tmp_path / "empty", tmp_path / "model.h5", tmp_path / "junk.index",
                 tmp_path / "missing"):
        assert not ckpt.detect(Probe(path)), path
    with pytest.raises(FormatError, match="no TensorFlow checkpoint here") as err:
        ckpt.open_bundle(tmp_path / "empty")
    assert err.value.path == str(tmp_path / "empty")
    with pytest.raises(FormatError, match="'model.h5.index' not found"):
        ckpt.open_bundle(tmp_path / "model.h5")
    with pytest.raises(FormatError, match="magic"):
        ckpt.open_bundle(tmp_path / "junk.index")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "checkpoint").write_text("all_model_checkpoint_paths: \"x\"\n")
    with pytest.raises(FormatError, match="no model_checkpoint_path"):
        ckpt.open_bundle(tmp_path / "state")


# ------------------------------------------------------------------------------ bad input

@pytest.fixture
def small(tmp_path) -> Path:
    values = {"a": np.arange(20, dtype=np.float32).reshape(4, 5),
              "s": np.array([b"alpha", b"beta"], dtype=object)}
    return Path(_write_variables(tmp_path / "ckpt", values))


def _flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def _data_file(prefix: Path) -> Path:
    return prefix.with_name(prefix.name + ".data-00000-of-00001")


def _index_file(prefix: Path) -> Path:
    return prefix.with_name(prefix.name + ".index")


def test_flipped_tensor_byte_fails_crc(small):
    bundle = ckpt.open_bundle(small)
    entry = bundle.entries["a/.ATTRIBUTES/VARIABLE_VALUE"]
    _flip(_data_file(small), entry.offset + 5)
    with pytest.raises(FormatError, match=r"tensor 'a/\.ATTRIBUTES/VARIABLE_VALUE' fails its "
                                          r"crc32c check") as err:
        ckpt.open_bundle(small).read(entry.key)
    assert err.value.path == str(_data_file(small))
    assert "corrupt" in str(err.value)
    # Other tensors stay readable.
    assert ckpt.open_bundle(small).read("s/.ATTRIBUTES/VARIABLE_VALUE").tolist() == [
        b"alpha", b"beta"]


def test_flipped_string_byte_fails_crc(small):
    entry = ckpt.open_bundle(small).entries["s/.ATTRIBUTES/VARIABLE_VALUE"]
    _flip(_data_file(small), entry.offset + entry.size - 1)  # inside b"beta"
    with pytest.raises(FormatError, match="fails its crc32c check"):
        ckpt.open_bundle(small).read(entry.key)
    _flip(_data_file(small), entry.offset + entry.size - 1)
    _flip(_data_file(small), entry.offset)  # the first length
    with pytest.raises(FormatError, match="string tensor 's/.ATTRIBUTES/VARIABLE_VALUE'"):
        ckpt.open_bundle(small).read(entry.key)


def test_flipped_index_byte(small):
    index = _index_file(small)
    original = index.read_bytes()
    _flip(index, 20)  # inside the first data block
    with pytest.raises(FormatError, match="data block 0 at byte 0 fails its crc32c check") as err:
        ckpt.open_bundle(small)
    assert err.value.path == str(index)
    index.write_bytes(original)
    _flip(index, len(original) - 3)  # the magic number
    with pytest.raises(FormatError, match="magic"):
        ckpt.open_bundle(small)
    assert not ckpt.detect(Probe(small))


def test_truncated_index(small):
    index = _index_file(small)
    original = index.read_bytes()
    index.write_bytes(original[:-1])
    with pytest.raises(FormatError, match="truncated or another format"):
        ckpt.open_bundle(small)
    index.write_bytes(original[:30])
    with pytest.raises(FormatError, match="shorter than the 48-byte table footer"):
        ckpt.open_bundle(small)
    # A footer whose block handles point past the end of what remains.
    index.write_bytes(original[:10] + original[-48:])
    with pytest.raises(FormatError, match="runs past the end of the file"):
        ckpt.open_bundle(small)


def test_compressed_block_refused(small):
    index = _index_file(small)
    data = bytearray(index.read_bytes())
    footer = bytes(data[-48:-8])
    _, pos = protobuf.decode_varint(footer)
    _, pos = protobuf.decode_varint(footer, pos)
    index_offset, pos = protobuf.decode_varint(footer, pos)
    index_size, _ = protobuf.decode_varint(footer, pos)
    # Mark the index block snappy-compressed, with a valid checksum, as LevelDB would.
    data[index_offset + index_size] = 1
    crc = tensor_bundle.masked_crc32c(bytes(data[index_offset:index_offset + index_size + 1]))
    data[index_offset + index_size + 1:index_offset + index_size + 5] = crc.to_bytes(4, "little")
    index.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="index block is snappy-compressed"):
        ckpt.open_bundle(small)


def test_missing_and_truncated_data_file(small):
    data_file = _data_file(small)
    original = data_file.read_bytes()
    data_file.write_bytes(original[:-3])
    with pytest.raises(FormatError, match="truncated data file") as err:
        ckpt.open_bundle(small)
    assert err.value.path == str(data_file)
    data_file.unlink()
    with pytest.raises(FormatError, match="data shard 1 of 1 of checkpoint 'ckpt' is missing"
                       ) as err:
        ckpt.open_bundle(small)
    assert err.value.path == str(data_file)
    assert str(data_file) in str(err.value)


# -------------------------------------------------------------------------- no framework

SCRIPT = """
import json, sys
from modelport.formats import tf_checkpoint
bundle = tf_checkpoint.open_bundle(sys.argv[1])
values = {key: bundle.read(key) for key in bundle.entries}
nodes = bundle.object_graph()
frameworks = {"tensorflow", "keras", "tf_keras", "jax", "jaxlib", "torch", "flax"}
print("RESULT=" + json.dumps({
    "elements": sum(int(v.size) for v in values.values()),
    "nodes": len(nodes),
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in frameworks),
}))
"""


def test_reading_imports_no_framework(tmp_path):
    prefix = tmp_path / "ckpt"
    _bidirectional().save_weights(str(prefix))
    reader = tf.train.load_checkpoint(str(prefix))
    elements = sum(int(np.asarray(reader.get_tensor(k)).size)
                   for k in reader.get_variable_to_shape_map())
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor(GRAPH_KEY))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(prefix)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT=")][-1]
    result = json.loads(line[len("RESULT="):])
    assert result == {"elements": elements, "nodes": len(graph.nodes), "loaded": []}
