"""GraphDef surgery for TF.js: pruning to the outputs, folding batch norms and per-channel affine
ops into conv/matmul weights, fusing conv/matmul + BiasAdd + activation and PReLU the way TF.js
runs them, and expanding those TF.js-only ops back into TensorFlow ones."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

DT_FLOAT = 1
# Activations TF.js's fused conv/matmul kernels apply (tfjs-core fused_util.applyActivation).
TFJS_FUSED_ACTIVATIONS = ("Relu", "Relu6", "Elu", "LeakyRelu", "Sigmoid", "Prelu")
# Activations TensorFlow's own _FusedConv2D / _FusedMatMul CPU kernels apply.
TF_FUSED_ACTIVATIONS = ("Relu", "Relu6", "Elu", "LeakyRelu")
_CONV_LIKE = ("MatMul", "Conv2D", "DepthwiseConv2dNative")
_FUSED_OP = {"MatMul": "_FusedMatMul", "Conv2D": "_FusedConv2D",
             "DepthwiseConv2dNative": "FusedDepthwiseConv2dNative"}
_BATCH_NORMS = ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")

MakeNdarray = Callable[[Any], np.ndarray]
MakeTensorProto = Callable[..., Any]


def node_name(tensor: str) -> str:
    return tensor.lstrip("^").split(":")[0]


def _attr(node: Any, key: str, kind: str, default: Any = None) -> Any:
    """Attribute `key`'s `kind` field (s, b, f, i), or `default` when the node has none;
    indexing a NodeDef's attr map directly would add an empty attribute."""
    return getattr(node.attr[key], kind) if key in node.attr else default


def _first_output(tensor: str) -> bool:
    return ":" not in tensor or tensor.endswith(":0")


def prune(graph_def: Any, outputs: list[str]) -> Any:
    """Keep only the nodes the outputs depend on (control inputs included): lowering control
    flow and folding leave unused Placeholders and Consts behind."""
    by_name = {node.name: node for node in graph_def.node}
    keep: set[str] = set()
    stack = [node_name(o) for o in outputs]
    while stack:
        name = stack.pop()
        if name in keep or name not in by_name:
            continue
        keep.add(name)
        stack.extend(node_name(i) for i in by_name[name].input)
    kept = [node for node in graph_def.node if node.name in keep]
    del graph_def.node[:]
    graph_def.node.extend(kept)
    return graph_def


class _Graph:
    """A GraphDef with its nodes by name and who consumes each node's outputs."""

    def __init__(self, graph_def: Any, outputs: list[str], make_ndarray: MakeNdarray,
                 make_tensor_proto: MakeTensorProto):
        self.graph_def = graph_def
        self.outputs = {node_name(o) for o in outputs}
        self.make_ndarray = make_ndarray
        self.make_tensor_proto = make_tensor_proto
        self.refresh()

    def refresh(self) -> None:
        self.nodes = {node.name: node for node in self.graph_def.node}
        self.consumers: dict[str, list[tuple[Any, str]]] = defaultdict(list)
        for node in self.graph_def.node:
            for tensor in node.input:
                self.consumers[node_name(tensor)].append((node, tensor))

    def producer(self, tensor: str) -> Any | None:
        """The node whose first output `tensor` is (None for other outputs, control edges)."""
        if tensor.startswith("^") or not _first_output(tensor):
            return None
        return self.nodes.get(node_name(tensor))

    def feeds_only(self, node: Any, user: Any) -> bool:
        """True when `user` is the one node reading `node` (see `sole_consumer`)."""
        found = self.sole_consumer(node)
        return found is not None and found.name == user.name

    def sole_consumer(self, node: Any) -> Any | None:
        """The one node reading `node` (by data edge, output 0), if exactly one does and
        `node` is no graph output."""
        users = self.consumers.get(node.name, [])
        if node.name in self.outputs or len(users) != 1:
            return None
        user, tensor = users[0]
        return None if tensor.startswith("^") or not _first_output(tensor) else user

    def constant(self, tensor: str) -> np.ndarray | None:
        node = self.producer(tensor)
        if node is None or node.op != "Const":
            return None
        return self.make_ndarray(node.attr["value"].tensor)

    def add_const(self, name: str, array: np.ndarray) -> str:
        unique, i = name, 1
        while unique in self.nodes:
            unique, i = f"{name}_{i}", i + 1
        node = self.graph_def.node.add()
        node.name, node.op = unique, "Const"
        node.attr["value"].tensor.CopyFrom(self.make_tensor_proto(array))
        node.attr["dtype"].type = node.attr["value"].tensor.dtype
        self.nodes[unique] = node
        return unique

    def add_node(self, name: str, op: str, inputs: list[str], like: Any) -> Any:
        """A new node named `name` (replacing any node of that name) of type T like `like`."""
        node = self.graph_def.node.add()
        node.name, node.op, node.device = name, op, like.device
        node.input.extend(inputs)
        if "T" in like.attr:
            node.attr["T"].CopyFrom(like.attr["T"])
        self.nodes[name] = node
        return node

    def remove(self, *nodes: Any) -> None:
        """Drop `nodes`; references to any node of the graph are stale afterwards (the
        kept nodes are copied back), so callers look nodes up again by name."""
        gone = {id(node) for node in nodes}
        kept = [n for n in self.graph_def.node if id(n) not in gone]
        del self.graph_def.node[:]
        self.graph_def.node.extend(kept)
        self.refresh()


