//! Creating users: one checked and prepared as Graph's create has it, and many at once (SCIM's `/Bulk`;
//! imports) — each checked as a single create is, their passwords hashed side by side (the hash pool bounds
//! how many at a time), and the batch written in one transaction, or, when one of them conflicts with a
//! write that came in meanwhile, one transaction per user, so that each user's outcome is its own.

use super::{
    check_body, check_new_password, check_user_principal_name, normalise, required_message, Users, DUPLICATE_UPN,
    FORCE_CHANGE, REQUIRED_ON_CREATE,
};
use crate::auth::authorization::{require, Action};
use crate::directory::write_error;
use crate::kernel::error::{Error, Result};
use crate::kernel::text::fold;
use crate::schema::format_time;
use crate::store::{ObjectKind, ObjectRecord, StoreError, TenantRecord, Write};
use crate::Caller;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// Users with passwords prepared at once, per hashing thread.
const HASHES_PER_THREAD: usize = 4;
/// Users without passwords prepared at once (each reads the store to check its name is free).
const PREPARED_AT_ONCE: usize = 64;

/// A new user: the body as Graph's create takes it, and the internal values kept beside it.
pub type NewUser = (Map<String, Value>, Map<String, Value>);

/// Whether a new user must be given a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Password {
    /// Graph's create: `passwordProfile` is required.
    Required,
    /// A user pushed in by another system may come without one (and has none until a reset or a temporary
    /// access pass).
    Optional,
}

impl Users<'_> {
    /// A new user's record and the writes that make it, checked as a create is, its password (when it has
    /// one) hashed; `password` says whether one is required (Graph's create) or may be left out (a user
    /// pushed in by another system, who signs in after a reset or a temporary access pass).
    pub(crate) async fn prepared(
        &self,
        caller: &Caller,
        tenant: &TenantRecord,
        body: &Map<String, Value>,
        kept: &Map<String, Value>,
        password: Password,
    ) -> Result<(ObjectRecord, Vec<Write>)> {
        let (mut doc, profile) = check_body(body)?;
        for name in REQUIRED_ON_CREATE {
            if doc.get(*name).is_none_or(Value::is_null) {
                return Err(Error::invalid_property(name, required_message(name)));
            }
        }
        let given = profile.and_then(|p| p.password.clone().map(|pw| (pw, p)));
        if given.is_none() && password == Password::Required {
            return Err(Error::invalid_property("passwordProfile", required_message("passwordProfile")));
        }
        let upn = doc.get("userPrincipalName").and_then(Value::as_str).unwrap_or_default();
        let upn = check_user_principal_name(upn, &tenant.domains)?;
        doc.insert("userPrincipalName".into(), Value::String(upn.clone()));
        doc.entry("userType").or_insert_with(|| json!("Member"));
        normalise(&mut doc)?;
        if let Some((password, _)) = &given {
            check_new_password(password, &doc, tenant)?;
        }
        self.check_upn_free(caller, &upn, None).await?;
        let now = self.directory.now();
        doc.extend(kept.iter().filter(|(name, _)| name.starts_with('_')).map(|(k, v)| (k.clone(), v.clone())));
        let mut hash = None;
        if let Some((password, profile)) = given {
            doc.insert("lastPasswordChangeDateTime".into(), json!(format_time(now)));
            doc.insert(FORCE_CHANGE.into(), json!(profile.force_change || profile.force_change_with_mfa));
            hash = Some(self.directory.hasher.hash(password, self.directory.salt()).await?);
        }
        let record = self.directory.new_object(ObjectKind::User, Some(fold(&upn)), doc, now);
        let mut writes = vec![Write::InsertObject(record.clone())];
        writes.extend(hash.map(|hash| Write::SetPassword { user: record.id, hash }));
        Ok((record, writes))
    }

    /// Creates the users the bodies describe (each with its internal values `kept`), passwords optional;
    /// each user's outcome in order.
    pub(crate) async fn create_many(&self, caller: &Caller, items: &[NewUser]) -> Result<Vec<Result<ObjectRecord>>> {
        require(caller, Action::WriteUsers)?;
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        // Users with passwords are prepared a few per hashing thread at a time (enough to keep every thread
        // busy between two groups, few enough to leave the pool's queue to sign-ins); the rest only read the
        // store.
        let hashing = items.iter().any(|(body, _)| body.contains_key("passwordProfile"));
        let at_once = if hashing { self.directory.hasher.threads() * HASHES_PER_THREAD } else { PREPARED_AT_ONCE };
        let mut prepared = Vec::with_capacity(items.len());
        for chunk in items.chunks(at_once.max(1)) {
            let ready = chunk.iter().map(|(body, kept)| self.prepared(caller, &tenant, body, kept, Password::Optional));
            prepared.extend(futures_util::future::join_all(ready).await);
        }
        let mut names = HashSet::new();
        let prepared: Vec<Result<(ObjectRecord, Vec<Write>)>> = prepared
            .into_iter()
            .map(|outcome| match outcome {
                Ok((record, _)) if !names.insert(record.unique_key.clone()) => Err(Error::conflict(DUPLICATE_UPN)),
                other => other,
            })
            .collect();
        let writes: Vec<Write> = prepared.iter().filter_map(|p| p.as_ref().ok()).flat_map(|(_, w)| w.clone()).collect();
        if writes.is_empty() {
            return Ok(prepared.into_iter().map(|p| p.map(|(record, _)| record)).collect());
        }
        match self.directory.commit(caller, writes).await {
            Ok(_) => Ok(prepared.into_iter().map(|p| p.map(|(record, _)| record)).collect()),
            Err(StoreError::Conflict(_)) => {
                let mut out = Vec::with_capacity(prepared.len());
                for outcome in prepared {
                    out.push(match outcome {
                        Ok((record, writes)) => match self.directory.commit(caller, writes).await {
                            Ok(_) => Ok(record),
                            Err(e) => Err(write_error(e, DUPLICATE_UPN)),
                        },
                        Err(e) => Err(e),
                    });
                }
                Ok(out)
            }
            Err(other) => Err(write_error(other, DUPLICATE_UPN)),
        }
    }
}
