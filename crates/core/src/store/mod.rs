//! The storage interface the core depends on; implemented by the `gatehouse-store` crate.
//!
//! Invariants every implementation keeps:
//! - Tenant isolation: every read and write names its tenant, and no call returns another tenant's rows.
//! - One use case, one transaction: [`Store::commit`] applies its whole batch of [`Write`]s atomically, and
//!   appends its [`ChangeRecord`]s to the tenant's change log in the same transaction, numbered by a
//!   per-tenant sequence without gaps, in commit order. The sequence is taken first, which makes a tenant's
//!   write transactions run one at a time.
//! - Unique values (a user's folded UPN, an app's appId) are unique among live objects of a kind in a tenant;
//!   a violation fails the whole batch with [`StoreError::Conflict`].
//! - Optimistic concurrency: an update names the version it read; if the row moved on, the batch fails with
//!   [`StoreError::VersionMismatch`] and the use case re-reads and retries.

pub mod audit;
mod changes;
mod logs;
mod provisioning;
mod query;
mod sharing;

use async_trait::async_trait;
pub use changes::{Change, ChangeKind, ChangeRecord};
use chrono::{DateTime, Utc};
pub use logs::{MailRecord, MailState, SignInQuery, SignInRecord};
pub use provisioning::{ProvisionedRecord, ProvisioningJobRecord, ProvisioningLogQuery, ProvisioningLogRecord};
pub use query::{Cursor, ObjectQuery, OrderBy, Scope, Sort};
use serde_json::{Map, Value};
pub use sharing::SharingLinkRecord;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    User,
    Application,
    ServicePrincipal,
    Group,
    /// An organizational contact (Graph's `orgContact`).
    Contact,
    /// A subscription to a product (Graph's `subscribedSku`).
    Subscription,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 6] = [
        ObjectKind::User,
        ObjectKind::Application,
        ObjectKind::ServicePrincipal,
        ObjectKind::Group,
        ObjectKind::Contact,
        ObjectKind::Subscription,
    ];

    /// The kind's Graph type name, which is also its name in the store and the change log.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::User => "user",
            ObjectKind::Application => "application",
            ObjectKind::ServicePrincipal => "servicePrincipal",
            ObjectKind::Group => "group",
            ObjectKind::Contact => "orgContact",
            ObjectKind::Subscription => "subscribedSku",
        }
    }

    pub fn parse(s: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How an object hangs off a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    Member,
    Owner,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Member => "member",
            Relation::Owner => "owner",
        }
    }

    /// The Graph navigation property: `members` or `owners`.
    pub fn property(self) -> &'static str {
        match self {
            Relation::Member => "members",
            Relation::Owner => "owners",
        }
    }

    pub fn parse(s: &str) -> Option<Relation> {
        [Relation::Member, Relation::Owner].into_iter().find(|r| r.as_str() == s)
    }
}

/// A member or owner of a group. A link is active while both ends are live; deleting either end suspends
/// it and restoring brings it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Link {
    pub group: Uuid,
    pub relation: Relation,
    pub member: Uuid,
    pub member_kind: ObjectKind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TenantRecord {
    pub id: Uuid,
    pub display_name: String,
    /// The domain the tenant was created with, e.g. `contoso.gatehouse.test`.
    pub initial_domain: String,
    /// The domain Graph shows as the default (`isDefault`): the initial one until another is chosen.
    pub default_domain: String,
    /// All verified domains, the initial one included, lower-cased.
    pub domains: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// The organization's own settings, by Graph name: `countryLetterCode` (always set), `preferredLanguage`,
    /// the notification mails and phones, `privacyProfile`.
    pub organization: Map<String, Value>,
    /// The version of `organization`, for optimistic concurrency.
    pub version: i64,
}