def _is_nhwc(node: Any) -> bool:
    return _attr(node, "data_format", "s", b"NHWC") in (b"NHWC", b"")


def _channels(conv: Any, weights: np.ndarray) -> int | None:
    if conv.op == "MatMul":
        return None if _attr(conv, "transpose_b", "b") else weights.shape[-1]
    if not _is_nhwc(conv) or weights.ndim != 4:
        return None
    if conv.op == "DepthwiseConv2dNative":
        return weights.shape[2] * weights.shape[3]
    return weights.shape[-1]


def _per_channel(value: np.ndarray, channels: int, rank: int) -> np.ndarray | None:
    """`value` as a (channels,) vector when multiplying or adding it to a tensor of `rank`
    with `channels` last acts per channel without changing the shape; else None."""
    if value.dtype != np.float32 or value.ndim > rank:
        return None
    if value.size == 1:
        return np.full(channels, value.reshape(()), np.float32)
    if value.size == channels and value.shape[-1] == channels:
        return value.reshape(channels)
    return None


def _affine(graph: _Graph, node: Any) -> tuple[str, np.ndarray | None, np.ndarray | None] | None:
    """For a node computing x*scale + shift per channel with constant scale/shift: (x, scale,
    shift) with the constants as found (broadcast later); None otherwise."""
    if node.op in ("Mul", "AddV2", "Add", "Sub") and len(node.input) == 2:
        a, b = node.input
        ca, cb = graph.constant(a), graph.constant(b)
        if (ca is None) == (cb is None):
            return None
        x, c = (b, ca) if ca is not None else (a, cb)
        if node.op == "Mul":
            return x, c, None
        if node.op == "Sub":
            return (a, None, -cb) if cb is not None else None
        return x, None, c
    if node.op in _BATCH_NORMS and not _attr(node, "is_training", "b", True) and _is_nhwc(node):
        if not all(_first_output(t) for _, t in graph.consumers.get(node.name, [])):
            return None
        params = [graph.constant(t) for t in node.input[1:5]]
        if any(p is None for p in params):
            return None
        gamma, beta, mean, variance = (p.astype(np.float64) for p in params)
        scale = gamma / np.sqrt(variance + _attr(node, "epsilon", "f", 1e-4))
        return (node.input[0], scale.astype(np.float32),
                (beta - mean * scale).astype(np.float32))
    return None


