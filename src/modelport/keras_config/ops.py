"""The op table: tf_keras TFOpLambda / SlicingOpLambda functions <-> Keras 3 operations.

One row per operation: the TF API names tf_keras records in `config.function` (the first is
what modelport writes), the Keras 3 operation class(es) and module (the first is written), and
every argument: its tf_keras name, its Keras 3 name and where Keras 3 keeps it (a positional
call argument or the operation's constructor config), the default each library uses when the
argument is absent, and the values only one library has. `notes` says where the two compute
differently (dtype rules, broadcasting, axis conventions); a row is listed only where both
compute the same function for float32 tensors. Each row was checked against tf_keras 2.21 /
TensorFlow 2.21 and Keras 3.15 sources (keras/src/ops/*.py, keras/src/backend/tensorflow/*.py,
tensorflow/python/ops/*.py) and is exercised by tests/test_ops.py. docs/ops.md is generated
from this table (`python scripts/ops_table.py`).

An operation without a row is refused when the other dialect is written, naming the op, the
layer and the file. Nothing here runs an operation; the table moves arguments only.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelport.errors import UnsupportedError
from modelport.keras_config.entries import is_operation, is_tf_op, layer_name
from modelport.keras_config.graph import is_ref
from modelport.keras_config.operations import (
    ARGS,
    KWARGS,
    call_node,
    call_to_tf_node,
    map_tree,
    tf_node_to_call,
)

REQUIRED = object()  # an argument without a default: it must be given


@dataclass(frozen=True)
class Arg:
    """One argument. `tf`: its tf_keras name (the first argument of a row is positional in
    tf_keras nodes, every other one is a kwarg); `k3`: its Keras 3 name; `place`: 'call' (a
    positional call argument of the Keras 3 operation, in row order) or 'config' (a
    constructor argument, kept in the operation's config); `tf_default` / `k3_default`: the
    value each library takes when the argument is absent; `to_k3` / `to_tf`: value
    conversions where the two spell it differently."""

    tf: str
    k3: str
    place: str = "call"
    tf_default: Any = REQUIRED
    k3_default: Any = REQUIRED
    to_k3: Callable[[Any], Any] | None = None
    to_tf: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Op:
    tf: tuple[str, ...]
    k3: tuple[str, ...]
    module: str
    args: tuple[Arg, ...]
    # tf_keras-only arguments with the only value the Keras 3 operation computes the same for.
    tf_fixed: dict[str, Any] = field(default_factory=dict)
    # Keras 3-only config arguments with the only value tf_keras computes the same for.
    k3_fixed: dict[str, Any] = field(default_factory=dict)
    group: str = ""
    notes: str = ""
    # Keras 3 call kwargs (not positional) for these Keras 3 argument names.
    k3_call_kwargs: tuple[str, ...] = ()


def _array(value: Any) -> Any:
    """A constant operand: tf_keras writes an array as its nested list, which TensorFlow
    converts with Python's dtypes (float32, int32, bool); Keras 3 needs it as an array."""
    if not isinstance(value, list):
        return value
    flat: list[Any] = []

    def walk(v: Any) -> None:
        if isinstance(v, list):
            for item in v:
                walk(item)
        else:
            flat.append(v)

    walk(value)
    if all(isinstance(v, bool) for v in flat):
        dtype = "bool"
    elif all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        dtype = "int32"
    elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat):
        dtype = "float32"
    else:
        raise ValueError(f"a constant {value!r}")
    return {"class_name": "__numpy__", "config": {"value": value, "dtype": dtype}}


def _binary(tf: str, k3: str, module: str = "numpy", notes: str = "", group: str = "",
            names: tuple[str, str] = ("x", "y"), more_tf: tuple[str, ...] = (),
            more_k3: tuple[str, ...] = ()) -> Op:
    return Op((tf, *more_tf), (k3, *more_k3), f"keras.src.ops.{module}",
              (Arg(names[0], "x1", to_k3=_array), Arg(names[1], "x2", to_k3=_array)),
              group=group, notes=notes)


def _unary(tf: str, k3: str, module: str = "numpy", notes: str = "", group: str = "",
           name: str = "x", more_tf: tuple[str, ...] = (), k3_fixed: dict[str, Any] | None = None,
           tf_fixed: dict[str, Any] | None = None, more_k3: tuple[str, ...] = ()) -> Op:
    return Op((tf, *more_tf), (k3, *more_k3), f"keras.src.ops.{module}", (Arg(name, "x"),),
              tf_fixed=tf_fixed or {}, k3_fixed=k3_fixed or {}, group=group, notes=notes)


