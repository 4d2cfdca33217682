"""parse_spl on SPL shaped like each real-label pattern, on bad input, and on the real sample."""

from __future__ import annotations

import datetime as dt
import hashlib
import time

import pytest

from adme import store
from adme.errors import SplError
from adme.spl import parse_spl
from tests.conftest import NEW_SPL, SAMPLE_SPL
from tests.spl_fixtures import (
    DOCUMENT_ID,
    SET_ID,
    bold,
    clinical_pharmacology,
    paragraph,
    pk,
    section,
    spl_document,
    unclassified,
)

LIPITOR = "c6e131fe-e7df-4876-83f7-9156fc4e8228_v11.xml"
ATORVASTATIN_REPACKAGER = "301ef8f1-6b5f-234b-e063-6294a90ad2d3_v2.xml"
HUMIRA = "608d4f0d-b19f-46d3-749a-7159aa5f933d_v1560.xml"
NO_PK = [
    "12f62bae-5fc0-4f8d-a8b4-446524bd53d1_v5.xml",  # prescription label without 43682-4
    "02681a10-eb8a-457f-8aff-12e6f29079de_v5.xml",  # OTC Drug Facts
    "121b13c8-0b1a-4c48-9d57-3b53a9228d34_v5.xml",
    "1022d075-9bdf-46df-81ac-c84cb2608195_v3.xml",
]


def parse(*sections: str, **header) -> object:
    return parse_spl(spl_document(*sections, **header), "test.xml")


def rows(document) -> list[tuple]:
    return [(p.section_path, p.heading, p.text, p.kind, p.rule_label) for p in document.paragraphs]


# --- header ---------------------------------------------------------------------------------


def test_header_fields_come_from_the_document_root():
    data = spl_document(pk(paragraph("Half-life is 4 hours.")), version="12")
    document = parse_spl(data, "folder/label.xml")
    assert document.document_id == DOCUMENT_ID
    assert document.set_id == SET_ID
    assert document.version == 12
    assert document.effective_date == dt.date(2021, 4, 15)
    assert document.title == "DRUGNAME (drugname) tablets"
    assert document.doc_type == "34391-3"
    assert document.source == "folder/label.xml"
    assert document.sha256 == hashlib.sha256(data).hexdigest()
    assert document.pk_found == "43682-4"


def test_a_label_without_pharmacokinetics_has_no_paragraphs_and_is_not_an_error():
    document = parse(section("34067-9", "1 INDICATIONS AND USAGE", paragraph("Used for pain.")))
    assert document.paragraphs == ()
    assert document.pk_found is None


# --- the shapes real labels use -------------------------------------------------------------


def test_titled_subsections_label_their_paragraphs():
    document = parse(
        clinical_pharmacology(
            pk(
                children="\n".join(
                    [
                        unclassified(paragraph("Peak levels at 2 hours."), title="Absorption"),
                        unclassified(paragraph("Vd is 381 liters."), title="Distribution"),
                        unclassified(paragraph("CYP3A4 forms metabolites."), title="Metabolism"),
                        unclassified(paragraph("Mostly in bile."), title="Excretion"),
                    ]
                )
            )
        )
    )
    assert rows(document) == [
        ("Pharmacokinetics > Absorption", "Absorption", "Peak levels at 2 hours.", "prose",
         "absorption"),
        ("Pharmacokinetics > Distribution", "Distribution", "Vd is 381 liters.", "prose",
         "distribution"),
        ("Pharmacokinetics > Metabolism", "Metabolism", "CYP3A4 forms metabolites.", "prose",
         "metabolism"),
        ("Pharmacokinetics > Excretion", "Excretion", "Mostly in bile.", "prose", "excretion"),
    ]  # fmt: skip
    assert document.paragraphs[0].rule_reason == "title 'Absorption'"
    assert [p.ordinal for p in document.paragraphs] == [0, 1, 2, 3]