/// A domain of a tenant, verified or not. A verified domain belongs to one tenant of the deployment, and
/// names it in URLs; an unverified one may be added by several.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainRecord {
    /// Lower-cased.
    pub name: String,
    pub verified: bool,
    /// The DNS TXT record that proves ownership (`MS=ms12345678`); none for a domain the tenant was made with.
    pub code: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A directory object: its searchable keys as columns, the rest of its properties as a document.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRecord {
    pub id: Uuid,
    pub kind: ObjectKind,
    pub version: i64,
    /// The folded unique value of the kind (a user's UPN, an application's or service principal's appId).
    pub unique_key: Option<String>,
    /// The user's manager (users only).
    pub manager: Option<Uuid>,
    /// Every other property, by its Graph name.
    pub doc: Map<String, Value>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl ObjectRecord {
    /// An object that is not stored (no id yet): a document read as the directory would hold it, to be
    /// shown or mapped the way a stored one is.
    pub fn unsaved(kind: ObjectKind, doc: Map<String, Value>) -> ObjectRecord {
        ObjectRecord {
            id: Uuid::nil(),
            kind,
            version: 1,
            unique_key: None,
            manager: None,
            doc,
            created_at: Utc::now(),
            deleted_at: None,
        }
    }
}

/// A client secret of an application, stored only as a SHA-256 digest.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRecord {
    /// The application's object id.
    pub owner: Uuid,
    pub key_id: Uuid,
    pub digest: String,
    pub hint: String,
    pub display_name: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppRoleAssignmentRecord {
    pub id: Uuid,
    /// The user, group or service principal that holds the role.
    pub principal: Uuid,
    /// The service principal of the resource that defines the role (e.g. Microsoft Graph's).
    pub resource: Uuid,
    pub app_role_id: Uuid,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// The PKCS#8 private key, sealed with the deployment's master key.
    pub sealed_private_key: String,
    pub created_at: DateTime<Utc>,
}

/// A refresh-token family: the refresh tokens issued from one sign-in of a user to a client, each use
/// rotating it to the next generation. The tokens themselves are not stored: each carries its family,
/// generation and a MAC made with the master key, so the store holds nothing a token could be rebuilt from.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshFamilyRecord {
    pub id: Uuid,
    pub user: Uuid,
    /// The client's app id.
    pub client: Uuid,
    /// The scopes granted, space-separated.
    pub scopes: String,
    /// The generation of the one token of the family that may be used now.
    pub generation: i64,
    /// When the person authenticated, and how (`amr` values, space-separated).
    pub auth_time: DateTime<Utc>,
    pub methods: String,
    /// When the current token stops working unless used (a sliding lifetime).
    pub expires_at: DateTime<Utc>,
    /// Whether each use extends the lifetime; a single-page app's family lives a fixed 24 hours.
    pub sliding: bool,
    pub revoked: bool,
}

/// An authorization code: what a sign-in at the pages granted, until the client redeems it once. Only the
/// code's digest is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationCodeRecord {
    /// SHA-256 of the code, hex.
    pub digest: String,
    /// The client's app id.
    pub client: Uuid,
    pub redirect_uri: String,
    pub user: Uuid,
    /// The scopes granted, space-separated.
    pub scopes: String,
    pub nonce: Option<String>,
    /// PKCE's `code_challenge` and its method (`S256` or `plain`).
    pub challenge: Option<String>,
    pub challenge_method: Option<String>,
    pub auth_time: DateTime<Utc>,
    pub methods: String,
    pub expires_at: DateTime<Utc>,
    /// The refresh-token family the redemption starts, named in advance so a replayed code can revoke it.
    pub family: Uuid,
    pub redeemed: bool,
}

/// A user's smart-lockout state: a document of the sign-in pipeline's own making (failures, lockouts and the
/// source addresses the user signed in from), and its version for compare-and-set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutRecord {
    pub state: String,
    pub version: i64,
}

/// A user as a sign-in names them: by object id, or by user principal name (folded to lower case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserName<'a> {
    Id(Uuid),
    Principal(&'a str),
}

