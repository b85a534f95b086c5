//! The pages of a password that must change: inside the sign-in (an administrator's temporary password at the
//! authorize pages, an expired one at the device login page), and the self-service reset ("Forgot my
//! password") with its code sent to the user's alternate address, read from the server's real outbox.

use crate::sign_in::{assert_grant_error, hidden, PASSWORD};
use crate::support::{new_user, servers};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A page as a browser got it.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) text: String,
    pub(crate) location: Option<String>,
    /// The `Set-Cookie` headers, whole.
    pub(crate) set_cookies: Vec<String>,
}

impl Page {
    /// The hidden fields every form carries.
    fn carried(&self) -> Vec<(String, String)> {
        vec![("ctx".into(), hidden(&self.text, "ctx")), ("csrf".into(), hidden(&self.text, "csrf"))]
    }
}

/// A browser without JavaScript: keeps cookies, follows nothing.
pub(crate) struct Browser {
    http: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl Browser {
    pub(crate) fn new() -> Self {
        Self::with(reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap())
    }

    /// A browser over a client of the caller's making (its source address, its User-Agent); it must not
    /// follow redirects.
    pub(crate) fn with(http: reqwest::Client) -> Self {
        Self { http, cookies: Mutex::new(BTreeMap::new()) }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let jar: Vec<String> = self.cookies.lock().unwrap().iter().map(|(k, v)| format!("{k}={v}")).collect();
        let response = request.header(reqwest::header::COOKIE, jar.join("; ")).send().await.unwrap();
        let set_cookies: Vec<String> = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .map(|c| c.to_str().unwrap().to_owned())
            .collect();
        for cookie in &set_cookies {
            let (name, value) = cookie.split(';').next().unwrap().split_once('=').unwrap();
            let mut cookies = self.cookies.lock().unwrap();
            match cookie.contains("Max-Age=0") {
                true => cookies.remove(name),
                false => cookies.insert(name.to_owned(), value.to_owned()),
            };
        }
        let location = response.headers().get(reqwest::header::LOCATION).map(|l| l.to_str().unwrap().to_owned());
        Page { status: response.status(), location, set_cookies, text: response.text().await.unwrap() }
    }

    pub(crate) async fn get(&self, url: &str) -> Page {
        self.send(self.http.get(url)).await
    }

    /// Submits the form of `page` to `url` with `fields`.
    pub(crate) async fn submit(&self, url: &str, page: &Page, fields: &[(&str, &str)]) -> Page {
        let mut form = page.carried();
        form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.send(self.http.post(url).form(&form)).await
    }

    /// Uploads a file (`field`: its name and text) with the form of `page` to `url`, as `multipart/form-data`.
    pub(crate) async fn upload(&self, url: &str, page: &Page, field: &str, (name, text): (&str, &str)) -> Page {
        let form = page.carried().into_iter().fold(reqwest::multipart::Form::new(), |form, (k, v)| form.text(k, v));
        let file = reqwest::multipart::Part::text(text.to_owned()).file_name(name.to_owned());
        self.send(self.http.post(url).multipart(form.part(field.to_owned(), file))).await
    }

    fn has_session(&self) -> bool {
        self.cookies.lock().unwrap().contains_key("gatehouse_session")
    }
}

const NEW_PASSWORD: &str = "Fresh-Kestr3l-42";

#[tokio::test]
async fn a_temporary_password_is_changed_inside_the_sign_in() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let client = server.client(&admin, true, "User.Read").await;
        let redirect = "http://localhost:7777/callback";
        let body = json!({"publicClient": {"redirectUris": [redirect]}});
        let path = format!("/v1.0/applications/{}", client.object);
        assert_eq!(server.call(&admin, Method::PATCH, &path, Some(body)).await.0, StatusCode::NO_CONTENT);
        let (status, user) = server.call(&admin, Method::POST, "/v1.0/users", Some(new_user("fay"))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {user}");
        let (upn, temporary) = ("fay@contoso.gatehouse.test", "Str0ng!Kestr3l");
        let ropc = server.password_grant(&tenant, &client.app_id, upn, temporary, "User.Read").await;
        assert_grant_error(engine, &ropc, "invalid_grant", "AADSTS50055");

        let browser = Browser::new();
        let verifier = "a-verifier-of-at-least-forty-three-characters-0123456789";
        let challenge = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            <sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()),
        );
        let query = [
            ("client_id", client.app_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            ("scope", "openid User.Read"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        let authorize = server.url(&format!("/{tenant}/oauth2/v2.0/authorize"));
        let form = browser.get(reqwest::Url::parse_with_params(&authorize, &query).unwrap().as_str()).await;
        assert!(form.text.contains("Forgot my password"), "{engine}: the way to a reset");
        let asked = browser.submit(&authorize, &form, &[("login", upn), ("passwd", temporary)]).await;
        assert_eq!(asked.status, StatusCode::OK, "{engine}");
        assert!(asked.text.contains("Update your password"), "{engine}: {}", asked.text);
        assert!(!asked.text.contains(temporary), "{engine}: a password is never echoed");
        assert!(!browser.has_session(), "{engine}: not signed in before the change");

        let change = |current: &'static str, new: &'static str, confirm: &'static str| {
            [("currentPassword", current), ("newPassword", new), ("confirmNewPassword", confirm)]
        };
        let refusals = [
            (change(temporary, NEW_PASSWORD, "Fresh-Kestr3l-43"), "the same way twice"),
            (change("Wr0ng!Kestr3l", NEW_PASSWORD, NEW_PASSWORD), "AADSTS50126"),
            (change(temporary, "password", "password"), "complexity"),
            (change(temporary, temporary, temporary), "cannot be the current password"),
        ];
        let mut page = asked;
        for (fields, said) in refusals {
            page = browser.submit(&authorize, &page, &fields).await;
            assert!(page.text.contains("Update your password"), "{engine}: asked again: {}", page.text);
            assert!(page.text.contains(said), "{engine}: {said} expected: {}", page.text);
        }
        server.clock.advance(chrono::Duration::seconds(1));
        let changed = browser.submit(&authorize, &page, &change(temporary, NEW_PASSWORD, NEW_PASSWORD)).await;
        assert_eq!(changed.status, StatusCode::FOUND, "{engine}: {}", changed.text);
        assert!(browser.has_session(), "{engine}: the sign-in goes on after the change");
        let location = reqwest::Url::parse(changed.location.as_deref().unwrap()).unwrap();
        let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let redeemed = [
            ("grant_type", "authorization_code"),
            ("client_id", client.app_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ];
        let (status, tokens) = server.grant(&tenant, &redeemed).await;
        assert_eq!(status, StatusCode::OK, "{engine}: a session begun in the change's own second stands: {tokens}");

        let old = server.password_grant(&tenant, &client.app_id, upn, temporary, "User.Read").await;
        assert_grant_error(engine, &old, "invalid_grant", "AADSTS50126");
        let (status, body) = server.password_grant(&tenant, &client.app_id, upn, NEW_PASSWORD, "User.Read").await;
        assert_eq!(status, StatusCode::OK, "{engine}: no change is asked any more: {body}");
        let path = format!("/v1.0/users/{}?$select=lastPasswordChangeDateTime", user["id"].as_str().unwrap());
        let (_, shown) = server.call(&admin, Method::GET, &path, None).await;
        let now = gatehouse_core::schema::format_time(gatehouse_core::Clock::now(server.clock.as_ref()));
        assert_eq!(shown["lastPasswordChangeDateTime"], json!(now), "{engine}: {shown}");
    }
}

#[tokio::test]
async fn an_expired_password_is_changed_at_the_device_login_page() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let device = server.client(&admin, true, "User.Read").await;
        server.member(&admin, "gus").await;
        let domain = "/v1.0/domains/contoso.gatehouse.test";
        let validity = Some(json!({"passwordValidityPeriodInDays": 30}));
        assert_eq!(server.call(&admin, Method::PATCH, domain, validity).await.0, StatusCode::NO_CONTENT);
        server.clock.advance(chrono::Duration::days(31));

        let form = [("client_id", device.app_id.as_str()), ("scope", "User.Read")];
        let url = server.url(&format!("/{tenant}/oauth2/v2.0/devicecode"));
        let started: Value = server.http.post(url).form(&form).send().await.unwrap().json().await.unwrap();
        let browser = Browser::new();
        let login = server.url(&format!("/{tenant}/devicelogin"));
        let page = browser.get(&login).await;
        let page = browser.submit(&login, &page, &[("otc", started["user_code"].as_str().unwrap())]).await;
        let page =
            browser.submit(&login, &page, &[("login", "gus@contoso.gatehouse.test"), ("passwd", PASSWORD)]).await;
        assert!(page.text.contains("Update your password"), "{engine}: {}", page.text);
        let fields =
            [("currentPassword", PASSWORD), ("newPassword", NEW_PASSWORD), ("confirmNewPassword", NEW_PASSWORD)];
        let page = browser.submit(&login, &page, &fields).await;
        assert!(page.text.contains("Are you trying to sign in to"), "{engine}: {}", page.text);
        let page = browser.submit(&login, &page, &[("approve", "Continue")]).await;
        assert!(page.text.contains("You're signed in"), "{engine}: {}", page.text);
    }
}

