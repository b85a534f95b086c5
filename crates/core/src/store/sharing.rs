//! Sharing links: a resource of the tenant (an application with an identifier) shared with someone who has
//! no account, by a link that a code mailed to the address it names opens (or, where the tenant allows it, a
//! link anyone holding it opens).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One sharing link.
#[derive(Debug, Clone, PartialEq)]
pub struct SharingLinkRecord {
    pub id: Uuid,
    /// The shared resource: an application's object id.
    pub resource: Uuid,
    /// Who shared it, as the change log's `actor` column names initiators.
    pub shared_by: String,
    /// The address it is shared with (lower case); none for a link anyone holding it opens.
    pub recipient: Option<String>,
    /// Whether it lets its holder change the resource (`edit`) or only view it.
    pub edit: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// How many times it was opened (a code entered, or an anonymous link followed).
    pub uses: i64,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl SharingLinkRecord {
    /// Whether the link opens at `now`: neither revoked nor expired.
    pub fn open_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}
