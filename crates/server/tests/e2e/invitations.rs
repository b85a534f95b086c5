//! B2B invitations: Graph's `POST /invitations` makes a guest and mails the link (in the same transaction);
//! the guest redeems it at the pages with a code mailed to the invited address, once; a code of another
//! invitation is refused; inviting again needs `resetRedemption`; who may invite; the audit log.

use crate::password_pages::{code_in, Browser};
use crate::sign_in::PASSWORD;
use crate::support::servers;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const INVITATIONS: &str = "/v1.0/invitations";
const WELCOME: &str = "https://apps.partner.example/welcome";

fn invitation(email: &str, send: bool) -> Value {
    json!({
        "invitedUserEmailAddress": email, "inviteRedirectUrl": WELCOME, "sendInvitationMessage": send,
        "invitedUserMessageInfo": {"customizedMessageBody": "Welcome aboard, we share the roadmap with you."},
    })
}

#[tokio::test]
async fn invited_people_redeem_once_with_a_mailed_code_and_become_accepted_guests() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();

        // Who may invite, and what an invitation must say.
        let (reader, _) = server.app_with(&admin, &["User.Read.All"]).await;
        let (status, _) =
            server.call(&reader, Method::POST, INVITATIONS, Some(invitation("x@partner.example", false))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}");
        for bad in [
            json!({"inviteRedirectUrl": WELCOME}),
            json!({"invitedUserEmailAddress": "not an address", "inviteRedirectUrl": WELCOME}),
            json!({"invitedUserEmailAddress": "x@partner.example", "inviteRedirectUrl": "http://apps.partner.example"}),
        ] {
            let (status, body) = server.call(&admin, Method::POST, INVITATIONS, Some(bad.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {bad}: {body}");
        }

        // The invitation: a pending guest, and the link mailed with the inviter's message.
        let (status, invited) =
            server.call(&admin, Method::POST, INVITATIONS, Some(invitation("Pat@Partner.example", true))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {invited}");
        assert_eq!(invited["status"], "PendingAcceptance");
        assert_eq!(invited["invitedUserEmailAddress"], "pat@partner.example");
        let pat = invited["invitedUser"]["id"].as_str().unwrap().to_owned();
        let link = invited["inviteRedeemUrl"].as_str().unwrap().to_owned();
        assert!(link.starts_with(&format!("{}/{tenant}/redeem?ticket=", server.base)), "{engine}: {link}");
        let select = "$select=userType,userPrincipalName,creationType,externalUserState,mail,identities";
        let (_, guest) = server.call(&admin, Method::GET, &format!("/v1.0/users/{pat}?{select}"), None).await;
        assert_eq!(guest["userType"], "Guest", "{engine}: {guest}");
        assert_eq!(guest["userPrincipalName"], "pat_partner.example#EXT#@contoso.gatehouse.test");
        assert_eq!(guest["creationType"], "Invitation");
        assert_eq!(guest["externalUserState"], "PendingAcceptance");
        assert_eq!(
            guest["identities"],
            json!([{"signInType": "federated", "issuer": "mail", "issuerAssignedId": "pat@partner.example"}]),
            "{engine}"
        );
        let (_, guests) = server.advanced(&admin, "/v1.0/users?$filter=userType%20eq%20'Guest'&$count=true").await;
        assert!(guests["value"].as_array().unwrap().iter().any(|u| u["id"] == pat.as_str()), "{engine}: {guests}");
        let rule = json!({
            "displayName": "Guests", "mailNickname": "guests", "mailEnabled": false, "securityEnabled": true,
            "groupTypes": ["DynamicMembership"], "membershipRule": "user.userType -eq \"Guest\"",
            "membershipRuleProcessingState": "On",
        });
        let (status, guests_group) = server.call(&admin, Method::POST, "/v1.0/groups", Some(rule)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {guests_group}");
        crate::dynamic::settled(&server).await;
        let members = format!("/v1.0/groups/{}/members", guests_group["id"].as_str().unwrap());
        let (_, members) = server.call(&admin, Method::GET, &members, None).await;
        let members: Vec<&str> =
            members["value"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(members, [pat.as_str()], "{engine}: a dynamic rule on userType finds the guest");
        let mail = server.mail_to("pat@partner.example").await;
        assert_eq!(mail.len(), 1, "{engine}");
        assert!(mail[0].contains("Welcome aboard") && mail[0].contains(&link), "{engine}: {}", mail[0]);

        // Another person's invitation and code, to be refused on Pat's.
        let (_, lee) =
            server.call(&admin, Method::POST, INVITATIONS, Some(invitation("lee@partner.example", false))).await;
        let lee_link = lee["inviteRedeemUrl"].as_str().unwrap().to_owned();
        let lee_browser = Browser::new();
        let lee_page = lee_browser.get(&lee_link).await;
        let redeem = server.url(&format!("/{tenant}/redeem"));
        lee_browser.submit(&redeem, &lee_page, &[("send", "1")]).await;
        let lee_code = code_in(server.mail_to("lee@partner.example").await.last().unwrap());

        // Redemption: review, a code, a wrong one and another invitation's refused, then accepted.
        let browser = Browser::new();
        let review = browser.get(&link).await;
        assert!(review.text.contains("Review permissions") && review.text.contains("pat@partner.example"), "{engine}");
        let asked = browser.submit(&redeem, &review, &[("send", "1")]).await;
        assert!(asked.text.contains("name=\"otc\""), "{engine}: {}", asked.text);
        let code = code_in(server.mail_to("pat@partner.example").await.last().unwrap());
        let wrong = browser.submit(&redeem, &asked, &[("otc", &lee_code)]).await;
        assert!(wrong.text.contains("role=\"alert\""), "{engine}: another invitation's code: {}", wrong.text);
        let done = browser.submit(&redeem, &wrong, &[("otc", &code)]).await;
        assert_eq!(done.status, StatusCode::FOUND, "{engine}: {}", done.text);
        assert_eq!(done.location.as_deref(), Some(WELCOME));
        let (_, guest) = server.call(&admin, Method::GET, &format!("/v1.0/users/{pat}?{select}"), None).await;
        assert_eq!(guest["externalUserState"], "Accepted", "{engine}: {guest}");
        let again = Browser::new().get(&link).await;
        assert!(again.text.contains("redeemed already"), "{engine}: a link redeems once: {}", again.text);

        // Inviting an accepted guest again completes at once; resetRedemption makes a new link to redeem.
        let (status, body) =
            server.call(&admin, Method::POST, INVITATIONS, Some(invitation("pat@partner.example", false))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {body}");
        assert_eq!(body["status"], "Completed");
        assert_eq!(body["inviteRedeemUrl"], WELCOME);
        let mut reset = invitation("pat@partner.example", false);
        reset["resetRedemption"] = json!(true);
        let (status, reinvited) = server.call(&admin, Method::POST, INVITATIONS, Some(reset)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {reinvited}");
        assert_eq!(reinvited["invitedUser"]["id"], pat.as_str(), "{engine}: the same guest");
        let fresh = Browser::new().get(reinvited["inviteRedeemUrl"].as_str().unwrap()).await;
        assert!(fresh.text.contains("Review permissions"), "{engine}: {}", fresh.text);

        // A member invites; the audit log tells it all.
        let mia = server.member(&admin, "mia").await;
        let client = server.client(&admin, true, "User.Invite.All").await;
        let upn = "mia@contoso.gatehouse.test";
        let (status, tokens) = server.password_grant(&tenant, &client.app_id, upn, PASSWORD, "User.Invite.All").await;
        assert_eq!(status, StatusCode::OK, "{engine}: {tokens}");
        let member = tokens["access_token"].as_str().unwrap();
        let (status, _) =
            server.call(member, Method::POST, INVITATIONS, Some(invitation("kai@partner.example", false))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: members may invite by default");
        let audits = "/v1.0/auditLogs/directoryAudits?$filter=loggedByService%20eq%20'Invited%20Users'";
        let (_, audits) = server.call(&admin, Method::GET, audits, None).await;
        let activities: Vec<&str> =
            audits["value"].as_array().unwrap().iter().map(|a| a["activityDisplayName"].as_str().unwrap()).collect();
        assert!(
            activities.contains(&"Invite external user") && activities.contains(&"Redeem external user invite"),
            "{engine}: {activities:?}"
        );
        let by_mia = audits["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["initiatedBy"]["user"]["id"] == mia.as_str())
            .count();
        assert_eq!(by_mia, 1, "{engine}");
    }
}

#[tokio::test]
async fn the_authorization_policy_decides_who_may_invite() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        const POLICY: &str = "/v1.0/policies/authorizationPolicy";
        let (status, policy) = server.call(&admin, Method::GET, POLICY, None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {policy}");
        assert_eq!(policy["allowInvitesFrom"], "everyone", "{engine}: Entra's default");
        assert_eq!(policy["guestUserRoleId"], "10dae51f-b6af-4016-8d66-8c2a99b929b3");

        let (reader, _) = server.app_with(&admin, &["Policy.Read.All"]).await;
        assert_eq!(server.call(&reader, Method::GET, POLICY, None).await.0, StatusCode::OK);
        let only_admins = json!({"allowInvitesFrom": "adminsAndGuestInviters"});
        let (status, _) = server.call(&reader, Method::PATCH, POLICY, Some(only_admins.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: reading is not writing");
        for bad in [json!({"allowInvitesFrom": "anyone"}), json!({"blockMsolPowerShell": true})] {
            let (status, body) = server.call(&admin, Method::PATCH, POLICY, Some(bad.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {bad}: {body}");
        }

        // Only administrators and Guest Inviters: a member is refused, the admin app is not.
        server.member(&admin, "ivy").await;
        let client = server.client(&admin, true, "User.Invite.All").await;
        let upn = "ivy@contoso.gatehouse.test";
        let (_, tokens) = server.password_grant(&tenant, &client.app_id, upn, PASSWORD, "User.Invite.All").await;
        let ivy = tokens["access_token"].as_str().unwrap().to_owned();
        let (status, _) = server.call(&admin, Method::PATCH, POLICY, Some(only_admins)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}");
        let (_, policy) = server.call(&admin, Method::GET, POLICY, None).await;
        assert_eq!(policy["allowInvitesFrom"], "adminsAndGuestInviters");
        let (status, body) =
            server.call(&ivy, Method::POST, INVITATIONS, Some(invitation("a@partner.example", false))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: {body}");
        assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
        let (status, _) =
            server.call(&admin, Method::POST, INVITATIONS, Some(invitation("b@partner.example", false))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}");

        // Members again; then nobody at all.
        let members = json!({"allowInvitesFrom": "adminsGuestInvitersAndAllMembers"});
        assert_eq!(server.call(&admin, Method::PATCH, POLICY, Some(members)).await.0, StatusCode::NO_CONTENT);
        let (status, _) =
            server.call(&ivy, Method::POST, INVITATIONS, Some(invitation("c@partner.example", false))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}");
        let nobody = json!({"allowInvitesFrom": "none", "guestUserRoleId": "2af84b1e-32c8-42b7-82bc-daa82404023b"});
        assert_eq!(server.call(&admin, Method::PATCH, POLICY, Some(nobody)).await.0, StatusCode::NO_CONTENT);
        let (status, _) =
            server.call(&admin, Method::POST, INVITATIONS, Some(invitation("d@partner.example", false))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: nobody invites");
        let (_, policy) = server.call(&admin, Method::GET, POLICY, None).await;
        assert_eq!(policy["guestUserRoleId"], "2af84b1e-32c8-42b7-82bc-daa82404023b", "{engine}");
    }
}
