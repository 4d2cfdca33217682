"""SPL XML -> one document and the paragraphs of its Pharmacokinetics (LOINC 43682-4) section.

Structure only: which paragraph sits under which title or inline heading. What a heading means
(the ADME class) is decided in rules.py.

Speed: one lxml parse, then a walk down `component/section` to the sections needed (no `//`
XPath from the root), and one pass over the pharmacokinetics sections' text.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

from adme import rules
from adme.errors import SplError
from adme.products import Product, parse_products

PK_CODE = "43682-4"
CLINICAL_PHARMACOLOGY_CODE = "34090-1"
UNCLASSIFIED_CODE = "42229-5"

_V = "{urn:hl7-org:v3}"
DOCUMENT = _V + "document"
COMPONENT = _V + "component"
STRUCTURED_BODY = _V + "structuredBody"
SECTION = _V + "section"
CODE = _V + "code"
TITLE = _V + "title"
TEXT = _V + "text"
PARAGRAPH = _V + "paragraph"
LIST = _V + "list"
ITEM = _V + "item"
TABLE = _V + "table"
CAPTION = _V + "caption"
CONTENT = _V + "content"
BR = _V + "br"
FOOTNOTE = _V + "footnote"
TR = _V + "tr"
TH = _V + "th"
TD = _V + "td"
_EMPHASIS = re.compile("bold|italics|underline|emphasis")  # in the lower-cased styleCode


@dataclass(frozen=True)
class Paragraph:
    """One pharmacokinetics paragraph, list or table, as stored for the model."""

    ordinal: int
    section_path: str  # titles from 43682-4 down, joined by " > "
    heading: str | None  # title or inline heading the rule used
    text: str  # without that heading, whitespace-normalised
    kind: str  # prose | list | table
    rule_label: str | None
    rule_reason: str | None


@dataclass(frozen=True)
class Section:
    """One section of a label with its own text (not its subsections'), as stored in `sections`."""

    ordinal: int  # position in the label's reading order
    code: str | None  # LOINC section code
    title: str | None
    section_path: str  # titles from the top-level section down, joined by " > "
    text: str  # one line per paragraph, list or table; whitespace-normalised
    pharmacokinetics: bool  # the section is (or is under) the label's 43682-4


@dataclass(frozen=True)
class Document:
    """One SPL document version and its pharmacokinetics paragraphs."""

    document_id: str
    set_id: str
    version: int
    effective_date: dt.date | None
    title: str | None
    doc_type: str | None
    source: str
    sha256: str
    pk_found: str | None  # how 43682-4 was found; None when the label has none
    paragraphs: tuple[Paragraph, ...]
    products: tuple[Product, ...] = ()  # what the label covers (adme/products.py)
    # every section with text, for search and pre-training; None: not read (fetch without
    # --sections), which the store keeps apart from a label that has none
    sections: tuple[Section, ...] | None = ()


def parse_spl(
    data: bytes, source: str, sha256: str | None = None, sections: bool = True
) -> Document:
    """Parse one SPL XML document; raise SplError naming `source` when it is not usable SPL.

    The document's header fields come from the root's children; its paragraphs from the
    Pharmacokinetics section found by `find_pk_sections` (none when the label has no such
    section: that is a valid label, not an error). A caller that already hashed `data` (the
    content-addressed cache does) passes `sha256` so it is not computed twice. `sections`
    False leaves every section's text unread (`Document.sections` None): it costs as much as
    the rest of the extraction together, and only pre-training and whole-label search use it.
    """
    root = parse_xml(data, source)
    header = _header(root, source)
    products = parse_products(root)  # before extraction, which may edit the PK sections
    found = find_pk_sections(root)
    # before extraction, which writes markers into the pharmacokinetics sections
    kept = extract_sections(root, found.sections if found else ()) if sections else None
    paragraphs = extract_paragraphs(found.sections, found.root_title) if found else ()
    return Document(
        **header,
        source=source,
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        pk_found=found.how if found else None,
        paragraphs=paragraphs,
        products=products,
        sections=kept,
    )


# ---------------------------------------------------------------------------------------------
# Safe parsing

# The parser settings every label is read with (benchmarks/extract.py times bare lxml with them).
PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
_parsers = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers are not thread-safe; one per thread, reused across documents.
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = etree.XMLParser(**PARSER_OPTIONS)
        _parsers.parser = parser
    return parser


def parse_xml(data: bytes, source: str) -> etree._Element:
    """Parse bytes with entities, DTD loading and network off; return the SPL root element.

    Raises SplError for malformed or truncated XML, entity declarations (XXE, billion laughs)
    and XML that is not an HL7 v3 SPL document.
    """
    if not data or data.isspace():  # isspace() stops at the first byte of a real file
        raise SplError(source, "empty file")
    # Real SPL declares no entities; a declaration is an XXE or entity-expansion attempt.
    # Refused before parsing, so nothing is expanded, read or fetched.
    if _declares_entities(data):
        raise SplError(source, ENTITY_FAULT)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise SplError(source, _syntax_fault(exc, data)) from None
    # Backstop for encodings the byte check cannot read: the parser kept the declarations
    # (unexpanded, as it runs with entity resolution off), so refuse them the same way.
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and next(dtd.iterentities(), None) is not None:
        raise SplError(source, ENTITY_FAULT)
    if root.tag != DOCUMENT:
        raise SplError(source, f"not an SPL document: root element is <{_local(root.tag)}>")
    return root


ENTITY_FAULT = "XML declares entities (<!ENTITY>): refused as unsafe"

# Encodings whose bytes for "<!ENTITY" differ from ASCII, told apart as XML 1.0 appendix F
# does: by the byte order mark, else by how the first characters "<?" are written. Every other
# encoding a label may declare (UTF-8, Latin-1, ...) writes "<!ENTITY" as its ASCII bytes.
_WIDE_ENCODINGS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x4c\x6f\xa7\x94", "cp037"),  # EBCDIC "<?xm"
)


