"""``dataprep eval``: sliding-window perplexity (every token scored once; equal to the full-context loss when a
document fits), bits per byte, k-shot multiple choice in letter and completion mode, the C-Eval and MMLU
layouts, the checkpoint -> packed data -> tokenizer chain, and the CLI's JSON."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from conftest import ROOT  # noqa: E402

from dataprep.cli import main as cli  # noqa: E402
from dataprep.evaluation_data import is_multiple_choice, load_multiple_choice  # noqa: E402
from dataprep.pack import encode, load_tokenizer  # noqa: E402
from dataprep.train import ModelConfig, TrainConfig, Transformer  # noqa: E402
from dataprep.train.evaluate import (  # noqa: E402
    build_prompt,
    language,
    letter_tokens,
    load_model,
    multiple_choice,
    perplexity,
    window_plan,
)

EVAL = ROOT / "sample_data" / "eval"


@pytest.fixture(autouse=True)
def _one_thread_no_grad():
    """One intra-op thread (no threads fighting over a busy machine's cores) and no autograd graphs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with torch.no_grad():
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tok_path(tmp_path_factory) -> Path:
    from dataprep.tokenizer import train_bpe

    base = tmp_path_factory.mktemp("evaltok")
    info = train_bpe([str(ROOT / "sample_data" / "reference")], 600, base / "tok.json", limit_docs=300)
    return Path(info["tokenizer"])


@pytest.fixture(scope="module")
def enc(tok_path):
    tok = load_tokenizer(tok_path)
    return lambda texts: encode(tok, texts)


def _model(vocab: int, seq_len: int, seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=vocab, max_seq_len=seq_len, dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                      multiple_of=32)
    model = Transformer(cfg)
    with torch.no_grad():  # larger weights than the init's, so that the logits vary with the history
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(8)
    return model.eval()


def _saved_model(folder: Path, tok_path: Path, seq_len: int = 64) -> Transformer:
    """A checkpoint in the training output layout, with a packed folder whose manifest names the tokenizer."""
    from dataprep.pack import file_sha256

    tok = load_tokenizer(tok_path)
    packed = folder / "packed"
    packed.mkdir(parents=True)
    (packed / "manifest.json").write_text(json.dumps({
        "format": "dataprep-packed/1", "seq_len": seq_len, "eos_id": tok.token_to_id("<|endoftext|>"),
        "vocab_size": tok.get_vocab_size(), "tokenizer": {"path": str(tok_path), "sha256": file_sha256(tok_path)}}))
    model = _model(tok.get_vocab_size(), seq_len)
    out = folder / "out"
    out.mkdir()
    torch.save({"model": model.state_dict(), "model_config": dataclasses.asdict(model.cfg), "step": 3,
                "config": dataclasses.asdict(TrainConfig(data=str(packed), out=str(out)))}, out / "checkpoint.pt")
    return model


def _plain_nll(model: Transformer, seq: list[int]) -> float:
    """Sum of the NLL of seq[1:] given everything before, in one forward pass."""
    x = torch.tensor([seq[:-1]])
    logits, _ = model(x)
    logp = torch.log_softmax(logits.float(), -1)[0]
    return -float(logp.gather(1, torch.tensor(seq[1:])[:, None]).double().sum())


@pytest.mark.parametrize("n,context,stride", [(1, 4, 2), (10, 4, 2), (10, 4, 4), (10, 4, 1), (7, 16, 8),
                                               (100, 32, 7)])
def test_window_plan_scores_every_target_once(n, context, stride):
    scored = []
    for start, end, k in window_plan(n, context, stride):
        assert end - start <= context and k >= 1
        scored.extend(range(end + 1 - k, end + 1))  # target indices
    assert scored == list(range(1, n + 1))


def test_perplexity_equals_full_context_when_documents_fit(enc):
    model = _model(600, 64)
    texts = ["The river runs through the old town.", "图书馆每天早上九点开门。", "A short one."]
    ids = enc(texts)
    assert max(len(i) for i in ids) < 64
    res = perplexity(model, [(i, len(t.encode())) for i, t in zip(ids, texts, strict=True)], eos_id=0,
                     batch_size=2)
    want = sum(_plain_nll(model, [0, *i]) for i in ids)
    assert res["tokens"] == sum(len(i) for i in ids)
    assert res["nll"] == pytest.approx(want, rel=1e-5)
    assert res["ppl"] == pytest.approx(math.exp(want / res["tokens"]), rel=1e-5)
    # bits per byte and perplexity describe the same NLL
    assert res["bpb"] == pytest.approx(math.log(res["ppl"]) * res["tokens"] / math.log(2) / res["bytes"], rel=1e-6)
    assert res["bytes"] == sum(len(t.encode("utf-8")) for t in texts)


def test_long_documents_slide_and_score_each_token_once():
    model = _model(97, 16)
    torch.manual_seed(1)
    docs = [torch.randint(1, 97, (n,)).tolist() for n in (5, 40, 61)]
    seen: dict[int, int] = {}
    res = perplexity(model, [(d, len(d)) for d in docs], eos_id=0, stride=5, batch_size=3,
                     on_window=lambda doc, k: seen.__setitem__(doc, seen.get(doc, 0) + k))
    assert seen == {0: 5, 1: 40, 2: 61} and res["tokens"] == 106
    # the same windows computed by hand: each window's last `k` predictions
    want = 0.0
    for d in docs:
        seq = [0, *d]
        for start, end, k in window_plan(len(d), 16, 5):
            logits, _ = model(torch.tensor([seq[start:end]]))
            logp = torch.log_softmax(logits.float(), -1)[0, -k:]
            want -= float(logp.gather(1, torch.tensor(seq[end + 1 - k: end + 1])[:, None]).sum())
    assert res["nll"] == pytest.approx(want, rel=1e-5)
    # the short document alone fits: it matches the full-context NLL
    short = perplexity(model, [(docs[0], 5)], eos_id=0)
    assert short["nll"] == pytest.approx(_plain_nll(model, [0, *docs[0]]), rel=1e-5)
    # with more history per window (stride 1) the long documents' NLL changes: the history is really used
    assert perplexity(model, [(d, 1) for d in docs], eos_id=0, stride=1)["nll"] != pytest.approx(res["nll"])


class _Forced(torch.nn.Module):
    """A model whose next-token logits are a fixed bias: the letter (or token) it prefers is known."""

    def __init__(self, vocab: int, prefer: dict[int, float]) -> None:
        super().__init__()
        self.cfg = ModelConfig(vocab_size=vocab, max_seq_len=512)
        self.bias = torch.nn.Parameter(torch.zeros(vocab))
        with torch.no_grad():
            for i, v in prefer.items():
                self.bias[i] = v

    def forward(self, tokens, targets=None, doc_ids=None):
        return self.bias.expand(*tokens.shape, -1), None


def _items(n: int = 6, subject: str = "geo", zh: bool = False) -> list[dict]:
    q = "中国的首都是哪座城市？" if zh else "What is the capital?"
    return [{"question": f"{q} {i}", "A": "Paris", "B": "Rome", "C": "Oslo", "D": "Bern", "answer": "ABCD"[i % 4],
             "subject": subject} for i in range(n)]


@pytest.mark.parametrize("zh", [False, True])
def test_letter_mode_picks_the_letter_with_the_highest_logit(enc, zh):
    lang = "zh" if zh else "en"
    extra, letters = letter_tokens(enc, lang)
    items = _items(8, zh=zh)
    for k, target in enumerate(letters):
        model = _Forced(600, {target: 5.0, letters[(k + 1) % 4]: 4.0})
        res = multiple_choice(model, items, enc, eos_id=0, shots=2)
        assert res["subjects"]["geo"]["lang"] == lang
        assert res["correct"] == sum(it["answer"] == "ABCD"[k] for it in items) == 2
    # a token outside the four letters, however likely, is not a prediction
    model = _Forced(600, {letters[2]: 1.0, 5: 50.0})
    assert multiple_choice(model, items, enc, eos_id=0)["correct"] == 2  # always C


def test_letter_tokens_follow_the_cue(enc):
    extra, letters = letter_tokens(enc, "en")
    for letter, tid in zip("ABCD", letters, strict=True):
        ids = extra + [tid]
        assert enc([" " + letter])[0][: len(ids)] == ids
    _, zh_letters = letter_tokens(enc, "zh")
    assert zh_letters == [enc([c])[0][0] for c in "ABCD"]
    # the cue as it ends a prompt is encoded the same alone as with the letter after it
    prompt = build_prompt(_items(3), 0, 2, "en")
    assert prompt.endswith("Answer:")
    assert enc([prompt])[0] + extra + [letters[1]] == enc([prompt + " B"])[0][: len(enc([prompt])[0]) + len(extra) + 1]


def test_prompt_layout_and_shots():
    items = _items(5)
    prompt = build_prompt(items, 2, 3, "en")
    assert prompt.startswith("The following are multiple choice questions (with answers) about geo.\n\n")
    # the first three *other* items, solved, then the question
    assert [line for line in prompt.splitlines() if line.startswith("What")] == \
        [f"What is the capital? {i}" for i in (0, 1, 3, 2)]
    assert prompt.count("Answer:") == 4 and "Answer: A\n\n" in prompt and "Answer: B\n\n" in prompt
    zh = build_prompt(_items(3, zh=True), 0, 1, "zh")
    assert zh.startswith("以下是中国关于geo考试的单项选择题") and zh.endswith("答案：")
    assert "答案：B\n\n" in zh
    assert language(_items(3, zh=True)) == "zh" and language(_items(3)) == "en"


def test_completion_mode_normalizes_by_bytes(enc):
    """A model that gives every token the same probability: a choice's log-likelihood is proportional to its
    token count, so unnormalized scoring picks the choice with the fewest tokens, acc_norm the one with the
    fewest tokens per byte (the longest well-compressed text)."""
    uniform = _Forced(600, {})
    long_text = "the the the the the the the the"
    items = [{"question": "Q?", "A": "xq", "B": long_text, "C": "zq", "D": "kq", "answer": "B", "subject": "s"}]
    n_tok = [len(enc([" " + t])[0]) for t in ("xq", long_text, "zq", "kq")]
    per_byte = [n / len(t) for n, t in zip(n_tok, ("xq", long_text, "zq", "kq"), strict=True)]
    assert per_byte[1] < min(per_byte[0], per_byte[2], per_byte[3])
    res = multiple_choice(uniform, items, enc, eos_id=0, mode="completion")
    assert res["acc"] == 1.0  # per byte, the long choice wins
    assert res["acc_unnorm"] == 0.0  # per choice, more tokens lose
    items[0]["answer"] = "A"
    assert multiple_choice(uniform, items, enc, eos_id=0, mode="completion")["acc"] == 0.0


def test_completion_mode_matches_hand_computed_loglikelihood(enc):
    model = _model(600, 256)
    items = _items(3)
    res = multiple_choice(model, items, enc, eos_id=0, shots=1, mode="completion")
    correct = 0
    for i, it in enumerate(items):
        ctx = [0, *enc([build_prompt(items, i, 1, "en", "completion")])[0]]
        scores = []
        for letter in "ABCD":
            cont = enc([" " + it[letter]])[0]
            seq = ctx + cont
            logits, _ = model(torch.tensor([seq[:-1]]))
            logp = torch.log_softmax(logits.float(), -1)[0, -len(cont):]
            ll = float(logp.gather(1, torch.tensor(cont)[:, None]).sum())
            scores.append(ll / len(it[letter].encode()))
        correct += "ABCD"[max(range(4), key=scores.__getitem__)] == it["answer"]
    assert res["correct"] == correct


def test_sample_sets_load_in_both_layouts(tmp_path):
    en = load_multiple_choice(EVAL / "mmlu_en")
    zh = load_multiple_choice(EVAL / "ceval_zh")
    assert not en.skipped and not zh.skipped
    assert len(en.items) == 60 and len(zh.items) == 60
    assert sorted({it["subject"] for it in zh.items}) == ["basic_science", "chinese_geography",
                                                           "middle_school_mathematics"]
    assert {it["answer"] for it in en.items} == set("ABCD")
    assert language([it for it in zh.items if it["subject"] == "chinese_geography"]) == "zh"
    assert zh.items[0]["question"] != "question"  # the C-Eval header is a header, not an item
    assert is_multiple_choice(EVAL / "mmlu_en") and not is_multiple_choice(EVAL / "text")
    # bad rows are skipped and named; JSONL (with a subject column, and HF's choices + index) loads too
    bad = tmp_path / "mix_test.csv"
    bad.write_text("q1,a,b,c,d,A\nq2,a,b,c,d,E\nq3,a,,c,d,B\n", encoding="utf-8")
    got = load_multiple_choice(bad)
    assert [it["question"] for it in got.items] == ["q1"] and got.items[0]["subject"] == "mix"
    assert [w.rsplit(":", 1)[1] for w, _ in got.skipped] == ["2", "3"]
    js = tmp_path / "set.jsonl"
    js.write_text(json.dumps({"question": "q", "choices": ["w", "x", "y", "z"], "answer": 2, "subject": "s"})
                  + "\n{broken\n", encoding="utf-8")
    got = load_multiple_choice(js)
    assert got.items[0]["C"] == "y" and got.items[0]["answer"] == "C" and got.items[0]["subject"] == "s"
    assert len(got.skipped) == 1 and got.skipped[0][0].endswith(":2")
    assert is_multiple_choice(js)


def test_checkpoint_tokenizer_chain_and_cli_json(tmp_path, tok_path, enc):
    model = _saved_model(tmp_path, tok_path)
    loaded = load_model(tmp_path / "out")
    assert loaded.tokenizer == tok_path and loaded.step == 3
    x = torch.tensor([[1, 2, 3, 4]])
    assert torch.equal(loaded.model(x)[0], model(x)[0])
    result = CliRunner().invoke(cli, ["eval", str(tmp_path / "out"), "--data", str(EVAL / "text" / "heldout.jsonl"),
                                      "--data", str(EVAL / "ceval_zh"), "--data", str(EVAL / "mmlu_en"), "--json",
                                      "--shots", "1", "--device", "cpu"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"heldout", "ceval_zh", "mmlu_en"}
    assert set(out["heldout"]) == {"ppl", "bpb", "tokens", "bytes"}
    texts = [json.loads(line)["text"] for line in (EVAL / "text" / "heldout.jsonl").read_text().splitlines()]
    assert out["heldout"]["tokens"] == sum(len(i) for i in enc(texts))
    assert out["heldout"]["bytes"] == sum(len(t.encode()) for t in texts)
    assert out["ceval_zh"]["n"] == 60 and set(out["ceval_zh"]["subjects"]) == {
        "basic_science", "chinese_geography", "middle_school_mathematics"}
    assert all(s["lang"] == "zh" for s in out["ceval_zh"]["subjects"].values())
    assert all(s["lang"] == "en" for s in out["mmlu_en"]["subjects"].values())
    assert 0 <= out["mmlu_en"]["acc"] <= 1
    text = CliRunner().invoke(cli, ["eval", str(tmp_path / "out"), "--data", str(EVAL / "mmlu_en"), "--mc-mode",
                                    "completion", "--device", "cpu"])
    assert text.exit_code == 0, text.output
    assert "mmlu_en: accuracy" in text.output and "world_geography" in text.output
    # a training folder without a checkpoint: one line, exit 2
    (tmp_path / "empty").mkdir()
    bad = CliRunner().invoke(cli, ["eval", str(tmp_path / "empty"), "--data", str(EVAL / "mmlu_en")])
    assert bad.exit_code == 2 and "checkpoint.pt" in bad.output