def _config(tf: str, k3: str | None = None, tf_default: Any = REQUIRED, k3_default: Any = REQUIRED,
            **conversions: Callable[[Any], Any]) -> Arg:
    return Arg(tf, k3 or tf, "config", tf_default,
               tf_default if k3_default is REQUIRED else k3_default, **conversions)


def _reduction(tf: str, k3: str, notes: str = "", k3_fixed: dict[str, Any] | None = None,
               module: str = "numpy") -> Op:
    return Op((tf,), (k3,), f"keras.src.ops.{module}",
              (Arg("input_tensor", "x"), _config("axis", tf_default=None),
               _config("keepdims", tf_default=False)),
              k3_fixed=k3_fixed or {}, group="reduction", notes=notes)


# ------------------------------------------------------------------------- slicing keys

def _slice_to_k3(spec: Any) -> Any:
    """tf_keras's slice_spec -> a Keras 3 GetItem key (same Python indexing)."""
    if isinstance(spec, list):
        return [_slice_to_k3(item) for item in spec]
    if isinstance(spec, dict) and spec.get("class_name") == "__ellipsis__":
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(spec, dict) and set(spec) == {"start", "stop", "step"}:
        return {"class_name": "__slice__", "config": dict(spec)}
    if spec is None or isinstance(spec, int) and not isinstance(spec, bool):
        return spec
    raise ValueError(f"indexing with {spec!r}")


def _slice_to_tf(key: Any) -> Any:
    """A Keras 3 GetItem key -> tf_keras's slice_spec."""
    if isinstance(key, list):
        return [_slice_to_tf(item) for item in key]
    if isinstance(key, dict) and key.get("class_name") == "__ellipsis__":
        return {"class_name": "__ellipsis__"}
    if isinstance(key, dict) and key.get("class_name") == "__slice__":
        cfg = key.get("config") or {}
        return {"start": cfg.get("start"), "stop": cfg.get("stop"), "step": cfg.get("step")}
    if key is None or isinstance(key, int) and not isinstance(key, bool):
        return key
    raise ValueError(f"indexing with {key!r}")


def _sizes_to_indices(value: Any) -> Any:
    """tf.split's sizes -> numpy split indices (an int, a number of parts, is the same)."""
    if isinstance(value, int):
        return value
    sizes = list(value)
    # A -1 size takes the rest; numpy's last part does that, anywhere else it is not a split.
    if any(not isinstance(s, int) or s < 0 for s in sizes[:-1]) or not sizes or not (
            isinstance(sizes[-1], int) and sizes[-1] >= -1):
        raise ValueError(f"split sizes {value!r}")
    indices, total = [], 0
    for size in sizes[:-1]:
        total += size
        indices.append(total)
    return indices


def _indices_to_sizes(value: Any) -> Any:
    if isinstance(value, int):
        return value
    indices = list(value)
    sizes = [b - a for a, b in zip([0, *indices[:-1]], indices, strict=True)]
    if any(not isinstance(s, int) or s < 0 for s in sizes):
        raise ValueError(f"split indices {value!r}")
    return [*sizes, -1]  # tf.split: -1 takes the rest, as the last numpy part does


def _axis_given(value: Any) -> Any:
    """An axis that must be given: None means another axis in each library."""
    if value is None:
        raise ValueError("axis=None, which means axis 0 in TensorFlow and the flattened "
                         "tensor in Keras 3")
    return value


def _lower(value: Any) -> Any:
    return str(value).lower()


def _upper(value: Any) -> Any:
    return str(value).upper()


def _softmax_axis(value: Any) -> Any:
    return -1 if value is None else value  # tf.nn.softmax: axis=None is the last axis


_FLOAT = "same for float tensors"
_DTYPE_PROMOTION = ("Keras 3 promotes mixed dtypes (int32 with float32 -> float32); TensorFlow "
                    "requires both operands of one dtype (Python scalars take the tensor's)")