def test_untitled_subsection_with_inline_bold_heading():
    body = paragraph(bold("Absorption: ") + "LIPITOR is rapidly absorbed after oral dosing.")
    document = parse(clinical_pharmacology(pk(children=unclassified(body))))
    (only,) = document.paragraphs
    assert only.heading == "Absorption:"
    assert only.text == "LIPITOR is rapidly absorbed after oral dosing."
    assert only.rule_label == "absorption"
    assert only.rule_reason == "inline heading 'Absorption:'"
    assert only.section_path == "Pharmacokinetics"


def test_stand_alone_heading_governs_following_paragraphs_and_nests_inline_headings():
    text = "\n".join(
        [
            paragraph(bold("Specific Populations")),
            paragraph(bold("Geriatric: ") + "Levels are 40% higher in the elderly."),
            paragraph("No dose change is needed."),
            paragraph(bold("Metabolism")),
            paragraph("Glucuronidation is the main pathway."),
        ]
    )
    document = parse(pk(children=unclassified(text)))
    assert rows(document) == [
        ("Pharmacokinetics > Specific Populations", "Geriatric:",
         "Levels are 40% higher in the elderly.", "prose", "other"),
        ("Pharmacokinetics > Specific Populations", "Specific Populations",
         "No dose change is needed.", "prose", "other"),
        ("Pharmacokinetics > Metabolism", "Metabolism", "Glucuronidation is the main pathway.",
         "prose", "metabolism"),
    ]  # fmt: skip
    assert document.paragraphs[1].rule_reason.startswith("heading 'Specific Populations'")


def test_stand_alone_heading_carries_over_untitled_sibling_sections():
    document = parse(
        pk(
            children="\n".join(
                [
                    unclassified(paragraph(bold("Distribution"))),
                    unclassified(paragraph("It is 99% bound to albumin.")),
                    unclassified(paragraph("Volume is small."), title="Elimination"),
                ]
            )
        )
    )
    assert [(p.text, p.rule_label) for p in document.paragraphs] == [
        ("It is 99% bound to albumin.", "distribution"),
        ("Volume is small.", "excretion"),
    ]
    assert document.paragraphs[1].section_path == "Pharmacokinetics > Elimination"


def test_paragraphs_directly_under_pharmacokinetics_have_no_rule_label():
    document = parse(
        pk(
            paragraph("The maximum serum concentration was 4.7 µg/mL.")
            + paragraph("   ")
            + paragraph("Clearance was 12 mL/hr.")
        )
    )
    assert [(p.text, p.heading, p.rule_label, p.rule_reason) for p in document.paragraphs] == [
        ("The maximum serum concentration was 4.7 µg/mL.", None, None, None),
        ("Clearance was 12 mL/hr.", None, None, None),
    ]


def test_bare_pharmacokinetics_takes_its_following_siblings():
    document = parse(
        clinical_pharmacology(
            "\n".join(
                [
                    section("43679-0", "Mechanism of Action", paragraph("Blocks COX.")),
                    pk(paragraph("Pharmacokinetics"), title="Pharmacokinetics"),
                    unclassified(paragraph("Absorbed fast."), title="Absorption"),
                    section(None, "Distribution", paragraph("Bound to albumin.")),
                    section("43682-4", "Metabolism and Excretion", paragraph("Both occur.")),
                    unclassified(paragraph("Higher in women."), title="Gender"),
                    section("34092-7", "Clinical Studies", paragraph("Trial 1 enrolled 900.")),
                    unclassified(paragraph("Not pharmacokinetics."), title="Tablets"),
                ]
            )
        )
    )
    assert document.pk_found == "43682-4 bare + 4 sibling sections"
    assert rows(document) == [
        ("Pharmacokinetics > Absorption", "Absorption", "Absorbed fast.", "prose", "absorption"),
        ("Pharmacokinetics > Distribution", "Distribution", "Bound to albumin.", "prose",
         "distribution"),
        ("Pharmacokinetics > Metabolism and Excretion", "Metabolism and Excretion", "Both occur.",
         "prose", None),
        ("Pharmacokinetics > Gender", "Gender", "Higher in women.", "prose", "other"),
    ]  # fmt: skip
    assert document.paragraphs[2].rule_reason.startswith("ambiguous")


