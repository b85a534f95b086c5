//! SCIM 2.0 (RFC 7643/7644) as a door to the directory for HR systems and scripts that push people in
//! (`docs/design/0016-scim.md`). Every request goes through the same use cases as Graph — a SCIM-created user
//! obeys the same UPN, password, dynamic-group and audit rules, and the same authorization — with SCIM's
//! shapes mapped onto the directory's ([`users`]) and its filters read into the directory's own
//! ([`filter`]).

pub mod filter;
pub mod users;

use crate::kernel::error::{Error, Result};
use crate::kernel::request;
use crate::query::{check_filter, resource_of, Listing, MAX_PAGE};
use crate::store::ObjectKind;
use crate::{Caller, Directory};
use serde_json::{Map, Value};

/// The most results a list answers at once, and the furthest it pages by `startIndex` (beyond it, a
/// filter narrows the list).
pub const MOST_RESULTS: usize = MAX_PAGE as usize;
pub const FURTHEST_INDEX: usize = 10_000;

/// A page of a list: its resources and how many match in all.
#[derive(Debug, Clone)]
pub struct Listed {
    pub resources: Vec<Map<String, Value>>,
    pub total: u64,
}

/// The SCIM service.
pub struct Scim<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The SCIM service.
    pub fn scim(&self) -> Scim<'_> {
        Scim { directory: self }
    }
}

impl Scim<'_> {
    async fn default_domain(&self, caller: &Caller) -> Result<String> {
        Ok(self.directory.tenant_record(caller.tenant()).await?.default_domain)
    }

    fn shown(&self, record: &crate::store::ObjectRecord) -> Map<String, Value> {
        users::to_scim(record, &request::current().base_url)
    }

    /// `POST /Users`: a new user; one without a password gets a random one to change at first sign-in.
    pub async fn create_user(&self, caller: &Caller, body: &Map<String, Value>) -> Result<Map<String, Value>> {
        let changes = users::changes_of(body, &self.default_domain(caller).await?)?;
        let (mut changes, kept) = users::split_kept(changes);
        changes.retain(|_, value| !value.is_null());
        if !changes.contains_key("passwordProfile") {
            let password = crate::tenants::generate_password(self.directory.random());
            let profile = serde_json::json!({"password": password, "forceChangePasswordNextSignIn": true});
            changes.insert("passwordProfile".into(), profile);
        }
        let record = self.directory.users().create_keeping(caller, &changes, &kept).await?;
        Ok(self.shown(&record))
    }

    /// `GET /Users/{id}`.
    pub async fn user(&self, caller: &Caller, id: &str) -> Result<Map<String, Value>> {
        let record = self.directory.users().get(caller, &Self::id(id)?).await?;
        Ok(self.shown(&record))
    }

    /// `GET /Users?filter=…&startIndex=…&count=…`: the users matching the filter, in id order, from the
    /// 1-based `start`, at most `count`.
    pub async fn users(&self, caller: &Caller, filter: Option<&str>, start: usize, count: usize) -> Result<Listed> {
        let resource = resource_of(ObjectKind::User).ok_or_else(|| Error::internal("users have no query resource"))?;
        let domain = self.default_domain(caller).await?;
        let filter = match filter {
            Some(text) => {
                let parsed = filter::parse(text, users::attribute)?;
                let parsed = qualify_user_names(parsed, &domain);
                check_filter(resource, &parsed).map_err(|e| Error::invalid_property("filter", e.message))?;
                Some(parsed)
            }
            None => None,
        };
        let start = start.max(1);
        if start > FURTHEST_INDEX {
            return Err(Error::invalid_property(
                "startIndex",
                format!("startIndex goes to {FURTHEST_INDEX} at most: filter the list."),
            ));
        }
        let count = count.min(MOST_RESULTS);
        let (mut skip, mut resources, mut after, mut total) = (start - 1, Vec::new(), None, 0);
        loop {
            let top = (skip + count - resources.len()).clamp(1, MOST_RESULTS) as u32;
            let listing = Listing { filter: filter.clone(), order: Vec::new(), after, top, count: total == 0 };
            let page = self.directory.users().list(caller, listing).await?;
            total = page.count.unwrap_or(total);
            for record in page.items {
                match skip {
                    0 if resources.len() < count => resources.push(self.shown(&record)),
                    0 => {}
                    _ => skip -= 1,
                }
            }
            match page.next {
                Some(next) if resources.len() < count && count > 0 => after = Some(next),
                _ => break,
            }
        }
        Ok(Listed { resources, total })
    }

    /// `PUT /Users/{id}`: the user replaced by the body (what it leaves out is cleared), while at the version
    /// `expected` (`If-Match`) when one is named.
    pub async fn replace_user(
        &self,
        caller: &Caller,
        id: &str,
        body: &Map<String, Value>,
        expected: Option<i64>,
    ) -> Result<Map<String, Value>> {
        let changes = users::changes_of(body, &self.default_domain(caller).await?)?;
        self.changed(caller, id, changes, expected).await
    }

    /// `PATCH /Users/{id}`: the operations applied together, or none of them; as `PUT` for `expected`.
    pub async fn patch_user(
        &self,
        caller: &Caller,
        id: &str,
        body: &Map<String, Value>,
        expected: Option<i64>,
    ) -> Result<Map<String, Value>> {
        let changes = users::patch_changes(body, &self.default_domain(caller).await?)?;
        self.changed(caller, id, changes, expected).await
    }

    async fn changed(
        &self,
        caller: &Caller,
        id: &str,
        changes: Map<String, Value>,
        expected: Option<i64>,
    ) -> Result<Map<String, Value>> {
        let id = Self::id(id)?;
        let (changes, kept) = users::split_kept(changes);
        self.directory.users().update_keeping(caller, &id, &changes, &kept, expected).await?;
        self.user(caller, &id).await
    }

    /// `DELETE /Users/{id}`: the user deleted (restorable, as Graph's delete).
    pub async fn delete_user(&self, caller: &Caller, id: &str) -> Result<()> {
        self.directory.users().delete(caller, &Self::id(id)?).await
    }

    /// A resource id: an object id, never a user name (SCIM addresses resources by id alone).
    fn id(id: &str) -> Result<String> {
        uuid::Uuid::parse_str(id).map(|id| id.to_string()).map_err(|_| Error::not_found(id))
    }
}

/// A filter with each `userName` compared as the directory keeps it: with the default domain when it has
/// none, as users are created.
fn qualify_user_names(filter: crate::filter::Filter, domain: &str) -> crate::filter::Filter {
    use crate::filter::{Filter, Literal, Test};
    let qualify = |text: String| users::principal_name(&text, &crate::kernel::text::fold(domain));
    match filter {
        Filter::And(a, b) => {
            Filter::And(Box::new(qualify_user_names(*a, domain)), Box::new(qualify_user_names(*b, domain)))
        }
        Filter::Or(a, b) => {
            Filter::Or(Box::new(qualify_user_names(*a, domain)), Box::new(qualify_user_names(*b, domain)))
        }
        Filter::Not(a) => Filter::Not(Box::new(qualify_user_names(*a, domain))),
        Filter::Property { property, test: Test::Compare(op, Literal::Text(text)) }
            if property == "userPrincipalName" =>
        {
            Filter::Property { property, test: Test::Compare(op, Literal::Text(qualify(text))) }
        }
        other => other,
    }
}
