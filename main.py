"""Start the tlstudio desktop application."""

from ui.app import main

if __name__ == "__main__":
    raise SystemExit(main())
