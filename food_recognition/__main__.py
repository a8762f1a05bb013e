"""``python -m food_recognition`` runs the command line."""

from food_recognition.cli import main

raise SystemExit(main())
