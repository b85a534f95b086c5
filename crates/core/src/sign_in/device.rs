//! The device-code door (RFC 8628): a device without a browser asks for a code, the person enters the
//! short user code at the tenant's device login page, signs in there and approves, and the device polls the
//! token endpoint until the tokens are ready. The same policy stage decides as at every other door.
//!
//! Polling errors are OAuth's own (`authorization_pending`, `authorization_declined`, `expired_token`,
//! `slow_down`, `bad_verification_code`): they name the target [`DEVICE`] and carry the error as their code.

use super::authorize::{Authorized, Session};
use super::log::Seen;
use super::resource::Granted;
use super::{granted_or_asked, Browser, ClientRequest, Family, Grant, Origin, SignIn, Tenancy};
use crate::conditional_access::policy::ClientApp;
use crate::credentials::secrets;
use crate::kernel::error::{Error, Result};
use crate::store::{DeviceCodeRecord, StoreError, Write};
use crate::Caller;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

use super::issue::Issued;

/// The error target of the device grant's polling errors.
pub const DEVICE: &str = "device";
/// How long a device code lives (Entra: 15 minutes).
pub const DEVICE_CODE_SECONDS: i64 = 900;
/// How often a device may poll, in seconds.
pub const POLL_INTERVAL: i64 = 5;
/// Letters a person cannot misread (no vowels, so no words; no 0/O, 1/I).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ23456789";
const USER_CODE_LENGTH: usize = 9;

/// What the device is told.
#[derive(Debug, Clone)]
pub struct DeviceAuthorization {
    /// The tenant whose device login page the person visits.
    pub tenant: Uuid,
    pub device_code: String,
    pub user_code: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// What the device login page shows of a pending code.
#[derive(Debug, Clone)]
pub struct DevicePrompt {
    pub user_code: String,
    pub app_name: String,
}

/// When each device code was last polled on this node, for `slow_down`.
#[derive(Default)]
struct LastPolls(Mutex<HashMap<String, i64>>);

fn polling(error: &'static str, message: &str) -> Error {
    Error::invalid_property(DEVICE, message).with_code(error)
}

impl SignIn<'_> {
    /// Starts a device authorization for a public client (`isFallbackPublicClient`, as Entra requires).
    pub async fn start_device(&self, tenancy: Tenancy, client_id: &str, scope: &str) -> Result<DeviceAuthorization> {
        let Tenancy::Tenant(tenant) = tenancy else {
            return Err(Error::invalid(
                "AADSTS90002: Device codes are issued by a tenant's own endpoint here: use the tenant's id or domain rather than /organizations or /common.",
            ));
        };
        self.resolve_scope(tenant, scope).await?;
        let client = self.directory.applications().sign_in_client(tenant, client_id, None, false).await?;
        let mut random = [0u8; 32];
        self.directory.random().fill(&mut random);
        let device_code = URL_SAFE_NO_PAD.encode([tenant.as_bytes().as_slice(), &random].concat());
        let mut letters = [0u8; USER_CODE_LENGTH];
        self.directory.random().fill(&mut letters);
        let user_code: String = letters
            .iter()
            .map(|b| char::from(USER_CODE_ALPHABET[usize::from(*b) % USER_CODE_ALPHABET.len()]))
            .collect();
        let record = DeviceCodeRecord {
            digest: secrets::digest(&device_code),
            user_code: user_code.clone(),
            client: client.client.app_id,
            scope: scope.to_owned(),
            expires_at: self.directory.now() + Duration::seconds(DEVICE_CODE_SECONDS),
            status: "pending".into(),
            user: None,
            auth_time: None,
            methods: String::new(),
            scopes: String::new(),
        };
        self.directory.commit(&Caller::System { tenant }, vec![Write::CreateDeviceCode(record)]).await?;
        Ok(DeviceAuthorization {
            tenant,
            device_code,
            user_code,
            expires_in: DEVICE_CODE_SECONDS,
            interval: POLL_INTERVAL,
        })
    }

    /// A pending, unexpired device code by the user code a person typed.
    async fn pending_device(&self, tenant: Uuid, user_code: &str) -> Result<DeviceCodeRecord> {
        let code: String = user_code.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_uppercase();
        let unknown =
            || Error::invalid_property("otc", "AADSTS70000: That code didn't work. Check the code and try again.");
        if code.len() != USER_CODE_LENGTH {
            return Err(unknown());
        }
        let record = self.directory.store.device_code(tenant, &code).await.map_err(Error::from)?.ok_or_else(unknown)?;
        if record.status != "pending" || self.directory.now() >= record.expires_at {
            return Err(Error::invalid_property("otc", "AADSTS70020: The code has expired or was used already."));
        }
        Ok(record)
    }

    /// What the device login page shows for a code a person typed.
    pub async fn device_prompt(&self, tenant: Uuid, user_code: &str) -> Result<DevicePrompt> {
        let record = self.pending_device(tenant, user_code).await?;
        let client = self.directory.applications().client(tenant, record.client).await?;
        let app_name = client.map(|c| c.display_name().to_owned()).unwrap_or_default();
        Ok(DevicePrompt { user_code: record.user_code, app_name })
    }

