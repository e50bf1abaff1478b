"""``python -m ranker_claims``: the ``ranker-claims`` command line (:mod:`ranker_claims.cli`), for an environment whose
scripts folder is not on PATH."""

import sys

from ranker_claims.cli import main

if __name__ == "__main__":
    sys.exit(main())
