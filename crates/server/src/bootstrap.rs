//! The first tenant: created on first start with an empty store, its credentials shown once.

use anyhow::Context;
use gatehouse_core::tenants::{NewTenant, TenantBootstrap};
use gatehouse_core::Directory;
use std::path::Path;

/// Presets from `GATEHOUSE_BOOTSTRAP_*`, for automation that must know the credentials in advance.
pub fn presets_from_env() -> anyhow::Result<NewTenant> {
    let var = |name: &str| std::env::var(format!("GATEHOUSE_BOOTSTRAP_{name}")).ok().filter(|v| !v.is_empty());
    let uuid = |name: &str| -> anyhow::Result<Option<uuid::Uuid>> {
        var(name)
            .map(|v| uuid::Uuid::parse_str(&v).with_context(|| format!("GATEHOUSE_BOOTSTRAP_{name} is not a GUID")))
            .transpose()
    };
    Ok(NewTenant {
        id: uuid("TENANT_ID")?,
        display_name: var("TENANT_NAME"),
        domain: var("TENANT_DOMAIN"),
        country: var("TENANT_COUNTRY"),
        admin_user_principal_name: var("ADMIN_USER_PRINCIPAL_NAME"),
        admin_password: var("ADMIN_PASSWORD"),
        client_id: uuid("CLIENT_ID")?,
        client_secret: var("CLIENT_SECRET"),
    })
}

/// Creates the first tenant if the store has none; of nodes starting together on an empty database, one
/// creates it and the others join.
pub async fn first_tenant(directory: &Directory) -> anyhow::Result<Option<TenantBootstrap>> {
    if !directory.tenants().list().await.map_err(|e| anyhow::anyhow!("{e}"))?.is_empty() {
        return Ok(None);
    }
    let created = directory
        .tenants()
        .create_first(presets_from_env()?)
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the first tenant: {}", e.message))?;
    if created.is_none() {
        tracing::info!("another node created the first tenant at the same time; this node joins it");
    }
    Ok(created)
}

/// Prints the credentials once, with a copy-paste example.
pub fn announce(bootstrap: &TenantBootstrap, base: &str, ca: Option<&Path>) {
    let curl = match ca {
        Some(ca) => format!("curl --cacert {}", ca.display()),
        None => "curl".to_owned(),
    };
    println!(
        "\nGatehouse created tenant {domain} ({tenant}). These credentials are shown only now:\n\
         \n  administrator  {upn}\n  password       {password}\n  client id      {client}\n  client secret  {secret}\n\
         \nGet a token and list the users:\n\
         \n  TOKEN=$({curl} -s {base}/{tenant}/oauth2/v2.0/token -d grant_type=client_credentials \\\n      -d client_id={client} --data-urlencode 'client_secret={secret}' \\\n      -d scope=https://graph.microsoft.com/.default | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')\n  {curl} -s {base}/v1.0/users -H \"Authorization: Bearer $TOKEN\"\n",
        domain = bootstrap.tenant_domain,
        tenant = bootstrap.tenant_id,
        upn = bootstrap.admin_user_principal_name,
        password = bootstrap.admin_password,
        client = bootstrap.client_id,
        secret = bootstrap.client_secret,
    );
}

/// Writes the credentials as JSON, readable only by the owner.
pub fn write_output(bootstrap: &TenantBootstrap, path: &Path) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(bootstrap)?;
    crate::config::write_private(path, &json)
}
