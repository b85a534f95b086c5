//! The change-log processors this node runs, in order: licensing reads the memberships dynamic membership
//! writes. The one list a new processor joins.

use crate::changelog::ChangeProcessor;
use crate::licensing::GroupLicensing;
use crate::membership::DynamicMembership;
use crate::store::{Store, StoreResult};
use uuid::Uuid;

pub static ALL: [&dyn ChangeProcessor; 2] = [&DynamicMembership, &GroupLicensing];

/// Whether every processor has gone through the tenant's change log (their own records included): what a
/// benchmark or a test waits for after writing straight into the store.
pub async fn caught_up<S: Store + ?Sized>(store: &S, tenant: Uuid) -> StoreResult<bool> {
    for processor in ALL {
        let cursor = store.processor_seq(tenant, processor.name()).await?;
        if !store.changes(tenant, cursor, 1).await?.is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}
