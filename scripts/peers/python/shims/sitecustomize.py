"""Lets runpod-python run on Debian 12's aiohttp 3.8, which predates one keyword it passes.

runpod-python builds `ClientTimeout(600, ceil_threshold=400)` (aiohttp 3.9+). On 3.8 the keyword
is dropped: it only tunes how timeouts are rounded.
"""
import aiohttp

_ClientTimeout = aiohttp.ClientTimeout
if "ceil_threshold" not in getattr(_ClientTimeout, "__attrs_attrs__", ()).__repr__():

    class _CompatClientTimeout(_ClientTimeout):
        def __new__(cls, *args, ceil_threshold=None, **kwargs):
            return _ClientTimeout(*args, **kwargs)

    aiohttp.ClientTimeout = _CompatClientTimeout
