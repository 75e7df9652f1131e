"""lib.compress.deploy: the fitted preprocessing as one affine map inside the model, kept in float, and a full-integer student
after it; on the test rows of a split it gives the outputs of the separate preprocessing + SM_INT8. lib.device.classify
reads the contract written beside that model (its tables and errors: tests/test_classify.py)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from lib.core import params, paths
from lib.device import classify, litert
from lib.data import datasets, preprocess, splits
from lib.train import architectures
from lib.compress import deploy, tflite


@pytest.fixture(scope="module")
def split():
    P = params.load("wdbc")
    ds = datasets.load(P)
    s = splits.ensure(P, ds.y)[0]
    return ds.X.to_numpy(float), ds.y, s, preprocess.prepare(P, ds, s)


def test_preprocessing_is_one_affine_map(split):
    X, _, s, prep = split
    A, b = deploy.affine_of(prep.transform, X.shape[1], X[s.test])
    assert A.shape == (30, 26)
    assert np.allclose(X[s.test] @ A + b, prep.X_test[..., 0], atol=1e-5)

    class Log:
        def transform(self, Z):
            return np.log1p(np.abs(Z))

    with pytest.raises(deploy.DeployError, match="not affine"):
        deploy.affine_of(Log(), 3)


@pytest.fixture(scope="module")
def deployed(split):
    import tf_keras

    X, y, s, prep = split
    tf_keras.utils.set_random_seed(0)
    student = architectures.build_student(26)  # untrained weights: the test is about conversion, not accuracy
    A, b = deploy.affine_of(prep.transform, X.shape[1])
    return student, A, b, deploy.convert(deploy.build(student, A, b), X[s.train])


def test_deploy_model_matches_separate_preprocessing_and_int8_student(split, deployed):
    X, y, s, prep = split
    student, A, b, content = deployed
    from ai_edge_litert.interpreter import Interpreter

    dtypes = {t["name"]: t["dtype"] for t in Interpreter(model_content=content).get_tensor_details()}
    assert all(v == np.float32 for k, v in dtypes.items() if k.endswith("preprocess/MatMul;SM_DEPLOY/preprocess/BiasAdd"))
    assert any(v == np.int8 for k, v in dtypes.items() if "logits/MatMul" in k)  # the student is int8
    separate = litert.LiteModel(tflite.convert(student, "int8", prep.X_train)).predict(prep.X_test)
    inside = litert.LiteModel(content).predict(X[s.test].astype(np.float32))
    assert np.abs(inside - separate).max() <= 2 / 256  # at most two output levels
    assert (inside.argmax(1) != separate.argmax(1)).sum() <= 1
    with pytest.raises(deploy.DeployError, match="raw training rows"):
        deploy.convert(deploy.build(student, A, b), X[:0])


def test_deploy_conversion_is_byte_identical_to_from_keras_model(split, deployed):
    """The quantization debugger converts through lib.compress.tflite.keras_converter: the same bytes as through
    TFLiteConverter.from_keras_model (what deploy.convert used before), so no result changed."""
    X, y, s, prep = split
    student, A, b, content = deployed
    assert deploy.convert(deploy.build(student, A, b), X[s.train], reference=True) == content


def _csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    return path


def test_classify_reads_the_contract_deploy_writes(split, deployed, tmp_path):
    """The contract lib.compress.deploy.contract writes beside a freshly converted model is what lib.device.classify
    reads: any column order, the model's own outputs, the command line in a process without TensorFlow, pandas or
    scikit-learn. The tables, errors and minimal install of classify: tests/test_classify.py."""
    X, y, s, prep = split
    content = deployed[3]
    names = list(datasets.load(params.load("wdbc")).X.columns)
    model = tmp_path / "sm_deploy.tflite"
    model.write_bytes(content)
    doc = deploy.contract(content, model="SM_DEPLOY", run="wdbc", split="r0f0", features=names,
                          units="raw measurements", threshold=0.5)
    (tmp_path / "sm_deploy.json").write_text(json.dumps(doc, indent=1))
    rows = X[s.test][:5]
    good = _csv(tmp_path / "in.csv", names[::-1], [r[::-1] for r in rows])  # any column order
    p, d, _ = classify.classify(model, good)
    want = litert.LiteModel(content).predict(rows.astype(np.float32))
    assert np.allclose(p, want[:, 1] / want.sum(axis=1), atol=1e-6) and len(d) == 5
    code = ("import sys, runpy; sys.argv = ['classify', %r, %r]; "
            "sys.modules['tensorflow'] = sys.modules['pandas'] = sys.modules['sklearn'] = None; "
            "runpy.run_module('lib.device.classify', run_name='__main__')") % (str(model), str(good))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=paths.ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "row,p_malignant,malignant,label" and len(proc.stdout.splitlines()) == 6
    with pytest.raises(classify.InputError, match="missing column"):
        classify.classify(model, _csv(tmp_path / "b1.csv", names[1:], rows[:, 1:]))
