"""The ``decontaminate`` step: planted evaluation passages are found (English and Chinese, drop and mask),
near-misses below n words are kept, normalization variants match, evaluation files load in their published
layouts, and a recipe run gives the same output with 1 and 2 workers.

Ported cases: datatrove ``tests/pipeline/test_ngrams_decont.py`` (its documents and expectations; the HellaSwag
items it downloads are reconstructed from them here) and lm-evaluation-harness ``tests/test_janitor.py``
(``test_janitor1`` to ``test_janitor7``: GPT-3's window and piece rules on the same texts)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_balanced, run_cli, tree_digest, write_jsonl, write_recipe

from dataprep.errors import RecipeError
from dataprep.recipe import load_recipe
from filters.decontaminate import Decontaminate, cached_index, expand_eval_sets

# ---- evaluation sets written for these tests -----------------------------------------------------------------
EN_ITEMS = [  # C-Eval's column layout, English questions
    {"id": 0, "question": "Which gas do green plants absorb from the atmosphere during photosynthesis in order to "
                          "produce glucose and release oxygen?",
     "A": "Nitrogen", "B": "Carbon dioxide", "C": "Helium", "D": "Argon", "answer": "B", "explanation": ""},
    {"id": 1, "question": "In which year did the first human landing on the Moon take place?",
     "A": "1965", "B": "1969", "C": "1972", "D": "1959", "answer": "B", "explanation": ""},
]
ZH_ITEMS = [  # C-Eval's layout
    {"id": 0, "question": "秦始皇统一六国后，在全国范围内推行的统一文字是下列哪一种字体？",
     "A": "小篆", "B": "隶书", "C": "楷书", "D": "行书", "answer": "A", "explanation": "略"},
]
#: MMLU's CSV: no header; question, A, B, C, D, answer
MMLU_CSV = ('"What is the value of the gravitational acceleration near the surface of the Earth, in metres per '
            'second squared?",9.8,3.2,12.5,1.6,A\n'
            '"Which organelle is known as the powerhouse of the cell because it produces most of the cell\'s '
            'energy?",Nucleus,Mitochondrion,Ribosome,Golgi apparatus,B\n')

FILLER_EN = ("Our village bakery opens at dawn and sells rye loaves, cinnamon buns and honey cakes to early "
             "walkers. On weekends the baker teaches children how to knead dough and shape pretzels by hand. ")
FILLER_ZH = "小镇的早市每天清晨开张，摊贩们卖着新鲜的蔬菜、水果和热腾腾的包子，居民们提着篮子慢慢挑选。"


def eval_files(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "science_en.jsonl", EN_ITEMS)
    write_jsonl(folder / "history_zh.jsonl", ZH_ITEMS)
    (folder / "mmlu_physics.csv").write_text(MMLU_CSV, encoding="utf-8")
    return {"en": str(folder / "science_en.jsonl"), "zh": str(folder / "history_zh.jsonl"),
            "mmlu": str(folder / "mmlu_physics.csv")}


def frame(texts: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"id": [f"d{i}" for i in range(len(texts))], "text": texts,
                         "source": ["s"] * len(texts), "meta": [None] * len(texts)},
                        schema={"id": pl.String, "text": pl.String, "source": pl.String, "meta": pl.String})


def reasons(step: Decontaminate, texts: list[str]) -> list[str | None]:
    """The rejection reason of each text (None: kept)."""
    _, rejected = step.split(frame(texts))
    by_id = dict(zip(rejected["id"], rejected["reason"], strict=True))
    return [by_id.get(f"d{i}") for i in range(len(texts))]


# ---- planted passages ----------------------------------------------------------------------------------------
def test_planted_passages_are_found_and_named(tmp_path: Path) -> None:
    files = eval_files(tmp_path / "eval")
    step = Decontaminate(eval_sets=list(files.values()))
    q = EN_ITEMS[0]["question"]
    texts = [
        FILLER_EN + q + " " + FILLER_EN,  # the whole question
        FILLER_EN + " ".join(q.split()[:15]) + " and more words follow here",  # 15 words: 3 13-grams
        FILLER_ZH + ZH_ITEMS[0]["question"][:20] + FILLER_ZH,  # 20 characters of the Chinese question
        FILLER_EN + "Quiz: what is the value of the gravitational acceleration near the surface of the Earth today",
        FILLER_EN + FILLER_ZH,  # clean
    ]
    got = reasons(step, texts)
    assert got == ["contaminated:science_en", "contaminated:science_en", "contaminated:history_zh",
                   "contaminated:mmlu_physics", None]
    ann = step.annotate(frame(texts))
    assert ann["decontam_ngrams"][1] == 3  # 15 words hold 15 - 13 + 1 overlapping 13-grams
    assert ann["decontam_ngrams"][2] == 19 - 13 + 1  # 19 characters and a comma: characters are the words
    assert ann["decontam_ngrams"][4] == 0 and ann["decontam_set"][4] is None
    counters = step.counters(step.annotate_polars(frame(texts)))
    assert counters["contaminated_docs:science_en"] == 2 and counters["overlapping_ngrams:history_zh"] == 7
    assert counters["contaminated_docs:mmlu_physics"] == 1
    # an Arrow table in, an Arrow table out
    kept = step(frame(texts).to_arrow())
    assert isinstance(kept, pa.Table) and kept.column("id").to_pylist() == ["d4"]


def test_question_and_choice_together_are_found(tmp_path: Path) -> None:
    files = eval_files(tmp_path / "eval")
    # the question is 13 words; a document with its last 9 words and the answer "1969" holds question + choice
    doc = FILLER_EN + "the first human landing on the Moon take place 1969 was the year" + FILLER_EN
    step = Decontaminate(eval_sets=[files["en"]], ngram=10)
    assert reasons(step, [doc]) == ["contaminated:science_en"]
    assert reasons(Decontaminate(eval_sets=[files["en"]], ngram=10, choices="none"), [doc]) == [None]


def test_planted_passages_are_masked_en_and_zh(tmp_path: Path) -> None:
    files = eval_files(tmp_path / "eval")
    step = Decontaminate(eval_sets=list(files.values()), mode="mask")
    before, after = FILLER_EN * 4, FILLER_EN * 3
    zh_before, zh_after = FILLER_ZH * 10, FILLER_ZH * 9
    texts = [before + EN_ITEMS[0]["question"] + " " + after,
             zh_before + ZH_ITEMS[0]["question"] + zh_after,
             FILLER_EN * 2]
    ann = step.annotate(frame(texts))
    kept, rejected = step.split(frame(texts))
    assert rejected.height == 0 and kept["id"].to_list() == ["d0", "d1", "d2"]
    out = kept["text"].to_list()
    assert EN_ITEMS[0]["question"][:40] not in out[0] and ZH_ITEMS[0]["question"][:10] not in out[1]
    # what lies farther than the window (200 characters) from the passage stays, in two pieces
    assert out[0].startswith(before[:len(before) - 220].strip()) and out[0].endswith(after[220:].strip())
    assert out[0].count("\n\n") == 1 and out[1].startswith(zh_before[:len(zh_before) - 220])
    assert out[2] == texts[2]  # untouched
    assert ann["decontam_removed_chars"][0] == len(texts[0]) - len(out[0]) > len(EN_ITEMS[0]["question"]) + 400
    # nothing of the evaluation sets is left in the output
    assert step.annotate(kept)["decontam_ngrams"].to_list() == [0, 0, 0]
    counters = step.counters(step.annotate_polars(frame(texts)))
    assert counters["masked_docs"] == 2 and counters["masked_chars"] == sum(ann["decontam_removed_chars"])


def test_mask_rejects_what_is_left_too_short(tmp_path: Path) -> None:
    files = eval_files(tmp_path / "eval")
    step = Decontaminate(eval_sets=[files["en"]], mode="mask")
    short = "Quiz time. " + EN_ITEMS[0]["question"] + " Answer below."  # no piece of 200 characters is left
    assert reasons(step, [short]) == ["contaminated:science_en"]
    kept, rejected = step.split(frame([short]))
    assert rejected["text"][0] == short  # a rejected document keeps its text


def test_max_splits(tmp_path: Path) -> None:
    """GPT-3: documents split into more than 10 pieces are removed entirely."""
    (tmp_path / "e.txt").write_text("secret passphrase zebra", encoding="utf-8")
    step = Decontaminate(eval_sets=[str(tmp_path / "e.txt")], ngram=3, min_ngram=3, mode="mask",
                         mask_window=10, min_piece_chars=20)
    gap = " ".join(["filler words go here"] * 8) + " "
    ten, eleven = gap + (" secret passphrase zebra " + gap) * 10, gap + (" secret passphrase zebra " + gap) * 11
    assert reasons(step, [ten, eleven]) == [None, "contaminated:e"]
    assert step(frame([ten]))["text"][0].count("\n\n") == 10


# ---- near-misses and normalization ---------------------------------------------------------------------------
def test_near_misses_below_n_are_kept(tmp_path: Path) -> None:
    files = eval_files(tmp_path / "eval")
    step = Decontaminate(eval_sets=list(files.values()))
    words = EN_ITEMS[0]["question"].split()
    zh = ZH_ITEMS[0]["question"]
    texts = [
        FILLER_EN + " ".join(words[:12]) + " " + FILLER_EN,  # 12 of 13 words
        FILLER_EN + " ".join(words[:12]) + " banana " + " ".join(words[13:25]) + " " + FILLER_EN,  # one changed
        FILLER_ZH + zh[:13] + "。" + FILLER_ZH,  # 12 Chinese characters (and a comma)
        FILLER_EN + " ".join(words[:6] + words[7:14]) + " " + FILLER_EN,  # a word left out
    ]
    assert reasons(step, texts) == [None, None, None, None]
    assert reasons(step, [FILLER_EN + " ".join(words[:13]) + " " + FILLER_EN]) == ["contaminated:science_en"]
    assert reasons(step, [FILLER_ZH + zh[:14] + FILLER_ZH]) == ["contaminated:history_zh"]  # 13 characters


@pytest.mark.parametrize("variant", [
    "WHICH GAS DO GREEN PLANTS ABSORB FROM THE ATMOSPHERE DURING PHOTOSYNTHESIS IN ORDER TO PRODUCE",  # case
    "Which gas... do green plants absorb (from the atmosphere) during photosynthesis, in order: to produce!",
    "Which\tgas do\n\ngreen plants   absorb from the atmosphere during\r\nphotosynthesis in order to produce",
    "Ｗｈｉｃｈ ｇａｓ do green plants absorb from the atmosphere during photosynthesis in order to produce",
    "Which gas do green plants absorb from the atmosphere during photosynthesis in order to-produce",
    "Which-gas-do-green-plants-absorb-from-the-atmosphere-during-photosynthesis-in-order-to-produce",
])
def test_punctuation_case_and_width_variants_match(tmp_path: Path, variant: str) -> None:
    files = eval_files(tmp_path / "eval")
    step = Decontaminate(eval_sets=[files["en"]])
    assert reasons(step, [FILLER_EN + variant + " " + FILLER_EN]) == ["contaminated:science_en"]


def test_zh_punctuation_and_spacing_variants_match(tmp_path: Path) -> None:
    files = eval_files(tmp_path / "eval")
    step = Decontaminate(eval_sets=[files["zh"]])
    q = ZH_ITEMS[0]["question"]
    spaced = " ".join(q)  # a space between characters
    no_punct = q.replace("，", "").replace("？", "")
    assert reasons(step, [FILLER_ZH + spaced, FILLER_ZH + no_punct + FILLER_ZH]) == ["contaminated:history_zh"] * 2


def test_short_items_match_whole_down_to_min_ngram(tmp_path: Path) -> None:
    items = [{"text": "the quick brown fox jumps over the lazy dog"},  # 9 words: one 9-gram
             {"text": "seven words are far too short here"}]  # 7 words < min_ngram: skipped
    write_jsonl(tmp_path / "short.jsonl", items)
    step = Decontaminate(eval_sets=[str(tmp_path / "short.jsonl")])
    info = step.index_info()["sets"]["short"]
    assert info["items"] == 2 and info["short_texts"] == 1 and info["ngrams"] == 1
    texts = ["The quick brown fox jumps over the lazy dog.",  # the whole short item, a short document
             FILLER_EN + "the quick brown fox jumps over the lazy cat" + FILLER_EN,  # 8 of its 9 words
             "seven words are far too short here"]
    assert reasons(step, texts) == ["contaminated:short", None, None]
    with pytest.raises(ValueError, match="no item of at least 8 words"):
        write_jsonl(tmp_path / "tiny.jsonl", items[1:])
        Decontaminate(eval_sets=[str(tmp_path / "tiny.jsonl")])


# ---- datatrove's cases ---------------------------------------------------------------------------------------
#: datatrove tests/pipeline/test_ngrams_decont.py: TEXTS and DOCS, as there
DT_TEXTS = [
    "A lady walks to a barbell. She bends down and grabs the pole.",  # 0: contaminated query
    "get into formation, then begin dancing and flipping as male cheerleaders join them.",  # 1: contaminated label
    "He is using commercial lawn mowing equipment. he walks back and forth as he mows the grass.",  # 2: overlap
    "He is using commercial lawn mowing equipment. he is animated as he does the task.",  # 3: incorrect completion
    "walks outside plugs his lawn mower in and gets ready to mow",  # 4: single contaminated query ngram
    "",  # 5: not contaminated at all
    "walks outside plugs his lawn mower in and gets ready to",  # 6: single contaminated query text < 1 ngram
]
DT_DOCS = ["Nothing is so painful to the human mind as a great and sudden change. " + t
           + " Beware; for I am fearless, and therefore powerful." for t in DT_TEXTS]
#: HellaSwag items (question = context, choices = endings) as datatrove's test implies them: the contexts and
#: gold endings hold the texts above; the other endings are written here.
DT_ITEMS = [
    {"question": "A lady walks to a barbell. She bends down and grabs the pole. The lady",
     "A": "swings and lands in her arms.", "B": "pulls the barbell forward.",
     "C": "pulls a rope attached to the barbell.", "D": "stands and lifts the weight over her head.", "answer": "D"},
    {"question": "A group of cheerleaders run onto a gym floor. They",
     "A": "get into formation, then begin dancing and flipping as male cheerleaders join them.",
     "B": "sit down on the bleachers.", "C": "throw their pom poms at the crowd.", "D": "leave the gym.",
     "answer": "A"},
    {"question": "A man walks outside plugs his lawn mower in and gets ready to mow. "
                 "He is using commercial lawn mowing equipment. he",
     "A": "is animated as he does the task.", "B": "walks back and forth as he mows the grass.",
     "C": "sits on the porch.", "D": "drinks from a hose.", "answer": "B"},
]


@pytest.mark.parametrize(("choices", "kept"), [
    ("all", [5, 6]),  # question, and the question followed by every ending
    ("answer", [3, 5, 6]),  # datatrove find_query_ngrams + find_overlap_ngrams: the incorrect ending stays
    ("none", [1, 2, 3, 5, 6]),  # the question alone
])
def test_datatrove_ngram_decont_cases(tmp_path: Path, choices: str, kept: list[int]) -> None:
    write_jsonl(tmp_path / "hellaswag.jsonl", DT_ITEMS)
    step = Decontaminate(eval_sets=[str(tmp_path / "hellaswag.jsonl")], ngram=12, choices=choices)  # their n
    got = [i for i, r in enumerate(reasons(step, DT_DOCS)) if r is None]
    assert got == kept


# ---- lm-evaluation-harness's Janitor cases -------------------------------------------------------------------
LINE = "This is a @line #containing a certain number of characters, 76 to be exact. "
HEAD = LINE * 3 + "This is a @line #containing"  # what the Janitor keeps before the match
TAIL = "characters, 76 to be exact. "  # the start of what it keeps after it
DIRTY = "FILTH. lots of dirty filtHy FIlTh "
DIRTY2 = "FILTH. lots of filtHy dirty FIlTh "
JANITOR_CASES = {  # name: (text, contaminants, n, expected pieces; None: rejected)
    "janitor1": (LINE * 6 + "FILTH. " + LINE * 5, ["filth"], 1, [HEAD]),
    "janitor2": (LINE * 6 + "FILTH. " + LINE * 6, ["filth"], 1, [HEAD, TAIL + LINE * 3]),
    "janitor3": (LINE * 6 + DIRTY + LINE * 6, ["filth lots of dirty filthy filth"], 6, [HEAD, TAIL + LINE * 3]),
    "janitor4": (LINE * 6 + DIRTY + LINE * 6 + DIRTY + LINE * 6, ["filth lots of dirty filthy filth"], 6,
                 [HEAD, TAIL + LINE * 3]),
    "janitor5": (LINE * 6 + DIRTY + LINE * 6 + DIRTY2 + LINE * 6,
                 ["filth lots of dirty filthy filth", "filth lots of filthy dirty filth"], 6, [HEAD, TAIL + LINE * 3]),
    "janitor6": (LINE * 6 + DIRTY * 8 + LINE * 6 + DIRTY2 * 2 + LINE * 6,
                 ["filth lots of dirty filthy filth", "filth lots of filthy dirty filth"], 6, [HEAD, TAIL + LINE * 3]),
    # the Janitor rejects this one: it counts 11 matching n-grams against too_dirty_cutoff=10; GPT-3 counts the
    # pieces the document is split into, and the 11 matches make 2 cuts here, so the document stays
    "janitor7": (LINE * 6 + DIRTY * 8 + LINE * 6 + DIRTY2 * 3 + LINE * 6,
                 ["filth lots of dirty filthy filth", "filth lots of filthy dirty filth"], 6, [HEAD, TAIL + LINE * 3]),
}


@pytest.mark.parametrize("case", sorted(JANITOR_CASES))
def test_janitor_cases(tmp_path: Path, case: str) -> None:
    text, contaminants, n, pieces = JANITOR_CASES[case]
    write_jsonl(tmp_path / "dirt.jsonl", [{"text": c} for c in contaminants])
    step = Decontaminate(eval_sets=[str(tmp_path / "dirt.jsonl")], ngram=n, min_ngram=n, mode="mask")
    assert step(frame([text]))["text"].to_list() == ["\n\n".join(p.strip() for p in pieces)]
    clean = Decontaminate(eval_sets=[str(tmp_path / "dirt.jsonl")], ngram=n, min_ngram=n, mode="mask")
    assert clean(frame([LINE * 6]))["text"].to_list() == [LINE * 6]  # no match: unchanged, as the Janitor


# ---- evaluation files ----------------------------------------------------------------------------------------
def test_eval_set_layouts(tmp_path: Path) -> None:
    q = "Which planet of the solar system has the largest number of known moons orbiting around it today?"
    # Hugging Face MMLU parquet: question, subject, choices (list), answer (index)
    pq.write_table(pa.table({"question": [q], "subject": ["astronomy"],
                             "choices": [["Mars", "Saturn", "Venus", "Mercury"]], "answer": [1]}),
                   tmp_path / "hf_mmlu.parquet")
    # C-Eval CSV with its header
    (tmp_path / "ceval_val.csv").write_text(
        "id,question,A,B,C,D,answer,explanation\n0,下列哪一项是中国古代四大发明之一并且对世界文明产生了深远影响,"
        "造纸术,地动仪,算盘,浑天仪,A,略\n", encoding="utf-8")
    # plain text, one passage a paragraph
    (tmp_path / "passages.txt").write_text("The committee met in the old library to discuss the budget for the "
                                           "coming year and the repair of the roof.\n\nSecond.\n", encoding="utf-8")
    step = Decontaminate(eval_sets={"astro": str(tmp_path / "hf_mmlu.parquet"),
                                    "ceval": str(tmp_path / "ceval_val.csv"),
                                    "text": str(tmp_path / "passages.txt")}, choices="answer")
    texts = ["Saturn. " + " ".join(q.split()[-9:]) + " Saturn",  # the end of the question with its answer
             "Mars " + " ".join(q.split()[-9:]) + " Mars",  # with a wrong choice: not indexed (choices: answer)
             FILLER_ZH + "下列哪一项是中国古代四大发明之一并且",
             "the committee met in the old library to discuss the budget for the",  # 13 words
             "the committee met in the old library to discuss the budget for"]  # 12: a near-miss
    assert reasons(step, texts) == [None, None, "contaminated:ceval", "contaminated:text", None]
    step10 = Decontaminate(eval_sets={"astro": str(tmp_path / "hf_mmlu.parquet")}, choices="answer", ngram=10)
    assert reasons(step10, texts[:2]) == ["contaminated:astro", None]
    assert step.index_info()["sets"]["text"]["short_texts"] == 1  # "Second."


def test_folders_names_and_errors(tmp_path: Path) -> None:
    files = eval_files(tmp_path / "eval")
    sets = expand_eval_sets([str(tmp_path / "eval")])  # a folder: one set per file, named by its stem
    assert [name for name, _ in sets] == ["history_zh", "mmlu_physics", "science_en"]
    assert [name for name, _ in expand_eval_sets(str(tmp_path / "eval" / "*.jsonl"))] == ["history_zh",
                                                                                          "science_en"]
    (tmp_path / "other").mkdir()
    write_jsonl(tmp_path / "other" / "science_en.jsonl.gz", EN_ITEMS, "gzip")
    with pytest.raises(ValueError, match="named twice: science_en"):
        expand_eval_sets([files["en"], str(tmp_path / "other" / "science_en.jsonl.gz")])
    with pytest.raises(ValueError, match="does not exist"):
        Decontaminate(eval_sets=[str(tmp_path / "missing.jsonl")])
    with pytest.raises(ValueError, match="eval_sets is empty"):
        Decontaminate(eval_sets=[])
    (tmp_path / "bad.xml").write_text("<a/>")
    with pytest.raises(ValueError, match="unknown format"):
        Decontaminate(eval_sets=[str(tmp_path / "bad.xml")])
    with pytest.raises(ValueError, match="min_ngram"):
        Decontaminate(eval_sets=[files["en"]], ngram=5, min_ngram=8)
    # a malformed record is skipped and counted; the rest is indexed
    (tmp_path / "broken.jsonl").write_text(json.dumps(EN_ITEMS[0]) + "\n{\"question\": broken\n", encoding="utf-8")
    step = Decontaminate(eval_sets=[str(tmp_path / "broken.jsonl")])
    assert step.index_info()["sets"]["broken"]["skipped_records"] == 1
    assert reasons(step, [EN_ITEMS[0]["question"]]) == ["contaminated:broken"]


def test_shared_ngrams_count_for_every_set(tmp_path: Path) -> None:
    q = EN_ITEMS[0]["question"]
    write_jsonl(tmp_path / "a.jsonl", [{"text": q}])
    write_jsonl(tmp_path / "b.jsonl", [{"text": q}, {"text": "an entirely different question about the history "
                                                            "of the printing press in Europe"}])
    step = Decontaminate(eval_sets=[str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")])
    texts = [q, "an entirely different question about the history of the printing press in Europe and more"]
    assert reasons(step, texts) == ["contaminated:a", "contaminated:b"]  # a tie goes to the set listed first
    counters = step.counters(step.annotate_polars(frame(texts)))
    n = len(q.split()) - 13 + 1
    assert counters == {"contaminated_docs:a": 1, "overlapping_ngrams:a": n,
                        "contaminated_docs:b": 2, "overlapping_ngrams:b": n + 1}


def test_index_is_cached_not_pickled(tmp_path: Path) -> None:
    files = eval_files(tmp_path / "eval")
    step = Decontaminate(eval_sets=list(files.values()))
    again = Decontaminate(eval_sets=list(files.values()))
    assert again.index() is step.index()  # built once per process
    blob = pickle.dumps(step)
    assert b"_index" in blob and len(blob) < 4000
    restored = pickle.loads(blob)
    texts = [FILLER_EN + EN_ITEMS[1]["question"], FILLER_EN]
    assert reasons(restored, texts) == reasons(step, texts) == ["contaminated:science_en", None]
    # a changed file is read again
    stat = os.stat(files["en"])
    os.utime(files["en"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert cached_index(expand_eval_sets(list(files.values())), 13, 8, "all", "question", "text") \
        is not step.index()


# ---- recipes -------------------------------------------------------------------------------------------------
def test_recipe_with_1_and_2_workers(tmp_path: Path) -> None:
    files = eval_files(tmp_path / "eval")
    for part in range(3):
        rows = [{"id": f"p{part}-{i}", "text": f"{FILLER_EN} note {part} {i}"} for i in range(6)]
        rows.append({"id": f"p{part}-en", "text": FILLER_EN + EN_ITEMS[part % 2]["question"] + " " + FILLER_EN})
        rows.append({"id": f"p{part}-zh", "text": FILLER_ZH + ZH_ITEMS[0]["question"]})
        write_jsonl(tmp_path / "d" / f"part-{part}.jsonl", rows)
    steps = [{"decontaminate": {"eval_sets": [files["en"], files["zh"]], "mode": "drop"}},
             {"decontaminate": {"eval_sets": {"mmlu": files["mmlu"], "sci": files["en"]}, "mode": "mask"}}]
    recipe = write_recipe(tmp_path / "r.yaml", [{"name": "d", "paths": ["d/"]}], steps=steps)
    run_cli("run", str(recipe), "-o", str(tmp_path / "o1"), "-w", "1", "-q")
    run_cli("run", str(recipe), "-o", str(tmp_path / "o2"), "-w", "2", "-q")
    assert tree_digest(tmp_path / "o1") == tree_digest(tmp_path / "o2")
    stats = json.loads((tmp_path / "o1" / "stats.json").read_text())
    assert_balanced(stats)
    entry = stats["by_step"]["decontaminate"]
    assert entry["reasons"] == {"contaminated:history_zh": 3, "contaminated:science_en": 3}
    assert entry["counters"]["contaminated_docs:science_en"] == 3
    assert entry["counters"]["contaminated_docs:history_zh"] == 3
    assert stats["counts"]["kept"] == 18 and stats["counts"]["rejected"] == 6
    assert stats["by_step"]["decontaminate#2"]["counters"]["contaminated_docs:mmlu"] == 0
    # a single path is resolved against the recipe's folder
    one = write_recipe(tmp_path / "one.yaml", [{"name": "d", "paths": ["d/"]}],
                       steps=[{"decontaminate": {"eval_sets": "eval/science_en.jsonl"}}])
    assert load_recipe(one).steps[0].step.index().names == ["science_en"]
    # ... and so is each path of a list or a mapping
    many = write_recipe(tmp_path / "many.yaml", [{"name": "d", "paths": ["d/"]}],
                        steps=[{"decontaminate": {"eval_sets": {"sci": "eval/science_en.jsonl"}}}])
    assert load_recipe(many).steps[0].step.index().names == ["sci"]
    # a bad evaluation set fails the recipe at its step's line, before any work
    bad = write_recipe(tmp_path / "bad.yaml", [{"name": "d", "paths": ["d/"]}],
                       steps=[{"decontaminate": {"eval_sets": [str(tmp_path / "nope.jsonl")]}}])
    with pytest.raises(RecipeError, match=r"bad.yaml:\d+: step 'decontaminate': eval.sets? .*nope.jsonl does not"):
        load_recipe(bad)