def _declares_entities(data: bytes) -> bool:
    """True when the document declares an entity, whatever its encoding."""
    if b"<!ENTITY" in data:
        return True
    for start, encoding in _WIDE_ENCODINGS:
        if data.startswith(start):
            return "<!ENTITY" in data.decode(encoding, errors="replace")
    return False


def _syntax_fault(exc: etree.XMLSyntaxError, data: bytes) -> str:
    message = (exc.msg or str(exc)).splitlines()[0]
    line, column = exc.position
    last_line = data.count(b"\n") + 1
    at_end = line >= last_line and column >= len(data) - data.rfind(b"\n") - 1
    if "Premature end of data" in message or "Document is empty" in message or at_end:
        return f"truncated XML (ends inside the document at line {line}): {message}"
    return f"malformed XML at line {line}, column {column}: {message}"


def _local(tag: object) -> str:
    return tag.split("}", 1)[-1] if isinstance(tag, str) else str(tag)


# documents.version is an INTEGER: a larger number is a reject, not a failed batch write.
MAX_VERSION = 2**31 - 1
_NUMBER = re.compile(r"-?[0-9]+")  # ASCII digits only: int() would also take "1_0" or "١"


def _header(root: etree._Element, source: str) -> dict:
    fields: dict[str, etree._Element] = {}
    for child in root:
        name = _local(child.tag)
        if name in ("id", "setId", "versionNumber", "effectiveTime", "title", "code"):
            fields.setdefault(name, child)
    document_id = _attribute(fields.get("id"), "root")
    set_id = _attribute(fields.get("setId"), "root")
    version_text = _attribute(fields.get("versionNumber"), "value")
    for name, value in (("id", document_id), ("setId", set_id), ("versionNumber", version_text)):
        if not value:
            raise SplError(source, f"not an SPL document: missing {name}")
    if not _NUMBER.fullmatch(version_text):
        raise SplError(source, f"versionNumber is not a number: {version_text!r}")
    version = int(version_text)
    if not 0 <= version <= MAX_VERSION:
        raise SplError(source, f"versionNumber {version_text} out of range 0..{MAX_VERSION}")
    title = fields.get("title")
    return {
        "document_id": document_id,
        "set_id": set_id,
        "version": version,
        "effective_date": _date(_attribute(fields.get("effectiveTime"), "value")),
        "title": (_collapse(" ".join(title.itertext())) or None) if title is not None else None,
        "doc_type": _attribute(fields.get("code"), "code"),
    }


def _attribute(element: etree._Element | None, name: str) -> str | None:
    if element is None:
        return None
    value = element.get(name)
    return value.strip() if value and value.strip() else None


_DIGITS8 = re.compile(r"[0-9]{8}")


def _date(value: str | None) -> dt.date | None:
    """The date of an HL7 timestamp (YYYYMMDD...); None when it is missing or not a date,
    e.g. 20231399: the document is kept with a NULL effective_date rather than rejected."""
    if not value or len(value) < 8 or not _DIGITS8.fullmatch(value[:8]):
        return None
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Finding the Pharmacokinetics section


@dataclass(frozen=True)
class PkSections:
    """The sections holding a label's pharmacokinetics text, and how they were found."""

    sections: tuple[etree._Element, ...]
    how: str  # stored as documents.pk_found
    root_title: str | None = None  # title of the section standing for 43682-4 (bare case)


def section_code(section: etree._Element) -> str | None:
    """LOINC code of a section (`code/@code`), None when it has none."""
    for child in section:
        if child.tag == CODE:
            return child.get("code")
    return None


def section_title(section: etree._Element) -> str | None:
    """Whitespace-normalised title of a section, None when it has none or it is empty."""
    for child in section:
        if child.tag == TITLE:
            return _collapse(inline_text(child)) or None
    return None


def _child_sections(element: etree._Element) -> Iterator[etree._Element]:
    for component in element:
        if component.tag == COMPONENT:
            for child in component:
                if child.tag == SECTION:
                    yield child


def _body(root: etree._Element) -> etree._Element | None:
    for component in root:
        if component.tag == COMPONENT:
            for body in component:
                if body.tag == STRUCTURED_BODY:
                    return body
    return None


