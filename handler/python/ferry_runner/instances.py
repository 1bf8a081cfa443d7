"""Class instances kept between calls, by instance id: the most recently used MAX_INSTANCES,
each built once even when two first calls for it arrive together."""

import asyncio
import collections
import datetime
import os

MAX_INSTANCES = int(os.environ.get("FERRY_MAX_INSTANCES", "16"))


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


class Instance:
    def __init__(self, obj, class_name):
        now = utc_now()
        self.obj = obj
        self.class_name = class_name
        self.created_at = now
        self.last_used = now
        self.method_calls = 0
        self.in_use = 0

    def info(self, created, rebuilt):
        return {
            "class_name": self.class_name,
            "created_at": self.created_at,
            "method_calls": self.method_calls,
            "last_used": self.last_used,
            "created": created,
            "rebuilt": rebuilt,
        }


class InstanceCache:
    def __init__(self):
        self.instances = collections.OrderedDict()
        self.locks = {}

    def __len__(self):
        return len(self.instances)

    async def acquire(self, iid, create_new, build):
        """The instance `iid`, built with `await build()` when it is missing or `create_new` asks
        for a new one, marked in use: (instance, created, rebuilt). Pair with `release`."""
        lock = self.locks.setdefault(iid, asyncio.Lock())
        # Construction of one instance id is serialized, so two concurrent first calls build it once.
        async with lock:
            instance = self.instances.get(iid)
            created = rebuilt = False
            if instance is None or create_new:
                rebuilt = instance is None and create_new is False
                instance = await build()
                self.instances[iid] = instance
                created = True
                self.evict()
            self.instances.move_to_end(iid)
            instance.in_use += 1
        return instance, created, rebuilt

    @staticmethod
    def release(instance):
        instance.in_use -= 1
        instance.method_calls += 1
        instance.last_used = utc_now()

    def destroy(self, iid):
        return self.instances.pop(iid, None) is not None

    def evict(self):
        while len(self.instances) > MAX_INSTANCES:
            for iid, inst in self.instances.items():
                if inst.in_use == 0:
                    del self.instances[iid]
                    self.locks.pop(iid, None)
                    break
            else:
                return
