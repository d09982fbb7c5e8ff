"""The news project's earlier name: ``python -m lmcore.project`` runs ``python -m lmcore.news``'s
command line, and ``from lmcore.project import ...`` finds what :mod:`lmcore.news` exports."""

from .news import *  # noqa: F403
from .news import __all__, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
