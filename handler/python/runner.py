"""The script the worker starts: Ferry's Python runner (the `ferry_runner` package beside it)."""

from ferry_runner.main import main

if __name__ == "__main__":
    main()
