"""``python -m tlstudio`` runs the command-line interface."""

from tlstudio.cli import main

raise SystemExit(main())