def _fold_affine(graph: _Graph) -> bool:
    """Fold one per-channel Mul/Add/Sub/FusedBatchNorm after a conv/matmul (+ BiasAdd) with
    constant weights into those weights and the bias; the folded node becomes the BiasAdd.
    True when something was folded."""
    for node in list(graph.graph_def.node):
        found = _affine(graph, node)
        if found is None:
            continue
        x, scale, shift = found
        producer = graph.producer(x)
        if producer is None or not graph.feeds_only(producer, node):
            continue
        bias_add = None
        if producer.op == "BiasAdd" and _is_nhwc(producer):
            bias_add, conv = producer, graph.producer(producer.input[0])
            if conv is None or not graph.feeds_only(conv, producer):
                continue
        else:
            conv = producer
        if conv.op not in _CONV_LIKE or any(i.startswith("^") for i in conv.input):
            continue
        weights = graph.constant(conv.input[1])
        if weights is None or weights.dtype != np.float32:
            continue
        channels = _channels(conv, weights)
        if channels is None:
            continue
        bias = (graph.constant(bias_add.input[1]) if bias_add is not None
                else np.zeros(channels, np.float32))
        if bias is None or bias.shape != (channels,):
            continue
        rank = 2 if conv.op == "MatMul" else 4
        scale_vec = (np.ones(channels, np.float32) if scale is None
                     else _per_channel(scale, channels, rank))
        shift_vec = (np.zeros(channels, np.float32) if shift is None
                     else _per_channel(shift, channels, rank))
        if scale_vec is None or shift_vec is None:
            continue
        if conv.op == "DepthwiseConv2dNative":
            new_weights = weights * scale_vec.reshape(weights.shape[2], weights.shape[3])
        else:
            new_weights = weights * scale_vec
        new_bias = (bias * scale_vec + shift_vec).astype(np.float32)
        weights_name = graph.add_const(f"{conv.name}/folded_weights",
                                       new_weights.astype(np.float32))
        bias_name = graph.add_const(f"{node.name}/folded_bias", new_bias)
        conv.input[1] = weights_name
        like = bias_add if bias_add is not None else conv
        replacement = graph.add_node(node.name, "BiasAdd", [conv.name, bias_name], like)
        replacement.attr["data_format"].s = b"NHWC"
        graph.remove(*(n for n in (node, bias_add) if n is not None))
        return True
    return False


def _relu_of(graph: _Graph, tensor: str) -> Any | None:
    node = graph.producer(tensor)
    return node if node is not None and node.op == "Relu" else None


def _fuse_prelu(graph: _Graph) -> bool:
    """relu(x) - alpha * relu(-x), as Keras writes PReLU (its Neg(alpha) constant-folded into
    relu(x) + c * relu(-x)), becomes one Prelu(x, alpha) node, which TF.js runs."""
    for node in list(graph.graph_def.node):
        if node.op not in ("Add", "AddV2", "Sub") or len(node.input) != 2:
            continue
        for positive_at in (0, 1) if node.op != "Sub" else (0,):
            positive = _relu_of(graph, node.input[positive_at])
            scaled = graph.producer(node.input[1 - positive_at])
            if positive is None or scaled is None or scaled.op != "Mul":
                continue
            for alpha_at in (0, 1):
                coefficient = graph.constant(scaled.input[alpha_at])
                negative = _relu_of(graph, scaled.input[1 - alpha_at])
                if coefficient is None or negative is None:
                    continue
                neg = graph.producer(negative.input[0])
                if neg is None or neg.op != "Neg" or neg.input[0] != positive.input[0]:
                    continue
                inner = (positive, scaled, negative, neg)
                if any(graph.sole_consumer(n) is None for n in inner):
                    continue
                alpha = coefficient if node.op == "Sub" else -coefficient
                alpha_name = graph.add_const(f"{node.name}/alpha", alpha.astype(np.float32))
                graph.add_node(node.name, "Prelu", [positive.input[0], alpha_name], node)
                graph.remove(node, *inner)
                return True
    return False