def find_pk_sections(root: etree._Element) -> PkSections | None:
    """Find the Pharmacokinetics section(s) of an SPL document, at any depth.

    Order of preference: every outermost 43682-4 section; else a section titled exactly
    "Pharmacokinetics" inside Clinical Pharmacology (34090-1). A bare 43682-4 (a title and at
    most the word "Pharmacokinetics") takes its following sibling sections as its content.
    """
    body = _body(root)
    if body is None:
        return None
    coded = [(section, _container(section)) for section in _outermost_pk_sections(body)]
    if coded:
        return _with_bare_siblings(coded, PK_CODE)
    for clinical_pharmacology in body.iter(SECTION):
        if section_code(clinical_pharmacology) != CLINICAL_PHARMACOLOGY_CODE:
            continue
        for section in clinical_pharmacology.iter(SECTION):
            if section is not clinical_pharmacology and _is_pharmacokinetics_title(
                section_title(section)
            ):
                found = _with_bare_siblings([(section, _container(section))], "")
                how = f"title:{section_title(section)} in {CLINICAL_PHARMACOLOGY_CODE}"
                return PkSections(found.sections, f"{how} {found.how}".strip(), found.root_title)
    return None


def _outermost_pk_sections(body: etree._Element) -> list[etree._Element]:
    # Walk only to where labels put 43682-4 (top level, or inside Clinical Pharmacology); only
    # a label with none there is searched at every depth.
    top = list(_child_sections(body))
    found = [section for section in top if section_code(section) == PK_CODE]
    for section in top:
        if section_code(section) == CLINICAL_PHARMACOLOGY_CODE:
            found.extend(_pk_sections_below(section))
    if found:
        return sorted(found, key=lambda section: section.sourceline or 0)
    return _pk_sections_below(body)


def _pk_sections_below(element: etree._Element) -> list[etree._Element]:
    # Walks section to section in document order, not into a 43682-4 (what is inside it
    # belongs to it) nor into the text of sections.
    found: list[etree._Element] = []
    stack = list(reversed(list(_child_sections(element))))
    while stack:
        section = stack.pop()
        if section_code(section) == PK_CODE:
            found.append(section)
        else:
            stack.extend(reversed(list(_child_sections(section))))
    return found


def _container(section: etree._Element) -> etree._Element:
    component = section.getparent()
    return component.getparent() if component is not None else section


def _is_pharmacokinetics_title(title: str | None) -> bool:
    return title is not None and rules.normalise_heading(title) == "pharmacokinetics"


def _with_bare_siblings(found: list[tuple[etree._Element, etree._Element]], how: str) -> PkSections:
    sections: list[etree._Element] = []
    taken_siblings = 0
    root_title = None
    for section, container in found:
        if section in sections:
            continue
        sections.append(section)
        if _is_bare(section):
            siblings = _following_pk_siblings(section, container)
            taken_siblings += len(siblings)
            sections.extend(siblings)
            root_title = section_title(section)
    if taken_siblings:
        how = f"{how} bare + {taken_siblings} sibling sections".strip()
    return PkSections(tuple(sections), how, root_title)


def _is_bare(section: etree._Element) -> bool:
    if any(True for _ in _child_sections(section)):
        return False
    for child in section:
        if child.tag == TEXT:
            if _has_three_words(child):
                return False  # the common case, settled without joining the whole text
            words = rules.normalise_heading(" ".join(child.itertext()))
            return words in ("", "pharmacokinetics")
    return True


_PUNCTUATION = ":.;,-"


def _has_three_words(element: etree._Element) -> bool:
    """True once the text holds three words (runs of non-space with more than punctuation).

    A bare 43682-4's text normalises to "" or "pharmacokinetics": at most a section number
    and that one word, then punctuation `normalise_heading` strips. Pieces of `itertext()`
    are joined with spaces there, so no word spans two pieces and they are counted one by one.
    """
    words = 0
    for piece in element.itertext():
        for token in piece.split():
            if token.strip(_PUNCTUATION):
                words += 1
                if words == 3:
                    return True
    return False


# Codes a bare 43682-4's sibling subsections carry besides unclassified: none, 43682-4 again,
# and Special Populations.
_SIBLING_CODES = frozenset({None, UNCLASSIFIED_CODE, PK_CODE, "43684-0"})
_SECTION_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)+)\.?\s")


def _following_pk_siblings(section: etree._Element, container: etree._Element) -> list:
    """The sibling sections after a bare 43682-4 that are its subsections in all but markup.

    Taken while they are unclassified, 43682-4, Special Populations, or titled with a known
    pharmacokinetics heading ("Absorption", "Geriatrics"); a numbered title that is not
    under the 43682-4's number ("12.5 Pharmacogenomics" after "12.3") is the next section.
    """
    siblings = list(_child_sections(container))
    own_number = _SECTION_NUMBER.match(section_title(section) or "")
    taken = []
    for sibling in siblings[siblings.index(section) + 1 :]:
        title = section_title(sibling) or ""
        number = _SECTION_NUMBER.match(title)
        if number and not (own_number and number[1].startswith(own_number[1] + ".")):
            break
        if section_code(sibling) in _SIBLING_CODES or rules.is_known_heading(title):
            taken.append(sibling)
        else:
            break
    return taken


