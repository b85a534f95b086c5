//! Creating many users at once (SCIM's `/Bulk`; imports): each checked as a single create is, their
//! passwords hashed side by side (the hash pool bounds how many at a time), and the batch written in one
//! transaction — or, when one of them conflicts with a write that came in meanwhile, one transaction per
//! user, so that each user's outcome is its own.

use super::{Users, DUPLICATE_UPN};
use crate::auth::authorization::{require, Action};
use crate::directory::write_error;
use crate::kernel::error::{Error, Result};
use crate::store::{ObjectRecord, StoreError, Write};
use crate::Caller;
use serde_json::{Map, Value};
use std::collections::HashSet;

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
    /// Creates the users the bodies describe (each with its internal values `kept`), passwords optional;
    /// each user's outcome in order.
    pub(crate) async fn create_many(&self, caller: &Caller, items: &[NewUser]) -> Result<Vec<Result<ObjectRecord>>> {
        require(caller, Action::WriteUsers)?;
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        let prepared = futures_util::future::join_all(
            items.iter().map(|(body, kept)| self.prepared(caller, &tenant, body, kept, Password::Optional)),
        )
        .await;
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
