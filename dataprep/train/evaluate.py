"""Evaluating a trained model (``dataprep eval``): perplexity and bits per byte on text, and k-shot
multiple-choice accuracy (C-Eval / MMLU), so that two cleaning recipes can be compared by the models they train.

Why here: the training package already holds the model and the checkpoint layout; this module finds a training
output folder's checkpoint and, through the chain checkpoint -> ``config["data"]`` (the packed folder) ->
``manifest.json`` -> ``tokenizer``, the tokenizer the model was trained with. It imports only torch, numpy and
the standard library (the training package rule); the caller (``dataprep.cli``) loads the tokenizer and reads
the data (:mod:`dataprep.evaluation_data`) and hands this module token-encoding callables and plain records.

Perplexity (the sliding-window procedure of the Hugging Face guide "Perplexity of fixed-length models",
https://huggingface.co/docs/transformers/perplexity): each document is tokenized alone, preceded by the EOS
token (the packer puts EOS between documents, so a training document always starts after one; it is context,
never scored). A document longer than the model's context is scored in windows of ``context`` tokens that
start every ``stride`` tokens; each window scores only the targets that no earlier window scored, so every
token is scored exactly once, with at least ``context - stride`` tokens of history after the first window.
``ppl = exp(NLL / tokens)``; bits per byte ``bpb = NLL / ln 2 / UTF-8 bytes`` (the tokenizer-independent
measure of Gao et al. 2020, The Pile, sec. 3), so models with different tokenizers compare.

Multiple choice, letter mode (the MMLU procedure, Hendrycks et al. 2021, and C-Eval's answer-only setting,
Huang et al. 2023): a header naming the subject, ``k`` solved examples of the same subject (the first ``k``
other items, in file order: deterministic), then the question with its choices and ``Answer:`` (English) or
``答案：`` (Chinese; chosen by the share of CJK characters in the subject's questions). The prediction is the
letter whose token has the highest next-token logit. Tokenization: the letter is encoded as the model would see
it after the cue, ``" A"`` after ``Answer:`` and ``"A"`` after ``答案：`` (as in the solved examples), separately
from the prompt, as lm-evaluation-harness encodes context and continuation. Where a tokenizer splits that
string (a small BPE without the merge ``ĠA`` gives ``Ġ``, ``A``), the tokens the four letters share are
appended to the prompt and the four *first differing* tokens are compared; :func:`letter_tokens` raises if
they are not four distinct tokens.

Completion mode (lm-evaluation-harness ``acc_norm``, for small models, which are at chance on letters): the
prompt lists no choices; each choice's text is scored as the continuation of ``Answer:`` (``" " + text``) or
``答案：`` (``text``): the sum of its tokens' log-probabilities divided by the UTF-8 byte length of the choice
text (the harness divides by characters; bytes make zh and en comparable), argmax. ``acc`` (unnormalized) is
reported too.

Prompts longer than the context are cut from the left (the oldest solved examples go first), as the harness
does, and counted as ``truncated``.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dataprep.train.config import ModelConfig
from dataprep.train.model import Transformer

#: a batch encoder: texts -> token ids (no special tokens added)
Encode = Callable[[list[str]], list[list[int]]]

LETTERS = ("A", "B", "C", "D")

#: share of CJK characters among a subject's letters and digits above which its prompt is Chinese; C-Eval
#: questions are nearly all CJK, MMLU's none, so any threshold between works (a half: majority rule)
CJK_SHARE = 0.5


@dataclass
class LoadedModel:
    """A model read from a training output folder, and what the chain of files says about its tokenizer."""

    model: Transformer
    config: ModelConfig
    checkpoint: Path
    step: int
    tokenizer: Path
    eos_id: int
    data: Path | None = None
    warnings: list[str] = field(default_factory=list)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Read ``folder/checkpoint.pt`` (or a checkpoint file) written by :func:`dataprep.train.train`, and find
    its tokenizer: the checkpoint's ``config["data"]`` is the packed folder, whose ``manifest.json`` names the
    tokenizer file (absolute, or relative to the working directory where ``dataprep pack`` ran, tried
    from here, from the packed folder and from the folder that holds it) and its sha256, which must match.
    Raises ``ValueError`` (one line) when a link is missing."""
    import json

    path = Path(folder)
    ckpt = path / "checkpoint.pt" if path.is_dir() else path
    if not ckpt.exists():
        raise ValueError(f"{ckpt} does not exist: MODEL must be a training output folder (with checkpoint.pt)")
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
    except Exception as exc:  # a torn or foreign file: one line naming it
        raise ValueError(f"{ckpt}: not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or "model" not in state or "model_config" not in state:
        raise ValueError(f"{ckpt}: not a dataprep training checkpoint (no 'model' and 'model_config')")
    mcfg = ModelConfig(**state["model_config"])
    model = Transformer(mcfg)
    model.load_state_dict(state["model"])
    model.to(device).eval()
    data = (state.get("config") or {}).get("data")
    if not data:
        raise ValueError(f"{ckpt}: the checkpoint's config names no packed data, so no tokenizer can be found")
    packed = Path(data)
    manifest_path = packed / "manifest.json"
    if not manifest_path.exists():
        raise ValueError(f"{manifest_path} (the packed data of {ckpt}) does not exist: its manifest names the "
                         f"model's tokenizer")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    tok_info = manifest.get("tokenizer") or {}
    named = Path(tok_info.get("path", ""))
    candidates = [named] if named.is_absolute() else \
        [named, packed / named, packed.parent / named, packed / named.name]
    tok_path = next((c for c in candidates if c.is_file()), None)
    if tok_path is None:
        raise ValueError(f"{manifest_path}: its tokenizer {named} does not exist (looked at "
                         f"{', '.join(str(c) for c in candidates)})")
    notes = []
    if tok_info.get("sha256") and _file_sha256(tok_path) != tok_info["sha256"]:
        raise ValueError(f"{tok_path}: sha256 differs from the one {manifest_path} records: not the tokenizer "
                         f"the model was trained with")
    if int(manifest.get("vocab_size", mcfg.vocab_size)) != mcfg.vocab_size:
        notes.append(f"{manifest_path}: vocab_size {manifest.get('vocab_size')} differs from the model's "
                     f"{mcfg.vocab_size}")
    return LoadedModel(model=model, config=mcfg, checkpoint=ckpt, step=int(state.get("step", 0)),
                       tokenizer=tok_path, eos_id=int(manifest["eos_id"]), data=packed, warnings=notes)


# ---------------------------------------------------------------------------------------------------------
# perplexity


def window_plan(n_targets: int, context: int, stride: int) -> list[tuple[int, int, int]]:
    """Windows over a sequence ``seq[0..n_targets]`` whose targets are ``seq[1..n_targets]`` (``seq[0]`` is the
    EOS context). Each entry ``(start, end, n_scored)``: the window's input is ``seq[start:end]`` (at most
    ``context`` tokens), it predicts ``seq[start+1:end+1]`` and scores the last ``n_scored`` of them, those
    no earlier window scored. Windows start every ``stride`` tokens (HF guide); the scored counts sum to
    ``n_targets``."""
    if context < 1 or not 1 <= stride <= context:
        raise ValueError(f"need 1 <= stride <= context, got stride {stride}, context {context}")
    plan: list[tuple[int, int, int]] = []
    prev = 0
    start = 0
    while prev < n_targets:
        end = min(start + context, n_targets)
        plan.append((start, end, end - prev))
        prev = end
        start += stride
    return plan


def _forward_logprobs(model: torch.nn.Module, seqs: list[list[int]], device: torch.device
                      ) -> list[torch.Tensor]:
    """Per sequence, log-softmax over the vocabulary at every position (``len(seq)`` rows), one padded batch.
    Right padding cannot change earlier positions of a causal model."""
    width = max(len(s) for s in seqs)
    batch = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        batch[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    logits, _ = model(batch.to(device))
    logp = torch.log_softmax(logits.float(), dim=-1)
    return [logp[i, : len(s)] for i, s in enumerate(seqs)]


@torch.no_grad()
def perplexity(model: torch.nn.Module, docs: Iterable[tuple[Sequence[int], int]], eos_id: int,
               context: int | None = None, stride: int | None = None, batch_size: int = 8,
               device: str | torch.device | None = None, on_window: Callable[[int, int], None] | None = None
               ) -> dict[str, Any]:
    """Perplexity and bits per byte of ``docs`` (each: its token ids, its UTF-8 byte count), every token scored
    once (:func:`window_plan`). ``context`` defaults to the model's ``max_seq_len``, ``stride`` to half of it
    (the guide's example uses 512 of 1024). Memory: one batch of windows. ``on_window(doc, scored)`` sees
    every window (for tests). Returns ``ppl``, ``bpb``, ``tokens``, ``bytes``, ``nll`` (nats), ``documents``."""
    cfg = getattr(model, "cfg", None)
    context = context or (cfg.max_seq_len if cfg is not None else 1024)
    stride = stride or max(1, context // 2)
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    nll = 0.0
    tokens = n_bytes = n_docs = 0
    pending: list[tuple[list[int], list[int]]] = []  # (window input, targets to score)

    def flush() -> None:
        nonlocal nll
        if not pending:
            return
        rows = _forward_logprobs(model, [w for w, _ in pending], dev)
        for logp, (_, targets) in zip(rows, pending, strict=True):
            k = len(targets)
            picked = logp[-k:].gather(1, torch.tensor(targets, device=dev)[:, None])
            nll -= float(picked.double().sum())
        pending.clear()

    for doc_index, (ids, nbytes) in enumerate(docs):
        n_docs += 1
        n_bytes += int(nbytes)
        seq = [int(eos_id), *map(int, ids)]
        for start, end, scored in window_plan(len(seq) - 1, context, stride):
            pending.append((seq[start:end], seq[end + 1 - scored: end + 1]))
            tokens += scored
            if on_window is not None:
                on_window(doc_index, scored)
            if len(pending) >= batch_size:
                flush()
    flush()
    ppl = math.exp(min(nll / tokens, 700)) if tokens else float("nan")
    bpb = nll / math.log(2) / n_bytes if n_bytes else float("nan")
    return {"ppl": ppl, "bpb": bpb, "tokens": tokens, "bytes": n_bytes, "nll": nll, "documents": n_docs}


# ---------------------------------------------------------------------------------------------------------
# multiple choice


def cjk_share(texts: Iterable[str]) -> float:
    """Share of CJK ideographs, kana and hangul among the letters and digits of ``texts``."""
    cjk = total = 0
    for text in texts:
        for ch in text:
            if not ch.isalnum():
                continue
            total += 1
            name = unicodedata.name(ch, "")
            if name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL")):
                cjk += 1
    return cjk / total if total else 0.0


def language(items: Sequence[dict[str, Any]]) -> str:
    """``zh`` where the questions are mostly CJK (:data:`CJK_SHARE`), else ``en``."""
    return "zh" if cjk_share(it["question"] for it in items) > CJK_SHARE else "en"


def _subject_name(subject: str) -> str:
    return subject.replace("_", " ").strip()


def header(subject: str, lang: str) -> str:
    """The instruction line: MMLU's (``evaluate.py`` of hendrycks/test) or C-Eval's (its README's prompt)."""
    if lang == "zh":
        return f"以下是中国关于{_subject_name(subject)}考试的单项选择题，请选出其中的正确答案。\n\n"
    return f"The following are multiple choice questions (with answers) about {_subject_name(subject)}.\n\n"


def cue(lang: str) -> tuple[str, str]:
    """(the answer cue, what separates it from the answer): ``Answer:`` + ``" "``, or ``答案：`` + ``""``."""
    return ("答案：", "") if lang == "zh" else ("Answer:", " ")


def format_question(item: dict[str, Any], lang: str, with_choices: bool = True) -> str:
    text = str(item["question"]).strip() + "\n"
    if with_choices:
        text += "".join(f"{letter}. {str(item[letter]).strip()}\n" for letter in LETTERS)
    return text + cue(lang)[0]


def build_prompt(items: Sequence[dict[str, Any]], index: int, shots: int, lang: str, mode: str = "letter") -> str:
    """The k-shot prompt of ``items[index]``: the header, the first ``shots`` other items of the subject solved
    (letter mode: choices listed, the letter answered; completion mode: the answer's text), then the question,
    ending with the cue."""
    others = [it for j, it in enumerate(items) if j != index][:shots]
    cue_text, sep = cue(lang)
    parts = [header(str(items[index].get("subject", "")), lang)]
    for it in others:
        answer = it["answer"] if mode == "letter" else str(it[it["answer"]]).strip()
        parts.append(format_question(it, lang, mode == "letter") + sep + answer + "\n\n")
    parts.append(format_question(items[index], lang, mode == "letter"))
    return "".join(parts)


def letter_tokens(encode: Encode, lang: str) -> tuple[list[int], list[int]]:
    """(tokens to append to the prompt, the four letters' tokens to compare) for the cue of ``lang``: the
    letters encoded as they follow the cue (``" A"`` in English, ``"A"`` in Chinese); the tokens all four
    share (a lone ``Ġ`` where the tokenizer has no ``ĠA``) go to the prompt, the first differing ones are
    compared."""
    sep = cue(lang)[1]
    encoded = encode([sep + letter for letter in LETTERS])
    if any(not e for e in encoded):
        raise ValueError("the tokenizer encodes a choice letter as nothing")
    common = 0
    while all(len(e) > common for e in encoded) and len({e[common] for e in encoded}) == 1:
        common += 1
    if any(len(e) <= common for e in encoded):
        raise ValueError(f"the tokenizer cannot tell the choice letters apart: {encoded}")
    firsts = [e[common] for e in encoded]
    if len(set(firsts)) != 4:
        raise ValueError(f"the choice letters do not start with four distinct tokens: {encoded}")
    return list(encoded[0][:common]), firsts


def _cut_left(seq: list[int], limit: int) -> tuple[list[int], bool]:
    return (seq[-limit:], True) if len(seq) > limit else (seq, False)


@torch.no_grad()
def multiple_choice(model: torch.nn.Module, items: Sequence[dict[str, Any]], encode: Encode, eos_id: int,
                    shots: int = 0, mode: str = "letter", batch_size: int = 8,
                    device: str | torch.device | None = None) -> dict[str, Any]:
    """Accuracy on ``items`` (dicts with ``question``, ``A``-``D``, ``answer`` (a letter) and ``subject``),
    per subject and overall. ``mode``: ``letter`` (highest next-token logit among the four letters) or
    ``completion`` (``acc_norm``: log-likelihood of each choice's text per UTF-8 byte). Returns ``acc``,
    ``n``, ``correct``, ``truncated``, ``mode``, ``shots`` and ``subjects`` ({subject: {acc, n, correct,
    lang}}); completion mode adds ``acc_unnorm`` (overall and per subject)."""
    if mode not in ("letter", "completion"):
        raise ValueError(f"mode must be letter or completion, got {mode!r}")
    cfg = getattr(model, "cfg", None)
    context = cfg.max_seq_len if cfg is not None else 1024
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        by_subject.setdefault(str(it.get("subject", "")), []).append(it)
    subjects: dict[str, dict[str, Any]] = {}
    truncated = 0
    for subject, group in by_subject.items():
        lang = language(group)
        prompts = [build_prompt(group, i, shots, lang, mode) for i in range(len(group))]
        prompt_ids = [[int(eos_id), *ids] for ids in encode(prompts)]
        answers = [LETTERS.index(it["answer"]) for it in group]
        if mode == "letter":
            extra, letters = letter_tokens(encode, lang)
            preds: list[int] = []
            for lo in range(0, len(group), batch_size):
                seqs = []
                for ids in prompt_ids[lo: lo + batch_size]:
                    seq, cut = _cut_left(ids + extra, context)
                    truncated += cut
                    seqs.append(seq)
                for logp in _forward_logprobs(model, seqs, dev):
                    preds.append(int(torch.argmax(logp[-1, letters])))
            correct = sum(p == a for p, a in zip(preds, answers, strict=True))
            subjects[subject] = {"acc": correct / len(group), "n": len(group), "correct": correct, "lang": lang}
        else:
            sep = cue(lang)[1]
            choice_texts = [[str(it[letter]).strip() for letter in LETTERS] for it in group]
            conts = encode([sep + t for row in choice_texts for t in row])
            seqs, spans = [], []
            for i, ids in enumerate(prompt_ids):
                for c in range(4):
                    cont = conts[4 * i + c] or [int(eos_id)]
                    seq, cut = _cut_left(ids + cont, context + 1)
                    truncated += cut and c == 0
                    seqs.append(seq)
                    spans.append(min(len(cont), len(seq) - 1))
            lls: list[float] = []
            for lo in range(0, len(seqs), batch_size * 4):
                chunk = seqs[lo: lo + batch_size * 4]
                rows = _forward_logprobs(model, [s[:-1] for s in chunk], dev)
                for logp, seq, k in zip(rows, chunk, spans[lo: lo + batch_size * 4], strict=True):
                    targets = torch.tensor(seq[-k:], device=dev)[:, None]
                    lls.append(float(logp[-k:].gather(1, targets).double().sum()))
            ll = np.array(lls).reshape(len(group), 4)
            nbytes = np.array([[max(1, len(t.encode("utf-8"))) for t in row] for row in choice_texts])
            norm = (ll / nbytes).argmax(axis=1)
            raw = ll.argmax(axis=1)
            correct = int((norm == np.array(answers)).sum())
            correct_raw = int((raw == np.array(answers)).sum())
            subjects[subject] = {"acc": correct / len(group), "n": len(group), "correct": correct,
                                 "acc_unnorm": correct_raw / len(group), "lang": lang}
    n = sum(s["n"] for s in subjects.values())
    correct = sum(s["correct"] for s in subjects.values())
    result: dict[str, Any] = {"acc": correct / n if n else float("nan"), "n": n, "correct": correct,
                              "truncated": truncated, "mode": mode, "shots": shots, "subjects": subjects}
    if mode == "completion":
        result["acc_unnorm"] = (sum(s["acc_unnorm"] * s["n"] for s in subjects.values()) / n) if n else float("nan")
    if truncated:
        warnings.warn(f"{truncated} prompt(s) longer than the model's context of {context} tokens were cut from "
                      f"the left", RuntimeWarning, stacklevel=2)
    return result


def iter_encoded(texts: Iterable[list[str]], encode: Encode) -> Iterator[tuple[list[int], int]]:
    """(token ids, UTF-8 bytes) per document of batches of texts: the input of :func:`perplexity`."""
    for batch in texts:
        for ids, text in zip(encode(batch), batch, strict=True):
            yield ids, len(text.encode("utf-8"))
