"""Builders of small SPL XML documents shaped like real DailyMed labels.

Real labels indent every element on its own line (which is why whitespace-only text between
tags must not become a space); these builders do the same, so the tests see the same shapes.
"""

from __future__ import annotations

import textwrap

SET_ID = "5f0c7a3e-1d2b-4c8a-9e6f-0a1b2c3d4e5f"
DOCUMENT_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


def section(code: str | None, title: str | None = None, text: str = "", children: str = "") -> str:
    """One `component/section` with an optional LOINC code, title, text body and subsections."""
    code_xml = (
        f'<code code="{code}" codeSystem="2.16.840.1.113883.6.1" displayName="SECTION"/>'
        if code
        else ""
    )
    title_xml = f"<title>{title}</title>" if title is not None else ""
    text_xml = f"<text>\n{textwrap.indent(text, '  ')}\n</text>" if text else ""
    inner = "\n".join(part for part in (code_xml, title_xml, text_xml, children) if part)
    return (
        '<component>\n  <section>\n    <id root="0000"/>\n'
        + textwrap.indent(inner, "    ")
        + "\n  </section>\n</component>"
    )


def pk(text: str = "", children: str = "", title: str = "12.3 Pharmacokinetics") -> str:
    """A Pharmacokinetics (43682-4) section."""
    return section("43682-4", title, text, children)


def clinical_pharmacology(children: str, text: str = "") -> str:
    """Section 12, Clinical Pharmacology (34090-1), holding `children`."""
    return section("34090-1", "12 CLINICAL PHARMACOLOGY", text, children)


def unclassified(text: str = "", title: str | None = None, children: str = "") -> str:
    """An SPL UNCLASSIFIED (42229-5) subsection, titled or not."""
    return section("42229-5", title, text, children)


def paragraph(body: str) -> str:
    """A `paragraph` element around already-built inline XML."""
    return f"<paragraph>{body}</paragraph>"


def bold(text: str) -> str:
    """A bold `content` run."""
    return f'<content styleCode="bold">{text}</content>'


def spl_document(
    *sections: str,
    set_id: str = SET_ID,
    document_id: str = DOCUMENT_ID,
    version: int | str = 3,
    effective_time: str = "20210415",
    title: str = "DRUGNAME (drugname) tablets",
    doc_type: str = "34391-3",
    prolog: str = '<?xml version="1.0" encoding="UTF-8"?>\n',
) -> bytes:
    """A whole SPL document whose structured body holds `sections` (built by `section`)."""
    body = textwrap.indent("\n".join(sections), "      ")
    xml = f"""{prolog}<document xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <id root="{document_id}"/>
  <code code="{doc_type}" codeSystem="2.16.840.1.113883.6.1" displayName="LABEL"/>
  <title>{title}</title>
  <effectiveTime value="{effective_time}"/>
  <setId root="{set_id}"/>
  <versionNumber value="{version}"/>
  <component>
    <structuredBody>
{body}
    </structuredBody>
  </component>
</document>
"""
    return xml.encode()
