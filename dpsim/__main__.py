"""``python -m dpsim``: the same command line as the ``dpsim`` console script (:func:`dpsim.cli.main`)."""

from dpsim.cli import main

if __name__ == "__main__":  # pragma: no cover - run as a module
    main()
