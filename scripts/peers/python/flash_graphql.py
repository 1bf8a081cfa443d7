"""runpod-flash's GraphQL client (RunpodGraphQLClient.save_endpoint / delete_endpoint) against the
server in RUNPOD_API_BASE_URL, with the input its ServerlessResource sends. Prints one JSON line.
"""
import asyncio
import json

from runpod_flash.core.api.runpod import RunpodGraphQLClient

INPUT = {
    "executionTimeoutMs": 0, "gpuCount": 1, "idleTimeout": 5, "name": "flash-peer", "scalerType": "QUEUE_DELAY",
    "scalerValue": 4, "type": "QB", "workersMax": 1, "workersMin": 0, "workersPFBTarget": 0, "allowedCudaVersions": "",
    "gpuIds": "AMPERE_48",
    "template": {"advancedStart": False, "config": {}, "containerDiskInGb": 64, "containerRegistryAuthId": "", "dockerArgs": "",
                 "env": [{"key": "LOG_LEVEL", "value": "INFO"}], "imageName": "runpod/flash:1.1.0", "name": "flash-peer__template",
                 "ports": "", "startScript": ""},
}


async def main():
    results = {}
    async with RunpodGraphQLClient() as client:
        try:
            saved = await client.save_endpoint(INPUT)
            results["save_endpoint"] = [saved.get("name") == "flash-peer" and "aiKey" in saved and "workersPFBTarget" in saved, saved]
            deleted = await client.delete_endpoint(saved["id"])
            results["delete_endpoint"] = [True, deleted]
        except Exception as exc:  # noqa: BLE001
            results["save_endpoint"] = [False, f"{type(exc).__name__}: {exc}"]
    print(json.dumps(results, default=str))


asyncio.run(main())
