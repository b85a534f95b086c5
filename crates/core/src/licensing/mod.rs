//! Licensing: a tenant's subscriptions (Graph's `subscribedSku`), the catalog of Microsoft 365 products they
//! come from, and the assignment of licenses to users — directly, with Entra's rules and errors.
//!
//! A user's licenses are resolved from their sources (direct assignment first, then groups) by one pure
//! function, [`resolve`]: seats (`CountViolation`), service plans that cannot be held together
//! (`MutuallyExclusiveViolation`), plans that need others (`DependencyViolation`) and, for a direct
//! assignment, a missing usage location (`ProhibitedInUsageLocationViolation`). A license held through
//! several sources takes one seat, and its disabled plans are those every source disables. Seats are
//! re-checked inside the write's transaction, so concurrent assignments cannot oversubscribe a product.

mod catalog;
mod direct;
mod group_processor;
mod resolve;
mod subscriptions;

pub use catalog::*;
pub use group_processor::GroupLicensing;
pub use resolve::*;
pub use subscriptions::*;

use crate::auth::authorization::{require, Action};
use crate::changelog::{ChangeProcessor, Outcome, Round};
use crate::directory::contention::object_id;
use crate::directory::write_error;
use crate::filter::{Filter, Literal, Op, Test};
use crate::kernel::error::{Error, ErrorKind, Result};
use crate::schema::{self, format_time};
use crate::store::{ChangeRecord, ObjectKind, ObjectQuery, ObjectRecord, StoreError, Write};
use crate::{Caller, Directory};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;
use uuid::Uuid;

/// Licensing: subscriptions, direct and group-based assignment, and the licensing processor's rounds, as a
/// service on the directory's context (shaped like the domains service).
pub struct Licensing<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The licensing service.
    pub fn licensing(&self) -> Licensing<'_> {
        Licensing { directory: self }
    }
}

/// The document key of a user's directly assigned licenses (internal; Graph shows the resolved ones).
pub const DIRECT: &str = "_directLicenses";

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn subscription(part: &str, capacity: u64) -> Subscription {
        let product = catalog().product(part).expect("in the catalog");
        Subscription {
            sku: product.sku_id,
            part_number: part.into(),
            capacity,
            enabled: true,
            plans: product
                .service_plans
                .iter()
                .map(|p| (p.service_plan_id, p.service_plan_name.clone(), p.service.clone()))
                .collect(),
            exclusive_with: Vec::new(),
            dependencies: Vec::new(),
        }
    }

    #[test]
    fn the_catalog_holds_the_products_with_their_public_ids() {
        let e3 = catalog().product("ENTERPRISEPACK").expect("Office 365 E3");
        assert_eq!(e3.sku_id.to_string(), "6fd2c87f-b296-42f0-b197-1e91e994b900");
        assert!(e3
            .service_plans
            .iter()
            .any(|p| p.service_plan_id.to_string() == "efb87545-963c-4e0d-99df-69c6916d9eb0"));
        for part in [
            "STANDARDPACK",
            "ENTERPRISEPREMIUM",
            "SPE_E3",
            "SPE_E5",
            "O365_BUSINESS_ESSENTIALS",
            "O365_BUSINESS_PREMIUM",
            "SPB",
            "AAD_PREMIUM",
            "AAD_PREMIUM_P2",
            "EXCHANGESTANDARD",
            "EXCHANGEENTERPRISE",
        ] {
            assert!(catalog().product(part).is_some(), "{part}");
        }
        assert_eq!(
            catalog().product("078d2b04-f1bd-4111-bbd4-b4b1b354cef4").map(|p| p.sku_part_number.as_str()),
            Some("AAD_PREMIUM")
        );
    }

    #[test]
    fn resolution_follows_entras_rules() {
        let subs: HashMap<Uuid, Subscription> = [
            subscription("STANDARDPACK", 10),
            subscription("ENTERPRISEPACK", 1),
            subscription("AAD_PREMIUM", 5),
            subscription("MCOMEETADV", 5),
        ]
        .into_iter()
        .map(|s| (s.sku, s))
        .collect();
        let sku = |p: &str| catalog().product(p).expect("product").sku_id;
        let none = HashMap::new();
        let tenancy = Tenancy { subscriptions: &subs, taken_by_others: &none };
        let source = |group: Option<Uuid>, skus: &[&str]| Source {
            group,
            licenses: skus.iter().map(|p| (sku(p), BTreeSet::new())).collect(),
        };
        let group = Some(Uuid::new_v4());

        let both = resolve(Some("NL"), &[source(None, &["AAD_PREMIUM"]), source(group, &["AAD_PREMIUM"])], &tenancy);
        assert_eq!(both.held.len(), 1, "one seat for a license held twice");
        assert!(both.states.iter().all(|s| s.error.is_none()));

        let conflict = resolve(
            Some("NL"),
            &[source(None, &["STANDARDPACK"]), source(group, &["ENTERPRISEPACK", "AAD_PREMIUM"])],
            &tenancy,
        );
        assert_eq!(conflict.held.keys().copied().collect::<Vec<_>>(), vec![sku("STANDARDPACK")]);
        assert_eq!(conflict.states[1].error, Some("MutuallyExclusiveViolation"));
        assert_eq!(conflict.states[2].error, Some("Other"), "one failing license blocks the group's others");

        let taken: HashMap<Uuid, u64> = [(sku("ENTERPRISEPACK"), 1)].into_iter().collect();
        let full = resolve(
            Some("NL"),
            &[source(group, &["ENTERPRISEPACK"])],
            &Tenancy { subscriptions: &subs, taken_by_others: &taken },
        );
        assert_eq!(full.states[0].error, Some("CountViolation"));
        assert!(full.held.is_empty());

        let dependency = resolve(Some("NL"), &[source(None, &["MCOMEETADV"])], &tenancy);
        assert_eq!(dependency.states[0].error, Some("DependencyViolation"));
        let satisfied = resolve(Some("NL"), &[source(None, &["ENTERPRISEPACK", "MCOMEETADV"])], &tenancy);
        assert!(satisfied.states.iter().all(|s| s.error.is_none()), "{satisfied:?}");

        let nowhere = resolve(None, &[source(None, &["AAD_PREMIUM"]), source(group, &["AAD_PREMIUM"])], &tenancy);
        assert_eq!(nowhere.states[0].error, Some("ProhibitedInUsageLocationViolation"), "direct needs a location");
        assert_eq!(nowhere.states[1].error, None, "a group's license takes the organization's country");
        assert_eq!(nowhere.held.len(), 1);

        let p1 = sku("AAD_PREMIUM");
        let plans: Vec<Uuid> = subs[&p1].plans.iter().map(|p| p.0).collect();
        let partly = |off: &[Uuid]| Source { group: None, licenses: vec![(p1, off.iter().copied().collect())] };
        let mut second = partly(&plans[..2]);
        second.group = group;
        let combined = resolve(Some("NL"), &[partly(&plans[..1]), second], &tenancy);
        assert_eq!(
            combined.held[&p1],
            plans[..1].iter().copied().collect(),
            "disabled plans are those every source disables"
        );
    }
}
