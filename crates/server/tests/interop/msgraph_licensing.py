"""Licensing through Microsoft's Python Graph SDK (msgraph-sdk), pointed at Gatehouse.

Usage: msgraph_licensing.py BASE_URL TOKEN DOMAIN [CA_PEM]

The tenant already subscribes to Office 365 E3 and Microsoft Entra ID P1 (Gatehouse's admin API does that;
there is no Microsoft commerce here). Lists the SKUs, assigns and removes licenses directly with disabled
plans, assigns a license to a group, and reads licenseAssignmentStates and licenseDetails.
"""

import asyncio
import sys
import uuid

from graph_client import check, connect, expect_error
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.groups.item.assign_license.assign_license_post_request_body import (
    AssignLicensePostRequestBody as GroupAssignLicense,
)
from msgraph.generated.models.assigned_license import AssignedLicense
from msgraph.generated.models.group import Group
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User
from msgraph.generated.users.item.assign_license.assign_license_post_request_body import AssignLicensePostRequestBody
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

E3 = uuid.UUID("6fd2c87f-b296-42f0-b197-1e91e994b900")
P1 = uuid.UUID("078d2b04-f1bd-4111-bbd4-b4b1b354cef4")
EXCHANGE_PLAN_2 = uuid.UUID("efb87545-963c-4e0d-99df-69c6916d9eb0")


async def main(base, token, domain, ca):
    client, _ = connect(base, token, ca)
    run = uuid.uuid4().hex[:8]

    skus = await client.subscribed_skus.get()
    by_id = {sku.sku_id: sku for sku in skus.value}
    check(by_id[E3].sku_part_number == "ENTERPRISEPACK", "E3 is listed")
    check(any(p.service_plan_id == EXCHANGE_PLAN_2 for p in by_id[E3].service_plans), "with its service plans")
    check(by_id[E3].prepaid_units.enabled == 5, "and its seats")

    ids = []
    for alias in ["lia", "leo"]:
        user = await client.users.post(
            User(
                account_enabled=True,
                display_name=f"SDK {alias}",
                mail_nickname=f"{alias}{run}",
                user_principal_name=f"{alias}{run}@{domain}",
                usage_location="NL",
                password_profile=PasswordProfile(password="SDK-Kestr3l!"),
            )
        )
        ids.append(user.id)
    lia, leo = ids

    assigned = await client.users.by_user_id(lia).assign_license.post(
        AssignLicensePostRequestBody(
            add_licenses=[AssignedLicense(sku_id=E3, disabled_plans=[EXCHANGE_PLAN_2])], remove_licenses=[]
        )
    )
    check(assigned.id == lia, "assignLicense answers with the user")
    selected = RequestConfiguration(
        query_parameters=UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
            select=["id", "assignedLicenses", "assignedPlans", "licenseAssignmentStates"]
        )
    )
    user = await client.users.by_user_id(lia).get(request_configuration=selected)
    check([l.sku_id for l in user.assigned_licenses] == [E3], "the license is assigned")
    check(user.assigned_licenses[0].disabled_plans == [EXCHANGE_PLAN_2], "with its disabled plan")
    check(all(p.service_plan_id != EXCHANGE_PLAN_2 for p in user.assigned_plans), "the disabled plan is not assigned")
    check(user.license_assignment_states[0].state == "Active", "its state is Active")
    details = await client.users.by_user_id(lia).license_details.get()
    check(details.value[0].sku_part_number == "ENTERPRISEPACK", "licenseDetails")
    await expect_error(
        client.users.by_user_id(lia).assign_license.post(
            AssignLicensePostRequestBody(add_licenses=[AssignedLicense(sku_id=uuid.uuid4())], remove_licenses=[])
        ),
        400,
        "Request_BadRequest",
    )

    group = await client.groups.post(
        Group(display_name="SDK licensed", mail_nickname=f"licensed{run}", mail_enabled=False, security_enabled=True)
    )
    await client.groups.by_group_id(group.id).members.ref.post(
        ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{leo}")
    )
    await client.groups.by_group_id(group.id).assign_license.post(
        GroupAssignLicense(add_licenses=[AssignedLicense(sku_id=P1, disabled_plans=[])], remove_licenses=[])
    )
    for _ in range(200):
        user = await client.users.by_user_id(leo).get(request_configuration=selected)
        if user.license_assignment_states:
            break
        await asyncio.sleep(0.05)
    state = user.license_assignment_states[0]
    check(state.assigned_by_group == group.id and state.state == "Active", "the group's license reached its member")
    check([l.sku_id for l in user.assigned_licenses] == [P1], "as an assigned license")

    await client.users.by_user_id(lia).assign_license.post(
        AssignLicensePostRequestBody(add_licenses=[], remove_licenses=[E3])
    )
    user = await client.users.by_user_id(lia).get(request_configuration=selected)
    check(user.assigned_licenses == [], "the license is removed")
    print("msgraph-sdk licensing passed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
