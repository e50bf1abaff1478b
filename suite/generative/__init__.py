"""The generative-retrieval wing: a DSI-style T5 with atomic document-id tokens, its decoder patches,
logit lens and component attributions, and the GR-* measurements."""