def extract_sections(
    root: etree._Element, pk_sections: tuple[etree._Element, ...] = ()
) -> tuple[Section, ...]:
    """Every section of the label's body that has text of its own, in reading order.

    A section's text is its own `text` (one line per paragraph, list or table), not its
    subsections', which are rows of their own; highlights excerpts are left out (they repeat
    the full text). Sections in or under `pk_sections` are flagged `pharmacokinetics`.

    Speed: the text of every title and block of the label is read in a few C-level passes
    over one string (see `_batch_lines`), not piece by piece in Python, with the same result
    as `section_title` and `section_text` give section by section.
    """
    body = _body(root)
    if body is None:
        return ()
    pk_ids = {id(section) for section in pk_sections}
    # Sections in reading order, each as (code, in_pk, parent, title line, first, end line).
    visited: list[tuple[str | None, bool, int, int, int, int]] = []
    parts: list[str] = []  # serialised titles and blocks, lines of `_batch_lines`
    stack = [(section, -1, False) for section in reversed(list(_child_sections(body)))]
    while stack:
        section, parent, in_pk = stack.pop()
        in_pk = in_pk or id(section) in pk_ids
        code, title_line = _NO_CODE, -1
        components = []
        texts = []
        for child in section:  # the first code and title, as section_code and section_title
            tag = child.tag
            if tag == TEXT:
                texts.append(child)
            elif tag == COMPONENT:
                components.append(child)
            elif tag == TITLE and title_line < 0:
                title_line = len(parts)
                parts.append(_tostring(child, encoding="unicode", with_tail=False))
            elif tag == CODE and code is _NO_CODE:
                code = child.get("code")
        if code is _NO_CODE:
            code = None
        first = len(parts)
        for text in texts:
            if text.text and not text.text.isspace():
                parts.append(_escape(text.text))
            parts.extend(_tostring(block, encoding="unicode") for block in text)
        visited.append((code, in_pk, parent, title_line, first, len(parts)))
        here = len(visited) - 1
        children = [sub for component in components for sub in component if sub.tag == SECTION]
        stack.extend((child, here, in_pk) for child in reversed(children))
    lines = _batch_lines(parts)
    if lines is None:  # text the batch cannot read exactly: section by section
        return _extract_sections_one_by_one(body, pk_ids)
    out: list[Section] = []
    paths: list[tuple[str, ...]] = []
    for code, in_pk, parent, title_line, first, end in visited:
        title = (lines[title_line] or None) if title_line >= 0 else None
        path = paths[parent] if parent >= 0 else ()
        here = (*path, title) if title else path
        paths.append(here)
        text = "\n".join(line for line in lines[first:end] if line)
        if text:
            out.append(Section(len(out), code, title, " > ".join(here), text, in_pk))
    return tuple(out)


_tostring = etree.tostring  # looked up once, called for every block
_NO_CODE = object()
# Separates the lines of `_batch_lines`: a control character, which XML 1.0 text cannot hold
# (the parser refuses it, lxml refuses to set it), so it never meets a label's own text.
_LINE_END = "\x02"
# A whole piece of text that is whitespace holding a line break, after a serialised tag and
# before the next (or the end of a block, for its tail): indentation between two tags. Then
# the tags themselves (`>` and `<` in attributes and text are escaped).
_INDENT_AFTER_TAG = re.compile(">[^\\S\n]*+\n\\s*+(?=[<\x02]|\\Z)")
_TAG = re.compile("<[^>]*+>")
_OTHER_MARKERS = tuple("\ue001\ue002\ue003\ue004\ue005")  # what `mark_structure` writes


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _batch_lines(parts: list[str]) -> list[str] | None:
    """The whitespace-normalised text of serialised elements, as `_collapse(_raw(...))`.

    Each part is an element serialised by lxml (with its tail when its tail counts), or a
    section text's leading text escaped. Joined into one string, the tags become gaps
    between the pieces `itertext()` would give, whole pieces that are indentation become
    `_INDENT`, and `_resolve_indent_runs` resolves them, each pass over the whole label at
    once. None when a part holds what this cannot read as `_raw` would: a character reference
    lxml wrote (a carriage return), or characters of the markers `mark_structure` writes.
    """
    text = _LINE_END.join(parts)
    if "\n" in text:
        text = _INDENT_AFTER_TAG.sub(">" + _INDENT, text)
    text = _TAG.sub("", text)
    if "&" in text:
        if "&#" in text:
            return None
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    if any(marker in text for marker in _OTHER_MARKERS):
        return None
    if _INDENT in text:
        # Runs at the end of a line, where `_resolve_indents` strips them, resolve to space
        # or nothing here, which the line's normalisation drops the same.
        text = _resolve_indent_runs(text, exact=False)
    return [" ".join(line.split()) for line in text.split(_LINE_END)]


