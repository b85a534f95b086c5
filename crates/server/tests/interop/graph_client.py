"""What the interop scripts share: msgraph-sdk pointed at Gatehouse with a fixed token, and a check helper.

Only the request adapter's base URL and the token source differ from a script written for Entra ID.
"""

import httpx
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator, BaseBearerTokenAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_core import GraphClientFactory


class StaticToken(AccessTokenProvider):
    def __init__(self, token):
        self.token = token

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return self.token

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])


def check(condition, what):
    if not condition:
        raise AssertionError(what)


async def expect_error(call, status, code):
    """Awaits a call that must fail with the given HTTP status and Graph error code; returns the error."""
    try:
        await call
    except ODataError as error:
        check(error.response_status_code == status, f"status {error.response_status_code}, wanted {status}")
        check(error.error.code == code, f"code {error.error.code}, wanted {code}")
        return error
    raise AssertionError(f"expected {status} {code}, the call succeeded")


def connect(base, token, ca):
    """A GraphServiceClient and its request adapter for Gatehouse at `base` (trusting `ca` when given)."""
    http = GraphClientFactory.create_with_default_middleware(client=httpx.AsyncClient(verify=ca if ca else True, timeout=60))
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(token)), client=http)
    adapter.base_url = f"{base}/v1.0"
    return GraphServiceClient(request_adapter=adapter), adapter
