"""The `sections` table: every section of a label, kept by `fetch --sections`, filled in for
documents stored without, merged with its documents, and read by `adme pretrain --corpus
sections`.

Real labels from data/spl, real DuckDB files, real lxml; no mocks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from adme import spl
from adme.cli import app
from adme.errors import AdmeError
from adme.fetch import fetch_from_path
from adme.merge import merge_parts
from adme.pretrain import corpus_texts, pretrain
from adme.spl import parse_spl
from adme.split import make_split

ROOT = Path(__file__).resolve().parent.parent
METFORMIN = ROOT / "data" / "spl" / "0e3ad0ba-2114-498a-8849-911bbfe9173a_v1.xml"
SAMPLE = ROOT / "data" / "spl"


def test_every_section_with_text_in_reading_order_pk_flagged():
    document = parse_spl(METFORMIN.read_bytes(), str(METFORMIN))
    sections = document.sections
    assert [s.ordinal for s in sections] == list(range(len(sections)))
    first = sections[0]
    assert (first.code, first.title, first.section_path) == (
        "34089-3",
        "DESCRIPTION",
        "DESCRIPTION",
    )
    assert first.text.startswith("Metformin hydrochloride tablets and metformin hydrochloride")
    assert sections[1].section_path == "DESCRIPTION > System Components and Performance:"
    assert all(s.text and s.text == s.text.strip() for s in sections)
    assert not any("  " in line for s in sections for line in s.text.splitlines())
    pk = [s for s in sections if s.pharmacokinetics]
    assert 0 < len(pk) < len(sections)
    assert pk[0].title == "Absorption and Bioavailability"
    pk_text = " ".join(s.text.replace("\n", " ") for s in pk)
    prose = [p.text for p in document.paragraphs if p.kind == "prose"]
    assert prose and all(text.replace("\n", " ") in pk_text for text in prose)


def _section_by_section(data: bytes) -> tuple:
    """The sections of a label read one by one, node by node: what the batch must equal."""
    root = spl.parse_xml(data, "label")
    found = spl.find_pk_sections(root)
    pk_ids = {id(section) for section in found.sections} if found else set()
    return spl._extract_sections_one_by_one(spl._body(root), pk_ids)


def test_batched_section_text_equals_section_by_section_on_every_sample_label():
    # extract_sections reads every block's text in C-level passes over one string; it must
    # give what section_title / section_text give node by node, on every shipped label.
    labels = sorted(SAMPLE.rglob("*.xml"))
    assert len(labels) > 20
    for label in labels:
        data = label.read_bytes()
        batched = parse_spl(data, str(label)).sections
        assert batched == _section_by_section(data), label.name


BATCH_CASES = [
    # a word split over runs, a decimal point as its own run, brackets and punctuation beside
    # indentation, accented letters and a superscript digit beside it, escaped markup
    "<content>A</content>\n  <content>bsorption</content> of 7\n<sup>.</sup>\n5 mg",
    "(<content>see</content>\n ) <content>x</content>\n<content>,</content> \u00e9\n"
    "<content>t\u00e9</content>\n<content>\u00e9t</content> 1<sup>2</sup>\n<sup>\u00b2</sup>",
    "7\n<sup>.</sup>\n<sup>\u00b2</sup> a &lt;b&gt; &amp; c<br/>\n<br/>d",
    # what the batch hands back to the node-by-node reading: a carriage return, markers
    "a&#13;\n<content>b</content>",
    "a \ue001 <content>b</content>\n<content>c</content> \ue005 d",
]


@pytest.mark.parametrize("inline", BATCH_CASES)
def test_batched_section_text_equals_section_by_section_on_hard_cases(inline):
    xml = (
        '<document xmlns="urn:hl7-org:v3"><id root="d"/><setId root="s"/>'
        '<versionNumber value="1"/><component><structuredBody><component><section>'
        f'<code code="34090-1"/><title>Ti<content>t</content>\n  <content>les</content></title>'
        f"<text>lead &amp; text<paragraph>{inline}</paragraph>\n  <list><item>{inline}</item>"
        f"</list>\n</text><component><section><text><paragraph>{inline}</paragraph></text>"
        "</section></component></section></component></structuredBody></component></document>"
    ).encode()
    batched = parse_spl(xml, "case").sections
    assert batched == _section_by_section(xml)
    assert len(batched) == 2 and batched[0].title == "Titles"


@pytest.mark.parametrize(
    "text",
    [
        "A\ue000bsorption",
        "7\ue000.\ue0005\ue000\ue000mg",
        "1\ue000.\ue000.\ue0002",
        "\u00b2\ue000.\ue0005",
        "\u0663\ue000.\ue0005 \u00e9\ue000t\u00e9 (\ue000x\ue000) \ue001\ue000,",
        "\ue000\ue000a\ue000\ue000\u00e9\ue000\ue000",
    ],
)
def test_indentation_resolved_in_c_passes_as_run_by_run(text):
    stripped = text.strip(spl._INDENT)
    assert spl._resolve_indents(text) == spl._INDENTS.sub(spl._resolved_indent, stripped)


@pytest.fixture(scope="module")
def fetched_template(tmp_path_factory) -> Path:
    """The shipped sample fetched with --sections, once for this module."""
    folder = tmp_path_factory.mktemp("sections-db")
    summary = fetch_from_path(
        folder / "adme.duckdb", SAMPLE, folder / "cache", progress=False, sections=True
    )
    assert summary.fetched and not summary.rejects
    return folder / "adme.duckdb"


@pytest.fixture
def fetched(fetched_template, tmp_path) -> Path:
    """A private copy of the sample fetched with --sections."""
    shutil.copyfile(fetched_template, tmp_path / "with-sections.duckdb")
    return tmp_path / "with-sections.duckdb"


def section_rows(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT * FROM sections ORDER BY document_id, ordinal").fetchall()


def sections_found(db: Path) -> tuple[int, int | None]:
    """(documents without sections kept, sections kept in all)."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT count(*) FILTER (WHERE sections_found IS NULL), sum(sections_found) "
            "FROM documents"
        ).fetchone()


