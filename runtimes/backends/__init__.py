"""One file per backend (``onnxrt``, ``trt``, ``pyt``), imported lazily by ``edgecv.runtimes.load``."""