def _extract_sections_one_by_one(body: etree._Element, pk_ids: set[int]) -> tuple[Section, ...]:
    out: list[Section] = []
    stack = [(section, (), False) for section in reversed(list(_child_sections(body)))]
    while stack:
        section, path, in_pk = stack.pop()
        in_pk = in_pk or id(section) in pk_ids
        title = section_title(section)
        here = (*path, title) if title else path
        text = section_text(section)
        if text:
            out.append(
                Section(len(out), section_code(section), title, " > ".join(here), text, in_pk)
            )
        children = list(_child_sections(section))
        stack.extend((child, here, in_pk) for child in reversed(children))
    return tuple(out)


def section_text(section: etree._Element) -> str:
    """A section's own text, one whitespace-normalised line per paragraph, list or table."""
    lines = []
    for child in section:
        if child.tag != TEXT:
            continue
        if child.text and not child.text.isspace():
            lines.append(_collapse(child.text))
        for block in child:
            lines.append(_collapse(_raw(block, with_tail=True)))
    return "\n".join(line for line in lines if line)


# ---------------------------------------------------------------------------------------------
# Text of the blocks inside a section


_SPACES = re.compile(r"\s+")
# Markers (private-use characters, which XML text may hold) written into the tree of the
# pharmacokinetics sections by `mark_structure`, so that lxml's C-level `itertext()` yields
# the whole text with its structure in one call.
_BREAK = "\ue001"  # a line break the label asked for (br, list item, table row)
_CELL = "\ue002"  # starts a table cell
_NOTE_START, _NOTE_END = "\ue003", "\ue004"  # around a footnote's text
_NOTES = re.compile("\ue003([^\ue003\ue004]*)\ue004")
# Whitespace-only text holding a line break sits between two tags: it is the file's
# indentation, not a space, so a word split over bold runs ("A" / "bsorption") stays one word.
# But labels also indent between real words ("[See</content> <content><linkHtml>Warnings"),
# so indentation is marked and later resolved: nothing between a letter and a lower-case
# letter or next to brackets and punctuation, a space anywhere else.
_INDENT = "\ue000"
# Where a footnote was lifted out of a table row: resolved like indentation, but never to
# nothing between two words.
_NOTE_GAP = "\ue005"
_INDENTS = re.compile("[\ue000\ue005]+")
_ANY_MARKER = re.compile("[\ue000-\ue005]")
_OPENING = frozenset("([{")
_CLOSING = frozenset(")]},.;:")
# `_resolve_indents` without a Python call per run. Each pattern starts with the indentation
# character, so the regex engine skips to it instead of trying every position.
# - Runs next to a character outside ASCII and the markers, where `_resolved_indent`'s tests
#   (isalpha, islower, isdigit) are not character classes, are resolved by it one by one; a
#   point between two runs ("7" / "." / "5") goes with the run before it, as one match.
# - Then, between ASCII characters, its rules as classes: a decimal point written as its own
#   run first, then the runs that become nothing (after an opening bracket, before closing
#   punctuation, inside a word); every other run is a space.
_PLAIN = "\x00-\x7f\ue000-\ue004"
_UNUSUAL_INDENTS = re.compile(
    f"\ue000(?:(?<=[^{_PLAIN}]\ue000)\ue000*+(\\.\ue000++)?|\ue000*+(?=[^{_PLAIN}]))"
)
_INDENT_RUNS = re.compile("\ue000++")
_LONE_POINTS = re.compile("\ue000(?<=[0-9]\ue000)\ue000*+\\.\ue000++(?=[0-9])")
_GLUED_INDENTS = re.compile(
    "\ue000(?:(?<=[([{]\ue000)\ue000*+|\ue000*+(?=[)\\]},.;:])"
    "|(?<=[A-Za-z]\ue000)\ue000*+(?=[a-z]))"
)


def _resolved_indent(match: re.Match[str]) -> str:
    gap = match.group()
    if _INDENT not in gap:
        return ""  # only a lifted footnote, glued to the text on both sides
    return _run_resolution(match.string, match.start(), match.end(), _NOTE_GAP in gap)


def mark_structure(section: etree._Element) -> None:
    """Write break, cell and footnote markers into a section's subtree (a parsed copy we own)."""
    for element in section.iter(BR, ITEM, TR, TD, TH, FOOTNOTE, PARAGRAPH):
        tag = element.tag
        if tag == PARAGRAPH:
            # A paragraph inside a cell or item is a line of it; those directly in a section's
            # text are blocks of their own and stay unmarked (their headings are read first).
            if element.getparent().tag != TEXT:
                element.text = _BREAK + (element.text or "")
        elif tag == BR:
            element.text = _BREAK
        elif tag in (TD, TH):
            element.text = _CELL + (element.text or "")
        elif tag == FOOTNOTE:
            element.text = _NOTE_START + (element.text or "")
            if len(element):
                element[-1].tail = (element[-1].tail or "") + _NOTE_END
            else:
                element.text += _NOTE_END
        else:
            element.text = _BREAK + (element.text or "")


