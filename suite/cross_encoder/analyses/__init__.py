"""Cross-encoder analyses: per-head attention statistics, query-key SVD alignment, logit decomposition."""
