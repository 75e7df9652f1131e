"""lib.tools.picheck (make pi-check): its comparison and its errors; the emulated run itself is make pi-check (minutes,
downloads Debian and wheels), not part of make test."""
import numpy as np

from lib.tools import picheck


def _npz(path, **arrays):
    np.savez(path, labels=np.array([1, 0, 1]), **arrays)
    return path


def test_compare_int8_exact_float_tolerance(tmp_path):
    host = _npz(tmp_path / "h.npz", SM_INT8=np.array([[-128, 127], [127, -128], [0, 5]], np.int8),
                SM=np.array([[0.1, 0.9], [0.8, 0.2], [0.4, 0.6]], np.float32))
    same = _npz(tmp_path / "s.npz", SM_INT8=np.array([[-128, 127], [127, -128], [0, 5]], np.int8),
                SM=np.array([[0.1, 0.9 + 1e-7], [0.8, 0.2], [0.4, 0.6]], np.float32))
    rows = {r["model"]: r for r in picheck.compare(host, same)}
    assert rows["SM_INT8"]["ok"] and rows["SM"]["ok"] and rows["SM"]["accuracy"] == 1.0
    off = _npz(tmp_path / "o.npz", SM_INT8=np.array([[-128, 126], [127, -128], [0, 5]], np.int8),
               SM=np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6]], np.float32))
    rows = {r["model"]: r for r in picheck.compare(host, off)}
    assert not rows["SM_INT8"]["ok"] and rows["SM_INT8"]["max_difference"] == 1  # one output level is a difference
    assert not rows["SM"]["ok"] and rows["SM"]["decisions_differ"] == 1


def test_missing_bundle_is_named(tmp_path, capsys):
    assert picheck.main(["--bundle", str(tmp_path / "nothing")]) == 2
    assert "no bundle" in capsys.readouterr().err


def test_pi4_cpuinfo_and_pins():
    assert picheck.PI4_CPUINFO.count("CPU part\t: 0xd08") == 4  # four Cortex-A72 cores
    assert {"numpy", "psutil", "ai-edge-litert"} <= set(picheck.pins())
