"""``python -m runtime``: see :mod:`runtime.train`."""

from runtime.train import main

raise SystemExit(main())
