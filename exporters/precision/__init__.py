"""Lower precision from an fp32 edgecv ONNX (torch-free: onnx + ONNX Runtime only): ``int8`` (static
QDQ with accuracy held automatically) and ``fp16`` (onnxconverter-common, fp32 I/O)."""
