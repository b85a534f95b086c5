//! Versioned, forward-only schema migrations, identical in meaning on both engines.
//!
//! The SQL is written once; `{text_c}` stands for a text column that compares byte-wise (PostgreSQL's
//! `COLLATE "C"`; SQLite's default), so keyset paging by id orders the same way on both engines whatever
//! locale the PostgreSQL database was created with.
//!
//! Migration 2 adds `object_values`: one row per (object, filterable property, folded value), which
//! `$filter` and `$search` compile against (`docs/design/0002-queries.md`). Migration 3 adds
//! `object_counts`, kept in the same transactions as the objects, so an unfiltered `$count` is one row.
//! Migration 4 adds `links`: group members and owners, suspended (`active = 0`) while either end is deleted.
//! Migration 5 adds `processors` (each change-log follower's cursor and lease) and `dynamic_status` (each
//! dynamic group's processing state); users are re-indexed for the values rules read. Migration 6 adds
//! `value_counts`: how many live objects hold each counted value (the users holding each product). Migration 9
//! is empty: an index of objects by creation time (for `$orderby=createdDateTime`) was taken by PostgreSQL's
//! generic plans for lookups by tenant, kind and id, walking every object of the kind (4,000 reads a second
//! against 12,000 at 5,000 users); an ordered list sorts what its filter selects instead. Migration 10 adds
//! `deployment`: facts of the whole deployment, each recorded once (which tenant the first start made).
//! Migration 11 gives tenants their organization's settings (a JSON document with its version); tenants made before it are in the US and speak
//! English. Migration 12 adds `tenant_domains`: every domain of a tenant, verified or not, with its
//! verification code, and the tenant's default domain; `domains` keeps mapping verified domains, each held by
//! one tenant, to their tenant. Migration 13 adds `refresh_families` (refresh tokens, one row per sign-in,
//! never the tokens themselves), `authorization_codes` and `device_codes` (their digests), `client_assertions` (the `jti`s seen, until they expire) and `permission_grants` (delegated consent; `principal_id` is empty for
//! consent on behalf of everyone, so the unique index holds for it too).

use gatehouse_core::store::ObjectKind;

pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE tenants (
    id {text_c} PRIMARY KEY,
    display_name TEXT NOT NULL,
    initial_domain TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    change_seq BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE domains (
    name {text_c} PRIMARY KEY,
    tenant_id {text_c} NOT NULL REFERENCES tenants (id)
);
CREATE INDEX domains_tenant ON domains (tenant_id);
CREATE TABLE objects (
    tenant_id {text_c} NOT NULL REFERENCES tenants (id),
    id {text_c} NOT NULL,
    kind {text_c} NOT NULL,
    version BIGINT NOT NULL,
    unique_key {text_c},
    manager_id {text_c},
    doc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX objects_live_unique ON objects (tenant_id, kind, unique_key)
    WHERE deleted_at IS NULL AND unique_key IS NOT NULL;
CREATE INDEX objects_by_kind ON objects (tenant_id, kind, id);
CREATE INDEX objects_by_manager ON objects (tenant_id, manager_id, id) WHERE manager_id IS NOT NULL;
CREATE INDEX objects_deleted ON objects (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE TABLE passwords (
    tenant_id {text_c} NOT NULL,
    user_id {text_c} NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE TABLE client_secrets (
    tenant_id {text_c} NOT NULL,
    owner_id {text_c} NOT NULL,
    key_id {text_c} NOT NULL,
    digest TEXT NOT NULL,
    hint TEXT NOT NULL,
    display_name TEXT,
    start_at BIGINT NOT NULL,
    end_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, owner_id, key_id)
);
CREATE TABLE app_role_assignments (
    tenant_id {text_c} NOT NULL,
    id {text_c} NOT NULL,
    principal_id {text_c} NOT NULL,
    resource_id {text_c} NOT NULL,
    app_role_id {text_c} NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX app_role_assignments_unique ON app_role_assignments (tenant_id, principal_id, resource_id, app_role_id);
CREATE INDEX app_role_assignments_resource ON app_role_assignments (tenant_id, resource_id);
CREATE TABLE signing_keys (
    tenant_id {text_c} NOT NULL,
    kid {text_c} NOT NULL,
    sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kid)
);
CREATE TABLE change_log (
    tenant_id {text_c} NOT NULL,
    seq BIGINT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    attributes TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
"#,
    ),
    (
        2,
        r#"
CREATE TABLE object_values (
    tenant_id {text_c} NOT NULL,
    object_id {text_c} NOT NULL,
    property {text_c} NOT NULL,
    value {text_c} NOT NULL,
    PRIMARY KEY (tenant_id, property, value, object_id)
);
CREATE INDEX object_values_by_object ON object_values (tenant_id, object_id);
ALTER TABLE objects ADD COLUMN sort_name {text_c} NOT NULL DEFAULT '';
CREATE INDEX objects_by_name ON objects (tenant_id, kind, sort_name, id);
CREATE INDEX objects_by_key_order ON objects (tenant_id, kind, unique_key, id);
"#,
    ),
    (
        3,
        r#"
CREATE TABLE object_counts (
    tenant_id {text_c} NOT NULL,
    kind {text_c} NOT NULL,
    deleted BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, deleted)
);
INSERT INTO object_counts (tenant_id, kind, deleted, n)
    SELECT tenant_id, kind, CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END, COUNT(*) FROM objects
    GROUP BY tenant_id, kind, CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END;
"#,
    ),
    (
        4,
        r#"
CREATE TABLE links (
    tenant_id {text_c} NOT NULL,
    group_id {text_c} NOT NULL,
    relation {text_c} NOT NULL,
    member_id {text_c} NOT NULL,
    member_kind {text_c} NOT NULL,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, relation, member_id)
);
CREATE INDEX links_by_member ON links (tenant_id, member_id, relation, group_id);
"#,
    ),
    (
        5,
        r#"
CREATE TABLE processors (
    tenant_id {text_c} NOT NULL,
    name {text_c} NOT NULL,
    seq BIGINT NOT NULL,
    holder {text_c} NOT NULL,
    lease_until BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE TABLE dynamic_status (
    tenant_id {text_c} NOT NULL,
    group_id {text_c} NOT NULL,
    status {text_c} NOT NULL,
    updated_at BIGINT NOT NULL,
    evaluated_at BIGINT NOT NULL,
    error TEXT,
    PRIMARY KEY (tenant_id, group_id)
);
"#,
    ),
    (
        6,
        r#"
CREATE TABLE value_counts (
    tenant_id {text_c} NOT NULL,
    property {text_c} NOT NULL,
    value {text_c} NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, property, value)
);
INSERT INTO value_counts (tenant_id, property, value, n)
    SELECT v.tenant_id, v.property, v.value, COUNT(*) FROM object_values v
    JOIN objects o ON o.tenant_id = v.tenant_id AND o.id = v.object_id
    WHERE v.property = 'assignedLicenses' AND o.deleted_at IS NULL
    GROUP BY v.tenant_id, v.property, v.value;
"#,
    ),
    (7, "-- Applications and service principals become queryable: their values are indexed after this version."),
    (8, "-- Date-times are indexed in UTC as written by the directory (they were folded to lower case)."),
    (9, "-- Left empty: an index by creation time was taken by PostgreSQL's generic plans for lookups by id."),
    (10, "CREATE TABLE deployment (name {text_c} PRIMARY KEY, value TEXT NOT NULL);"),
    (
        11,
        r#"
ALTER TABLE tenants ADD COLUMN organization TEXT NOT NULL DEFAULT '{"countryLetterCode":"US","preferredLanguage":"en"}';
ALTER TABLE tenants ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
"#,
    ),
    (
        12,
        r#"
ALTER TABLE tenants ADD COLUMN default_domain {text_c} NOT NULL DEFAULT '';
UPDATE tenants SET default_domain = initial_domain;
CREATE TABLE tenant_domains (
    tenant_id {text_c} NOT NULL REFERENCES tenants (id),
    name {text_c} NOT NULL,
    verified BIGINT NOT NULL,
    code TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
INSERT INTO tenant_domains (tenant_id, name, verified, code, created_at)
    SELECT d.tenant_id, d.name, 1, NULL, t.created_at FROM domains d JOIN tenants t ON t.id = d.tenant_id;
"#,
    ),
    (
        13,
        r#"
CREATE TABLE refresh_families (
    tenant_id {text_c} NOT NULL REFERENCES tenants (id),
    id {text_c} NOT NULL,
    user_id {text_c} NOT NULL,
    client_id {text_c} NOT NULL,
    scopes TEXT NOT NULL,
    generation BIGINT NOT NULL,
    auth_time BIGINT NOT NULL,
    methods TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    sliding BIGINT NOT NULL,
    revoked BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE permission_grants (
    tenant_id {text_c} NOT NULL REFERENCES tenants (id),
    id {text_c} NOT NULL,
    client_id {text_c} NOT NULL,
    principal_id {text_c} NOT NULL,
    resource_id {text_c} NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX permission_grants_unique ON permission_grants (tenant_id, client_id, resource_id, principal_id);
CREATE TABLE authorization_codes (
    tenant_id {text_c} NOT NULL REFERENCES tenants (id),
    digest {text_c} NOT NULL,
    client_id {text_c} NOT NULL,
    redirect_uri TEXT NOT NULL,
    user_id {text_c} NOT NULL,
    scopes TEXT NOT NULL,
    nonce TEXT,
    challenge TEXT,
    challenge_method TEXT,
    auth_time BIGINT NOT NULL,
    methods TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    family_id {text_c} NOT NULL,
    redeemed BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, digest)
);
CREATE TABLE device_codes (
    tenant_id {text_c} NOT NULL REFERENCES tenants (id),
    digest {text_c} NOT NULL,
    user_code {text_c} NOT NULL,
    client_id {text_c} NOT NULL,
    scope TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    status {text_c} NOT NULL,
    user_id {text_c},
    auth_time BIGINT,
    methods TEXT NOT NULL,
    scopes TEXT NOT NULL,
    PRIMARY KEY (tenant_id, digest)
);
CREATE UNIQUE INDEX device_codes_user_code ON device_codes (tenant_id, user_code);
CREATE TABLE client_assertions (
    tenant_id {text_c} NOT NULL REFERENCES tenants (id),
    client_id {text_c} NOT NULL,
    jti {text_c} NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, client_id, jti)
);
"#,
    ),
    (14, "-- Directory role holders become queryable: the roles they hold are indexed after this version."),
    (
        15,
        r#"
CREATE TABLE sign_in_lockouts (
    tenant_id {text_c} NOT NULL REFERENCES tenants (id),
    user_id {text_c} NOT NULL,
    state TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
"#,
    ),
    (
        16,
        r#"
CREATE TABLE sign_ins (
    tenant_id {text_c} NOT NULL REFERENCES tenants (id),
    id {text_c} NOT NULL,
    created_at BIGINT NOT NULL,
    user_id {text_c},
    user_principal_name {text_c} NOT NULL,
    app_id {text_c},
    error_code BIGINT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX sign_ins_by_time ON sign_ins (tenant_id, created_at, id);
CREATE INDEX sign_ins_by_user ON sign_ins (tenant_id, user_id, created_at);
CREATE TABLE conditional_access (
    tenant_id {text_c} NOT NULL PRIMARY KEY REFERENCES tenants (id),
    doc TEXT NOT NULL,
    version BIGINT NOT NULL
);
"#,
    ),
    (
        17,
        r#"
ALTER TABLE change_log ADD COLUMN actor TEXT;
ALTER TABLE change_log ADD COLUMN batch BIGINT;
ALTER TABLE change_log ADD COLUMN category TEXT;
ALTER TABLE change_log ADD COLUMN activity TEXT;
ALTER TABLE change_log ADD COLUMN service TEXT;
ALTER TABLE change_log ADD COLUMN detail TEXT;
"#,
    ),
    (
        18,
        r#"
CREATE TABLE mail_outbox (
    tenant_id {text_c} NOT NULL REFERENCES tenants (id),
    id {text_c} NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX mail_outbox_due ON mail_outbox (tenant_id, state, next_attempt_at);
CREATE INDEX mail_outbox_pending ON mail_outbox (state, next_attempt_at, tenant_id);
"#,
    ),
    (
        19,
        r#"
CREATE TABLE sharing_links (
    tenant_id {text_c} NOT NULL REFERENCES tenants (id),
    id {text_c} NOT NULL,
    resource_id {text_c} NOT NULL,
    shared_by TEXT NOT NULL,
    recipient TEXT,
    access TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    uses BIGINT NOT NULL,
    last_used_at BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX sharing_links_resource ON sharing_links (tenant_id, resource_id, created_at);
"#,
    ),
    (
        20,
        r#"
CREATE TABLE provisioning_jobs (
    tenant_id {text_c} NOT NULL REFERENCES tenants (id),
    id {text_c} NOT NULL,
    service_principal_id {text_c} NOT NULL,
    doc TEXT NOT NULL,
    seq BIGINT,
    version BIGINT NOT NULL,
    holder TEXT,
    lease_until BIGINT,
    due_at BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX provisioning_jobs_due ON provisioning_jobs (due_at);
CREATE TABLE provisioned_objects (
    tenant_id {text_c} NOT NULL REFERENCES tenants (id),
    job_id {text_c} NOT NULL,
    object_id {text_c} NOT NULL,
    target_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, job_id, object_id)
);
CREATE TABLE provisioning_log (
    tenant_id {text_c} NOT NULL REFERENCES tenants (id),
    id {text_c} NOT NULL,
    job_id {text_c} NOT NULL,
    object_id {text_c},
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX provisioning_log_at ON provisioning_log (tenant_id, at);
"#,
    ),
];

/// The migrations after which objects need their query values indexed by the application (the folding is
/// Rust's, so SQL cannot back-fill them), and the kinds of object each concerns (none: every kind).
pub const INDEXED_VALUES: &[(i64, &[ObjectKind])] =
    &[(2, &[]), (5, &[]), (7, &[ObjectKind::Application, ObjectKind::ServicePrincipal]), (8, &[]), (14, &[])];
