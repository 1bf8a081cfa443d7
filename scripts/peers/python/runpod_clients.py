"""runpod-python's clients against the server in RUNPOD_ENDPOINT_BASE_URL / RUNPOD_API_BASE_URL.

`endpoint <plain id> <generator id>`: Endpoint.run_sync, run + status + output, stream, health,
cancel, purge_queue. `graphql`: get_endpoints, create_template, create_endpoint,
update_endpoint_template. Prints one JSON line: {"check name": [ok, detail], ...}.
"""
import json
import sys
import time

import runpod

runpod.api_key = __import__("os").environ["RUNPOD_API_KEY"]
results = {}


def check(name, fn):
    try:
        value = fn()
        results[name] = [True, value]
    except Exception as exc:  # noqa: BLE001 - each check reports its own failure
        results[name] = [False, f"{type(exc).__name__}: {exc}"]


def expect(condition, value):
    if not condition:
        raise AssertionError(json.dumps(value, default=str)[:300])
    return value


def endpoint_checks(plain_id, generator_id):
    plain = runpod.Endpoint(plain_id)
    check("run_sync", lambda: expect(plain.run_sync({"value": 1}, timeout=60).get("echo") == 1, plain.run_sync({"value": 2}, timeout=60)))

    def run_status_output():
        job = plain.run({"value": 3})
        status = job.status()
        output = job.output(timeout=60)
        return expect(status in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED") and output.get("echo") == 3, [status, output])

    check("run + status + output", run_status_output)

    def stream():
        job = runpod.Endpoint(generator_id).run({"n": 3})
        items = list(job.stream())
        return expect(items == [{"i": 0}, {"i": 1}, {"i": 2}], items)

    check("stream (generator worker)", stream)
    check("health", lambda: expect("workers" in plain.health() and "jobs" in plain.health(), plain.health()))

    def cancel():
        job = plain.run({"value": 4, "sleep_s": 5})
        time.sleep(0.5)
        job.cancel()
        return expect(job.status() == "CANCELLED", job.status())

    check("cancel", cancel)
    check("purge_queue", lambda: expect("removed" in plain.purge_queue(), plain.purge_queue()))


def graphql_checks():
    made = {}

    def create_template():
        made["template"] = runpod.create_template(name="peer-template", image_name="runpod/peer:1", env={"GREETING": "hi"}, is_serverless=True)
        return expect(made["template"]["imageName"] == "runpod/peer:1", made["template"])

    check("create_template (saveTemplate)", create_template)

    def create_endpoint():
        made["endpoint"] = runpod.create_endpoint(name="peer-endpoint", template_id=made["template"]["id"], gpu_ids="AMPERE_16", workers_max=1, flashboot=True)
        return expect(made["endpoint"]["templateId"] == made["template"]["id"], made["endpoint"])

    check("create_endpoint (saveEndpoint)", create_endpoint)

    def get_endpoints():
        endpoints = runpod.get_endpoints()
        mine = [e for e in endpoints if e["id"] == made["endpoint"]["id"]]
        return expect(len(mine) == 1 and mine[0]["env"] == [{"key": "GREETING", "value": "hi"}], mine)

    check("get_endpoints (myself.endpoints)", get_endpoints)

    def update_template():
        other = runpod.create_template(name="peer-template-2", image_name="runpod/peer:2", is_serverless=True)
        answer = runpod.update_endpoint_template(made["endpoint"]["id"], other["id"])
        return expect(answer["templateId"] == other["id"], answer)

    check("update_endpoint_template", update_template)


if sys.argv[1] == "endpoint":
    endpoint_checks(sys.argv[2], sys.argv[3])
else:
    graphql_checks()
print(json.dumps(results, default=str))