def _build_table() -> tuple[Op, ...]:
    """The rows, built on first use (`TABLE`): a few hundred frozen dataclasses cost
    milliseconds at start-up, and most conversions hold no operation."""
    return (
        # arithmetic operators
        _binary("__operators__.add", "Add", more_tf=("math.add",), group="arithmetic",
                notes=_DTYPE_PROMOTION + "; both broadcast as numpy"),
        _binary("math.subtract", "Subtract", group="arithmetic", notes=_DTYPE_PROMOTION),
        _binary("math.multiply", "Multiply", group="arithmetic", notes=_DTYPE_PROMOTION),
        _binary("math.truediv", "TrueDivide", more_tf=("math.divide",), more_k3=("Divide",),
                group="arithmetic",
                notes="int tensors: TensorFlow divides into float64, Keras 3 into float32 "
                      "(floatx); " + _FLOAT),
        _binary("compat.v1.floor_div", "FloorDivide", more_tf=("math.floordiv",),
                group="arithmetic", notes=_DTYPE_PROMOTION),
        _binary("math.floormod", "Mod", group="arithmetic",
                notes="both take the sign of the divisor (Python %); " + _DTYPE_PROMOTION),
        _binary("math.pow", "Power", group="arithmetic",
                notes="Keras 3 computes uint tensors in int32; " + _DTYPE_PROMOTION),
        _binary("math.maximum", "Maximum", group="arithmetic", notes=_DTYPE_PROMOTION),
        _binary("math.minimum", "Minimum", group="arithmetic", notes=_DTYPE_PROMOTION),
        _unary("math.negative", "Negative", group="arithmetic"),
        _unary("math.abs", "Absolute", group="arithmetic"),
        # comparisons and logic
        _binary("math.greater", "Greater", group="comparison"),
        _binary("math.greater_equal", "GreaterEqual", group="comparison"),
        _binary("math.less", "Less", group="comparison"),
        _binary("math.less_equal", "LessEqual", group="comparison"),
        _binary("math.equal", "Equal", group="comparison"),
        _binary("math.not_equal", "NotEqual", group="comparison"),
        _binary("math.logical_and", "LogicalAnd", group="comparison",
                notes="TensorFlow takes bool tensors only; Keras 3 casts to bool"),
        _binary("math.logical_or", "LogicalOr", group="comparison",
                notes="TensorFlow takes bool tensors only; Keras 3 casts to bool"),
        _unary("math.logical_not", "LogicalNot", group="comparison",
               notes="TensorFlow takes bool tensors only; Keras 3 casts to bool"),
        # elementwise math
        _unary("math.square", "Square", group="elementwise"),
        _unary("math.sqrt", "Sqrt", group="elementwise",
               notes="int tensors: Keras 3 computes in float32, TensorFlow refuses them"),
        _unary("math.rsqrt", "Rsqrt", module="math", group="elementwise"),
        _unary("math.exp", "Exp", group="elementwise",
               notes="int tensors: Keras 3 computes in float32, TensorFlow refuses them"),
        _unary("math.log", "Log", group="elementwise",
               notes="int tensors: Keras 3 computes in float32, TensorFlow refuses them"),
        _unary("math.log1p", "Log1p", group="elementwise"),
        _unary("math.expm1", "Expm1", group="elementwise"),
        _unary("math.sign", "Sign", group="elementwise"),
        _unary("math.floor", "Floor", group="elementwise"),
        _unary("math.ceil", "Ceil", group="elementwise"),
        _unary("math.round", "Round", k3_fixed={"decimals": 0}, group="elementwise",
               notes="both round half to even (Keras 3 calls tf.round when decimals=0)"),
        _unary("math.sin", "Sin", group="elementwise"),
        _unary("math.cos", "Cos", group="elementwise"),
        _unary("math.erf", "Erf", module="math", group="elementwise"),
        _unary("math.reciprocal", "Reciprocal", group="elementwise"),
        # activations
        _unary("nn.relu", "Relu", module="nn", name="features", group="activation"),
        _unary("nn.relu6", "Relu6", module="nn", name="features", group="activation"),
        _unary("math.sigmoid", "Sigmoid", module="nn", group="activation"),
        _unary("math.tanh", "Tanh", group="activation"),
        _unary("nn.selu", "Selu", module="nn", name="features", group="activation"),
        _unary("nn.elu", "Elu", module="nn", name="features", k3_fixed={"alpha": 1.0},
               group="activation", notes="tf.nn.elu has no alpha: Keras 3's alpha must be 1.0"),
        _unary("math.softplus", "Softplus", module="nn", name="features", group="activation"),
        _unary("nn.silu", "Silu", module="nn", name="features", tf_fixed={"beta": 1.0},
               group="activation", notes="tf.nn.silu(x) is x*sigmoid(beta*x): beta must be 1.0"),
        Op(("nn.gelu",), ("Gelu",), "keras.src.ops.nn",
           (Arg("features", "x"), _config("approximate", tf_default=False, k3_default=True)),
           group="activation",
           notes="the default differs: tf.nn.gelu is exact (approximate=False), keras.ops.gelu "
                 "the tanh approximation (approximate=True); written explicitly both ways"),
        Op(("nn.leaky_relu",), ("LeakyRelu",), "keras.src.ops.nn",
           (Arg("features", "x"), _config("alpha", "negative_slope", tf_default=0.2)),
           group="activation", notes="alpha (TF) is negative_slope (Keras 3)"),
        Op(("nn.softmax",), ("Softmax",), "keras.src.ops.nn",
           (Arg("logits", "x"), _config("axis", tf_default=None, k3_default=-1,
                                        to_k3=_softmax_axis)),
           group="activation", notes="axis=None (TF) is the last axis, as Keras 3's -1"),
        Op(("nn.log_softmax",), ("LogSoftmax",), "keras.src.ops.nn",
           (Arg("logits", "x"), _config("axis", tf_default=None, k3_default=-1,
                                        to_k3=_softmax_axis)),
           group="activation", notes="axis=None (TF) is the last axis, as Keras 3's -1"),
        # reductions
        _reduction("math.reduce_sum", "Sum"),
        _reduction("math.reduce_mean", "Mean",
                   notes="int tensors: TensorFlow's mean is an int (truncated), Keras 3's float32"),
        _reduction("math.reduce_max", "Max", k3_fixed={"initial": None}),
        _reduction("math.reduce_min", "Min", k3_fixed={"initial": None}),
        _reduction("math.reduce_prod", "Prod", k3_fixed={"dtype": None}),
        _reduction("math.reduce_std", "Std"),
        _reduction("math.reduce_variance", "Var"),
        _reduction("math.reduce_logsumexp", "Logsumexp", module="math"),
        _reduction("math.reduce_any", "Any", notes="TensorFlow takes bool tensors only; Keras 3 "
                   "casts to bool"),
        _reduction("math.reduce_all", "All", notes="TensorFlow takes bool tensors only; Keras 3 "
                   "casts to bool"),
        Op(("math.argmax",), ("Argmax",), "keras.src.ops.numpy",
           (Arg("input", "x"), _config("axis", tf_default=None, k3_default=None,
                                       to_k3=lambda v: 0 if v is None else v, to_tf=_axis_given)),
           tf_fixed={"output_type": "int64"}, k3_fixed={"keepdims": False}, group="reduction",
           notes="axis=None is axis 0 in TensorFlow (written as 0) but the flattened tensor in "
                 "Keras 3 (refused); indices are int64 in TensorFlow, int32 in Keras 3"),
        Op(("math.argmin",), ("Argmin",), "keras.src.ops.numpy",
           (Arg("input", "x"), _config("axis", tf_default=None, k3_default=None,
                                       to_k3=lambda v: 0 if v is None else v, to_tf=_axis_given)),
           tf_fixed={"output_type": "int64"}, k3_fixed={"keepdims": False}, group="reduction",
           notes="as argmax"),
        # shapes
        Op(("reshape",), ("Reshape",), "keras.src.ops.numpy",
           (Arg("tensor", "x"), _config("shape", "newshape")), group="shape",
           notes="shape (TF) is newshape (Keras 3); both include the batch axis, unlike the "
                 "Reshape layer"),
        Op(("compat.v1.transpose", "transpose"), ("Transpose",), "keras.src.ops.numpy",
           (Arg("a", "x"), _config("perm", "axes", tf_default=None)),
           tf_fixed={"conjugate": False}, group="shape", notes="perm (TF) is axes (Keras 3)"),
        Op(("expand_dims",), ("ExpandDims",), "keras.src.ops.numpy",
           (Arg("input", "x"), _config("axis")), group="shape"),
        Op(("compat.v1.squeeze", "squeeze"), ("Squeeze",), "keras.src.ops.numpy",
           (Arg("input", "x"), _config("axis", tf_default=None)),
           tf_fixed={"squeeze_dims": None}, group="shape"),
        Op(("concat",), ("Concatenate",), "keras.src.ops.numpy",
           (Arg("values", "xs"), _config("axis", tf_default=REQUIRED, k3_default=0)),
           group="shape", notes="tf.concat requires axis, keras.ops.concatenate defaults to 0"),
        Op(("stack",), ("Stack",), "keras.src.ops.numpy",
           (Arg("values", "x"), _config("axis", tf_default=0)), group="shape"),
        Op(("split",), ("Split",), "keras.src.ops.numpy",
           (Arg("value", "x"), _config("num_or_size_splits", "indices_or_sections",
                                       to_k3=_sizes_to_indices, to_tf=_indices_to_sizes),
            _config("axis", tf_default=0)),
           tf_fixed={"num": None}, group="shape",
           notes="a list is the parts' sizes in TensorFlow but the split points in Keras 3 "
                 "(numpy): converted; an int is the number of equal parts in both"),
        Op(("unstack",), ("Unstack",), "keras.src.ops.core",
           (Arg("value", "x"), _config("num", tf_default=None), _config("axis", tf_default=0)),
           group="shape"),
        Op(("tile",), ("Tile",), "keras.src.ops.numpy",
           (Arg("input", "x"), _config("multiples", "repeats")), group="shape",
           notes="multiples (TF) is repeats (Keras 3); TensorFlow needs one per axis, numpy "
                 "prepends 1s to a shorter list"),
        Op(("compat.v1.pad", "pad"), ("Pad",), "keras.src.ops.numpy",
           (Arg("tensor", "x"), _config("paddings", "pad_width"),
            _config("mode", tf_default="CONSTANT", k3_default="constant", to_k3=_lower,
                    to_tf=_upper),
            Arg("constant_values", "constant_values", "kwarg", 0, None,
                to_k3=lambda v: None if v == 0 else v, to_tf=lambda v: 0 if v is None else v)),
           group="shape", k3_call_kwargs=("constant_values",),
           notes="mode is upper case in TensorFlow, lower case in Keras 3; a constant_values of "
                 "None (Keras 3) is 0, and Keras 3 refuses any other value unless mode is "
                 "constant (TensorFlow ignores it)"),
        # indexing
        Op(("__operators__.getitem",), ("GetItem",), "keras.src.ops.numpy",
           (Arg("tensor", "x"), Arg("slice_spec", "key", to_k3=_slice_to_k3, to_tf=_slice_to_tf)),
           group="indexing",
           notes="ints, slices (start:stop:step, negative steps too), Ellipsis and newaxis (None) "
                 "index as in numpy in both; tf_keras writes a slice as {start, stop, step}, "
                 "Keras 3 as a __slice__ object"),
        Op(("compat.v1.gather", "gather"), ("Take",), "keras.src.ops.numpy",
           (Arg("params", "x"), Arg("indices", "indices"),
            _config("axis", tf_default=None, to_k3=_axis_given, to_tf=_axis_given)),
           tf_fixed={"validate_indices": None, "batch_dims": 0}, group="indexing",
           notes="axis=None is axis 0 in TensorFlow but the flattened tensor in Keras 3 (rows "
                 "with None refused); Keras 3 wraps negative indices, TensorFlow refuses them"),
        # linear algebra, dtype, clipping, selection
        Op(("linalg.matmul",), ("Matmul",), "keras.src.ops.numpy",
           (Arg("a", "x1", to_k3=_array), Arg("b", "x2", to_k3=_array)),
           tf_fixed={"transpose_a": False, "transpose_b": False, "adjoint_a": False,
                     "adjoint_b": False, "a_is_sparse": False, "b_is_sparse": False,
                     "output_type": None},
           group="linalg", notes="the `@` operator in both; batch axes broadcast in both"),
        Op(("cast",), ("Cast",), "keras.src.ops.core",
           (Arg("x", "x"), _config("dtype")), group="dtype",
           notes="float -> int truncates toward zero in both"),
        Op(("clip_by_value",), ("Clip",), "keras.src.ops.numpy",
           (Arg("t", "x"), _config("clip_value_min", "x_min"), _config("clip_value_max", "x_max")),
           group="clip", notes="bounds must be constants (Keras 3 keeps them in the config)"),
        Op(("where",), ("Where",), "keras.src.ops.numpy",
           (Arg("condition", "condition", to_k3=_array), Arg("x", "x1", to_k3=_array),
            Arg("y", "x2", to_k3=_array)),
           group="selection",
           notes="with both x and y only: tf.where(c) alone gives indices, keras.ops.where(c) "
                 "numpy's nonzero; " + _DTYPE_PROMOTION),
        Op(("identity",), ("Copy",), "keras.src.ops.numpy", (Arg("input", "x"),),
           group="elementwise"),
    )


