"""One TensorFlow thread per process (lib/__init__.py, Makefile): the numbers do not depend on the core count."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import lib  # sets the thread defaults before TensorFlow starts
import os
import numpy as np
import tensorflow as tf
x = tf.constant(np.random.default_rng(0).standard_normal(2_000_000).astype(np.float32) * 1e3)
print(os.environ["TF_NUM_INTRAOP_THREADS"], os.environ["TF_NUM_INTEROP_THREADS"], repr(float(tf.reduce_sum(x))))
"""


def probe(**env) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env={**base, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_import_lib_gives_one_thread_unless_the_environment_chose():
    default, one, three = probe(), probe(TF_NUM_INTRAOP_THREADS="1"), probe(TF_NUM_INTRAOP_THREADS="3")
    assert default[:2] == ["1", "1"] and three[:2] == ["3", "1"]
    # TensorFlow honours it: the default sums as one thread does, and 3 threads split the sum otherwise
    assert default[2] == one[2]
    assert three[2] != one[2]


def test_an_empty_value_counts_as_unset():
    assert probe(TF_NUM_INTRAOP_THREADS="", TF_NUM_INTEROP_THREADS=" ")[:2] == ["1", "1"]


# a clean make: neither the outer make's command line (MAKEFLAGS) nor its thread settings
CLEAN = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "STANDIN")


def make_threads(*args, **env) -> tuple[list[str], str]:
    base = {k: v for k, v in os.environ.items() if k not in CLEAN}
    run = lambda *a: subprocess.run(["make", "-s", "--no-print-directory", *args, *a], cwd=ROOT,  # noqa: E731
                                    env={**base, **env}, capture_output=True, text=True, check=True).stdout
    threads = run("--eval", "print-threads: ; @echo $$TF_NUM_INTRAOP_THREADS $$TF_NUM_INTEROP_THREADS",
                  "print-threads").split()
    return threads, run("print-standin").strip()


def test_makefile_exports_one_thread_and_the_standin_another_count():
    threads, standin = make_threads()
    assert threads == ["1", "1"] and standin == "TF_NUM_INTRAOP_THREADS=2"
    threads, standin = make_threads(TF_NUM_INTRAOP_THREADS="")
    assert threads == ["1", "1"]
    # a study told to use 2 threads gets a stand-in that still differs from it
    threads, standin = make_threads(TF_NUM_INTRAOP_THREADS="2")
    assert threads == ["2", "1"] and standin == "TF_NUM_INTRAOP_THREADS=3"