/// A user's password hash (none if they have no password) and smart-lockout state (none if they never
/// mistyped it), as a password check reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordEntry {
    pub hash: Option<String>,
    pub lockout: Option<LockoutRecord>,
}

/// A tenant's Conditional Access policies and named locations (`{"policies": […], "namedLocations": […]}`),
/// and their version for compare-and-set.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionalAccessRecord {
    pub doc: Map<String, Value>,
    pub version: i64,
}

/// A device code (the device authorization grant): a device asks, a person approves at the device login
/// page, the device polls for its tokens. Only the device code's digest is stored; the user code is short
/// and shown to the person.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceCodeRecord {
    /// SHA-256 of the device code, hex.
    pub digest: String,
    pub user_code: String,
    /// The client's app id.
    pub client: Uuid,
    /// The `scope` parameter as asked.
    pub scope: String,
    pub expires_at: DateTime<Utc>,
    /// `pending`, `approved`, `declined` or `redeemed`.
    pub status: String,
    /// Who approved, when they signed in and how; and the scopes granted.
    pub user: Option<Uuid>,
    pub auth_time: Option<DateTime<Utc>>,
    pub methods: String,
    pub scopes: String,
}

/// A delegated permission grant (Graph's `oauth2PermissionGrant`): a client may act for the users it covers
/// with these scopes of a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionGrantRecord {
    pub id: Uuid,
    /// The client's service principal.
    pub client: Uuid,
    /// `None` for consent on behalf of every user (`AllPrincipals`), else the one user (`Principal`).
    pub principal: Option<Uuid>,
    /// The resource's service principal (Microsoft Graph's for Graph scopes).
    pub resource: Uuid,
    /// Space-separated scope values.
    pub scope: String,
    pub created_at: DateTime<Utc>,
}