def test_pharmacokinetics_nested_deep_is_found():
    deep = section(
        "42229-5",
        "Level 1",
        children=section("42229-5", "Level 2", children=pk(paragraph("Deep."))),
    )
    document = parse(clinical_pharmacology(deep))
    assert [p.text for p in document.paragraphs] == ["Deep."]
    assert document.pk_found == "43682-4"


def test_titled_pharmacokinetics_inside_clinical_pharmacology_stands_in_for_43682_4():
    document = parse(
        clinical_pharmacology(
            unclassified(
                title="12.3 Pharmacokinetics",
                children=unclassified(paragraph("Absorbed within 1 hour."), title="Absorption"),
            )
        )
    )
    assert document.pk_found == "title:12.3 Pharmacokinetics in 34090-1"
    assert rows(document) == [
        ("Pharmacokinetics > Absorption", "Absorption", "Absorbed within 1 hour.", "prose",
         "absorption"),
    ]  # fmt: skip


def test_pharmacokinetics_title_outside_clinical_pharmacology_is_not_taken():
    document = parse(unclassified(paragraph("Some text."), title="Pharmacokinetics"))
    assert document.paragraphs == ()
    assert document.pk_found is None


def test_table_keeps_caption_header_rows_footnotes_and_flags_table():
    table = """<table>
  <caption>Table 2: Mean (SD) Parameters</caption>
  <col width="50%"/>
  <thead>
    <tr><th>Parameter</th><th>Fasted</th></tr>
  </thead>
  <tfoot>
    <tr><td colspan="2">Data from Study 3.</td></tr>
  </tfoot>
  <tbody>
    <tr>
      <td>C<sub>max</sub> (ng/mL)<footnote ID="f1">Geometric mean.</footnote></td>
      <td>41 (12)</td>
    </tr>
    <tr><td/><td/></tr>
    <tr><td>T<sub>max</sub> (h)<footnoteRef IDREF="f1"/></td><td>1.5</td></tr>
  </tbody>
</table>"""
    (only,) = parse(pk(children=unclassified(table, title="Absorption"))).paragraphs
    assert only.kind == "table"
    assert only.rule_label == "absorption"
    assert only.text == (
        "Table 2: Mean (SD) Parameters\n"
        "Parameter\tFasted\n"
        "Cmax (ng/mL)\t41 (12)\n"
        "Tmax (h)\t1.5\n"
        "Data from Study 3.\n"
        "Geometric mean."
    )


# The meloxicam labels' Table 3 as written in ../shared/spl (0060d1b1..., 48822154...): the
# caption's number typed into its title, and "7.5 mg" bold run by run with a footnote in it.
MELOXICAM_TABLE = """<table ID="id_ab05">
  <caption ID="id_26be">Table 3Single Dose and Steady-State Pharmacokinetic Parameters \
for Oral 7.5 mg and 15 mg Meloxicam (Mean and % CV)<footnote ID="id-4460">The parameter \
values in the table are from various studies</footnote>
  </caption>
  <col width="32%"/>
  <tbody>
    <tr ID="id_5e96">
      <td align="left" valign="top" styleCode="Lrule Botrule Rrule">
        <content styleCode="bold">
          <br/>
        </content>
      </td>
      <td align="center" valign="top" styleCode="Botrule Rrule">
        <content styleCode="bold">7</content>
        <content styleCode="bold">.</content>
        <content styleCode="bold">5 </content>
        <content styleCode="bold">mg<footnote ID="FOOT_8121">Meloxicam tablets</footnote>
        </content>
        <content styleCode="bold">tablets</content>
        <content styleCode="bold">
          <br/>
        </content>
      </td>
      <td align="center" valign="top" styleCode="Botrule Rrule">
        <content styleCode="bold">15 </content>
        <content styleCode="bold">mg </content>
        <content styleCode="bold">capsules</content>
      </td>
    </tr>
  </tbody>
</table>"""


