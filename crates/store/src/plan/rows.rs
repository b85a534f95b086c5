//! Rows decoded into the core's records, in one place.

use super::*;

pub fn dynamic_status(row: &Row) -> StoreResult<DynamicStatusRecord> {
    Ok(DynamicStatusRecord {
        group: row.uuid(0)?,
        status: row.text(1)?,
        updated_at: row.time(2)?,
        evaluated_at: row.time(3)?,
        error: row.optional_text(4)?,
    })
}

pub fn link(row: &Row) -> StoreResult<Link> {
    let (relation, kind) = (row.text(1)?, row.text(3)?);
    Ok(Link {
        group: row.uuid(0)?,
        relation: Relation::parse(&relation)
            .ok_or_else(|| StoreError::Unavailable(format!("unknown relation {relation}")))?,
        member: row.uuid(2)?,
        member_kind: ObjectKind::parse(&kind)
            .ok_or_else(|| StoreError::Unavailable(format!("unknown object kind {kind}")))?,
    })
}

pub const OBJECT_COLUMNS: &str = "id, kind, version, unique_key, manager_id, doc, created_at, deleted_at";

/// A JSON document as stored.
pub fn document(text: &str) -> StoreResult<Map<String, Value>> {
    serde_json::from_str(text).map_err(|e| StoreError::Unavailable(e.to_string()))
}

pub fn object(row: &Row) -> StoreResult<ObjectRecord> {
    let (id, kind) = id_and_kind(row)?;
    let doc = row.text(5)?;
    Ok(ObjectRecord {
        id,
        kind,
        version: row.int(2)?,
        unique_key: row.optional_text(3)?,
        manager: row.optional_text(4)?.map(|m| Uuid::parse_str(&m)).transpose().map_err(|_| corrupt("a GUID", 4))?,
        doc: document(&doc)?,
        created_at: row.time(6)?,
        deleted_at: row.optional_int(7)?.map(from_micros),
    })
}

/// An object's id and kind, the first two columns of [`OBJECT_COLUMNS`].
pub fn id_and_kind(row: &Row) -> StoreResult<(Uuid, ObjectKind)> {
    let kind = row.text(1)?;
    let kind =
        ObjectKind::parse(&kind).ok_or_else(|| StoreError::Unavailable(format!("unknown object kind {kind}")))?;
    Ok((row.uuid(0)?, kind))
}

/// A smart-lockout state from its two columns, `state` at `at` and `version` after it; none where `state` is
/// null (a left join that found none).
pub fn lockout(row: &Row, at: usize) -> StoreResult<Option<LockoutRecord>> {
    match row.optional_text(at)? {
        Some(state) => Ok(Some(LockoutRecord { state, version: row.int(at + 1)? })),
        None => Ok(None),
    }
}

pub fn secret(row: &Row) -> StoreResult<SecretRecord> {
    Ok(SecretRecord {
        owner: row.uuid(0)?,
        key_id: row.uuid(1)?,
        digest: row.text(2)?,
        hint: row.text(3)?,
        display_name: row.optional_text(4)?,
        start: row.time(5)?,
        end: row.time(6)?,
    })
}

pub fn assignment(row: &Row) -> StoreResult<AppRoleAssignmentRecord> {
    Ok(AppRoleAssignmentRecord {
        id: row.uuid(0)?,
        principal: row.uuid(1)?,
        resource: row.uuid(2)?,
        app_role_id: row.uuid(3)?,
        created_at: row.time(4)?,
    })
}

pub fn refresh_family(row: &Row) -> StoreResult<RefreshFamilyRecord> {
    Ok(RefreshFamilyRecord {
        id: row.uuid(0)?,
        user: row.uuid(1)?,
        client: row.uuid(2)?,
        scopes: row.text(3)?,
        generation: row.int(4)?,
        auth_time: row.time(5)?,
        methods: row.text(6)?,
        expires_at: row.time(7)?,
        sliding: row.int(8)? != 0,
        revoked: row.int(9)? != 0,
    })
}

pub fn authorization_code(row: &Row) -> StoreResult<AuthorizationCodeRecord> {
    Ok(AuthorizationCodeRecord {
        digest: row.text(0)?,
        client: row.uuid(1)?,
        redirect_uri: row.text(2)?,
        user: row.uuid(3)?,
        scopes: row.text(4)?,
        nonce: row.optional_text(5)?,
        challenge: row.optional_text(6)?,
        challenge_method: row.optional_text(7)?,
        auth_time: row.time(8)?,
        methods: row.text(9)?,
        expires_at: row.time(10)?,
        family: row.uuid(11)?,
        redeemed: row.int(12)? != 0,
    })
}

pub fn device_code(row: &Row) -> StoreResult<DeviceCodeRecord> {
    Ok(DeviceCodeRecord {
        digest: row.text(0)?,
        user_code: row.text(1)?,
        client: row.uuid(2)?,
        scope: row.text(3)?,
        expires_at: row.time(4)?,
        status: row.text(5)?,
        user: row.optional_text(6)?.map(|_| row.uuid(6)).transpose()?,
        auth_time: row.optional_int(7)?.map(|_| row.time(7)).transpose()?,
        methods: row.text(8)?,
        scopes: row.text(9)?,
    })
}