/// The verification code in a reset message.
pub(crate) fn code_in(message: &str) -> String {
    let after = message.split("verification code is: ").nth(1).unwrap();
    after.chars().take_while(char::is_ascii_digit).collect()
}

#[tokio::test]
async fn a_member_resets_a_forgotten_password_with_a_code_sent_to_their_alternate_address() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let client = server.client(&admin, true, "User.Read").await;
        let liv = server.member(&admin, "liv").await;
        let (upn, home) = ("liv@contoso.gatehouse.test", "liv.home@example.net");
        let mails = Some(json!({"otherMails": [home]}));
        assert_eq!(
            server.call(&admin, Method::PATCH, &format!("/v1.0/users/{liv}"), mails).await.0,
            StatusCode::NO_CONTENT
        );
        let admin_upn = server.tenant.admin_user_principal_name.clone();
        let admin_home = Some(json!({"otherMails": ["boss.home@example.net"]}));
        let path = format!("/v1.0/users/{admin_upn}");
        assert_eq!(server.call(&admin, Method::PATCH, &path, admin_home).await.0, StatusCode::NO_CONTENT);
        let (status, before) =
            server.password_grant(&tenant, &client.app_id, upn, PASSWORD, "User.Read offline_access").await;
        assert_eq!(status, StatusCode::OK, "{engine}: {before}");

        let browser = Browser::new();
        let reset = server.url(&format!("/{tenant}/passwordreset"));
        let start = |login: &'static str| {
            let browser = &browser;
            let reset = &reset;
            async move {
                let page = browser.get(reset).await;
                assert!(page.text.contains("Get back into your account"), "{}", page.text);
                browser.submit(reset, &page, &[("login", login)]).await
            }
        };
        for nobody in ["nobody@contoso.gatehouse.test", "someone@elsewhere.example"] {
            let page = start(nobody).await;
            assert!(page.text.contains("Enter your verification code"), "{engine}: the same answer for {nobody}");
        }
        let page = start("admin@contoso.gatehouse.test").await;
        assert!(page.text.contains("Enter your verification code"), "{engine}");
        assert!(server.mail_to("boss.home@example.net").await.is_empty(), "{engine}: administrators need two methods");

        let page = start("liv@contoso.gatehouse.test").await;
        assert!(page.text.contains("Enter your verification code"), "{engine}: {}", page.text);
        let mail = server.mail_to(home).await;
        assert_eq!(mail.len(), 1, "{engine}: one code sent");
        assert!(mail[0].contains(upn), "{engine}: the message names the account");
        let code = code_in(&mail[0]);
        assert_eq!(code.len(), 8, "{engine}: {}", mail[0]);

        let wrong = if code == "00000000" { "00000001" } else { "00000000" };
        let page = browser.submit(&reset, &page, &[("code", wrong)]).await;
        assert!(page.text.contains("not correct"), "{engine}: {}", page.text);
        let page = browser.submit(&reset, &page, &[("code", &code)]).await;
        assert!(page.text.contains("Choose a new password"), "{engine}: {}", page.text);
        let refusals = [
            ([NEW_PASSWORD, "Fresh-Kestr3l-43"], "the same way twice"),
            (["password", "password"], "complexity"),
            ([PASSWORD, PASSWORD], "cannot be the current password"),
        ];
        let mut page = page;
        for ([new, confirm], said) in refusals {
            page = browser.submit(&reset, &page, &[("newPassword", new), ("confirmNewPassword", confirm)]).await;
            assert!(page.text.contains(said), "{engine}: {said} expected: {}", page.text);
        }
        let chosen = [("newPassword", NEW_PASSWORD), ("confirmNewPassword", NEW_PASSWORD)];
        let done = browser.submit(&reset, &page, &chosen).await;
        assert!(done.text.contains("Your password has been reset"), "{engine}: {}", done.text);
        let again = [("newPassword", "Other-Kestr3l-77"), ("confirmNewPassword", "Other-Kestr3l-77")];
        let replayed = browser.submit(&reset, &page, &again).await;
        assert!(replayed.text.contains("expired"), "{engine}: a ticket is spent by its change: {}", replayed.text);
        let notice = server.mail_to(home).await;
        assert_eq!(notice.len(), 2, "{engine}: the code, then the notice of the change");
        assert!(notice[1].contains("password was changed") && notice[1].contains(upn), "{engine}: {}", notice[1]);

        let (status, body) = server.password_grant(&tenant, &client.app_id, upn, NEW_PASSWORD, "User.Read").await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        let old = server.refresh_grant(&tenant, &client.app_id, before["refresh_token"].as_str().unwrap()).await;
        assert_grant_error(engine, &old, "invalid_grant", "AADSTS50173");

        let page = start("liv@contoso.gatehouse.test").await;
        let code = code_in(server.mail_to(home).await.last().unwrap());
        let mut page = page;
        for n in 0..10 {
            let wrong = format!("{:08}", (code.parse::<u32>().unwrap() + 1 + n) % 100_000_000);
            page = browser.submit(&reset, &page, &[("code", &wrong)]).await;
        }
        let page = browser.submit(&reset, &page, &[("code", &code)]).await;
        assert!(page.text.contains("AADSTS50053"), "{engine}: ten wrong codes lock: {}", page.text);
        let locked = server.password_grant(&tenant, &client.app_id, upn, NEW_PASSWORD, "User.Read").await;
        assert_grant_error(engine, &locked, "invalid_grant", "AADSTS50053");
    }
}

