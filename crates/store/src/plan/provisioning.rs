//! The statements of provisioning's writes: jobs (compare-and-set on their version), what each made of an
//! object in its app, and the provisioning log. None of them logs a change.

use super::writes::{checked, json, statement};
use super::*;

pub(super) fn plan(tenant: &str, write: Write) -> StoreResult<(Vec<Statement>, Vec<Change>)> {
    let t = || SqlValue::from(tenant);
    Ok(match write {
        Write::PutProvisioningJob { job, expected } => {
            let params = vec![
                json(&job.doc)?.into(),
                job.seq.into(),
                job.holder.into(),
                job.lease_until.map(micros).into(),
                job.due_at.map(micros).into(),
                t(),
                job.id.into(),
            ];
            let statement = match expected {
                0 => {
                    let mut params = params;
                    params.extend([job.service_principal.into(), micros(job.created_at).into()]);
                    statement(
                        "INSERT INTO provisioning_jobs (doc, seq, holder, lease_until, due_at, tenant_id, id, \
                         service_principal_id, created_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1)",
                        params,
                    )
                }
                _ => {
                    let mut params = params;
                    params.push(expected.into());
                    checked(
                        "UPDATE provisioning_jobs SET doc = $1, seq = $2, holder = $3, lease_until = $4, due_at = $5, \
                         version = version + 1 WHERE tenant_id = $6 AND id = $7 AND version = $8",
                        params,
                        StoreError::VersionMismatch,
                    )
                }
            };
            (vec![statement], vec![])
        }
        Write::DeleteProvisioningJob { id } => (
            vec![
                statement("DELETE FROM provisioned_objects WHERE tenant_id = $1 AND job_id = $2", vec![t(), id.into()]),
                checked(
                    "DELETE FROM provisioning_jobs WHERE tenant_id = $1 AND id = $2",
                    vec![t(), id.into()],
                    StoreError::Missing,
                ),
            ],
            vec![],
        ),
        Write::SetProvisioned(p) => (
            vec![statement(
                "INSERT INTO provisioned_objects (tenant_id, job_id, object_id, target_id, doc) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (tenant_id, job_id, object_id) DO UPDATE SET target_id = excluded.target_id, doc = excluded.doc",
                vec![t(), p.job.into(), p.object.into(), p.target_id.into(), json(&p.doc)?.into()],
            )],
            vec![],
        ),
        Write::ForgetProvisioned { job, object } => (
            vec![statement(
                "DELETE FROM provisioned_objects WHERE tenant_id = $1 AND job_id = $2 AND object_id = $3",
                vec![t(), job.into(), object.into()],
            )],
            vec![],
        ),
        Write::LogProvisioning(records) => (
            records
                .iter()
                .map(|r| {
                    Ok(statement(
                        "INSERT INTO provisioning_log (tenant_id, id, job_id, object_id, at, action, status, doc) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        vec![
                            t(),
                            r.id.into(),
                            r.job.into(),
                            r.object.into(),
                            micros(r.at).into(),
                            r.action.clone().into(),
                            r.status.clone().into(),
                            json(&r.doc)?.into(),
                        ],
                    ))
                })
                .collect::<StoreResult<Vec<_>>>()?,
            vec![],
        ),
        _ => (Vec::new(), Vec::new()),
    })
}
