"""FLOPs counted from the ONNX graph and the MatMul peak: the floor `edgecv bench` reports against."""
import numpy as np
import onnx
from onnx import TensorProto, helper

from edgecv.runtimes.floor import model_flops, peak_gflops


def test_flops_of_a_known_graph(tmp_path):
    # Conv 3->8, 3x3, on 1x3x10x10 (pads 1): 2*8*10*10 * 3*3*3 ; Gemm 800 -> 5: 2*800*5
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 10, 10])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5])
    w = onnx.numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    fw = onnx.numpy_helper.from_array(np.zeros((5, 800), np.float32), "fw")
    shape = onnx.numpy_helper.from_array(np.array([0, -1], np.int64), "shape")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Reshape", ["c", "shape"], ["f"]),
             helper.make_node("Gemm", ["f", "fw"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "t", [x], [y], [w, fw, shape])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    flops, notes = model_flops(path)
    assert flops == 2 * 8 * 10 * 10 * 27 + 2 * 800 * 5 and notes == []
    assert model_flops(path, batch=4)[0] == 4 * flops


def test_sample_model_flops_and_a_positive_peak(sample_onnx):
    flops, _ = model_flops(sample_onnx)
    assert flops > 1e5
    assert peak_gflops(int8=False, n=256, seconds=0.05) > 0 and peak_gflops(int8=True, n=256, seconds=0.05) > 0
