"""Schemathesis hooks for userdir: every request is signed with AWS SigV4, as the SDKs sign them.

Loaded through SCHEMATHESIS_HOOKS=userdir_hooks (with this directory on PYTHONPATH). The key comes
from USERDIR_TEST_ACCESS_KEY_ID and USERDIR_TEST_SECRET_ACCESS_KEY. Signing happens on the prepared
request (requests' auth hook), so the signature covers the exact bytes schemathesis sends.
"""

import os

import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CREDENTIALS = Credentials(
    os.environ["USERDIR_TEST_ACCESS_KEY_ID"], os.environ["USERDIR_TEST_SECRET_ACCESS_KEY"]
)


class SignedRequest(requests.auth.AuthBase):
    """Replaces the placeholder `Authorization` schemathesis generates with a real signature; a
    request it sends without one (to check that authentication is required) stays unsigned."""

    def __call__(self, request):
        if "Authorization" not in request.headers:
            return request
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            request.headers.pop(name, None)
        aws = AWSRequest(
            method=request.method,
            url=request.url,
            data=request.body or b"",
            headers=dict(request.headers),
        )
        SigV4Auth(CREDENTIALS, "finspace-api", "us-east-1").add_auth(aws)
        for name in ("Authorization", "X-Amz-Date"):
            request.headers[name] = aws.headers[name]
        return request


@schemathesis.hook
def before_call(context, case, kwargs):
    # A page token is valid only as the server issued it for that listing: any other string is
    # rightly refused (400), which schemathesis would take for a valid input rejected. The Rust
    # tests cover malformed, foreign and expired tokens.
    if case.query:
        case.query.pop("nextToken", None)
    kwargs["auth"] = SignedRequest()