def fetch_sample(db: Path, *options: str):
    result = CliRunner().invoke(
        app, ["fetch", "--from", str(SAMPLE), "--db", str(db), "--no-progress", *options]
    )
    assert result.exit_code == 0, result.output
    return result


def test_fetch_keeps_sections_with_the_option(fetched):
    assert sections_found(fetched) == (0, len(section_rows(fetched)))
    assert len(section_rows(fetched)) > 20 * 46


def test_sections_are_kept_only_when_asked_and_a_rerun_with_the_option_fills_them(
    sample_db, fetched
):
    # sample_db: the sample fetched with the default options
    with duckdb.connect(str(sample_db)) as con:
        n_documents = con.execute("SELECT count(*) FROM documents").fetchone()[0]
        con.execute(
            "INSERT INTO predictions (paragraph_id, model_id, label, confidence, probs) "
            "SELECT paragraph_id, 'm@1', 'other', 0.9, MAP {'other': 0.9} FROM paragraphs LIMIT 1"
        )
        paragraphs = con.execute("SELECT * FROM paragraphs ORDER BY ALL").fetchall()
    assert sections_found(sample_db) == (n_documents, None) and section_rows(sample_db) == []
    with pytest.raises(AdmeError, match=f"{n_documents} stored documents of {n_documents} have"):
        corpus_texts(sample_db, corpus="sections")
    assert "sections kept" not in fetch_sample(sample_db).stdout  # no option, nothing filled

    result = fetch_sample(sample_db, "--sections")
    assert f"sections kept for {n_documents} stored documents" in result.stdout
    assert "fetched 0," in result.stdout and "paragraphs added 0" in result.stdout
    assert section_rows(sample_db) == section_rows(fetched)  # as if fetched with it at first
    assert sections_found(sample_db) == sections_found(fetched)
    with duckdb.connect(str(sample_db), read_only=True) as con:
        assert con.execute("SELECT * FROM paragraphs ORDER BY ALL").fetchall() == paragraphs
        assert con.execute("SELECT count(*) FROM predictions").fetchone()[0] == 1
    assert "sections kept" not in fetch_sample(sample_db, "--sections").stdout
    assert corpus_texts(sample_db, corpus="sections") == corpus_texts(fetched, corpus="sections")


