"""The SCIM compliance tester (`scim2-tester`, PyPI) against Gatehouse's `/scim/v2`, with an app token of the
tenant: discovery, then creating, reading, querying (with `attributes` and `excludedAttributes`, and
`/.search`), replacing, patching (add, replace and remove of every attribute the schemas publish) and
deleting users with values it makes up. Any check that does not pass fails the run.

Usage: scim_tester.py BASE_URL TOKEN DOMAIN
"""

import sys

from graph_client import check
from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main(base, token):
    client = SyncSCIMClient(Client(base_url=f"{base}/scim/v2", headers={"Authorization": f"Bearer {token}"}))
    results = check_server(client)
    failed = [r for r in results if r.status not in (Status.SUCCESS, Status.SKIPPED)]
    for result in failed:
        print(f"{result.status.name} {result.title}: {result.reason}", file=sys.stderr)
    check(not failed, f"{len(failed)} of {len(results)} checks did not pass")
    check(len(results) > 50, f"the tester ran its checks: {len(results)}")
    print(f"scim2-tester passed: {len(results)} checks")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
