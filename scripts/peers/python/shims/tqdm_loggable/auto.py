"""tqdm_loggable.auto.tqdm is tqdm's own progress bar made log-friendly; tqdm's is enough here."""
from tqdm.auto import tqdm  # noqa: F401
