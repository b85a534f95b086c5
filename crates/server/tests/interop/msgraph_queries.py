"""Graph queries through Microsoft's Python Graph SDK (msgraph-sdk) and its PageIterator, against Gatehouse.

Usage: msgraph_queries.py BASE_URL TOKEN USERS [CA_PEM]

The directory holds USERS seeded users "User 0000".."User {USERS-1}" with department Sales/R&D/Support by
index modulo 3, plus the tenant's administrator. Every step checks what the SDK got back.
"""

import asyncio
import sys

from graph_client import check, connect
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core.tasks.page_iterator import PageIterator


def config(advanced=False, **query):
    configuration = RequestConfiguration(query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(**query))
    if advanced:
        configuration.headers.add("ConsistencyLevel", "eventual")
    return configuration


async def collect(client, adapter, configuration):
    first = await client.users.get(request_configuration=configuration)
    seen = []

    def keep(user):
        seen.append(user)
        return True

    iterator = PageIterator(first, adapter)
    await iterator.iterate(keep)
    return first, seen


async def main(base, token, users, ca):
    client, adapter = connect(base, token, ca)

    _, everyone = await collect(client, adapter, config(top=999, select=["id", "displayName"]))
    check(len(everyone) == users + 1, f"PageIterator walked {len(everyone)} users, wanted {users + 1}")
    check(len({u.id for u in everyone}) == len(everyone), "no user twice")

    _, sales = await collect(client, adapter, config(top=100, filter="department eq 'Sales'", select=["displayName", "department"]))
    expected = len(range(0, users, 3))
    check(len(sales) == expected, f"department eq 'Sales': {len(sales)}, wanted {expected}")
    check(all(u.department == "Sales" for u in sales) and all(u.id is None for u in sales), "$select shapes each user")

    first, prefixed = await collect(client, adapter, config(
        advanced=True, count=True, top=7, filter="startswith(displayName,'User 00')", orderby=["displayName"]))
    check(first.odata_count == 100, f"@odata.count {first.odata_count}")
    names = [u.display_name for u in prefixed]
    check(names == [f"User {i:04}" for i in range(100)], "ordered, filtered and paged with the advanced mode carried along")

    first, others = await collect(client, adapter, config(advanced=True, count=True, filter="department ne 'Sales'", top=250))
    check(first.odata_count == users - expected + 1 and len(others) == first.odata_count, f"ne: {first.odata_count}")

    found = await client.users.get(request_configuration=config(advanced=True, search='"displayName:004"', select=["displayName"]))
    check(sorted(u.display_name for u in found.value) == [f"User {i:04}" for i in range(40, 50)], "$search by word prefix")

    last = await client.users.get(request_configuration=config(top=2, orderby=["displayName desc"]))
    check(last.value[0].display_name == f"User {users - 1:04}", f"$orderby desc: {last.value[0].display_name}")

    print(f"msgraph-sdk queries passed against {base} over {users} users")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None))