def _fuse_conv_bias_activation(graph: _Graph) -> bool:
    """conv/matmul + BiasAdd (+ a TF.js fused activation) -> _FusedConv2D, _FusedMatMul or
    FusedDepthwiseConv2dNative with fused_ops [BiasAdd(, activation)]."""
    for bias_add in list(graph.graph_def.node):
        if bias_add.op != "BiasAdd" or not _is_nhwc(bias_add):
            continue
        conv = graph.producer(bias_add.input[0])
        if (conv is None or conv.op not in _CONV_LIKE or (conv.op != "MatMul" and not
                                                          _is_nhwc(conv))
                or not graph.feeds_only(conv, bias_add)
                or any(i.startswith("^") for i in (*conv.input, *bias_add.input))):
            continue
        activation = graph.sole_consumer(bias_add)
        if (activation is None or activation.op not in TFJS_FUSED_ACTIVATIONS
                or activation.input[0] != bias_add.name
                or any(i.startswith("^") for i in activation.input)):
            activation = None
        args = [bias_add.input[1]]
        if activation is not None and activation.op == "Prelu":
            args.append(activation.input[1])
        last = activation or bias_add
        fused = graph.add_node(last.name, _FUSED_OP[conv.op], [*conv.input[:2], *args], conv)
        for key, value in conv.attr.items():
            fused.attr[key].CopyFrom(value)
        fused.attr["num_args"].i = len(args)
        fused_ops = [b"BiasAdd"] + ([activation.op.encode()] if activation is not None else [])
        fused.attr["fused_ops"].list.s.extend(fused_ops)
        if conv.op == "Conv2D":
            fused.attr["TArgs"].list.type.extend([conv.attr["T"].type] * len(args))
        if activation is not None and activation.op == "LeakyRelu":
            fused.attr["leakyrelu_alpha"].f = _attr(activation, "alpha", "f", 0.2)
        graph.remove(*(n for n in (conv, bias_add, activation) if n is not None))
        return True
    return False


def _expand_training_batch_norm(graph: _Graph) -> bool:
    """A FusedBatchNorm in training mode normalises with the batch's own statistics (tf_keras
    LayerNormalization is written that way); TF.js's ignores is_training and would divide by
    the empty mean/variance it is given. Spell it out in ops TF.js runs."""
    for node in list(graph.graph_def.node):
        if node.op not in _BATCH_NORMS:
            continue
        channels_first = _attr(node, "data_format", "s") == b"NCHW"
        if (not _attr(node, "is_training", "b", True)
                or not (channels_first or _is_nhwc(node))
                or not all(_first_output(t) for _, t in graph.consumers.get(node.name, []))):
            continue
        live, name = node, node.name
        x, scale, offset = node.input[:3]
        epsilon = np.float32(_attr(node, "epsilon", "f", 1e-4))
        axes = graph.add_const(f"{name}/axes", np.array([0, 2, 3] if channels_first
                                                        else [0, 1, 2], np.int32))
        eps = graph.add_const(f"{name}/epsilon", np.array(epsilon, np.float32))

        def make(suffix: str, op: str, inputs: list[str], keep_dims: bool = False,
                 name: str = name, like: Any = live) -> str:
            created = graph.add_node(f"{name}/{suffix}" if suffix else name, op, inputs, like)
            if op == "Mean":
                created.attr["keep_dims"].b = keep_dims
                created.attr["Tidx"].type = 3  # DT_INT32
            return created.name

        mean = make("mean", "Mean", [x, axes], keep_dims=True)
        centered = make("centered", "Sub", [x, mean])
        variance = make("variance", "Mean", [make("squared", "Square", [centered]), axes],
                        keep_dims=True)
        inverse = make("inverse_std", "Rsqrt", [make("variance_eps", "AddV2", [variance, eps])])
        normalised = make("normalised", "Mul", [centered, inverse])
        if channels_first:  # scale and offset apply along axis 1
            column = graph.add_const(f"{name}/channel_shape", np.array([-1, 1, 1], np.int32))
            scale = make("scale_nchw", "Reshape", [scale, column])
            offset = make("offset_nchw", "Reshape", [offset, column])
            for reshaped in (scale, offset):
                graph.nodes[reshaped].attr["Tshape"].type = 3  # DT_INT32
        scaled = make("scaled", "Mul", [normalised, scale])
        graph.remove(live)
        make("", "AddV2", [scaled, offset])
        graph.refresh()
        return True
    return False


def fold_batch_norms(graph_def: Any, outputs: list[str], make_ndarray: MakeNdarray,
                     make_tensor_proto: MakeTensorProto) -> Any:
    """Fold batch norms and per-channel affine ops into the conv/matmul weights before them;
    batch norms in training mode become the ops computing them."""
    graph = _Graph(graph_def, outputs, make_ndarray, make_tensor_proto)
    while _expand_training_batch_norm(graph):
        pass
    while _fold_affine(graph):
        pass
    return prune(graph.graph_def, outputs)


