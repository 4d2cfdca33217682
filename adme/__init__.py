"""adme: FDA drug labels -> pharmacokinetics paragraphs -> two-stage BERT ADME classifier."""

__version__ = "0.1.0"
