"""Who made a label and what it is: its products, their ingredients and applications.

Every SPL names its products in `subject/manufacturedProduct` elements (in the "SPL product
data elements" section, 48780-1). The outer `manufacturedProduct` holds the approval
(`subjectOf/approval`: application number such as NDA020702 and marketing category such as
NDA, ANDA, BLA) and the route (`consumedIn/substanceAdministration/routeCode`); the inner one
(`manufacturedMedicine` in labels written before 2009) holds the NDC product code, name,
dosage form, generic name and ingredients. A kit lists its parts as `part/partProduct`, each
with its own code and ingredients. The labeler is the document's
`author/assignedEntity/representedOrganization/name`.

Parsed from the tree spl.py already built (no second parse); documents that are not drug
labels (indexing files, establishment registrations) simply have no products.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
from lxml import etree

_V = "{urn:hl7-org:v3}"
NDC_SYSTEM = "2.16.840.1.113883.6.69"
UNII_SYSTEM = "2.16.840.1.113883.4.9"
PRODUCT_DATA_CODE = "48780-1"

# Ingredient classCode -> stored role. ACTIB/ACTIM/ACTIR: active, its strength given as the
# basis of strength, the active moiety, or the reference drug; IACT: inactive.
ROLES = {"ACTIB": "active", "ACTIM": "active", "ACTIR": "active", "IACT": "inactive"}


@dataclass(frozen=True)
class Ingredient:
    """One ingredient of one product, as stored in `ingredients`."""

    name: str | None
    unii: str | None  # ingredientSubstance/code, FDA's Unique Ingredient Identifier
    role: str  # active | inactive | other
    class_code: str | None  # ACTIB | ACTIM | ACTIR | IACT | ... as written in the label
    strength: str | None  # "500 mg", "100 mg/5 mL"
    moiety_name: str | None  # the active moiety (naproxen for naproxen sodium)
    moiety_unii: str | None


@dataclass(frozen=True)
class Product:
    """One product a label covers, as stored in `products`."""

    ordinal: int  # position among the label's products, from 1
    name: str | None
    generic_name: str | None
    dosage_form: str | None
    route: str | None  # routes joined by ", " when a kit's parts differ
    marketing_category: str | None  # NDA | ANDA | BLA | NDA AUTHORIZED GENERIC | ...
    application_number: str | None  # NDA020702, ANDA078250, BLA125057, part341, ...
    labeler: str | None
    ndc_product_codes: tuple[str, ...]  # the product's code, then its kit parts' codes
    ingredients: tuple[Ingredient, ...]


def parse_products(root: etree._Element) -> tuple[Product, ...]:
    """Every product a parsed SPL document names, in document order (none is not an error)."""
    labeler = document_labeler(root)
    found = []
    for outer in _product_elements(root):
        product = _product(outer, len(found) + 1, labeler)
        if product is not None:
            found.append(product)
    return tuple(found)


def document_labeler(root: etree._Element) -> str | None:
    """The labeler: the organisation that authored the document."""
    return _text(_path(root, "author", "assignedEntity", "representedOrganization", "name"))


_NS = {"v": "urn:hl7-org:v3"}
_TOP_LEVEL_PRODUCTS = etree.XPath(
    "v:component/v:structuredBody/v:component/v:section/v:subject/v:manufacturedProduct",
    namespaces=_NS,
)
_ANY_PRODUCTS = etree.XPath(
    "v:component/v:structuredBody//v:section/v:subject/v:manufacturedProduct", namespaces=_NS
)


def _product_elements(root: etree._Element) -> list[etree._Element]:
    """The outer `subject/manufacturedProduct` elements, in document order.

    Product data sections are top-level in every label seen; a deeper one is looked for only
    when there is none at the top (a full-depth search costs five times as much).
    """
    return _TOP_LEVEL_PRODUCTS(root) or _ANY_PRODUCTS(root)


def _product(outer: etree._Element, ordinal: int, labeler: str | None) -> Product | None:
    inner = outer.find(_V + "manufacturedProduct")
    if inner is None:
        inner = outer.find(_V + "manufacturedMedicine")
    if inner is None:
        return None
    parts = [part.find(_V + "partProduct") for part in inner.findall(_V + "part")]
    parts = [p for p in parts if p is not None]
    codes = [c for c in (_ndc(inner), *(_ndc(p) for p in parts)) if c]
    ingredients = [i for element in (inner, *parts) for i in _ingredients(element)]
    category, application = _approval(outer)
    if category is None and parts:
        # A kit without its own approval: its parts' approvals (the same one, usually).
        approvals = [_approval(part) for part in inner.findall(_V + "part")]
        category, application = next((a for a in approvals if a[0]), (None, None))
    return Product(
        ordinal=ordinal,
        name=_text(inner.find(_V + "name")),
        generic_name=_text(_path(inner, "asEntityWithGeneric", "genericMedicine", "name")),
        dosage_form=_display(inner.find(_V + "formCode")),
        route=_routes(outer, inner),
        marketing_category=category,
        application_number=application,
        labeler=labeler,
        ndc_product_codes=tuple(dict.fromkeys(codes)),
        ingredients=tuple(ingredients),
    )


_SUBSTANCE = {  # ingredient element -> its substance element (current, then pre-2009 markup)
    _V + "ingredient": _V + "ingredientSubstance",
    _V + "activeIngredient": _V + "activeIngredientSubstance",
    _V + "inactiveIngredient": _V + "inactiveIngredientSubstance",
}


def _ingredients(product: etree._Element) -> Iterator[Ingredient]:
    """The ingredients of one (inner or part) product, current and pre-2009 markup."""
    for child in product:
        substance_tag = _SUBSTANCE.get(child.tag) if isinstance(child.tag, str) else None
        if substance_tag is None:
            continue
        parts = _children(child)
        substance = parts.get(substance_tag)
        if substance is None:
            continue
        class_code = child.get("classCode")
        if child.tag == _V + "ingredient":
            role = ROLES.get(class_code or "", "other")
        else:
            role = "active" if child.tag == _V + "activeIngredient" else "inactive"
        about = _children(substance)
        moiety = _children(about.get(_V + "activeMoiety")).get(_V + "activeMoiety")
        of_moiety = _children(moiety)
        yield Ingredient(
            name=_text(about.get(_V + "name")),
            unii=_code(about.get(_V + "code"), UNII_SYSTEM),
            role=role,
            class_code=class_code,
            strength=_strength(parts.get(_V + "quantity")),
            moiety_name=_text(of_moiety.get(_V + "name")),
            moiety_unii=_code(of_moiety.get(_V + "code"), UNII_SYSTEM),
        )


def _children(element: etree._Element | None) -> dict[str, etree._Element]:
    """Tag -> first child with that tag: one pass instead of a `find` per field."""
    found: dict[str, etree._Element] = {}
    if element is not None:
        for child in element:
            found.setdefault(child.tag, child)
    return found


def _approval(element: etree._Element) -> tuple[str | None, str | None]:
    """(marketing category, application number) of `subjectOf/approval`, if any."""
    approval = _path(element, "subjectOf", "approval")
    if approval is None:
        for subject_of in element.findall(_V + "subjectOf"):
            approval = subject_of.find(_V + "approval")
            if approval is not None:
                break
    if approval is None:
        return None, None
    return _display(approval.find(_V + "code")), _attr(approval.find(_V + "id"), "extension")


def _routes(outer: etree._Element, inner: etree._Element) -> str | None:
    """The product's route; for a kit without one, its parts' distinct routes."""
    holders = [outer, *inner.findall(_V + "part")]
    routes = []
    for holder in holders:
        for consumed in holder.findall(_V + "consumedIn"):
            route = _display(_path(consumed, "substanceAdministration", "routeCode"))
            if route and route not in routes:
                routes.append(route)
        if routes and holder is outer:
            break
    return ", ".join(routes) or None


def _strength(quantity: etree._Element | None) -> str | None:
    """'500 mg', or '100 mg/5 mL' when the amount is per something other than one unit."""
    if quantity is None:
        return None
    amount = _amount(quantity.find(_V + "numerator"))
    if amount is None:
        return None
    per = _amount(quantity.find(_V + "denominator"))
    if per is None or per == "1":
        return amount
    return f"{amount}/{per}"


def _amount(element: etree._Element | None) -> str | None:
    value = _attr(element, "value")
    if value is None:
        return None
    unit = _attr(element, "unit")
    return value if unit in (None, "1") else f"{value} {unit}"


def _ndc(product: etree._Element) -> str | None:
    return _code(product.find(_V + "code"), NDC_SYSTEM)


def _code(element: etree._Element | None, system: str) -> str | None:
    if element is None or element.get("codeSystem") != system:
        return None
    return _attr(element, "code")


def _display(element: etree._Element | None) -> str | None:
    return _attr(element, "displayName")


def _attr(element: etree._Element | None, name: str) -> str | None:
    if element is None:
        return None
    value = " ".join((element.get(name) or "").split())
    return value or None


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return " ".join(" ".join(element.itertext()).split()) or None


def _path(element: etree._Element | None, *names: str) -> etree._Element | None:
    for name in names:
        if element is None:
            return None
        element = element.find(_V + name)
    return element


# ---------------------------------------------------------------------------------------------
# Rows for the database (written by store.write_products)

PRODUCT_SCHEMA = pa.schema(
    [
        ("document_id", pa.string()),
        ("set_id", pa.string()),
        ("product_ordinal", pa.int32()),
        ("name", pa.string()),
        ("generic_name", pa.string()),
        ("dosage_form", pa.string()),
        ("route", pa.string()),
        ("marketing_category", pa.string()),
        ("application_number", pa.string()),
        ("labeler", pa.string()),
        ("ndc_product_codes", pa.list_(pa.string())),
    ]
)
INGREDIENT_SCHEMA = pa.schema(
    [
        ("document_id", pa.string()),
        ("product_ordinal", pa.int32()),
        ("ingredient_ordinal", pa.int32()),
        ("name", pa.string()),
        ("unii", pa.string()),
        ("role", pa.string()),
        ("class_code", pa.string()),
        ("strength", pa.string()),
        ("moiety_name", pa.string()),
        ("moiety_unii", pa.string()),
    ]
)


def product_table(documents: Sequence) -> pa.Table:
    """The `products` rows of documents (anything with document_id, set_id, products)."""
    rows = [(d, p) for d in documents for p in d.products]
    columns = {
        "document_id": [d.document_id for d, _ in rows],
        "set_id": [d.set_id for d, _ in rows],
        "product_ordinal": [p.ordinal for _, p in rows],
        "ndc_product_codes": [list(p.ndc_product_codes) for _, p in rows],
    }
    for name in ("name", "generic_name", "dosage_form", "route", "marketing_category"):
        columns[name] = [getattr(p, name) for _, p in rows]
    columns["application_number"] = [p.application_number for _, p in rows]
    columns["labeler"] = [p.labeler for _, p in rows]
    return pa.Table.from_pydict(columns, schema=PRODUCT_SCHEMA)


def ingredient_table(documents: Sequence) -> pa.Table:
    """The `ingredients` rows of documents, numbered within each product from 1."""
    rows = [
        (d.document_id, p.ordinal, n, i)
        for d in documents
        for p in d.products
        for n, i in enumerate(p.ingredients, start=1)
    ]
    columns = {
        "document_id": [r[0] for r in rows],
        "product_ordinal": [r[1] for r in rows],
        "ingredient_ordinal": [r[2] for r in rows],
    }
    for name in ("name", "unii", "role", "class_code", "strength", "moiety_name", "moiety_unii"):
        columns[name] = [getattr(r[3], name) for r in rows]
    return pa.Table.from_pydict(columns, schema=INGREDIENT_SCHEMA)