def drop_control_inputs(graph_def: Any, outputs: list[str]) -> Any:
    """Remove control edges (and the NoOps only they reach). A frozen inference graph has no
    side effects for them to order, and TF.js mishandles them: it waits on control inputs as
    on data, so a loop whose body carries them never yields its outputs."""
    for node in graph_def.node:
        data = [tensor for tensor in node.input if not tensor.startswith("^")]
        if len(data) != len(node.input):
            del node.input[:]
            node.input.extend(data)
    return prune(graph_def, outputs)


def fuse_for_tfjs(graph_def: Any, outputs: list[str], make_ndarray: MakeNdarray,
                  make_tensor_proto: MakeTensorProto) -> Any:
    """Fuse PReLU, then conv/matmul + bias + activation, into the ops TF.js runs in one kernel
    (TensorFlow cannot import the result: Prelu and FusedDepthwiseConv2dNative are TF.js's)."""
    graph = _Graph(graph_def, outputs, make_ndarray, make_tensor_proto)
    for rewrite in (_fuse_prelu, _fuse_conv_bias_activation):
        while rewrite(graph):
            pass
    return prune(graph.graph_def, outputs)


# ------------------------------------------------------------------- back to TensorFlow ops

def _expand_prelu(graph: _Graph, name: str, x: str, alpha: str, like: Any) -> None:
    """Prelu(x, alpha) as relu(x) - alpha * relu(-x), the node `name` giving the result."""
    negated = graph.add_node(f"{name}/negated", "Neg", [x], like)
    negative = graph.add_node(f"{name}/negative_part", "Relu", [negated.name], like)
    scaled = graph.add_node(f"{name}/scaled", "Mul", [alpha, negative.name], like)
    positive = graph.add_node(f"{name}/positive_part", "Relu", [x], like)
    graph.add_node(name, "Sub", [positive.name, scaled.name], like)


def _expand_one(graph: _Graph, live: Any) -> bool:
    node = type(live)()
    node.CopyFrom(live)  # removing `live` from the graph would leave it stale
    if node.op == "Prelu":
        graph.remove(live)
        _expand_prelu(graph, node.name, node.input[0], node.input[1], node)
        return True
    if node.op not in ("FusedDepthwiseConv2dNative", "_FusedConv2D", "_FusedMatMul"):
        return False
    fused_ops = [op.decode() for op in node.attr["fused_ops"].list.s] if (
        "fused_ops" in node.attr) else []
    activation = fused_ops[1] if len(fused_ops) > 1 else None
    if node.op != "FusedDepthwiseConv2dNative" and (
            fused_ops[:1] == ["BiasAdd"] and len(fused_ops) <= 2
            and (activation is None or activation in TF_FUSED_ACTIVATIONS)):
        return False  # TensorFlow runs it as it is
    if fused_ops[:1] != ["BiasAdd"] or len(fused_ops) > 2:
        return False  # not a TF.js fusion: leave it for TensorFlow to judge
    graph.remove(live)
    x, weights, bias = node.input[:3]
    if node.op == "FusedDepthwiseConv2dNative":
        core = graph.add_node(f"{node.name}/depthwise", "DepthwiseConv2dNative", [x, weights],
                              node)
        for key in ("strides", "padding", "explicit_paddings", "data_format", "dilations"):
            if key in node.attr:
                core.attr[key].CopyFrom(node.attr[key])
        biased = graph.add_node(f"{node.name}/bias_add" if activation else node.name,
                                "BiasAdd", [core.name, bias], node)
        biased.attr["data_format"].s = b"NHWC"
    else:
        biased = graph.add_node(f"{node.name}/bias_add", node.op, [x, weights, bias], node)
        for key, value in node.attr.items():
            biased.attr[key].CopyFrom(value)
        biased.attr["num_args"].i = 1
        del biased.attr["fused_ops"].list.s[:]
        biased.attr["fused_ops"].list.s.append(b"BiasAdd")
        if "TArgs" in biased.attr:
            del biased.attr["TArgs"].list.type[1:]
    if activation == "Prelu":
        _expand_prelu(graph, node.name, biased.name, node.input[3], node)
    elif activation is not None:
        act = graph.add_node(node.name, activation, [biased.name], node)
        if activation == "LeakyRelu":
            act.attr["alpha"].f = _attr(node, "leakyrelu_alpha", "f", 0.2)
    graph.refresh()
    return True