    /// The signed-in person approves (or declines) the device's sign-in; approval goes through the policy
    /// stage, and may first need their consent (`Authorized::Consent`). `Authorized::Granted` carries nothing
    /// here: the device collects its tokens by polling.
    pub async fn decide_device(
        &self,
        session: &Session,
        user_code: &str,
        approve: bool,
        browser: &Browser,
    ) -> Result<Authorized> {
        let tenant = session.tenant;
        let record = self.pending_device(tenant, user_code).await?;
        let system = Caller::System { tenant };
        if !approve {
            let write = Write::DecideDeviceCode { user_code: record.user_code, approval: None };
            self.directory.commit(&system, vec![write]).await?;
            return Ok(Authorized::Granted { code: None, id_token: None, persistent: None });
        }
        let origin = browser.origin(ClientApp::MobileAppsAndDesktopClients, &session.methods);
        let mut seen = Seen::new(Origin { auth_time: Some(session.auth_time), ..origin }, "");
        seen.tenant = Some(tenant);
        let result = self.approve_device(session, &record, &mut seen).await;
        self.log_answer(&seen, &result).await?;
        result
    }

    /// The policy stage of a device's sign-in the person approves, and the approval it comes to.
    async fn approve_device(
        &self,
        session: &Session,
        record: &DeviceCodeRecord,
        seen: &mut Seen,
    ) -> Result<Authorized> {
        let (tenant, system) = (session.tenant, Caller::System { tenant: session.tenant });
        seen.user = self.find_user(tenant, &session.user.to_string()).await;
        let user = seen
            .user
            .clone()
            .ok_or_else(|| super::grant_error("AADSTS50034: The user account does not exist in the directory."))?;
        let client =
            self.directory.applications().sign_in_client(tenant, &record.client.to_string(), None, false).await?;
        seen.client = Some(client.client.clone());
        let asked = self.resolve_scope(tenant, &record.scope).await?;
        seen.resource = Some(asked.resource.clone());
        let decision = self.decide(tenant, &client.client, client.assignment_required, &user, &asked, seen).await?;
        let granted = match granted_or_asked(decision, asked, &client.client)? {
            Ok(granted) => granted,
            Err(ask) => return Ok(ask),
        };
        let approval = Some((user.id, session.auth_time, session.methods.join(" "), granted.to_text()));
        let write = Write::DecideDeviceCode { user_code: record.user_code.clone(), approval };
        self.directory.commit(&system, vec![write]).await?;
        Ok(Authorized::Granted { code: None, id_token: None, persistent: None })
    }

    /// The person consents at the device login page, then approves.
    pub async fn consent_device(
        &self,
        session: &Session,
        user_code: &str,
        scope: &str,
        browser: &Browser,
    ) -> Result<Authorized> {
        let record = self.pending_device(session.tenant, user_code).await?;
        let client = self
            .directory
            .applications()
            .sign_in_client(session.tenant, &record.client.to_string(), None, false)
            .await?;
        self.consent_for(session, &client.client, scope).await?;
        self.decide_device(session, user_code, true, browser).await
    }

    /// The device-code grant: the device polls with its code until the person approved.
    pub async fn poll_device(
        &self,
        tenancy: Tenancy,
        request: &ClientRequest<'_>,
        device_code: &str,
    ) -> Result<Issued> {
        let bad = || polling("bad_verification_code", "AADSTS70019: Verification code is not valid.");
        let bytes = URL_SAFE_NO_PAD.decode(device_code.trim()).map_err(|_| bad())?;
        let tenant = bytes.get(..16).and_then(|b| Uuid::from_slice(b).ok()).ok_or_else(bad)?;
        if matches!(tenancy, Tenancy::Tenant(named) if named != tenant) {
            return Err(bad());
        }
        let digest = secrets::digest(device_code.trim());
        let record = self.directory.store.device_code(tenant, &digest).await.map_err(Error::from)?.ok_or_else(bad)?;
        let client = self
            .directory
            .applications()
            .sign_in_client(tenant, request.client_id, request.proof.map(|p| (p, request.base)), false)
            .await?;
        if client.client.app_id != record.client {
            return Err(bad());
        }
        let now = self.directory.now();
        if now >= record.expires_at && record.status != "approved" {
            return Err(polling("expired_token", "AADSTS70020: The provided value for the input parameter 'device_code' is not valid. This device code has expired."));
        }
        match record.status.as_str() {
            "pending" => {
                let polls = self.directory.node_state::<LastPolls>();
                let mut last = polls.0.lock().unwrap_or_else(|p| p.into_inner());
                last.retain(|_, at| now.timestamp() - *at < DEVICE_CODE_SECONDS);
                let previous = last.insert(digest, now.timestamp());
                if previous.is_some_and(|at| now.timestamp() - at < POLL_INTERVAL) {
                    return Err(polling("slow_down", "AADSTS70016: Polling faster than the interval: slow down."));
                }
                return Err(polling(
                    "authorization_pending",
                    "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                ));
            }
            "declined" => {
                return Err(polling(
                    "authorization_declined",
                    "AADSTS70018: The end user denied the authorization request.",
                ))
            }
            "redeemed" => return Err(bad()),
            _ => {}
        }
        match self.directory.commit(&Caller::System { tenant }, vec![Write::RedeemDeviceCode { digest }]).await {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => return Err(bad()),
            Err(other) => return Err(other.into()),
        }
        let (Some(user_id), Some(auth_time)) = (record.user, record.auth_time) else { return Err(bad()) };
        let user = self.standing_user(tenant, user_id, auth_time).await.ok_or_else(|| {
            super::grant_error(
                "AADSTS50173: The grant was revoked: the account was disabled, deleted or its sessions revoked.",
            )
        })?;
        let methods: Vec<String> = record.methods.split_whitespace().map(str::to_owned).collect();
        let granted = Granted::of(self.resolve_scope(tenant, &record.scopes).await?);
        let grant = Grant { tenant, client: &client.client, proof: client.proof, user: &user, granted };
        let family = Family::Start { id: self.directory.random().uuid(), spa: false };
        self.issue(grant, auth_time, &methods, None, request.base, family).await
    }
}