/// The tests above read a message's code; this one checks what a message holds and who may read it.
#[tokio::test]
async fn reset_messages_are_private_files_in_the_outbox() {
    use std::os::unix::fs::PermissionsExt;
    let server = crate::support::sqlite_server().await;
    let admin = server.admin_token().await;
    let user = server.member(&admin, "ned").await;
    let mails = Some(json!({"otherMails": ["ned@example.org"]}));
    assert_eq!(
        server.call(&admin, Method::PATCH, &format!("/v1.0/users/{user}"), mails).await.0,
        StatusCode::NO_CONTENT
    );
    let browser = Browser::new();
    let reset = server.url("/contoso.gatehouse.test/passwordreset?username=ned%40contoso.gatehouse.test");
    let page = browser.get(&reset).await;
    assert!(page.text.contains("value=\"ned@contoso.gatehouse.test\""), "the account is prefilled: {}", page.text);
    let url = server.url("/contoso.gatehouse.test/passwordreset");
    browser.submit(&url, &page, &[("login", "ned@contoso.gatehouse.test")]).await;
    assert_eq!(server.mail_to("ned@example.org").await.len(), 1, "delivered");
    let entry = std::fs::read_dir(&server.outbox).unwrap().next().unwrap().unwrap();
    assert_eq!(entry.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    let message = std::fs::read_to_string(entry.path()).unwrap();
    assert!(message.contains("\r\nTo: ned@example.org\r\n"), "{message}");
    assert!(message.contains("Subject: "), "{message}");
    assert_eq!(code_in(&message).len(), 8);
    assert!(message.contains("multipart/alternative") && message.contains("Content-Type: text/html"), "{message}");
    let tampered = [("ctx", "x.y".to_owned()), ("csrf", hidden(&page.text, "csrf")), ("code", "12345678".into())];
    let refused = browser.send(browser.http.post(&url).form(&tampered)).await;
    assert!(refused.text.contains("AADSTS90015"), "an altered form is refused: {}", refused.text);
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
}
