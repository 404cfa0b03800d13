"""`python -m bench`: every benchmark table (see bench.full_table)."""

from bench.full_table import main

raise SystemExit(main())