def test_table_caption_number_and_numbers_split_over_runs_read_as_printed():
    (only,) = parse(pk(children=unclassified(MELOXICAM_TABLE, title="Absorption"))).paragraphs
    assert only.text == (
        "Table 3 Single Dose and Steady-State Pharmacokinetic Parameters for Oral 7.5 mg and"
        " 15 mg Meloxicam (Mean and % CV)\n"
        "\t7.5 mg tablets\t15 mg capsules\n"
        "The parameter values in the table are from various studies\n"
        "Meloxicam tablets"
    )


def test_point_ending_a_run_and_spaced_caption_numbers_are_kept():
    # "(5" / "." / "11" is a section number written run by run (00902c8f...); a point that
    # ends a run's sentence before the next number, and "Table 3A", are left as written.
    body = (
        '<paragraph>[see <content styleCode="italics">(</content>\n'
        '  <content styleCode="italics">5</content>\n'
        '  <content styleCode="italics">.</content>\n'
        '  <content styleCode="italics">11</content>)]. Supplied in bottles of 1000.\n'
        '  <content styleCode="bold">50 mg</content> tablets.</paragraph>'
    )
    table = "<table><caption>Table 3A Mean Values</caption><tr><td>1</td></tr></table>"
    first, second = parse(pk(body + "\n" + table)).paragraphs
    assert first.text == "[see (5.11)]. Supplied in bottles of 1000. 50 mg tablets."
    assert second.text == "Table 3A Mean Values\n1"


def test_list_becomes_one_paragraph_with_one_line_per_item():
    items = """<list listType="unordered">
  <item>Rifampin lowers levels.</item>
  <item>
    Ketoconazole raises
    levels.
  </item>
  <item>   </item>
</list>"""
    (only,) = parse(pk(children=unclassified(items, title="Drug Interactions"))).paragraphs
    assert only.kind == "list"
    assert only.text == "Rifampin lowers levels.\nKetoconazole raises levels."
    assert only.rule_label == "other"


def test_br_sub_sup_and_whitespace_are_normalised():
    body = """<paragraph>Mean C<sub>max</sub> was 2.1 µg/mL and AUC<sub>0-∞</sub> rose
      by 10<sup>3</sup>-fold;<br/>the  half-life\u00a0was 5 h.</paragraph>"""
    (only,) = parse(pk(body)).paragraphs
    assert (
        only.text == "Mean Cmax was 2.1 µg/mL and AUC0-∞ rose by 103-fold;\nthe half-life was 5 h."
    )


def test_heading_split_over_indented_bold_runs_is_one_word():
    runs = "\n".join(bold(piece) for piece in ("A", "b", "s", "orp", "tion:"))
    body = f"<paragraph>\n  {runs}\n  Rapid and complete.</paragraph>"
    (only,) = parse(pk(children=unclassified(body))).paragraphs
    assert only.heading == "Absorption:"
    assert only.text == "Rapid and complete."
    assert only.rule_label == "absorption"


def test_indentation_between_real_words_stays_a_space():
    body = (
        "<paragraph>No studies in hepatic impairment "
        '<content styleCode="italics">[See</content>\n    <content styleCode="italics">\n'
        '      <linkHtml href="#S5">Warnings and Precautions (5.1)</linkHtml>\n'
        "    </content>].</paragraph>"
    )
    (only,) = parse(pk(body)).paragraphs
    assert only.text == "No studies in hepatic impairment [See Warnings and Precautions (5.1)]."


def test_leading_bold_phrase_that_is_a_sentence_is_not_a_heading():
    body = paragraph(bold("Table 1") + " shows the mean parameters.")
    (only,) = parse(pk(children=unclassified(body, title="Absorption"))).paragraphs
    assert only.text == "Table 1 shows the mean parameters."
    assert only.heading == "Absorption"
    assert only.rule_label == "absorption"


def test_known_heading_without_punctuation_is_still_a_heading():
    body = paragraph(bold("Food Effect") + " A high-fat meal delays Tmax by 1 hour.")
    (only,) = parse(pk(children=unclassified(body, title="Absorption"))).paragraphs
    assert only.text == "A high-fat meal delays Tmax by 1 hour."
    assert only.rule_label == "absorption"
    assert only.heading == "Absorption"
    assert only.section_path == "Pharmacokinetics > Absorption > Food Effect"


