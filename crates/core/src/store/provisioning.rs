//! Provisioning: jobs that keep another system's SCIM service in step with the directory, what each has
//! made there, and the log of what it did.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// One provisioning job of a service principal.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisioningJobRecord {
    pub id: Uuid,
    pub service_principal: Uuid,
    /// Its settings and status, as the provisioning module keeps them.
    pub doc: Map<String, Value>,
    /// The change-log position it has provisioned through; `None` until its initial cycle ends.
    pub seq: Option<i64>,
    /// Moves with every write of the job (compare-and-set).
    pub version: i64,
    /// The node running it, until when.
    pub holder: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// When it next runs; `None` while it does not run (paused, not configured).
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What a job made of one directory object in the other system.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionedRecord {
    pub job: Uuid,
    pub object: Uuid,
    /// The resource's id there.
    pub target_id: String,
    /// What the job last sent (its digest and state), as the provisioning module keeps it.
    pub doc: Map<String, Value>,
}

/// One action of a job, with its result.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisioningLogRecord {
    pub id: Uuid,
    pub job: Uuid,
    pub object: Option<Uuid>,
    pub at: DateTime<Utc>,
    /// `create`, `update`, `disable`, `delete`, `other` (Graph's `provisioningAction`).
    pub action: String,
    /// `success`, `failure`, `skipped`, `warning` (Graph's `provisioningResult`).
    pub status: String,
    /// The rest: the identities, the target's response, the error.
    pub doc: Map<String, Value>,
}

/// Which log records to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct ProvisioningLogQuery {
    pub job: Option<Uuid>,
    pub object: Option<Uuid>,
    pub status: Option<String>,
    pub limit: u32,
}