def _raw(element: etree._Element, with_tail: bool = False) -> str:
    """The marked text inside an element (and its tail if asked), indentation marked."""
    pieces = [
        _INDENT if piece.isspace() and "\n" in piece else piece for piece in element.itertext()
    ]
    if with_tail and element.tail:
        pieces.append(_piece(element.tail))
    return "".join(pieces)


def _piece(text: str | None) -> str:
    if not text:
        return ""
    return _INDENT if text.isspace() and "\n" in text else text


def _lone_point(text: str, index: int) -> bool:
    """True when the "." at `index` is a run of its own after a digit's run ("7" / "." / "5").

    A "." that ends a run of text ("in bottles of 1000." / "50 mg") ends a sentence or an
    item; only a point indented on both sides is a decimal point written as its own run.
    """
    if index < 2 or text[index - 1] != _INDENT:
        return False
    while index > 0 and text[index - 1] in (_INDENT, _NOTE_GAP):
        index -= 1
    return index > 0 and text[index - 1].isdigit()


def _resolve_indents(text: str) -> str:
    if _INDENT not in text and _NOTE_GAP not in text:
        return text
    text = text.strip(_INDENT + _NOTE_GAP)  # indentation at either end is nothing
    if _NOTE_GAP in text:
        return _INDENTS.sub(_resolved_indent, text)
    return _resolve_indent_runs(text)


def _resolve_indent_runs(text: str, exact: bool = True) -> str:
    """`_INDENTS.sub(_resolved_indent, text)` for text without footnote gaps, in C passes.

    Each run is resolved from the characters on either side of it in `text`, as
    `_resolved_indent` does; replacing a run never changes another run's neighbours. Not
    `exact`, a run that becomes a space may become several, for a caller that then
    normalises whitespace anyway.
    """
    text = _UNUSUAL_INDENTS.sub(_resolved_unusual, text)
    text = _GLUED_INDENTS.sub("", _LONE_POINTS.sub(".", text))
    if _INDENT not in text:
        return text
    if exact and _INDENT * 2 in text:
        return _INDENT_RUNS.sub(" ", text)
    return text.replace(_INDENT, " ")


def _resolved_unusual(match: re.Match[str]) -> str:
    text, start, end = match.string, match.start(), match.end()
    point = match.start(1)
    if point < 0:
        return _run_resolution(text, start, end)
    return _run_resolution(text, start, point) + "." + _run_resolution(text, point + 1, end)


def _run_resolution(text: str, start: int, end: int, note_gap: bool = False) -> str:
    """What the run of indentation at text[start:end] becomes: nothing or a space.

    `note_gap`: a lifted footnote sits in the run, so it ended a word before the indentation.
    """
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    if before in _OPENING or after in _CLOSING:
        return ""
    if note_gap:
        return " "  # "mg" [note] / "tablets"
    if before.isalpha() and after.isalpha() and after.islower():
        return ""  # "A" / "bsorption"
    if before == "." and after.isdigit() and _lone_point(text, start - 1):
        return ""  # a number split over runs: "7" / "." / "5"
    return " "


def _unmark(text: str) -> str:
    if _CELL in text:
        text = text.replace(_CELL, " ")
    if _NOTE_START in text:
        text = text.replace(_NOTE_START, " ").replace(_NOTE_END, " ")
    return text


def _collapse(text: str) -> str:
    """One line: indentation resolved, every run of whitespace, break or marker one space."""
    if not _ANY_MARKER.search(text):
        return " ".join(text.split())  # the common case: nothing to resolve or unmark
    return " ".join(_unmark(_resolve_indents(text)).replace(_BREAK, " ").split())


def _tidy(text: str) -> str:
    """Collapse spaces, keep the line breaks that `br`, list items and table rows made."""
    if not _ANY_MARKER.search(text):
        return " ".join(text.split())  # one line, nothing to resolve or unmark
    text = _unmark(_resolve_indents(text))
    lines = (" ".join(line.split()) for line in text.split(_BREAK))
    return "\n".join(line for line in lines if line)


def inline_text(element: etree._Element) -> str:
    """Normalised text of an element: indentation dropped, `br` kept as a line break."""
    return _tidy(_raw(element))


def table_text(table: etree._Element) -> str:
    """A table as text: caption line, then one line per row with cells joined by tabs.

    Header, body and foot rows come in that order (SPL puts `tfoot` before `tbody`), and
    footnotes, which SPL writes inside the cells, follow the rows as their own lines.
    """
    lines: list[str] = []
    footnotes: list[str] = []
    groups: dict[str, list[etree._Element]] = {"thead": [], "tbody": [], "tfoot": []}
    for child in table:
        name = _local(child.tag)
        if child.tag == CAPTION:
            caption = _spaced_number(_collapse(_lift_notes(_raw(child), footnotes)))
            if caption:
                lines.append(caption)
        elif name in groups:
            groups[name].extend(row for row in child if row.tag == TR)
        elif child.tag == TR:
            groups["tbody"].append(child)
    for rows in groups.values():
        for row in rows:
            # Indentation is resolved once per row: next to a cell marker it only ever becomes
            # space or nothing, which each cell's collapse then drops, as it would per cell.
            row_text = _resolve_indents(_lift_notes(_raw(row), footnotes))
            texts = [_collapse(cell) for cell in row_text.split(_CELL)[1:]]
            if any(texts):
                lines.append("\t".join(texts))
    lines.extend(note for note in footnotes if note)
    return "\n".join(lines)


