"""Runs scim2-tester (python-scim's conformance checker, on its scim2-client) against a userdir
SCIM endpoint and prints one line per check: STATUS<TAB>title<TAB>reason.

The tester fills resources with random values from the schemas the server publishes. A schema
cannot say that a userName is an email address, nor give apiAccessPrincipalArn's pattern, so
those two are generated in their shape here; everything else is the tester's own.

Environment: SCIM_URL (the prefix, e.g. http://127.0.0.1:8765/scim/v2), SCIM_TOKEN.
"""

import os
import sys
import uuid

import httpx2
import scim2_tester.filling as filling
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server

original = filling.generate_random_value


def generate(context, path, mutability=None, required=None):
    value = original(context, path, mutability, required)
    if value is None:
        return value
    if str(path).endswith("userName"):
        return f"{uuid.uuid4().hex[:16]}@example.com"
    if str(path).endswith("apiAccessPrincipalArn"):
        return f"arn:aws:iam::123456789012:role/r{uuid.uuid4().hex[:12]}"
    return value


for name, module in list(sys.modules.items()):
    if name.startswith("scim2_tester") and getattr(module, "generate_random_value", None) is original:
        module.generate_random_value = generate

client = SyncSCIMClient(
    httpx2.Client(
        base_url=os.environ["SCIM_URL"],
        headers={"Authorization": f"Bearer {os.environ['SCIM_TOKEN']}"},
        timeout=30,
    )
)
for result in check_server(client):
    reason = " ".join((result.reason or "").split())
    print(f"{result.status.name}\t{result.title}\t{reason}")
