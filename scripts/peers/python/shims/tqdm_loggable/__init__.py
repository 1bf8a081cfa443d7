"""Stand-in for tqdm_loggable (not packaged by Debian): runpod-python imports tqdm_loggable.auto.tqdm."""
