"""onnxruntime checks shared by the model and registry tests (test-only dependency)."""
import numpy as np
import onnxruntime as ort


def session(path, optimize):
    so = ort.SessionOptions()
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def max_diff(onnx_path, x, want_pred, want_label=None):
    """Largest |ORT - driftrun| over batch sizes 1, 7 and 1024, optimisations off and on."""
    worst = 0.0
    labels_ok = True
    if len(x) < 1024:  # a full batch of 1024 rows: repeat the rows
        reps = -(-1024 // len(x))
        x = np.concatenate([x] * reps)
        want_pred = np.concatenate([want_pred] * reps)
        want_label = None if want_label is None else np.concatenate([want_label] * reps)
    for optimize in (False, True):
        s = session(onnx_path, optimize)
        for bs in (1, 7, 1024):
            n = min(len(x), max(bs * 3, bs))
            for b in range(0, n, bs):
                out = s.run(None, {"input": x[b:b + bs]})
                worst = max(worst, float(np.max(np.abs(out[0] - want_pred[b:b + bs]))))
                if want_label is not None:
                    labels_ok &= bool(np.array_equal(out[1], want_label[b:b + bs]))
    return worst, labels_ok


def metadata(onnx_path):
    return session(onnx_path, False).get_modelmeta().custom_metadata_map