def expand_tfjs_ops(graph_def: Any, make_ndarray: MakeNdarray,
                    make_tensor_proto: MakeTensorProto) -> Any:
    """Replace the ops only TF.js has (Prelu, FusedDepthwiseConv2dNative, fused activations
    TensorFlow's kernels lack) by TensorFlow ops computing the same, keeping node names."""
    graph = _Graph(graph_def, [], make_ndarray, make_tensor_proto)
    changed = True
    while changed:
        changed = any(_expand_one(graph, node) for node in list(graph.graph_def.node))
    return graph.graph_def



# ------------------------------------------------------------ type attrs older converters left out

# A DataType enum past this is the reference type of (value - 100) (DT_FLOAT_REF = 101).
_REF_OFFSET = 100


def _arg_count(node: Any, arg: Any, defaults: dict[str, Any]) -> int | None:
    """How many tensors the OpDef argument `arg` takes on `node` (None when an attr the node
    lacks decides it)."""
    if arg.number_attr:
        value = node.attr[arg.number_attr] if arg.number_attr in node.attr else defaults.get(
            arg.number_attr)
        return None if value is None else int(value.i)
    if arg.type_list_attr:
        value = node.attr[arg.type_list_attr] if arg.type_list_attr in node.attr else (
            defaults.get(arg.type_list_attr))
        return None if value is None else len(value.list.type)
    return 1


def _arg_dtypes(node: Any, arg: Any, defaults: dict[str, Any]) -> list[int] | None:
    """The dtypes of the tensors an OpDef argument of `node` takes or gives (None when an attr
    the node lacks decides them)."""
    def attr(name: str) -> Any:
        return node.attr[name] if name in node.attr else defaults.get(name)

    if arg.type_list_attr:
        value = attr(arg.type_list_attr)
        return None if value is None else list(value.list.type)
    count = _arg_count(node, arg, defaults)
    if arg.type:
        dtype = arg.type
    else:
        value = attr(arg.type_attr) if arg.type_attr else None
        dtype = None if value is None else value.type
    return None if count is None or not dtype else [dtype] * count


def _defaults(op_def: Any) -> dict[str, Any]:
    return {a.name: a.default_value for a in op_def.attr if a.HasField("default_value")}


def add_missing_type_attrs(graph_def: Any, lookup_op: Callable[[str], Any]) -> Any:
    """Give each node the type attrs its registered OpDef requires and the node lacks (`T`,
    `TArgs`, `N`, ...), inferred from the dtypes of its inputs: TF.js runs nodes without them,
    and converters (tensorflowjs_converter 1.x-3.x fusing `_FusedConv2D` / `_FusedMatMul`,
    TF.js-only ops such as Prelu expanded here) leave them out; `tf.import_graph_def` refuses
    such a node. An attr with a default stays unset (TensorFlow applies the default); nodes of
    ops `lookup_op` does not know (returns None) are left alone, their outputs of unknown
    dtype. Library functions are not visited."""
    nodes = {node.name: node for node in graph_def.node}
    op_defs: dict[str, Any] = {}

    def op_def(op: str) -> Any:
        if op not in op_defs:
            op_defs[op] = lookup_op(op)
        return op_defs[op]

    def output_dtype(tensor: str) -> int | None:
        producer = nodes.get(node_name(tensor))
        definition = op_def(producer.op) if producer is not None else None
        if definition is None:
            return None
        index = int(tensor.split(":")[1]) if ":" in tensor else 0
        flat: list[int] = []
        defaults = _defaults(definition)
        for arg in definition.output_arg:
            dtypes = _arg_dtypes(producer, arg, defaults)
            if dtypes is None:
                return None if index >= len(flat) else flat[index]
            flat.extend(dtypes)
        if index >= len(flat):
            return None
        return flat[index] - _REF_OFFSET if flat[index] > _REF_OFFSET else flat[index]

    def missing(node: Any, definition: Any) -> list[Any]:
        return [a for a in definition.attr if a.name not in node.attr
                and not a.HasField("default_value") and a.type in ("type", "list(type)", "int")]

    def complete(node: Any, definition: Any) -> bool:
        """Set what can be inferred of the node's missing attrs; True when any was set."""
        defaults = _defaults(definition)
        data = [t for t in node.input if not t.startswith("^")]
        counts = [_arg_count(node, arg, defaults) for arg in definition.input_arg]
        unknown = [i for i, count in enumerate(counts) if count is None]
        if len(unknown) > 1:
            return False
        if unknown:
            counts[unknown[0]] = len(data) - sum(c for c in counts if c is not None)
            if counts[unknown[0]] < 0:
                return False
        changed, start = False, 0
        for arg, count in zip(definition.input_arg, counts, strict=True):
            dtypes = [output_dtype(t) for t in data[start:start + count]]
            start += count
            if arg.number_attr and arg.number_attr not in node.attr:
                node.attr[arg.number_attr].i = count
                changed = True
            if arg.type_list_attr and arg.type_list_attr not in node.attr:
                if None not in dtypes:
                    node.attr[arg.type_list_attr].list.type.extend(dtypes)
                    changed = True
            elif arg.type_attr and arg.type_attr not in node.attr:
                known = next((d for d in dtypes if d is not None), None)
                if known is not None:
                    node.attr[arg.type_attr].type = known
                    changed = True
        return changed

    pending = []
    for node in graph_def.node:
        definition = op_def(node.op)
        if definition is not None and missing(node, definition):
            pending.append((node, definition))
    # Each pass settles the nodes whose inputs' dtypes are known; a chain of such nodes in
    # reverse file order takes one pass per link.
    while pending:
        progress = [complete(node, definition) for node, definition in pending]
        pending = [(node, definition) for node, definition in pending
                   if missing(node, definition)]
        if not any(progress):
            break
    return graph_def