# Some labels type the caption's number straight into its title: "Table 3Single Dose ...".
_GLUED_CAPTION_NUMBER = re.compile(r"^((?i:table|figure)\s*\d+[A-Za-z]?[.:]?)(?=[A-Z][a-z])")


def _spaced_number(caption: str) -> str:
    """A caption with a space between its number and its title ("Table 3 Single Dose")."""
    return _GLUED_CAPTION_NUMBER.sub(r"\1 ", caption)


def _lift_notes(text: str, footnotes: list[str]) -> str:
    if _NOTE_START not in text:
        return text
    footnotes.extend(_collapse(note) for note in _NOTES.findall(text))
    return _NOTES.sub(_NOTE_GAP, text)


def list_text(element: etree._Element) -> str:
    """A list as text: its caption, then one line per item (nested lists flattened)."""
    return inline_text(element)


# ---------------------------------------------------------------------------------------------
# Headings and paragraphs


@dataclass(frozen=True)
class Heading:
    """A title or heading above a paragraph; `kind` says which (used in rule_reason)."""

    text: str
    kind: str  # "title" | "heading" (stand-alone paragraph) | "inline heading"


@dataclass(frozen=True)
class Block:
    """One paragraph, list or table of a section's text, with its inline heading split off."""

    kind: str  # prose | list | table
    text: str
    heading: str | None = None  # leading bold/italic/underlined heading (inline)
    standalone: bool = False  # the paragraph is nothing but a heading


_MAX_HEADING_WORDS = 12
PK_TITLE = "pharmacokinetics title"


def is_emphasis(element: etree._Element) -> bool:
    """True for a `content` element styled bold, italics or underline."""
    if element.tag != CONTENT:
        return False
    style = element.get("styleCode")
    return style is not None and _EMPHASIS.search(style.lower()) is not None


def split_heading(paragraph: etree._Element) -> tuple[str | None, str]:
    """Split a paragraph into (leading emphasised heading, rest of the text).

    The leading emphasised runs (possibly a word split over several runs) are a heading when
    they end with ":" or ".", are the whole paragraph, or name a known pharmacokinetics
    heading; "<b>Table 1</b> shows ..." stays a sentence. No heading -> (None, whole text).
    """
    if paragraph.text and paragraph.text.strip():
        return None, inline_text(paragraph)
    runs: list[etree._Element] = []
    for child in paragraph:
        if not is_emphasis(child):
            break
        runs.append(child)
        if child.tail and child.tail.strip():
            break
    if not runs:
        return None, inline_text(paragraph)
    parts: list[str] = []
    for run in runs:
        parts.append(_raw(run))
        if run is not runs[-1]:
            parts.append(_piece(run.tail))
    heading = _collapse("".join(parts))
    rest = [_piece(runs[-1].tail)]
    rest.extend(_raw(child, with_tail=True) for child in paragraph[len(runs) :])
    body = _tidy("".join(rest))
    if body.startswith(":") and not heading.endswith(":"):
        heading, body = heading + ":", body[1:].lstrip()
    if not heading or len(heading.split()) > _MAX_HEADING_WORDS:
        return None, inline_text(paragraph)
    if not body or heading.endswith((":", ".")) or rules.is_known_heading(heading):
        return heading, body
    return None, inline_text(paragraph)


def heading_lines(paragraph: etree._Element) -> list[etree._Element]:
    """Split a paragraph at each `br` followed by an emphasised run, else return it whole.

    Some labels write a whole section as one paragraph of lines, each heading underlined on
    its own line: "<u>Absorption</u><br/>text<br/><u>Distribution</u><br/>text". Each such
    line group becomes its own paragraph (a copy; the document is not changed).
    """
    cuts = [
        paragraph.index(br)
        for br in paragraph.iterchildren(BR)  # C-level tag filter: most paragraphs have none
        if not (br.tail and br.tail.strip())
        and (following := br.getnext()) is not None
        and is_emphasis(following)
    ]
    if not cuts:
        return [paragraph]
    parts = []
    bounds = [-1, *cuts, len(paragraph)]
    for start, end in zip(bounds, bounds[1:], strict=False):
        part = etree.Element(PARAGRAPH)
        part.text = paragraph.text if start < 0 else None
        for child in paragraph[start + 1 : end]:
            part.append(copy.deepcopy(child))
        parts.append(part)
    return parts


