"""ranker-claims' library: a core shared by both papers and one wing per model family.

* :mod:`suite.core`: claims and their measurement registry, results, statistics, decisions, runs
  and their comparison, collections and metrics, the model catalog, the study contract and cache,
  calibration checks;
* :mod:`suite.cross_encoder`: the MonoBERT-style cross-encoder (CE-* claims);
* :mod:`suite.generative`: the DSI-style T5 generative retriever (GR-* claims);
* :mod:`suite.pytest_plugin`: the pytest face of it all (options, fixtures, verdicts, run, report).

Each wing has the same parts under the same names: ``model`` (the adapter), ``interventions``,
``analyses``, ``study``, ``measurements`` (registered by decorator), ``planted`` (a model with a
mechanism set by hand) and ``method_checks`` (its detectors on that model). Nothing here imports the
repository's ``fixtures`` package: embedded models reach the plugin through a hook.
"""
