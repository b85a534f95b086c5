//! CSV exports of the admin center's lists, each as the list shows it (its search and filters): users in
//! Entra's bulk-create template (so an export imports back), groups with their kind and rule. The file is
//! streamed a page of the store at a time, so a million users never sit in memory; a refusal is answered
//! before the first line.

use super::import::csv_file;
use super::users::Chosen;
use super::{groups::kind_of, listing_of, refused, Admin, Searched};
use crate::IdentityState;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::response::Response;
use futures_util::stream;
use gatehouse_core::directory::objects::Page;
use gatehouse_core::kernel::error::Error;
use gatehouse_core::query::Listing;
use gatehouse_core::scim::template::{self, csv_field};
use gatehouse_core::store::ObjectRecord;
use gatehouse_core::{Caller, Directory};
use serde_json::Value;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

/// Objects a page of an export reads.
const EXPORT_PAGE: u32 = 999;

/// Which list an export reads.
#[derive(Clone, Copy)]
enum List {
    Users,
    Groups,
}

impl List {
    async fn read(self, directory: Arc<Directory>, caller: Caller, listing: Listing) -> Result<Page, Error> {
        match self {
            List::Users => directory.users().list(&caller, listing).await,
            List::Groups => directory.groups().list(&caller, listing).await,
        }
    }

    fn header(self) -> String {
        match self {
            List::Users => template::export_header(),
            List::Groups => "displayName,id,groupType,membershipType,membershipRule\n".to_owned(),
        }
    }

    fn rows(self, items: &[ObjectRecord]) -> String {
        match self {
            List::Users => {
                let users: Vec<Value> = items.iter().map(|u| Value::Object(u.doc.clone())).collect();
                template::export_rows(&users)
            }
            List::Groups => items
                .iter()
                .map(|group| {
                    let text = |name: &str| csv_field(group.doc.get(name).and_then(Value::as_str).unwrap_or_default());
                    let (kind, membership) = kind_of(group);
                    format!("{},{},{kind},{membership},{}\n", text("displayName"), group.id, text("membershipRule"))
                })
                .collect(),
        }
    }
}

/// Streams every object of the list, the first page read before answering (so a refusal is a page).
async fn export(state: &IdentityState, (tenant, caller): (&str, Caller), list: List, mut listing: Listing) -> Response {
    listing.top = EXPORT_PAGE;
    listing.after = None;
    let first = match list.read(state.directory.clone(), caller.clone(), listing.clone()).await {
        Ok(page) => page,
        Err(e) => return refused(tenant, &caller, &e),
    };
    let opening = format!("{}{}", list.header(), list.rows(&first.items));
    let directory = state.directory.clone();
    let rest = stream::unfold(first.next, move |cursor| {
        let (directory, caller, listing) = (directory.clone(), caller.clone(), listing.clone());
        async move {
            let page = list.read(directory, caller, Listing { after: Some(cursor?), ..listing }).await.ok()?;
            Some((Ok::<Bytes, Infallible>(Bytes::from(list.rows(&page.items))), page.next))
        }
    });
    let body = stream::iter([Ok::<Bytes, Infallible>(Bytes::from(opening))]);
    let name = match list {
        List::Users => "users.csv",
        List::Groups => "groups.csv",
    };
    csv_file(name, Body::from_stream(futures_util::StreamExt::chain(body, rest)))
}

/// `GET /{tenant}/admin/users/export.csv?search=…&type=…&state=…&department=…&licence=…`.
pub async fn export_users(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, mut listing) = listing_of(&state, &query, "admin-users", Searched::NamesOrUserNames);
    listing.filter = Chosen::of(&query).narrowed(listing.filter.take());
    export(&state, (&tenant, caller), List::Users, listing).await
}

/// `GET /{tenant}/admin/groups/export.csv?search=…`.
pub async fn export_groups(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, listing) = listing_of(&state, &query, "admin-groups", Searched::Names);
    export(&state, (&tenant, caller), List::Groups, listing).await
}