def text_blocks(text: etree._Element) -> Iterator[Block]:
    """The blocks of a section's `text`: paragraphs, lists, tables, and loose inline text."""
    loose = [_piece(text.text)]
    for child in text:
        tag = child.tag
        if tag not in (PARAGRAPH, LIST, TABLE):
            loose.append(_raw(child, with_tail=True))
            continue
        yield from _loose_block(loose)
        loose = [_piece(child.tail)]
        if tag == PARAGRAPH:
            for part in heading_lines(child):
                heading, body = split_heading(part)
                yield Block("prose", body, heading, standalone=heading is not None and not body)
        elif tag == LIST:
            yield Block("list", list_text(child))
        else:
            yield Block("table", table_text(child))
    yield from _loose_block(loose)


def _loose_block(parts: list[str]) -> Iterator[Block]:
    # Mostly only the indentation between blocks: skip that without building any text.
    if not any(part and part != _INDENT and not part.isspace() for part in parts):
        return
    text = _tidy("".join(parts))
    if text:
        yield Block("prose", text)


@dataclass
class _Level:
    """Headings state shared by a titled section and its untitled subsections."""

    standalone: Heading | None = None


@dataclass
class _Extraction:
    paragraphs: list[Paragraph] = field(default_factory=list)


def extract_paragraphs(
    sections: tuple[etree._Element, ...], root_title: str | None = None
) -> tuple[Paragraph, ...]:
    """Paragraphs of the pharmacokinetics sections, in reading order, labelled by rules.py.

    The first section stands for 43682-4; later ones (siblings of a bare 43682-4) are read as
    its subsections, so their paths start with its title.
    """
    out = _Extraction()
    for section in sections:
        mark_structure(section)
    first, rest = sections[0], sections[1:]
    top_title = section_title(first) or root_title
    base = [Heading(_strip_number(top_title), PK_TITLE)] if top_title else []
    _walk(first, [], _Level(), out, is_root=True, root_path=base)
    for sibling in rest:
        _walk(sibling, base, _Level(), out)
    return tuple(out.paragraphs)


_NUMBER_PREFIX = re.compile(r"^\s*\d+(?:\.\d+)*\.?\s+(?=\D)")


def _strip_number(title: str) -> str:
    return _NUMBER_PREFIX.sub("", title)


def _walk(
    section: etree._Element,
    path: list[Heading],
    level: _Level,
    out: _Extraction,
    is_root: bool = False,
    root_path: list[Heading] | None = None,
) -> None:
    title = section_title(section)
    if is_root:
        path, level = list(root_path or []), _Level()
    elif title:
        level.standalone = None  # a title change ends the stand-alone heading of its level
        path, level = [*path, Heading(_strip_number(title), "title")], _Level()
    # An untitled subsection opening with an inline heading ("Absorption: ...") is that
    # heading's subsection: it governs the section's later paragraphs and tables too.
    opening: list[Heading] | None = [] if not (is_root or title) else None
    for child in section:
        if child.tag == TEXT:
            for block in text_blocks(child):
                _emit(block, path, level, out, opening)
                if opening is not None and not opening and (block.text or block.heading):
                    if block.heading and not block.standalone:
                        opening.append(Heading(block.heading, "inline heading"))
                    else:
                        opening = None
        elif child.tag == COMPONENT:
            for sub in child:
                if sub.tag == SECTION:
                    _walk(sub, path, level, out)


def _emit(
    block: Block,
    path: list[Heading],
    level: _Level,
    out: _Extraction,
    opening: list[Heading] | None = None,
) -> None:
    if block.standalone:
        level.standalone = Heading(block.heading, "heading")
        if opening:
            opening.clear()  # the stand-alone heading takes over from here
        return
    if not block.text or (
        not path[1:] and rules.normalise_heading(block.text) == "pharmacokinetics"
    ):
        return  # empty, or a bare 43682-4 repeating its own title
    chain = [*path, level.standalone] if level.standalone else list(path)
    if opening:
        chain.extend(opening)
    inline = Heading(block.heading, "inline heading") if block.heading else None
    if inline:
        chain.append(inline)
    label, reason, decider = _label(chain)
    shown_path = [h for h in chain if h is not inline or (decider is not inline)]
    heading = decider.text if decider else None
    out.paragraphs.append(
        Paragraph(
            ordinal=len(out.paragraphs),
            section_path=" > ".join(h.text for h in shown_path),
            heading=heading,
            text=block.text,
            kind=block.kind,
            rule_label=label,
            rule_reason=reason,
        )
    )


def _label(chain: list[Heading]) -> tuple[str | None, str | None, Heading | None]:
    # The 43682-4 title itself says nothing about the class; the rule sees what lies below it.
    ruled = tuple(h for h in chain if h.kind != PK_TITLE)
    label, reason, index = _decided(ruled)
    return label, reason, None if index is None else ruled[index]


@functools.lru_cache(maxsize=4096)
def _decided(ruled: tuple[Heading, ...]) -> tuple[str | None, str | None, int | None]:
    """(label, reason, index of the deciding heading) for a chain of headings.

    A pure function of the chain, cached: a section's paragraphs mostly share their chain.
    """
    texts = [h.text for h in ruled]
    decision = rules.decide(texts)
    if decision.index is None:
        return None, None, None
    return decision.label, rules.explain(decision, texts, [h.kind for h in ruled]), decision.index
