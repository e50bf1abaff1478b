"""The five input parts of a cross-encoder pair: [CLS] | query | [SEP1] | document | [SEP2].

Ablations and attention statistics are defined over these parts, so locating them on
every pair (padding and truncation included) is the one thing every analysis shares.
"""

from __future__ import annotations

from enum import IntEnum

PADDING = -1


class Part(IntEnum):
    CLS = 0
    QUERY = 1
    SEP1 = 2
    DOCUMENT = 3
    SEP2 = 4

    @property
    def label(self) -> str:
        return _LABELS[self]

    @classmethod
    def parse(cls, name: str) -> Part:
        key = name.strip().strip("[]").lower()
        try:
            return _BY_NAME[key]
        except KeyError:
            known = ", ".join(sorted(_BY_NAME))
            raise ValueError(f"unknown input part {name!r}; expected one of: {known}") from None


_LABELS = {Part.CLS: "[CLS]", Part.QUERY: "query", Part.SEP1: "[SEP1]", Part.DOCUMENT: "document", Part.SEP2: "[SEP2]"}
_BY_NAME = {
    "cls": Part.CLS,
    "query": Part.QUERY,
    "q": Part.QUERY,
    "sep1": Part.SEP1,
    "document": Part.DOCUMENT,
    "doc": Part.DOCUMENT,
    "d": Part.DOCUMENT,
    "sep2": Part.SEP2,
}


def parts_from_sequence_ids(sequence_ids: list[int | None]) -> list[int]:
    """Label each token of one encoded pair with its :class:`Part` (or ``PADDING``).

    ``sequence_ids`` is what a fast tokenizer reports per token: 0 for the query, 1 for
    the document, ``None`` for special tokens and padding. Special tokens before the
    query are [CLS], those between the segments [SEP1] (RoBERTa-style ``</s></s>`` gives
    two), those after the document [SEP2]; ``padding_side`` decides which trailing or
    leading ``None`` are padding, so pass the attention mask through :func:`label_parts`.
    """
    labels: list[int] = []
    seen_query = seen_document = False
    for sid in sequence_ids:
        if sid == 0:
            seen_query = True
            labels.append(Part.QUERY)
        elif sid == 1:
            seen_document = True
            labels.append(Part.DOCUMENT)
        elif seen_document:
            labels.append(Part.SEP2)
        elif seen_query:
            labels.append(Part.SEP1)
        else:
            labels.append(Part.CLS)
    return labels


def label_parts(sequence_ids: list[int | None], attention_mask: list[int]) -> list[int]:
    """Part labels with padding positions set to ``PADDING``; checks all five parts exist."""
    real = [sid for sid, keep in zip(sequence_ids, attention_mask) if keep]
    labels = iter(parts_from_sequence_ids(real))
    out = [next(labels) if keep else PADDING for keep in attention_mask]
    present = set(out) - {PADDING}
    missing = [p.label for p in Part if p not in present]
    if missing:
        raise ValueError(
            f"pair lacks input part(s) {', '.join(missing)}: the tokenizer must encode "
            "(query, document) as [CLS] query [SEP] document [SEP] with a non-empty document"
        )
    return out
