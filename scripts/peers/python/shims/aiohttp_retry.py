"""Stand-in for aiohttp_retry (not packaged by Debian): the two names runpod-python's worker uses.

RetryClient(client_session=..., retry_options=FibonacciRetry(attempts=n)).post(url, **kwargs) as
an async context manager, retrying client errors up to `attempts` times.
"""
import asyncio

import aiohttp


class FibonacciRetry:
    def __init__(self, attempts=3, **_ignored):
        self.attempts = attempts


class _Request:
    def __init__(self, session, method, url, attempts, kwargs):
        self.session, self.method, self.url, self.attempts, self.kwargs = session, method, url, attempts, kwargs
        self.response = None

    async def __aenter__(self):
        delay, previous = 0.1, 0.1
        for attempt in range(self.attempts):
            try:
                self.response = await self.session.request(self.method, self.url, **self.kwargs)
                return self.response
            except aiohttp.ClientError:
                if attempt == self.attempts - 1:
                    raise
                await asyncio.sleep(delay)
                delay, previous = delay + previous, delay
        raise RuntimeError("unreachable")

    async def __aexit__(self, *exc):
        if self.response is not None:
            self.response.release()


class RetryClient:
    def __init__(self, client_session=None, retry_options=None, **_ignored):
        self.session = client_session
        self.attempts = retry_options.attempts if retry_options else 1

    def post(self, url, **kwargs):
        return _Request(self.session, "POST", url, self.attempts, kwargs)

    def get(self, url, **kwargs):
        return _Request(self.session, "GET", url, self.attempts, kwargs)