_ENTER = ("Enter", "RefEnter")
_EXIT = ("Exit", "RefExit")
_NEXT_ITERATION = ("NextIteration", "RefNextIteration")


def _frames(graph_def: Any) -> dict[str, str]:
    """The while-loop frame every node runs in ('' outside loops), in topological order (the
    NextIteration -> Merge back edges left out), as TensorFlow's executor assigns them."""
    nodes = {n.name: n for n in graph_def.node}
    inputs = {n.name: [node_name(r) for r in n.input if not r.startswith("^")
                       and node_name(r) in nodes
                       and nodes[node_name(r)].op not in _NEXT_ITERATION]
              for n in graph_def.node}
    waiting = {name: len(refs) for name, refs in inputs.items()}
    consumers: dict[str, list[str]] = {}
    for name, refs in inputs.items():
        for ref in refs:
            consumers.setdefault(ref, []).append(name)
    ready = [name for name, count in waiting.items() if count == 0]
    frames: dict[str, str] = {}
    parents: dict[str, str] = {}
    while ready:
        name = ready.pop()
        node = nodes[name]
        outer = next((frames[r] for r in inputs[name] if frames.get(r)), "")
        if node.op in _ENTER:
            frame = node.attr["frame_name"].s.decode()
            parents[frame] = outer
        elif node.op in _EXIT:
            frame = parents.get(outer, "")
        else:
            frame = outer
        frames[name] = frame
        for consumer in consumers.get(name, []):
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                ready.append(consumer)
    return frames


def put_constants_in_loop_frames(graph_def: Any) -> None:
    """TF.js graph models carry no control edges, but TensorFlow places a Const inside a
    while loop's frame only through one (a Const without inputs runs outside every loop, and
    a node fed from two frames is refused). Each loop-body use of a Const gets its own copy
    with a control input from another input of the consumer, which runs in that frame on
    every iteration."""
    if not any(n.op in _ENTER for n in graph_def.node):
        return
    frames = _frames(graph_def)
    nodes = {n.name: n for n in graph_def.node}
    for node in list(graph_def.node):
        frame = frames.get(node.name, "")
        if not frame or node.op in _ENTER:
            continue
        data = [r for r in node.input if not r.startswith("^")]
        pivot = next((node_name(r) for r in data
                      if getattr(nodes.get(node_name(r)), "op", "Const") != "Const"), None)
        if pivot is None:
            continue
        for index, ref in enumerate(node.input):
            const = nodes.get(node_name(ref))
            if ref.startswith("^") or const is None or const.op != "Const":
                continue
            copy = graph_def.node.add()
            copy.CopyFrom(const)
            copy.name = f"{const.name}/in_loop/{node.name}"
            copy.input.append(f"^{pivot}")
            nodes[copy.name] = copy
            node.input[index] = copy.name
