"""StackExchange threads as text: each question with its answers, best first, HTML stripped, code kept as code.

Input is what ``format: stackexchange`` reads from a dump's ``Posts.xml`` (one document per question, the
answers in ``meta.answers``), or any frame with the same ``meta`` fields.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from dataprep.registry import register
from dataprep.step import Step
from filters.markup import post_html_to_text
from filters.text import first_reason

ANSWER = pl.Struct({"id": pl.Int64, "score": pl.Int64, "body": pl.String})
META = pl.Struct({"post_id": pl.Int64, "site": pl.String, "post_type": pl.String, "parent_id": pl.Int64,
                  "title": pl.String, "tags": pl.List(pl.String), "score": pl.Int64,
                  "accepted_answer_id": pl.Int64, "date": pl.String, "answers": pl.List(ANSWER)})


@register
@dataclasses.dataclass
class StackExchangeFormat(Step):
    """Join each question with its answers sorted by score (highest first), strip the HTML and keep code.

    Source: LLaMA (Touvron et al. 2023, section 2.1, "Stack Exchange"): "We kept the data from the 28 largest
    websites, removed the HTML tags from text and sorted the answers by score (from highest to lowest)". LLaMA
    sets no score threshold, so ``min_answer_score`` and ``min_question_score`` are off by default; the
    ``llama_mix`` recipe drops answers below 0 (down-voted), as RedPajama's reproduction keeps only posts a
    site did not reject. Output text::

        Q: <title>

        <question>

        A: <best answer>

        A: <next answer>

    Code blocks are fenced with ```` ``` ````, inline code in backquotes (:func:`filters.markup.post_html_to_text`).
    Rejects: ``orphan_answer`` (an answer whose question is not in the dump), ``not_a_question`` (tag wikis and
    other post types), ``low_score``, ``no_answer`` (with ``require_answer``). ``meta`` keeps the thread's
    fields and the ids and scores of the answers kept, not their bodies. Adds ``se_answers`` and ``se_score``.
    """

    name = "stackexchange_format"
    min_answer_score: int | None = None
    min_question_score: int | None = None
    max_answers: int | None = None
    require_answer: bool = False

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        d = df.with_row_index("_i").with_columns(pl.col("meta").str.json_decode(META).alias("_m"))
        answers = (d.select("_i", pl.col("_m").struct.field("answers").alias("a")).explode("a")
                   .drop_nulls("a").unnest("a"))
        if self.min_answer_score is not None:
            answers = answers.filter(pl.col("score") >= self.min_answer_score)
        answers = answers.sort(["_i", "score", "id"], descending=[False, True, False], nulls_last=True)
        if self.max_answers is not None:
            answers = answers.group_by("_i", maintain_order=True).head(self.max_answers)
        is_q = pl.col("_m").struct.field("post_type") == "question"
        questions = d.filter(is_q)
        texts = post_html_to_text(pl.concat([questions.get_column("text"), answers.get_column("body")]))
        q_text = texts.head(questions.height)
        answers = answers.with_columns(("A: " + texts.tail(answers.height)).alias("t"))
        joined = answers.group_by("_i", maintain_order=True).agg(
            pl.col("t").str.join("\n\n").alias("_answers"), pl.len().cast(pl.Int64).alias("se_answers"),
            pl.col("id").alias("_ids"), pl.col("score").alias("_scores"))
        title = pl.col("_m").struct.field("title").fill_null("")
        threads = (questions.select("_i", title.alias("_title")).with_columns(q_text.alias("_q"))
                   .join(joined, on="_i", how="left"))
        body = pl.concat_str([pl.lit("Q: "), pl.col("_title"), pl.lit("\n\n"), pl.col("_q")])
        threads = threads.select(
            "_i", "se_answers", "_ids", "_scores",
            pl.when(pl.col("_answers").is_not_null()).then(pl.concat_str([body, pl.lit("\n\n"), pl.col("_answers")]))
            .otherwise(body).alias("_thread"))
        out = d.join(threads, on="_i", how="left", maintain_order="left")
        meta = pl.col("_m").struct.with_fields(pl.col("_ids").alias("answer_ids"), pl.col("_scores").alias(
            "answer_scores")).struct.field(["post_id", "site", "post_type", "parent_id", "title", "tags", "score",
                                             "accepted_answer_id", "date", "answer_ids", "answer_scores"])
        return out.with_columns(
            pl.coalesce("_thread", "text").alias("text"),
            pl.col("se_answers").fill_null(0),
            pl.col("_m").struct.field("score").alias("se_score"),
            pl.col("_m").struct.field("post_type").alias("_type"),
            pl.when(is_q).then(pl.struct(meta).struct.json_encode()).otherwise(pl.col("meta")).alias("meta"),
        ).drop("_thread", "_ids", "_scores")

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        return first_reason([
            (pl.col("_type") == "answer", "orphan_answer"),
            (pl.col("_type").fill_null("") != "question", "not_a_question"),
            (pl.lit(self.min_question_score is not None)
             & (pl.col("se_score") < (self.min_question_score or 0)), "low_score"),
            (pl.lit(self.require_answer) & (pl.col("se_answers") == 0), "no_answer"),
        ])

    def counters(self, annotated: pl.DataFrame) -> dict[str, int]:
        q = annotated.filter(pl.col("_type") == "question")
        return {"threads": q.height, "answers_kept": int(q.get_column("se_answers").sum() or 0)}