@functools.cache
def _indexes() -> tuple[tuple[Op, ...], dict[str, Op], dict[tuple[str, str], Op]]:
    """The table, and its rows by TF API name and by (Keras 3 module, class)."""
    table = _build_table()
    return (table, {name: op for op in table for name in op.tf},
            {(op.module, name): op for op in table for name in op.k3})


def __getattr__(name: str) -> Any:
    if name == "TABLE":  # ops.TABLE, built on first use
        return _indexes()[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def for_tf(function: str) -> Op | None:
    return _indexes()[1].get(function)


def for_keras3(module: str, class_name: str) -> Op | None:
    return _indexes()[2].get((module, class_name))


def keras3_module_of(class_name: str) -> str | None:
    """The module of the Keras 3 operation class of this name in the table (Keras 3's legacy
    .h5 writer leaves the module out)."""
    modules = {module for module, name in _indexes()[2] if name == class_name}
    return modules.pop() if len(modules) == 1 else None


def display_name(entry: dict[str, Any]) -> str:
    """How an operation is named in messages: tf.math.multiply, keras.ops.numpy.Multiply."""
    if is_tf_op(entry):
        return f"tf.{entry.get('config', {}).get('function')}"
    module = str(entry.get("module", "")).replace("keras.src.ops", "keras.ops")
    return f"{module}.{entry.get('class_name')}"


def _refuse(entry: dict[str, Any], what: str, target: str) -> UnsupportedError:
    shown = display_name(entry)
    return UnsupportedError(f"operation {shown} (layer '{layer_name(entry)}') {what}; {target} "
                            "cannot run it as written")


def _is_tensor_tree(value: Any) -> bool:
    if is_ref(value):
        return True
    if isinstance(value, dict):
        return any(_is_tensor_tree(v) for v in value.values())
    if isinstance(value, list):
        return any(_is_tensor_tree(v) for v in value)
    return False


def tf_to_keras3(entry: dict[str, Any]) -> dict[str, Any]:
    """A tf_keras op layer as the Keras 3 operation node of the same function (canonical
    operation form, call nodes)."""
    function = entry.get("config", {}).get("function")
    op = for_tf(str(function))
    if op is None:
        raise _refuse(entry, "has no row in modelport's op table (docs/ops.md)", "Keras 3")
    name = layer_name(entry)
    config: dict[str, Any] = {"name": name, **copy.deepcopy(op.k3_fixed)}
    nodes = []
    for node in entry.get("inbound_nodes") or []:
        first, kwargs = tf_node_to_call(node)
        kwargs = {k: v for k, v in kwargs.items() if k != "name"}
        given = dict(kwargs)
        given[op.args[0].tf] = first
        args: list[Any] = []
        call_kwargs: dict[str, Any] = {}
        node_config: dict[str, Any] = {}
        for arg in op.args:
            if arg.tf in given:
                value = given.pop(arg.tf)
            elif arg.tf_default is not REQUIRED:
                value = arg.tf_default
            else:
                raise _refuse(entry, f"is called without {arg.tf}", "Keras 3")
            if arg.to_k3 is not None and not _is_tensor_tree(value):
                try:
                    value = arg.to_k3(value)
                except ValueError as exc:
                    raise _refuse(entry, f"uses {exc}", "Keras 3") from None
            if arg.place == "config":
                if _is_tensor_tree(value):
                    raise _refuse(entry, f"takes a tensor as {arg.tf}", "Keras 3")
                node_config[arg.k3] = value
            elif arg.place == "kwarg":
                call_kwargs[arg.k3] = value
            else:
                args.append(value)
        for key, value in given.items():
            if key not in op.tf_fixed:
                raise _refuse(entry, f"is called with {key}={value!r}, which Keras 3's "
                              f"{op.k3[0]} has no argument for", "Keras 3")
            if value != op.tf_fixed[key]:
                raise _refuse(entry, f"is called with {key}={value!r}", "Keras 3")
        if nodes and node_config != {k: config[k] for k in node_config}:
            raise _refuse(entry, "is called with other arguments in another call", "Keras 3")
        config.update(node_config)
        nodes.append(call_node(args, call_kwargs))
    return {"module": op.module, "class_name": op.k3[0], "registered_name": op.k3[0],
            "name": name, "config": config, "inbound_nodes": nodes}


def _numpy_as_list(value: Any) -> Any:
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        cfg = value.get("config") or {}
        if str(cfg.get("dtype")) not in ("float32", "int32", "bool"):
            raise ValueError(f"a {cfg.get('dtype')} array constant")
        return cfg.get("value")
    return None


def keras3_to_tf(entry: dict[str, Any]) -> dict[str, Any]:
    """A Keras 3 operation node as the tf_keras TFOpLambda / SlicingOpLambda of the same
    function (list-form nodes as tf_keras writes them)."""
    op = for_keras3(str(entry.get("module")), str(entry.get("class_name")))
    if op is None:
        raise _refuse(entry, "has no row in modelport's op table (docs/ops.md)",
                      "tf_keras (Keras 2)")
    name = layer_name(entry)
    cfg = entry.get("config") or {}
    for key, value in cfg.items():
        if key == "name" or any(a.k3 == key and a.place == "config"
                                          for a in op.args):
            continue
        if key in op.k3_fixed and value == op.k3_fixed[key]:
            continue
        raise _refuse(entry, f"sets {key}={value!r}", "tf_keras")
    nodes = []
    call_args = [a for a in op.args if a.place == "call"]
    for node in entry.get("inbound_nodes") or []:
        # tf_keras writes an array constant as its nested list (TF converts it back with the
        # dtype Python values get: float32 / int32), Keras 3 as a __numpy__ object.
        try:
            positional = map_tree(list(node.get(ARGS) or []), _numpy_as_list)
            given_kwargs = map_tree(dict(node.get(KWARGS) or {}), _numpy_as_list)
        except ValueError as exc:
            raise _refuse(entry, f"takes {exc}", "tf_keras") from None
        if len(positional) > len(call_args):
            raise _refuse(entry, f"is called with {len(positional)} arguments", "tf_keras")
        by_name = dict(zip((a.k3 for a in call_args), positional, strict=False))
        for key, value in given_kwargs.items():
            if key in by_name or not any(a.k3 == key and a.place != "config" for a in op.args):
                raise _refuse(entry, f"is called with {key}={value!r}", "tf_keras")
            by_name[key] = value
        first: Any = None
        kwargs: dict[str, Any] = {}
        for index, arg in enumerate(op.args):
            if arg.place == "config":
                present = arg.k3 in cfg
                value = cfg.get(arg.k3)
            else:
                present = arg.k3 in by_name
                value = by_name.get(arg.k3)
            if not present:
                if arg.k3_default is REQUIRED:
                    raise _refuse(entry, f"is called without {arg.k3}", "tf_keras")
                value = arg.k3_default
            if arg.to_tf is not None and not _is_tensor_tree(value):
                try:
                    value = arg.to_tf(value)
                except ValueError as exc:
                    raise _refuse(entry, f"uses {exc}", "tf_keras") from None
            if index == 0:
                first = value
            else:
                kwargs[arg.tf] = value
        nodes.append(call_to_tf_node(first, kwargs))
    function = op.tf[0]
    class_name = "SlicingOpLambda" if function == "__operators__.getitem" else "TFOpLambda"
    return {"class_name": class_name, "name": name,
            "config": {"name": name, "trainable": True, "dtype": "float32",
                       "function": function},
            "inbound_nodes": nodes}


def rows() -> list[dict[str, Any]]:
    """The table for docs/ops.md."""
    out = []
    for op in _indexes()[0]:
        out.append({
            "group": op.group,
            "tf": ", ".join(f"tf.{name}" for name in op.tf),
            "keras3": ", ".join(f"{op.module.removeprefix('keras.src.')}.{name}"
                                for name in op.k3),
            "args": ", ".join(_arg_text(a) for a in op.args),
            "fixed": ", ".join([*(f"TF {k}={v!r}" for k, v in op.tf_fixed.items()),
                                *(f"Keras 3 {k}={v!r}" for k, v in op.k3_fixed.items())]),
            "notes": op.notes,
        })
    return out


def _arg_text(arg: Arg) -> str:
    name = arg.tf if arg.tf == arg.k3 else f"{arg.tf} -> {arg.k3}"
    where = {"call": "", "config": " (config)", "kwarg": " (call kwarg)"}[arg.place]
    defaults = ""
    if arg.tf_default is not REQUIRED or arg.k3_default is not REQUIRED:
        tf_default = "required" if arg.tf_default is REQUIRED else repr(arg.tf_default)
        k3_default = "required" if arg.k3_default is REQUIRED else repr(arg.k3_default)
        defaults = f" = {tf_default}" if tf_default == k3_default else \
            f" = {tf_default} (TF) / {k3_default} (Keras 3)"
    return f"{name}{where}{defaults}"


# ------------------------------------------------------------------- TF.js layers output

# Operations TF.js layers computes with the same function under a layer: the activation of
# that name (tfjs-layers' activations are TensorFlow's ops of the same name).
_TFJS_ACTIVATIONS = {"nn.relu": "relu", "nn.relu6": "relu6", "math.sigmoid": "sigmoid",
                     "math.tanh": "tanh", "nn.selu": "selu", "nn.elu": "elu",
                     "math.softplus": "softplus", "nn.softmax": "softmax"}
# x * c and x + c as Rescaling(scale, offset), which computes x * scale + offset: exact for
# these (x * 1 and x + 0 are x), not for x / c (x * (1 / c) rounds differently).
_TFJS_SCALINGS = {"math.multiply": (True, lambda c: (c, 0.0)),
                  "__operators__.add": (True, lambda c: (1.0, c)),
                  "math.subtract": (False, lambda c: (1.0, -c))}


def _as_tf(entry: dict[str, Any]) -> dict[str, Any]:
    return entry if is_tf_op(entry) else keras3_to_tf(entry)


def tfjs_layer(entry: dict[str, Any], route: str) -> dict[str, Any]:
    """An operation as the TF.js layer that computes exactly the same (canonical Keras 2
    entry, list-form node); refused otherwise, naming the op and `route`, what runs it."""
    name = layer_name(entry)
    try:
        tf_entry = _as_tf(entry)
    except UnsupportedError:
        tf_entry = None
    function = (tf_entry or {}).get("config", {}).get("function")
    nodes = (tf_entry or {}).get("inbound_nodes") or []
    shown = display_name(entry)
    refusal = UnsupportedError(f"operation {shown} (layer '{name}'): TF.js layers models have "
                               f"no operations and no layer computing exactly this; "
                               f"{route}")
    if tf_entry is None or len(nodes) != 1:
        raise refusal
    first, kwargs = tf_node_to_call(nodes[0])
    kwargs = {k: v for k, v in kwargs.items() if k != "name"}
    base = {"name": name, "trainable": True, "dtype": "float32"}
    if function in _TFJS_ACTIVATIONS and is_ref(first):
        allowed = {"nn.softmax": {"axis": (None, -1)}}.get(function, {})
        if all(k in allowed and v in allowed[k] for k, v in kwargs.items()):
            return {"class_name": "Activation", "name": name,
                    "config": {**base, "activation": _TFJS_ACTIVATIONS[function]},
                    "inbound_nodes": [[[*first[:3], {}]]]}
    if function in _TFJS_SCALINGS and set(kwargs) == {"y"}:
        commutative, scaling = _TFJS_SCALINGS[function]
        tensor, constant = first, kwargs["y"]
        if commutative and not is_ref(tensor) and is_ref(constant):
            tensor, constant = constant, tensor
        if is_ref(tensor) and isinstance(constant, int | float) and not isinstance(
                constant, bool):
            scale, offset = scaling(float(constant))
            return {"class_name": "Rescaling", "name": name,
                    "config": {**base, "scale": scale, "offset": offset},
                    "inbound_nodes": [[[*tensor[:3], {}]]]}
    raise refusal


def with_tfjs_layers(model_config: dict[str, Any], route: str) -> dict[str, Any]:
    """The canonical config with every operation written as its exact TF.js layer (nested
    models too); raises UnsupportedError for the first operation that has none, saying
    `route` (the conversion that runs it)."""

    def render(entry: dict[str, Any]) -> dict[str, Any]:
        if is_operation(entry):
            return tfjs_layer(entry, route)
        cfg = entry.get("config")
        if isinstance(cfg, dict) and isinstance(cfg.get("layers"), list):
            return {**entry, "config": {**cfg, "layers": [render(e) for e in cfg["layers"]]}}
        return entry

    return render(model_config)
