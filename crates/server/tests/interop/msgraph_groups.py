"""Groups, membership and ownership through Microsoft's Python Graph SDK (msgraph-sdk), pointed at Gatehouse.

Usage: msgraph_groups.py BASE_URL TOKEN DOMAIN [CA_PEM]

Creates groups of each kind, adds and removes members and owners with $ref and @odata.bind, nests groups,
reads transitive membership, calls checkMemberGroups and getMemberGroups, follows a dynamic group as a user's
department changes, deletes and restores. Every step
checks what the SDK got back; any difference raises, and the process exits non-zero.
"""

import asyncio
import sys
import uuid

from graph_client import check, connect, expect_error
from msgraph.generated.models.group import Group
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User
from msgraph.generated.users.item.check_member_groups.check_member_groups_post_request_body import (
    CheckMemberGroupsPostRequestBody,
)
from msgraph.generated.users.item.get_member_groups.get_member_groups_post_request_body import (
    GetMemberGroupsPostRequestBody,
)


def ids(collection):
    return {item.id for item in collection.value}


async def main(base, token, domain, ca):
    client, _ = connect(base, token, ca)
    run = uuid.uuid4().hex[:8]

    def url(object_id):
        return f"https://graph.microsoft.com/v1.0/directoryObjects/{object_id}"

    users = []
    for alias in ["ann", "ben", "cat"]:
        user = await client.users.post(
            User(
                account_enabled=True,
                display_name=f"SDK {alias}",
                mail_nickname=f"{alias}{run}",
                user_principal_name=f"{alias}{run}@{domain}",
                password_profile=PasswordProfile(password="SDK-Kestr3l!"),
            )
        )
        users.append(user.id)
    ann, ben, cat = users

    kinds = {
        "security": (False, True, []),
        "mail-enabled security": (True, True, []),
        "distribution": (True, False, []),
        "Microsoft 365": (True, False, ["Unified"]),
    }
    groups = {}
    for name, (mail_enabled, security_enabled, types) in kinds.items():
        nickname = f"{name.replace(' ', '').replace('-', '')}{run}"
        group = Group(
            display_name=f"SDK {name}",
            mail_nickname=nickname,
            mail_enabled=mail_enabled,
            security_enabled=security_enabled,
            group_types=types,
        )
        if name == "Microsoft 365":
            group.additional_data = {"owners@odata.bind": [url(ann)], "members@odata.bind": [url(ann), url(ben)]}
        created = await client.groups.post(group)
        check(created.display_name == f"SDK {name}", f"created {name}")
        check((created.mail is not None) == mail_enabled, f"{name}: mail {created.mail}")
        groups[name] = created.id
    m365 = groups["Microsoft 365"]
    security = groups["security"]
    inner = groups["mail-enabled security"]

    check(ids(await client.groups.by_group_id(m365).members.get()) == {ann, ben}, "bound members")
    check(ids(await client.groups.by_group_id(m365).owners.get()) == {ann}, "bound owner")
    fetched = await client.groups.by_group_id(m365).get()
    check(fetched.group_types == ["Unified"] and fetched.visibility == "Public", "a Microsoft 365 group")

    # $ref adds and removes, nesting, and the errors Graph gives.
    await client.groups.by_group_id(security).members.ref.post(ReferenceCreate(odata_id=url(inner)))
    await client.groups.by_group_id(inner).members.ref.post(ReferenceCreate(odata_id=url(cat)))
    await client.groups.by_group_id(security).members.ref.post(ReferenceCreate(odata_id=url(ben)))
    await client.groups.by_group_id(security).owners.ref.post(ReferenceCreate(odata_id=url(cat)))
    await expect_error(
        client.groups.by_group_id(security).members.ref.post(ReferenceCreate(odata_id=url(ben))),
        400,
        "Request_BadRequest",
    )
    await expect_error(
        client.groups.by_group_id(inner).members.ref.post(ReferenceCreate(odata_id=url(security))),
        400,
        "Request_BadRequest",
    )
    await expect_error(
        client.groups.by_group_id(m365).members.ref.post(ReferenceCreate(odata_id=url(security))),
        400,
        "Request_BadRequest",
    )
    await client.groups.by_group_id(groups["distribution"]).patch(
        Group(additional_data={"members@odata.bind": [url(ann), url(cat)]})
    )
    check(ids(await client.groups.by_group_id(groups["distribution"]).members.get()) == {ann, cat}, "patched binds")

    members = await client.groups.by_group_id(security).members.get()
    check(ids(members) == {inner, ben}, "direct members")
    check({type(m).__name__ for m in members.value} == {"Group", "User"}, "members come back typed")
    transitive = await client.groups.by_group_id(security).transitive_members.get()
    check(ids(transitive) == {inner, ben, cat}, "transitive members")
    check(ids(await client.groups.by_group_id(security).members.graph_user.get()) == {ben}, "a type cast")
    check(ids(await client.users.by_user_id(cat).transitive_member_of.get()) == {inner, security, groups["distribution"]}, "cat's groups")
    check(ids(await client.users.by_user_id(cat).member_of.get()) == {inner, groups["distribution"]}, "cat's direct groups")
    checked = await client.users.by_user_id(cat).check_member_groups.post(
        CheckMemberGroupsPostRequestBody(group_ids=[security, m365])
    )
    check(checked.value == [security], f"checkMemberGroups {checked.value}")
    security_only = await client.users.by_user_id(cat).get_member_groups.post(
        GetMemberGroupsPostRequestBody(security_enabled_only=True)
    )
    check(set(security_only.value) == {inner, security}, f"getMemberGroups {security_only.value}")

    await client.groups.by_group_id(security).members.by_directory_object_id(ben).ref.delete()
    check(ids(await client.groups.by_group_id(security).members.get()) == {inner}, "a member removed")
    await expect_error(
        client.groups.by_group_id(security).owners.by_directory_object_id(cat).ref.delete(), 400, "Request_BadRequest"
    )

    # Delete and restore: the group comes back with its members and into its parent.
    await client.groups.by_group_id(inner).delete()
    check(ids(await client.groups.by_group_id(security).transitive_members.get()) == set(), "deleted group leaves")
    deleted = await client.directory.deleted_items.graph_group.get()
    check(inner in ids(deleted), "the group is in deleted items")
    restored = await client.directory.deleted_items.by_directory_object_id(inner).restore.post()
    check(restored.id == inner, "restored")
    check(ids(await client.groups.by_group_id(security).transitive_members.get()) == {inner, cat}, "memberships back")

    # A dynamic group follows an attribute changed through the SDK.
    dynamic = await client.groups.post(
        Group(
            display_name="SDK dynamic",
            mail_nickname=f"dynamic{run}",
            mail_enabled=False,
            security_enabled=True,
            group_types=["DynamicMembership"],
            membership_rule=f'user.department -eq "Sales {run}"',
            membership_rule_processing_state="On",
        )
    )
    await client.users.by_user_id(ben).patch(User(department=f"Sales {run}"))
    for _ in range(200):
        if ids(await client.groups.by_group_id(dynamic.id).members.get()) == {ben}:
            break
        await asyncio.sleep(0.05)
    check(ids(await client.groups.by_group_id(dynamic.id).members.get()) == {ben}, "the dynamic group took ben in")
    await client.users.by_user_id(ben).patch(User(department="Elsewhere"))
    for _ in range(200):
        if not ids(await client.groups.by_group_id(dynamic.id).members.get()):
            break
        await asyncio.sleep(0.05)
    check(ids(await client.groups.by_group_id(dynamic.id).members.get()) == set(), "and let him go")

    await client.users.by_user_id(cat).delete()
    check(ids(await client.groups.by_group_id(inner).members.get()) == set(), "a deleted user leaves its groups")
    await client.directory.deleted_items.by_directory_object_id(cat).restore.post()
    check(ids(await client.groups.by_group_id(inner).members.get()) == {cat}, "a restored user is back")
    print("msgraph-sdk groups passed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
