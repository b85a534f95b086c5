//! The products Gatehouse knows (SKUs and their service plans, with Microsoft's ids), from the catalog file.

use super::*;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogPlan {
    pub service_plan_id: Uuid,
    pub service_plan_name: String,
    pub service: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogProduct {
    pub sku_id: Uuid,
    pub sku_part_number: String,
    pub display_name: String,
    pub service_plans: Vec<CatalogPlan>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExclusiveGroup {
    pub(super) service_plan_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Dependency {
    pub(super) service_plan_id: Uuid,
    pub(super) requires_any_of: Vec<Uuid>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Catalog {
    pub products: Vec<CatalogProduct>,
    pub(super) exclusive: Vec<ExclusiveGroup>,
    pub(super) dependencies: Vec<Dependency>,
}

/// Microsoft's products and service plans with their public identifiers, and the plan rules Entra enforces.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        serde_json::from_str(include_str!("../../data/license-catalog.json")).unwrap_or(Catalog {
            products: Vec::new(),
            exclusive: Vec::new(),
            dependencies: Vec::new(),
        })
    })
}

impl Catalog {
    pub fn product(&self, key: &str) -> Option<&CatalogProduct> {
        self.products
            .iter()
            .find(|p| p.sku_part_number.eq_ignore_ascii_case(key) || p.sku_id.to_string() == key.to_lowercase())
    }
}
