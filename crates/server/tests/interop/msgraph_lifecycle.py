"""The whole user lifecycle through Microsoft's Python Graph SDK (msgraph-sdk), pointed at Gatehouse.

Usage: msgraph_lifecycle.py BASE_URL TOKEN DOMAIN [CA_PEM]

Only the request adapter's base URL and the token source differ from a script written for Entra ID.
Every step checks what the SDK got back; any difference raises, and the process exits non-zero.
"""

import asyncio
import sys
import uuid

from graph_client import check, connect, expect_error
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.on_premises_extension_attributes import OnPremisesExtensionAttributes
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_update import ReferenceUpdate
from msgraph.generated.models.user import User
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder


async def main(base, token, domain, ca):
    client, _ = connect(base, token, ca)
    run = uuid.uuid4().hex[:8]

    def new_user(alias):
        return User(
            account_enabled=True,
            display_name=f"SDK {alias}",
            mail_nickname=alias,
            user_principal_name=f"{alias}@{domain}",
            password_profile=PasswordProfile(force_change_password_next_sign_in=True, password="SDK-Kestr3l!"),
        )

    ada = new_user(f"ada{run}")
    ada.usage_location = "NL"
    ada.employee_id = "E42"
    ada.job_title = "Engineer"
    ada.on_premises_extension_attributes = OnPremisesExtensionAttributes(extension_attribute1="blue")
    created = await client.users.post(ada)
    check(created.id and created.user_principal_name == f"ada{run}@{domain}", f"created {created}")
    ada_id = created.id

    read = await client.users.by_user_id(ada_id).get()
    check(read.display_name == f"SDK ada{run}" and read.job_title == "Engineer", f"read {read}")

    select = RequestConfiguration(query_parameters=UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
        select=["id", "usageLocation", "employeeId", "onPremisesExtensionAttributes", "accountEnabled"]))
    by_upn = await client.users.by_user_id(f"ada{run}@{domain}").get(request_configuration=select)
    check(by_upn.id == ada_id, "get by UPN")
    check(by_upn.usage_location == "NL" and by_upn.employee_id == "E42" and by_upn.account_enabled is True, f"selected {by_upn}")
    check(by_upn.on_premises_extension_attributes.extension_attribute1 == "blue", "extension attribute")

    await client.users.by_user_id(ada_id).patch(User(job_title="CTO", department="R&D"))
    patched = await client.users.by_user_id(ada_id).get()
    check(patched.job_title == "CTO", f"patched {patched.job_title}")

    bob = await client.users.post(new_user(f"bob{run}"))
    cyd = await client.users.post(new_user(f"cyd{run}"))

    await client.users.by_user_id(bob.id).manager.ref.put(ReferenceUpdate(odata_id=f"https://graph.microsoft.com/v1.0/users/{ada_id}"))
    await client.users.by_user_id(cyd.id).manager.ref.put(ReferenceUpdate(odata_id=f"{base}/v1.0/directoryObjects/{ada_id}"))
    manager = await client.users.by_user_id(bob.id).manager.get()
    check(manager.id == ada_id and isinstance(manager, User), f"manager {manager}")
    reports = await client.users.by_user_id(ada_id).direct_reports.get()
    check(sorted(r.id for r in reports.value) == sorted([bob.id, cyd.id]), "direct reports")
    await client.users.by_user_id(cyd.id).manager.ref.delete()
    await expect_error(client.users.by_user_id(cyd.id).manager.get(), 404, "Request_ResourceNotFound")

    paging = RequestConfiguration(query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=2, select=["id", "userPrincipalName"]))
    page = await client.users.get(request_configuration=paging)
    seen, pages = [], 0
    while True:
        pages += 1
        seen += [u.id for u in page.value]
        if not page.odata_next_link:
            break
        page = await client.users.with_url(page.odata_next_link).get()
    check(len(seen) == len(set(seen)), "no user twice across pages")
    check({ada_id, bob.id, cyd.id} <= set(seen) and pages >= 2, f"paged {pages} pages")

    await expect_error(client.users.post(new_user(f"ada{run}")), 400, "Request_BadRequest")
    weak = new_user(f"weak{run}")
    weak.password_profile.password = "password"
    await expect_error(client.users.post(weak), 400, "Request_BadRequest")

    await client.users.by_user_id(bob.id).delete()
    await expect_error(client.users.by_user_id(bob.id).get(), 404, "Request_ResourceNotFound")
    deleted = await client.directory.deleted_items.graph_user.get()
    check(bob.id in [d.id for d in deleted.value], "deleted items lists the user")
    one = await client.directory.deleted_items.by_directory_object_id(bob.id).get()
    check(one.id == bob.id and isinstance(one, User), f"deleted item {one}")
    restored = await client.directory.deleted_items.by_directory_object_id(bob.id).restore.post()
    check(restored.id == bob.id, "restored")
    back = await client.users.by_user_id(bob.id).get()
    check(back.user_principal_name == f"bob{run}@{domain}", "restored user reads back")

    await client.users.by_user_id(cyd.id).delete()
    await client.directory.deleted_items.by_directory_object_id(cyd.id).delete()
    await expect_error(client.directory.deleted_items.by_directory_object_id(cyd.id).get(), 404, "Request_ResourceNotFound")

    print(f"msgraph-sdk lifecycle passed against {base}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
