"""A per-sample convolution that exports to an ONNX ``Scan`` over the batch.

In eager mode :func:`per_sample_conv2d` folds the batch into the conv groups (fast in PyTorch).
While ``torch.onnx.export(dynamo=True)`` traces it, it emits a placeholder node
``edgecv::PerSampleConv`` through ``torch.onnx.ops.symbolic``; :func:`expand_scan_nodes` replaces each
placeholder after export by a standard ONNX ``Scan`` whose body is
``Unsqueeze -> Conv(x_i, w_i) -> Squeeze``, so the result uses only the default ONNX domain.
"""
from __future__ import annotations

import onnx
import torch
import torch.nn.functional as F
from onnx import helper

DOMAIN = "edgecv"
OP_TYPE = "PerSampleConv"


def conv_out_size(size, k, stride, padding, dilation):
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def per_sample_conv2d(x, w, stride, padding, dilation, groups):
    """x (N, C, H, W) convolved with its own kernel w[n] (N, O, C/g, k, k)."""
    n, c, h, wd = x.shape
    o, k = w.shape[1], w.shape[-1]
    if torch.onnx.is_in_onnx_export():
        shape = (n, o, conv_out_size(h, k, stride[0], padding[0], dilation[0]),
                 conv_out_size(wd, k, stride[1], padding[1], dilation[1]))
        return torch.onnx.ops.symbolic(
            f"{DOMAIN}::{OP_TYPE}", (x, w),
            {"strides": list(stride), "pads": list(padding) * 2, "dilations": list(dilation), "group": groups},
            dtype=x.dtype, shape=shape, version=1)
    out = F.conv2d(x.reshape(1, n * c, h, wd), w.reshape(-1, *w.shape[2:]), None, stride, padding,
                   dilation, groups * n)
    return out.reshape(n, o, out.shape[-2], out.shape[-1])


def _body(node: onnx.NodeProto, idx: int) -> onnx.GraphProto:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    p = f"psc{idx}_"
    axes = helper.make_tensor(p + "axes_v", onnx.TensorProto.INT64, [1], [0])
    nodes = [
        helper.make_node("Constant", [], [p + "axes"], value=axes),
        helper.make_node("Unsqueeze", [p + "x", p + "axes"], [p + "x4"]),
        helper.make_node("Conv", [p + "x4", p + "w"], [p + "y4"], strides=attrs["strides"],
                         pads=attrs["pads"], dilations=attrs["dilations"], group=attrs["group"]),
        helper.make_node("Squeeze", [p + "y4", p + "axes"], [p + "y"]),
    ]
    f = onnx.TensorProto.FLOAT
    return helper.make_graph(nodes, f"per_sample_conv_{idx}",
                             [helper.make_tensor_value_info(p + "x", f, None),
                              helper.make_tensor_value_info(p + "w", f, None)],
                             [helper.make_tensor_value_info(p + "y", f, None)])


def _expand_in_graph(graph: onnx.GraphProto, counter: list[int]) -> None:
    new_nodes = []
    for node in graph.node:
        for a in node.attribute:  # recurse into subgraphs (If/Loop bodies)
            if a.type == onnx.AttributeProto.GRAPH:
                _expand_in_graph(a.g, counter)
        if node.domain == DOMAIN and node.op_type == OP_TYPE:
            counter[0] += 1
            scan = helper.make_node("Scan", list(node.input), list(node.output),
                                    name=(node.name or OP_TYPE) + "_scan",
                                    num_scan_inputs=2, body=_body(node, counter[0]))
            scan.metadata_props.extend(node.metadata_props)  # keeps the torch module scope
            new_nodes.append(scan)
        else:
            new_nodes.append(node)
    del graph.node[:]
    graph.node.extend(new_nodes)


def expand_scan_nodes(model: onnx.ModelProto) -> int:
    """Replace every ``edgecv::PerSampleConv`` by a default-domain ``Scan``; returns the count."""
    counter = [0]
    _expand_in_graph(model.graph, counter)
    if counter[0]:
        imports = [o for o in model.opset_import if o.domain != DOMAIN]
        del model.opset_import[:]
        model.opset_import.extend(imports)
    return counter[0]