def test_merge_copies_the_sections_of_new_documents(fetched, tmp_path):
    target = tmp_path / "merged.duckdb"
    merge_parts(target, [fetched])
    merge_parts(target, [fetched])  # twice: nothing more
    assert section_rows(target) == section_rows(fetched)


def test_sections_corpus_adds_other_sections_and_leaves_out_test_documents(fetched):
    paragraphs = corpus_texts(fetched)
    everything = corpus_texts(fetched, corpus="sections")
    assert set(paragraphs) < set(everything) and len(everything) > 3 * len(paragraphs)
    make_split(fetched, "bydrug", group_by="drug", seed=7)
    make_split(fetched, "natural", seed=7)
    with duckdb.connect(str(fetched), read_only=True) as con:
        test_documents = {
            row[0]
            for row in con.execute(
                "SELECT DISTINCT p.document_id FROM split_rows s JOIN paragraphs p "
                "USING (paragraph_id) WHERE split_name = 'bydrug' AND part = 'test'"
            ).fetchall()
        }
        only_in_test = {
            line
            for (text,) in con.execute(
                "SELECT text FROM sections WHERE NOT pharmacokinetics AND document_id IN "
                "(SELECT unnest(?::VARCHAR[]))",
                [sorted(test_documents)],
            ).fetchall()
            for line in text.splitlines()
            if len(line) >= 20
        } - {
            line
            for (text,) in con.execute(
                "SELECT text FROM sections WHERE document_id NOT IN (SELECT unnest(?::VARCHAR[]))",
                [sorted(test_documents)],
            ).fetchall()
            for line in text.splitlines()
        }
        natural_test = {
            row[0]
            for row in con.execute(
                "SELECT p.text FROM split_rows s JOIN paragraphs p USING (paragraph_id) "
                "WHERE split_name = 'natural' AND part = 'test'"
            ).fetchall()
        }
    grouped = set(corpus_texts(fetched, exclude_split="bydrug", corpus="sections"))
    assert test_documents and only_in_test and not only_in_test & grouped
    natural = set(corpus_texts(fetched, exclude_split="natural", corpus="sections"))
    assert not natural_test & natural
    assert only_in_test & natural  # a text split leaves the other sections of test labels in
    with pytest.raises(AdmeError, match="--corpus books: unknown"):
        corpus_texts(fetched, corpus="books")


@pytest.mark.slow
def test_pretrain_on_sections_with_checkpoints(fetched, tmp_path):
    output = tmp_path / "bert"
    run = {"vocab_size": 300, "hidden_size": 32, "num_layers": 1, "num_heads": 2}
    summary = pretrain(
        fetched,
        output,
        **run,
        max_length=32,
        batch_size=8,
        max_steps=3,
        corpus="sections",
        checkpoint_steps=(1, 2),
        device="cpu",
        progress=False,
    )
    assert summary.steps == 3 and summary.corpus == "sections"
    assert any("distinct sections texts" in line for line in summary.lines())
    for step in (1, 2):
        assert (output / f"checkpoint-{step}" / "config.json").is_file()
        assert (output / f"checkpoint-{step}" / "tokenizer.json").is_file()
    assert not (output / "checkpoint-3").exists()
    shutil.rmtree(output)


def test_reparse_with_sections_fills_them_from_the_files_the_labels_came_from(
    sample_db, fetched, tmp_path
):
    args = ["fetch", "--reparse", "--sections", "--db", str(sample_db)]
    result = CliRunner().invoke(app, [*args, "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "products read for 0 stored documents, sections kept for 46 stored documents; "
        "0 without XML in the cache or at their source, 0 that no longer parse"
    )
    assert section_rows(sample_db) == section_rows(fetched)
    assert sections_found(sample_db) == sections_found(fetched)
    again = CliRunner().invoke(app, [*args, "--cache", str(tmp_path / "c")])
    assert "sections kept for 0 stored documents" in again.stdout
    assert section_rows(sample_db) == section_rows(fetched)