/// One write of a use case. A batch of them commits atomically.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    CreateTenant(TenantRecord),
    /// Replaces the organization's settings of the batch's tenant; `VersionMismatch` when they moved on from
    /// `expected_version`.
    UpdateOrganization {
        organization: Map<String, Value>,
        /// The settings as they were, for the audit log.
        previous: Map<String, Value>,
        expected_version: i64,
        attributes: Vec<String>,
    },
    /// Adds a domain to the batch's tenant; a verified one fails with `Conflict` when another tenant holds it.
    AddDomain(DomainRecord),
    /// Marks an unverified domain verified (`Missing` when there is none); `Conflict` when another tenant
    /// verified it first.
    VerifyDomain {
        name: String,
    },
    /// Makes a verified domain the default one; `Missing` when the tenant has no such verified domain.
    SetDefaultDomain {
        name: String,
    },
    /// Removes a domain; fails with `Conflict("in use")` while it is the initial or default domain, has
    /// subdomains, or is the domain of a live or deleted user's or group's `userPrincipalName`, `mail` or
    /// `proxyAddresses` (also when the tenant has no such domain).
    RemoveDomain {
        name: String,
    },
    InsertObject(ObjectRecord),
    /// Made by [`Write::update`].
    UpdateObject {
        object: ObjectRecord,
        expected_version: i64,
        attributes: Vec<String>,
        /// The values of `attributes` before the update (those set), for the audit log.
        previous: Map<String, Value>,
        /// The object's query values as stored before the update, when the use case has them: only the
        /// difference is then written. `None` rewrites them all.
        before: Option<Vec<(String, String)>>,
    },
    /// Moves the object to deleted items and suspends every link at either end of it; `links` are those
    /// links, as read before, each logged as suspended.
    SoftDelete {
        kind: ObjectKind,
        id: Uuid,
        at: DateTime<Utc>,
        links: Vec<Link>,
        /// Only while the object is at this version (`Missing` otherwise), when one is named.
        version: Option<i64>,
    },
    /// Brings the object back with its suspended links whose other end is live (`links`, logged as
    /// resumed).
    Restore {
        kind: ObjectKind,
        id: Uuid,
        links: Vec<Link>,
    },
    /// Adds a member or owner. A group added as a member must not contain the group it joins, directly or
    /// through nesting: checked inside the transaction, after the tenant's write lock (every batch takes it
    /// first, with its change sequence), so two concurrent adds cannot close a cycle; a cycle fails the batch
    /// with `Conflict("cycle")`.
    AddLink(Link),
    /// Removes an active member or owner; `Missing` when there is none.
    RemoveLink(Link),
    /// Adds many links whose members are not groups (so no cycle can close), in few statements; each is
    /// logged as one `AddLink` is.
    AddLinks(Vec<Link>),
    /// Removes many active links, each logged as one `RemoveLink` is; links already gone are skipped.
    RemoveLinks(Vec<Link>),
    /// Removes the object and everything that hangs off it (credentials, assignments, links).
    Purge {
        kind: ObjectKind,
        id: Uuid,
    },
    SetPassword {
        user: Uuid,
        hash: String,
    },
    /// Replaces a password's hash with one of the same password made with today's parameters. Logs no
    /// change: the password is the same.
    RehashPassword {
        user: Uuid,
        hash: String,
    },
    AddSecret(SecretRecord),
    RemoveSecret {
        owner: Uuid,
        key_id: Uuid,
    },
    /// Assigns an app role. Logs the assignment, naming its principal and resource.
    AddAppRoleAssignment(AppRoleAssignmentRecord),
    /// Removes an assignment (of `principal` to a role of `resource`). Logs its removal, naming both.
    RemoveAppRoleAssignment {
        id: Uuid,
        principal: Uuid,
        resource: Uuid,
    },
    AddSigningKey(SigningKeyRecord),
    /// Replaces the tenant's Conditional Access document (`previous`, empty when it has none yet, and
    /// `expected_version` 0). `VersionMismatch` when it moved on. Logs a change of each policy and named
    /// location added, changed or removed ([`audit::conditional_access_changes`]).
    SetConditionalAccess {
        doc: Map<String, Value>,
        previous: Map<String, Value>,
        expected_version: i64,
    },
    /// Appends sign-in attempts to the tenant's sign-in log. Logs no change.
    LogSignIns(Vec<SignInRecord>),
    /// Puts a message in the tenant's outbox. Logs no change.
    QueueMail(MailRecord),
    /// Claims a pending message for delivery until `until`, counting an attempt; `VersionMismatch` when
    /// its attempts moved on from `attempts` or another node's claim still runs at `now`. Logs no change.
    ClaimMail {
        id: Uuid,
        attempts: i64,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// Ends a claimed message's attempt: sent at `sent` (when `Some`), else failed with `error`, to be tried
    /// again at `retry_at` or (`None`) given up on. Logs no change.
    EndMailAttempt {
        id: Uuid,
        sent: Option<DateTime<Utc>>,
        error: Option<String>,
        retry_at: Option<DateTime<Utc>>,
    },
    /// Shares a resource by a new link. Logs the link's creation.
    CreateSharingLink(SharingLinkRecord),
    /// Revokes a link at `at`; `Missing` when it is revoked already or does not exist. Logs its removal.
    RevokeSharingLink {
        id: Uuid,
        at: DateTime<Utc>,
    },
    /// Counts a use of a link by `by` (an address, or `anonymous`) at `at`; `Missing` when the link was
    /// revoked or expired meanwhile, so that no use slips past a revocation. Logs the use.
    UseSharingLink {
        id: Uuid,
        by: String,
        at: DateTime<Utc>,
    },
    /// Writes a provisioning job: a new one when `expected` is 0, else only while it is at that version
    /// (`VersionMismatch` when it moved on); its version moves by one. Logs no change (a job's progress
    /// must not feed its own change stream).
    PutProvisioningJob {
        job: ProvisioningJobRecord,
        expected: i64,
    },
    /// Removes a job and what it recorded of the objects it provisioned (its log stays). Logs no change.
    DeleteProvisioningJob {
        id: Uuid,
    },
    /// Records (or replaces) what a job made of an object. Logs no change.
    SetProvisioned(ProvisionedRecord),
    /// Forgets what a job made of an object. Logs no change.
    ForgetProvisioned {
        job: Uuid,
        object: Uuid,
    },
    /// Appends to the provisioning log. Logs no change.
    LogProvisioning(Vec<ProvisioningLogRecord>),
    /// Forgets the tenant's sign-in log before `before`. Logs no change.
    PurgeSignIns {
        before: DateTime<Utc>,
    },
    /// Records a fact of the whole deployment under `name`, once: fails with `Conflict` if it is recorded
    /// already (the first tenant is claimed so, so that nodes starting together on an empty database make one).
    /// Logs no change.
    ClaimDeployment {
        name: String,
        value: String,
    },
    /// Takes (or renews) the lease of a change-log processor for `holder` until `until`; fails with
    /// `Conflict("lease")` while another holder's lease runs. Logs no change.
    ClaimProcessor {
        name: String,
        holder: String,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// Moves a processor's cursor from `from` to `to` while `holder` holds it; fails with
    /// `Conflict("cursor")` otherwise, so no change is applied twice. Logs no change.
    AdvanceProcessor {
        name: String,
        holder: String,
        from: i64,
        to: i64,
    },
    /// Records a dynamic group's processing status. Logs no change.
    SetDynamicStatus(DynamicStatusRecord),
    /// Fails the batch with `Conflict("seats")` when, with its other writes applied, more live users hold
    /// the SKU than `capacity`. Batches take the tenant's write lock first, so concurrent assignments serialize.
    /// Logs no change.
    CheckSeats {
        sku: Uuid,
        capacity: u64,
    },
    /// Starts a refresh-token family. Logs no change.
    StartRefreshFamily(RefreshFamilyRecord),
    /// Moves a live family from generation `from` to the next, with a new expiry; fails with
    /// `Conflict("generation")` when it is revoked or has moved on (the token was used already). Logs no change.
    RotateRefreshFamily {
        id: Uuid,
        from: i64,
        expires_at: DateTime<Utc>,
    },
    /// Revokes a refresh-token family (an old token was used again). Logs no change.
    RevokeRefreshFamily {
        id: Uuid,
    },
    /// Records an authorization code. Logs no change.
    CreateCode(AuthorizationCodeRecord),
    /// Marks a code redeemed; fails with `Conflict("redeemed")` when it was redeemed already. Logs no change.
    RedeemCode {
        digest: String,
    },
    /// Records a device code. Logs no change.
    CreateDeviceCode(DeviceCodeRecord),
    /// Approves (with who, when, how and the scopes granted) or declines a pending device code; fails with
    /// `Conflict("decided")` unless it is pending. Logs no change.
    DecideDeviceCode {
        user_code: String,
        approval: Option<(Uuid, DateTime<Utc>, String, String)>,
    },
    /// Marks an approved device code redeemed; fails with `Conflict("redeemed")` unless it is approved.
    /// Logs no change.
    RedeemDeviceCode {
        digest: String,
    },
    /// Sets a user's smart-lockout state: inserts it (`expected_version` none; `Conflict` when another sign-in
    /// inserted it first) or replaces the version read (`Conflict` when it changed since). Logs no change.
    SetLockout {
        user: Uuid,
        state: String,
        expected_version: Option<i64>,
    },
    /// Records a client assertion's `jti` until it expires, and forgets the tenant's expired ones; fails
    /// with `Conflict` when the client used it already. Logs no change.
    UseAssertion {
        client: Uuid,
        jti: String,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// Adds a delegated permission grant; `Conflict` when the client already has one for the same resource
    /// and principal.
    AddPermissionGrant(PermissionGrantRecord),
    /// Replaces a grant's scopes; `Missing` when there is no such grant.
    UpdatePermissionGrant {
        id: Uuid,
        scope: String,
    },
    /// Removes a grant; `Missing` when there is none.
    RemovePermissionGrant {
        id: Uuid,
    },
}

/// Where the processing of a dynamic group stands.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicStatusRecord {
    pub group: Uuid,
    /// `NotStarted`, `Running`, `Succeeded`, `Failed` or `Paused`.
    pub status: String,
    /// When the membership last changed.
    pub updated_at: DateTime<Utc>,
    /// When the whole rule was last evaluated.
    pub evaluated_at: DateTime<Utc>,
    pub error: Option<String>,
}

impl Write {
    /// The update of an object read as `current` to `object`, which changed `attributes`.
    pub fn update(current: &ObjectRecord, object: ObjectRecord, attributes: Vec<String>) -> Write {
        Write::update_indexed(current, object, attributes, None)
    }

    /// [`Write::update`] with the object's query values as stored before (`before`).
    pub fn update_indexed(
        current: &ObjectRecord,
        object: ObjectRecord,
        attributes: Vec<String>,
        before: Option<Vec<(String, String)>>,
    ) -> Write {
        let previous =
            attributes.iter().filter_map(|name| Some((name.clone(), current.doc.get(name)?.clone()))).collect();
        Write::UpdateObject { object, expected_version: current.version, attributes, previous, before }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A unique value is taken; the string names what.
    Conflict(String),
    /// An update's expected version is stale, or its object is gone.
    VersionMismatch,
    /// The batch refers to an object that does not exist.
    Missing,
    /// The database failed; the string is for the log only.
    Unavailable(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Conflict(what) => write!(f, "conflict on {what}"),
            StoreError::VersionMismatch => f.write_str("version mismatch"),
            StoreError::Missing => f.write_str("missing object"),
            StoreError::Unavailable(cause) => write!(f, "store unavailable: {cause}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// A store failure where the use case expects none: the store being unreachable (or out of space) is `503`
/// with `Retry-After`, which clients retry; anything else is an internal error. The cause goes to the log.
impl From<StoreError> for crate::kernel::error::Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => {
                tracing::error!(%cause, "the store is unavailable");
                crate::kernel::error::Error::unavailable("The directory is unavailable right now; try again later.", 5)
            }
            other => crate::kernel::error::Error::internal(other),
        }
    }
}

pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// The folded key a list ordered by display name sorts on.
pub fn sort_name(record: &ObjectRecord) -> String {
    crate::kernel::text::fold(record.doc.get("displayName").and_then(serde_json::Value::as_str).unwrap_or_default())
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies the batch atomically, with its change records, each noting `by` as the initiator; returns the
    /// last sequence number.
    async fn commit_by(
        &self,
        tenant: Uuid,
        writes: Vec<Write>,
        at: DateTime<Utc>,
        by: audit::Initiator,
    ) -> StoreResult<i64>;

    /// [`Store::commit_by`] Gatehouse itself.
    async fn commit(&self, tenant: Uuid, writes: Vec<Write>, at: DateTime<Utc>) -> StoreResult<i64> {
        self.commit_by(tenant, writes, at, audit::Initiator::System).await
    }

    async fn tenants(&self) -> StoreResult<Vec<TenantRecord>>;
    /// A tenant by its id or any of its domains (case-insensitive).
    async fn tenant(&self, id_or_domain: &str) -> StoreResult<Option<TenantRecord>>;
    /// A tenant's domains, verified or not, by name.
    async fn domains(&self, tenant: Uuid) -> StoreResult<Vec<DomainRecord>>;

    /// An object by id, live or soft-deleted.
    async fn object(&self, tenant: Uuid, kind: ObjectKind, id: Uuid) -> StoreResult<Option<ObjectRecord>>;
    /// The objects of any kind with these ids, live or soft-deleted, in no particular order; in one round
    /// trip (a request that names several objects reads them together).
    async fn any_objects(&self, tenant: Uuid, ids: &[Uuid]) -> StoreResult<Vec<ObjectRecord>>;
    /// A live object by its folded unique key.
    async fn object_by_key(&self, tenant: Uuid, kind: ObjectKind, key: &str) -> StoreResult<Option<ObjectRecord>>;
    /// The live objects of any of the kinds with the folded unique key, in one round trip (an
    /// application and its service principal share their appId).
    async fn objects_by_key(&self, tenant: Uuid, kinds: &[ObjectKind], key: &str) -> StoreResult<Vec<ObjectRecord>>;
    async fn objects(&self, tenant: Uuid, query: &ObjectQuery) -> StoreResult<Vec<ObjectRecord>>;
    /// The ids and kinds of the objects [`Store::objects`] would return, without reading their documents.
    async fn object_ids(&self, tenant: Uuid, query: &ObjectQuery) -> StoreResult<Vec<(Uuid, ObjectKind)>>;
    /// How many objects the query selects, all pages together (its cursor and limit are ignored).
    async fn count(&self, tenant: Uuid, query: &ObjectQuery) -> StoreResult<u64>;

    async fn password_hash(&self, tenant: Uuid, user: Uuid) -> StoreResult<Option<String>>;
    /// The client secrets of any of the owners (an application and its service principal).
    async fn secrets(&self, tenant: Uuid, owners: &[Uuid]) -> StoreResult<Vec<SecretRecord>>;
    async fn app_role_assignments(&self, tenant: Uuid, principal: Uuid) -> StoreResult<Vec<AppRoleAssignmentRecord>>;
    /// The assignments of a resource's app roles, oldest first.
    async fn app_role_assignments_to(&self, tenant: Uuid, resource: Uuid) -> StoreResult<Vec<AppRoleAssignmentRecord>>;
    async fn signing_keys(&self, tenant: Uuid) -> StoreResult<Vec<SigningKeyRecord>>;
    async fn refresh_family(&self, tenant: Uuid, id: Uuid) -> StoreResult<Option<RefreshFamilyRecord>>;
    async fn authorization_code(&self, tenant: Uuid, digest: &str) -> StoreResult<Option<AuthorizationCodeRecord>>;
    /// A device code by its digest or by its user code.
    async fn device_code(&self, tenant: Uuid, digest_or_user_code: &str) -> StoreResult<Option<DeviceCodeRecord>>;
    /// A user's smart-lockout state, if they ever mistyped their password.
    async fn lockout(&self, tenant: Uuid, user: Uuid) -> StoreResult<Option<LockoutRecord>>;
    /// The live user a sign-in names, with what checking their password reads (its hash and their lockout
    /// state), in one round trip.
    async fn password_user(
        &self,
        tenant: Uuid,
        name: UserName<'_>,
    ) -> StoreResult<Option<(ObjectRecord, PasswordEntry)>>;
    /// The tenant's delegated permission grants, oldest first; only the client's when `client` is given.
    async fn permission_grants(&self, tenant: Uuid, client: Option<Uuid>) -> StoreResult<Vec<PermissionGrantRecord>>;
    /// The links at either end of an object: the active ones, or (`active` false) the suspended ones whose
    /// other end is live.
    async fn links(&self, tenant: Uuid, object: Uuid, active: bool) -> StoreResult<Vec<Link>>;
    /// The active member links of the objects: the groups each is a direct member of.
    async fn memberships(&self, tenant: Uuid, members: &[Uuid]) -> StoreResult<Vec<Link>>;
    /// Whether the link exists and is active.
    async fn has_link(&self, tenant: Uuid, link: &Link) -> StoreResult<bool>;
    /// How far a change-log processor has come: the last sequence number it applied (0 before it starts).
    async fn processor_seq(&self, tenant: Uuid, name: &str) -> StoreResult<i64>;
    async fn dynamic_status(&self, tenant: Uuid, group: Uuid) -> StoreResult<Option<DynamicStatusRecord>>;
    /// How many live objects hold the folded value of a counted property (users holding a product).
    async fn value_count(&self, tenant: Uuid, property: &str, value: &str) -> StoreResult<u64>;

    async fn changes(&self, tenant: Uuid, after: i64, limit: u32) -> StoreResult<Vec<ChangeRecord>>;

    /// Pending messages of the tenant's outbox due at `now` and claimed by no node, oldest first.
    async fn due_mail(&self, tenant: Uuid, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<MailRecord>>;

    /// The tenants whose outbox holds a pending message due at `now` (for the delivery loop of the whole
    /// deployment, which so asks every tenant's outbox only when it has something to send).
    async fn tenants_with_due_mail(&self, now: DateTime<Utc>) -> StoreResult<Vec<Uuid>>;

    /// The tenant's outbox, newest first: messages in `state` (any when `None`).
    async fn mail(&self, tenant: Uuid, state: Option<MailState>, limit: u32) -> StoreResult<Vec<MailRecord>>;

    /// The change records the directory audit log shows, newest first.
    async fn audits(&self, tenant: Uuid, query: &audit::AuditQuery) -> StoreResult<Vec<audit::AuditRecord>>;
    /// The sequence number of the tenant's last change record (0 before the first).
    async fn last_change(&self, tenant: Uuid) -> StoreResult<i64>;
    /// Soft-deleted objects, of every tenant, deleted before the cutoff.
    async fn deleted_before(&self, cutoff: DateTime<Utc>, limit: u32) -> StoreResult<Vec<(Uuid, ObjectKind, Uuid)>>;

    /// The tenant's sharing links, newest first: those of one resource, or all.
    async fn sharing_links(&self, tenant: Uuid, resource: Option<Uuid>) -> StoreResult<Vec<SharingLinkRecord>>;
    async fn sharing_link(&self, tenant: Uuid, id: Uuid) -> StoreResult<Option<SharingLinkRecord>>;

    /// The tenant's provisioning jobs, oldest first: those of one service principal, or all.
    async fn provisioning_jobs(
        &self,
        tenant: Uuid,
        service_principal: Option<Uuid>,
    ) -> StoreResult<Vec<ProvisioningJobRecord>>;
    async fn provisioning_job(&self, tenant: Uuid, id: Uuid) -> StoreResult<Option<ProvisioningJobRecord>>;
    /// Jobs of every tenant due at `now` and not held by a running lease, as (tenant, job).
    async fn due_provisioning_jobs(&self, now: DateTime<Utc>) -> StoreResult<Vec<(Uuid, Uuid)>>;
    /// What a job made of these objects (those it made anything of).
    async fn provisioned(&self, tenant: Uuid, job: Uuid, objects: &[Uuid]) -> StoreResult<Vec<ProvisionedRecord>>;
    /// The provisioning log, newest first.
    async fn provisioning_log(
        &self,
        tenant: Uuid,
        query: &ProvisioningLogQuery,
    ) -> StoreResult<Vec<ProvisioningLogRecord>>;

    /// The tenant's Conditional Access document, if it has one.
    async fn conditional_access(&self, tenant: Uuid) -> StoreResult<Option<ConditionalAccessRecord>>;
    /// The version of the tenant's Conditional Access document (0 when it has none), read without it.
    async fn conditional_access_version(&self, tenant: Uuid) -> StoreResult<i64>;
    /// The tenant's sign-in log, newest first.
    async fn sign_ins(&self, tenant: Uuid, query: &SignInQuery) -> StoreResult<Vec<SignInRecord>>;

    /// A fact of the whole deployment, recorded by [`Write::ClaimDeployment`].
    async fn deployment(&self, name: &str) -> StoreResult<Option<String>>;

    /// Succeeds when the database answers.
    async fn ping(&self) -> StoreResult<()>;
}
