"""The cross-encoder wing: a MonoBERT-style ranker of ``[CLS] query [SEP] document [SEP]``, its
direction and head ablations, attention analyses, and the CE-* measurements."""
