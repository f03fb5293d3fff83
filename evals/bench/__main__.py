"""`python -m evals.bench`: the same as `physio-assistant bench`."""

from evals.bench.cli import _main

raise SystemExit(_main())
