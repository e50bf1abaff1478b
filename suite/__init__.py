"""ranker-claims' library: a core shared by both papers and one wing per model family.

* :mod:`ranker_claims.core`: claims and their measurement registry, results, statistics, decisions, runs
  and their comparison, collections and metrics, the model catalog, the study contract and cache,
  calibration checks;
* :mod:`ranker_claims.cross_encoder`: the MonoBERT-style cross-encoder (CE-* claims);
* :mod:`ranker_claims.generative`: the DSI-style T5 generative retriever (GR-* claims);
* :mod:`ranker_claims.pytest_plugin`: the pytest face of it all (options, fixtures, verdicts, run, report);
* :mod:`ranker_claims.cli`: the ``ranker-claims`` command line (run, report, compare and list claims).

Each wing has the same parts under the same names: ``model`` (the adapter), ``interventions``,
``analyses``, ``study``, ``measurements`` (registered by decorator), ``planted`` (a model with a
mechanism set by hand) and ``method_checks`` (its detectors on that model). Nothing here imports the
repository's ``fixtures`` package: embedded models reach the plugin through a hook.
"""
