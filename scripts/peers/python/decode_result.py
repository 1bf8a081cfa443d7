"""Prints a FunctionResponse's cloudpickle `result` (base64 on stdin) as JSON (repr for the rest)."""
import base64
import json
import sys

import cloudpickle

print(json.dumps(cloudpickle.loads(base64.b64decode(sys.stdin.read())), default=repr))
