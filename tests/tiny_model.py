"""A tiny BERT folder for tests: WordPiece + BertConfig(hidden 32, 2 layers), built in seconds.

The tokenizer is trained on the pharmacokinetics paragraphs of the shipped sample labels, read
with bare lxml, so this does not depend on adme's own SPL parser.
"""

from __future__ import annotations

from pathlib import Path

import torch
from lxml import etree

from adme.pretrain import new_bert, train_wordpiece

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SPL = ROOT / "data" / "spl"
HL7 = "{urn:hl7-org:v3}"
PK_CODE = "43682-4"

TINY_VOCAB = 800
TINY_SHAPE = {
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 2,
    "intermediate_size": 64,
    "max_position": 128,
}


def pk_paragraph_texts(folder: Path = SAMPLE_SPL) -> list[str]:
    """Text of every <paragraph> under a 43682-4 section of every label in `folder`, in order."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    texts: list[str] = []
    for path in sorted(folder.glob("*.xml")):
        root = etree.parse(str(path), parser).getroot()
        for code in root.iter(f"{HL7}code"):
            if code.get("code") != PK_CODE:
                continue
            section = code.getparent()
            for paragraph in section.iter(f"{HL7}paragraph"):
                text = " ".join("".join(paragraph.itertext()).split())
                if text:
                    texts.append(text)
    return texts


def build_tiny_model(folder: Path, texts: list[str] | None = None) -> Path:
    """Train a tiny tokenizer and an untrained tiny BERT, save both to `folder`, return it."""
    texts = texts if texts is not None else pk_paragraph_texts()
    torch.manual_seed(0)  # the same weights in every run, so tests are reproducible
    tokenizer = train_wordpiece(texts, TINY_VOCAB, model_max_length=TINY_SHAPE["max_position"])
    model = new_bert(tokenizer, **TINY_SHAPE)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