pub fn permission_grant(row: &Row) -> StoreResult<PermissionGrantRecord> {
    let principal = row.text(2)?;
    Ok(PermissionGrantRecord {
        id: row.uuid(0)?,
        client: row.uuid(1)?,
        principal: (!principal.is_empty()).then(|| row.uuid(2)).transpose()?,
        resource: row.uuid(3)?,
        scope: row.text(4)?,
        created_at: row.time(5)?,
    })
}

pub fn signing_key(row: &Row) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord { kid: row.text(0)?, sealed_private_key: row.text(1)?, created_at: row.time(2)? })
}

/// A change record with its audit note (see [`crate::Store::audits`] for the columns).
pub fn audit_record(row: &Row) -> StoreResult<AuditRecord> {
    let ChangeRecord { seq, change, at } = change_record(row)?;
    let unreadable = || StoreError::Unavailable(format!("unreadable audit record {seq}"));
    let detail: Value = serde_json::from_str(&row.text(11)?).map_err(|_| unreadable())?;
    let text = |key: &str| detail.get(key).and_then(Value::as_str).map(str::to_owned);
    let modified = detail.get("modified").and_then(Value::as_array).cloned().unwrap_or_default();
    let modified = modified
        .into_iter()
        .map(|m| Modified {
            name: m.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
            old: m.get("old").filter(|v| !v.is_null()).cloned(),
            new: m.get("new").filter(|v| !v.is_null()).cloned(),
        })
        .collect();
    let note = Note {
        category: row.text(8)?,
        activity: row.text(9)?,
        service: row.text(10)?,
        operation: text("operation").ok_or_else(unreadable)?,
        modified,
    };
    let by = Initiator::decode(&row.optional_text(6)?.unwrap_or_default());
    Ok(AuditRecord { seq, batch: row.optional_int(7)?.unwrap_or(seq), change, at, by, note })
}

/// A message of the outbox (see [`crate::Store::mail`] for the columns).
pub fn mail_record(row: &Row) -> StoreResult<MailRecord> {
    let state = row.text(6)?;
    Ok(MailRecord {
        id: row.uuid(0)?,
        kind: row.text(1)?,
        to: row.text(2)?,
        subject: row.text(3)?,
        text: row.text(4)?,
        html: row.optional_text(5)?,
        state: MailState::parse(&state)
            .ok_or_else(|| StoreError::Unavailable(format!("unknown mail state {state}")))?,
        attempts: row.int(7)?,
        next_attempt_at: row.time(8)?,
        claimed_until: row.optional_int(9)?.map(from_micros),
        last_error: row.optional_text(10)?,
        created_at: row.time(11)?,
        sent_at: row.optional_int(12)?.map(from_micros),
    })
}

pub fn sharing_link_record(row: &Row) -> StoreResult<SharingLinkRecord> {
    Ok(SharingLinkRecord {
        id: row.uuid(0)?,
        resource: row.uuid(1)?,
        shared_by: row.text(2)?,
        recipient: row.optional_text(3)?,
        edit: row.text(4)? == "edit",
        created_at: row.time(5)?,
        expires_at: row.time(6)?,
        revoked_at: row.optional_int(7)?.map(from_micros),
        uses: row.int(8)?,
        last_used_at: row.optional_int(9)?.map(from_micros),
    })
}

pub fn provisioning_job_record(row: &Row) -> StoreResult<ProvisioningJobRecord> {
    Ok(ProvisioningJobRecord {
        id: row.uuid(0)?,
        service_principal: row.uuid(1)?,
        doc: document(&row.text(2)?)?,
        seq: row.optional_int(3)?,
        version: row.int(4)?,
        holder: row.optional_text(5)?,
        lease_until: row.optional_int(6)?.map(from_micros),
        due_at: row.optional_int(7)?.map(from_micros),
        created_at: row.time(8)?,
    })
}

pub fn provisioned_record(row: &Row) -> StoreResult<ProvisionedRecord> {
    Ok(ProvisionedRecord {
        job: row.uuid(0)?,
        object: row.uuid(1)?,
        target_id: row.text(2)?,
        doc: document(&row.text(3)?)?,
    })
}

pub fn provisioning_log_record(row: &Row) -> StoreResult<ProvisioningLogRecord> {
    Ok(ProvisioningLogRecord {
        id: row.uuid(0)?,
        job: row.uuid(1)?,
        object: row.optional_text(2)?.and_then(|id| Uuid::parse_str(&id).ok()),
        at: row.time(3)?,
        action: row.text(4)?,
        status: row.text(5)?,
        doc: document(&row.text(6)?)?,
    })
}

pub fn change_record(row: &Row) -> StoreResult<ChangeRecord> {
    let (subject, id, kind, attributes) = (row.text(1)?, row.text(2)?, row.text(3)?, row.text(4)?);
    let change = Change::decode(&subject, &id, &kind, &attributes)
        .ok_or_else(|| StoreError::Unavailable(format!("unreadable change record: {subject} {id} {kind}")))?;
    Ok(ChangeRecord { seq: row.int(0)?, change, at: row.time(5)? })
}