def test_empty_and_whitespace_only_blocks_are_dropped():
    text = paragraph("") + "\n" + paragraph("  \n  ") + "\n<list><item> </item></list>"
    assert parse(pk(text + paragraph("Kept."))).paragraphs[0].text == "Kept."
    assert len(parse(pk(text + paragraph("Kept."))).paragraphs) == 1


# --- bad input ------------------------------------------------------------------------------

GOOD = spl_document(pk(paragraph("Good label text.")))


def _truncated() -> bytes:
    return GOOD[: len(GOOD) // 2]


BAD_INPUTS = {
    "malformed": (GOOD.replace(b"</title>", b"</titel>", 1), "malformed XML at line"),
    "truncated": (_truncated(), "truncated XML"),
    "empty": (b"  \n", "empty file"),
    "not SPL root": (b"<html><body>Not a label</body></html>", "root element is <html>"),
    "wrong namespace": (
        GOOD.replace(b"urn:hl7-org:v3", b"urn:example:other"),
        "root element is <document>",
    ),
    "no setId": (GOOD.replace(b"<setId", b"<otherId"), "missing setId"),
    "no versionNumber": (GOOD.replace(b"<versionNumber", b"<versionX"), "missing versionNumber"),
    "version not a number": (GOOD.replace(b'value="3"', b'value="three"'), "not a number"),
    "version with digit separator": (GOOD.replace(b'value="3"', b'value="1_0"'), "not a number"),
    "version beyond INTEGER": (
        GOOD.replace(b'value="3"', b'value="99999999999"'),
        "versionNumber 99999999999 out of range",
    ),
    "version negative": (
        GOOD.replace(b'value="3"', b'value="-1"'),
        "versionNumber -1 out of range",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_error_naming_the_file(name):
    data, fault = BAD_INPUTS[name]
    with pytest.raises(SplError) as caught:
        parse_spl(data, "inbox/bad.xml")
    message = str(caught.value)
    assert message.startswith("inbox/bad.xml: ")
    assert fault in message
    assert "\n" not in message
    assert caught.value.source == "inbox/bad.xml"


def test_external_entity_is_refused_and_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-4711")
    prolog = (
        f'<?xml version="1.0"?>\n<!DOCTYPE document [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
    )
    data = spl_document(pk(paragraph("Leak: &xxe;")), prolog=prolog)
    with pytest.raises(SplError) as caught:
        parse_spl(data, "xxe.xml")
    assert "entities" in str(caught.value)
    assert "TOP-SECRET" not in str(caught.value)
    assert "TOP-SECRET" not in repr(caught.value.__cause__)


def test_external_dtd_is_not_fetched_and_label_still_parses():
    prolog = '<?xml version="1.0"?>\n<!DOCTYPE document SYSTEM "http://192.0.2.1/spl.dtd">\n'
    started = time.perf_counter()
    document = parse_spl(spl_document(pk(paragraph("Text.")), prolog=prolog), "dtd.xml")
    assert time.perf_counter() - started < 1.0  # no network attempt to a blackhole address
    assert [p.text for p in document.paragraphs] == ["Text."]


def test_billion_laughs_is_refused_without_expanding():
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    prolog = '<?xml version="1.0"?>\n<!DOCTYPE document [' + "".join(entities) + "]>\n"
    data = spl_document(pk(paragraph("&lol9;")), prolog=prolog)
    started = time.perf_counter()
    with pytest.raises(SplError) as caught:
        parse_spl(data, "lol.xml")
    assert time.perf_counter() - started < 1.0
    assert "entities" in str(caught.value)
    assert "lollol" not in str(caught.value)


def test_largest_integer_version_is_accepted_and_stored(tmp_path):
    document = parse_spl(GOOD.replace(b'value="3"', b'value="2147483647"'), "big.xml")
    assert document.version == 2**31 - 1
    con = store.connect(tmp_path / "adme.duckdb")
    store.write_documents(con, [document])
    assert con.execute("SELECT version FROM documents").fetchall() == [(2**31 - 1,)]
    con.close()


@pytest.mark.parametrize(
    "value", ["20231399", "20230230", "00000101", "2023-1-1", "+2023011", "2023"]
)
def test_effective_time_that_is_not_a_date_keeps_the_document_with_a_null_date(tmp_path, value):
    # A bad date is no reason to lose a label's text: stored, with effective_date NULL.
    document = parse_spl(spl_document(pk(paragraph("Text.")), effective_time=value), "d.xml")
    assert document.effective_date is None
    assert [p.text for p in document.paragraphs] == ["Text."]
    con = store.connect(tmp_path / "adme.duckdb")
    store.write_documents(con, [document])
    assert con.execute("SELECT effective_date FROM documents").fetchall() == [(None,)]
    con.close()


def _xxe_prolog(target: str, encoding: str) -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        f'<!DOCTYPE document [<!ENTITY xxe SYSTEM "file://{target}">]>\n'
    )


def _laughs_prolog(encoding: str) -> str:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n<!DOCTYPE document [{"".join(entities)}]>\n'
    )


# How a label may be written in UTF-16 or UTF-32: with a byte order mark, or without one (then
# the XML declaration names the encoding); none of them holds the bytes b"<!ENTITY".
WIDE_ENCODINGS = {
    "utf-16 (BOM, little-endian)": ("UTF-16", lambda text: text.encode("utf-16")),
    "utf-16 (BOM, big-endian)": ("UTF-16", lambda text: b"\xfe\xff" + text.encode("utf-16-be")),
    "utf-16le (no BOM)": ("UTF-16LE", lambda text: text.encode("utf-16-le")),
    "utf-16be (no BOM)": ("UTF-16BE", lambda text: text.encode("utf-16-be")),
    "utf-32 (BOM)": ("UTF-32", lambda text: text.encode("utf-32")),
}


@pytest.mark.parametrize("name", sorted(WIDE_ENCODINGS))
def test_entities_in_wide_encodings_are_refused_like_utf8(tmp_path, name):
    encoding, encode = WIDE_ENCODINGS[name]
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-4711")
    body = pk(paragraph("Leak: &xxe;"))
    xxe_utf8 = spl_document(body, prolog=_xxe_prolog(secret, "UTF-8"))
    xxe_wide = encode(spl_document(body, prolog=_xxe_prolog(secret, encoding)).decode())
    assert b"<!ENTITY" not in xxe_wide
    laughs_body = pk(paragraph("&lol9;"))
    laughs_utf8 = spl_document(laughs_body, prolog=_laughs_prolog("UTF-8"))
    laughs_wide = encode(spl_document(laughs_body, prolog=_laughs_prolog(encoding)).decode())
    for utf8, wide in ((xxe_utf8, xxe_wide), (laughs_utf8, laughs_wide)):
        faults = []
        for data in (utf8, wide):
            started = time.perf_counter()
            with pytest.raises(SplError) as caught:
                parse_spl(data, "evil.xml")
            assert time.perf_counter() - started < 1.0
            faults.append(str(caught.value))
        assert (
            faults[1]
            == faults[0]
            == "evil.xml: XML declares entities (<!ENTITY>): refused as unsafe"
        )


def test_a_valid_utf16_label_still_parses():
    data = spl_document(
        pk(paragraph("Half-life is 4 hours.")), prolog='<?xml version="1.0" encoding="UTF-16"?>\n'
    )
    document = parse_spl(data.decode().encode("utf-16"), "wide.xml")
    assert [p.text for p in document.paragraphs] == ["Half-life is 4 hours."]


def test_bad_input_leaves_stored_rows_unchanged(tmp_path):
    con = store.connect(tmp_path / "adme.duckdb")
    store.write_documents(con, [parse_spl(GOOD, "good.xml")])
    before = con.execute("SELECT * FROM paragraphs ORDER BY paragraph_id").fetchall()
    for data, _ in BAD_INPUTS.values():
        with pytest.raises(SplError):
            store.write_documents(con, [parse_spl(data, "bad.xml")])
    assert con.execute("SELECT * FROM paragraphs ORDER BY paragraph_id").fetchall() == before
    assert con.execute("SELECT count(*) FROM documents").fetchone() == (1,)
    con.close()


# --- the real labels shipped in data/ -------------------------------------------------------


def real(name: str):
    path = SAMPLE_SPL / name if (SAMPLE_SPL / name).exists() else NEW_SPL / name
    return parse_spl(path.read_bytes(), str(path))


def test_every_shipped_label_parses():
    paths = sorted(SAMPLE_SPL.glob("*.xml")) + sorted(NEW_SPL.glob("*.xml"))
    assert len(paths) >= 40
    documents = [parse_spl(path.read_bytes(), path.name) for path in paths]
    with_pk = [d for d in documents if d.pk_found]
    assert len(with_pk) >= 40
    assert all(d.paragraphs for d in with_pk)
    for document in documents:
        for paragraph_ in document.paragraphs:
            assert paragraph_.text.strip(" \n") == paragraph_.text and paragraph_.text
            assert "  " not in paragraph_.text and "\n\n" not in paragraph_.text
            assert paragraph_.kind in ("prose", "list", "table")


def test_humira_paragraphs_are_unlabelled():
    document = real(HUMIRA)
    assert len(document.paragraphs) >= 2
    assert {p.rule_label for p in document.paragraphs} == {None}
    assert {p.heading for p in document.paragraphs} == {None}


@pytest.mark.parametrize("name", [LIPITOR, ATORVASTATIN_REPACKAGER])
def test_atorvastatin_labels_give_each_adme_class(name):
    labels = [p.rule_label for p in real(name).paragraphs]
    for adme_class in ("absorption", "distribution", "metabolism", "excretion", "other"):
        assert adme_class in labels


def test_lipitor_inline_headings_are_split_from_the_text():
    first = real(LIPITOR).paragraphs[0]
    assert first.heading == "Absorption:"
    assert first.text.startswith("LIPITOR is rapidly absorbed")


@pytest.mark.parametrize("name", NO_PK)
def test_labels_without_pharmacokinetics_give_zero_paragraphs(name):
    document = real(name)
    assert document.paragraphs == ()
    assert document.pk_found is None


def test_inline_heading_never_left_at_the_start_of_text():
    paths = sorted(SAMPLE_SPL.glob("*.xml")) + sorted(NEW_SPL.glob("*.xml"))
    checked = 0
    for path in paths:
        for p in parse_spl(path.read_bytes(), path.name).paragraphs:
            if p.rule_reason and p.rule_reason.startswith("inline heading"):
                checked += 1
                assert not p.text.lower().startswith(p.heading.lower().rstrip(":. "))
    assert checked >= 20


def test_untitled_subsection_opening_with_inline_heading_governs_its_later_blocks():
    text = "\n".join(
        [
            paragraph(bold("Absorption") + ": Peak levels occur at 3 hours."),
            paragraph("Table 3 summarises the single-dose disposition."),
        ]
    )
    later = parse(pk(children=unclassified(text) + unclassified(paragraph("Unheaded.")))).paragraphs
    assert [(p.heading, p.text, p.rule_label) for p in later] == [
        ("Absorption:", "Peak levels occur at 3 hours.", "absorption"),
        ("Absorption:", "Table 3 summarises the single-dose disposition.", "absorption"),
        (None, "Unheaded.", None),
    ]


def test_bare_siblings_stop_at_the_next_numbered_section_and_take_special_populations():
    document = parse(
        clinical_pharmacology(
            "\n".join(
                [
                    pk(title="12.3 Pharmacokinetics"),
                    unclassified(paragraph("Absorbed."), title="12.3.1 Absorption"),
                    section("43684-0", "Special Populations", paragraph("Kids differ.")),
                    section("34082-8", "Geriatrics", paragraph("Elderly differ.")),
                    unclassified(paragraph("Gene variants."), title="12.5 Pharmacogenomics"),
                ]
            )
        )
    )
    assert document.pk_found == "43682-4 bare + 3 sibling sections"
    assert [(p.text, p.rule_label) for p in document.paragraphs] == [
        ("Absorbed.", "absorption"),
        ("Kids differ.", "other"),
        ("Elderly differ.", "other"),
    ]
