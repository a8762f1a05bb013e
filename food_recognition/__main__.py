"""``python -m food_recognition`` runs the command line."""

from food_recognition.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
