//! Each write as statements with their expected effect and change-log records: objects and their query
//! values, counts, links, credentials, tenants, processors.

use super::*;

pub(super) fn statement(sql: &str, params: Vec<SqlValue>) -> Statement {
    Statement { query: query(sql, params), must_affect: None }
}

pub(super) fn checked(sql: &str, params: Vec<SqlValue>, missing: StoreError) -> Statement {
    Statement { query: query(sql, params), must_affect: Some(missing) }
}

pub(super) fn json(doc: &Map<String, Value>) -> StoreResult<String> {
    serde_json::to_string(doc).map_err(|e| StoreError::Unavailable(e.to_string()))
}

pub(super) fn link_change(link: &Link, kind: ChangeKind) -> Change {
    Change::Link {
        relation: link.relation,
        group: link.group,
        member: link.member,
        member_kind: link.member_kind,
        kind,
    }
}

/// The statements of one write and its change records.
pub(super) fn write_plan(tenant: &str, write: Write, at: i64) -> StoreResult<(Vec<Statement>, Vec<Change>)> {
    let t = || SqlValue::from(tenant);
    Ok(match write {
        Write::SoftDelete { kind, id, at, links, version } => {
            let statements = vec![
                checked(
                    "UPDATE objects SET deleted_at = $1, version = version + 1 \
                     WHERE tenant_id = $2 AND id = $3 AND kind = $4 AND deleted_at IS NULL AND version = COALESCE($5, version)",
                    vec![micros(at).into(), t(), id.into(), kind.as_str().into(), version.into()],
                    StoreError::Missing,
                ),
                statement(
                    "INSERT INTO object_values (tenant_id, object_id, property, value) VALUES ($1, $2, 'deletedDateTime', $3)",
                    vec![t(), id.into(), format_time(at).into()],
                ),
                uncount(tenant, id),
                statement(
                    "UPDATE links SET active = 0 WHERE tenant_id = $1 AND group_id = $2 AND active = 1",
                    vec![t(), id.into()],
                ),
                statement(
                    "UPDATE links SET active = 0 WHERE tenant_id = $1 AND member_id = $2 AND active = 1",
                    vec![t(), id.into()],
                ),
                count(tenant, kind, false, -1),
                count(tenant, kind, true, 1),
            ];
            let mut changes = vec![Change::object(kind, id, ChangeKind::Deleted, vec![])];
            changes.extend(links.iter().map(|l| link_change(l, ChangeKind::Deleted)));
            (statements, changes)
        }
        Write::Restore { kind, id, links } => {
            let live_end = "(SELECT o.id FROM objects o WHERE o.tenant_id = $1 AND o.deleted_at IS NULL)";
            let statements = vec![
                checked(
                    "UPDATE objects SET deleted_at = NULL, version = version + 1 \
                     WHERE tenant_id = $1 AND id = $2 AND kind = $3 AND deleted_at IS NOT NULL",
                    vec![t(), id.into(), kind.as_str().into()],
                    StoreError::Missing,
                ),
                statement(
                    "DELETE FROM object_values WHERE tenant_id = $1 AND object_id = $2 AND property = 'deletedDateTime'",
                    vec![t(), id.into()],
                ),
                recount(tenant, id),
                statement(
                    &format!(
                        "UPDATE links SET active = 1 WHERE tenant_id = $1 AND group_id = $2 AND active = 0 \
                         AND member_id IN {live_end}"
                    ),
                    vec![t(), id.into()],
                ),
                statement(
                    &format!(
                        "UPDATE links SET active = 1 WHERE tenant_id = $1 AND member_id = $2 AND active = 0 \
                         AND group_id IN {live_end}"
                    ),
                    vec![t(), id.into()],
                ),
                count(tenant, kind, true, -1),
                count(tenant, kind, false, 1),
            ];
            let mut changes = vec![Change::object(kind, id, ChangeKind::Restored, vec![])];
            changes.extend(links.iter().map(|l| link_change(l, ChangeKind::Restored)));
            (statements, changes)
        }
        Write::AddLink(link) => {
            let mut statements = Vec::new();
            let insert = "INSERT INTO links (tenant_id, group_id, relation, member_id, member_kind, active, created_at) \
                          SELECT $1, $2, $3, $4, $5, 1, $6";
            let params = vec![
                t(),
                link.group.into(),
                link.relation.as_str().into(),
                link.member.into(),
                link.member_kind.as_str().into(),
                at.into(),
            ];
            if link.relation == Relation::Member && link.member_kind == ObjectKind::Group {
                let guard = format!(
                    "{insert} WHERE $2 <> $4 AND NOT EXISTS (WITH RECURSIVE below(id) AS ( \
                     SELECT member_id FROM links WHERE tenant_id = $1 AND group_id = $4 AND relation = 'member' \
                     AND member_kind = 'group' AND active = 1 \
                     UNION SELECT l.member_id FROM below b CROSS JOIN links l WHERE l.tenant_id = $1 \
                     AND l.group_id = b.id AND l.relation = 'member' AND l.member_kind = 'group' AND l.active = 1) \
                     SELECT 1 FROM below WHERE id = $2)"
                );
                statements.push(checked(&guard, params, StoreError::Conflict("cycle".into())));
            } else {
                statements.push(statement(insert, params));
            }
            (statements, vec![link_change(&link, ChangeKind::Created)])
        }
        Write::AddLinks(links) => {
            let mut statements = Vec::new();
            for chunk in links.chunks(ROWS_PER_INSERT) {
                let mut params: Vec<SqlValue> = vec![t(), at.into()];
                let mut rows = Vec::with_capacity(chunk.len());
                for link in chunk {
                    let n = params.len();
                    rows.push(format!("($1, ${}, ${}, ${}, ${}, 1, $2)", n + 1, n + 2, n + 3, n + 4));
                    params.push(link.group.into());
                    params.push(link.relation.as_str().into());
                    params.push(link.member.into());
                    params.push(link.member_kind.as_str().into());
                }
                let sql = format!(
                    "INSERT INTO links (tenant_id, group_id, relation, member_id, member_kind, active, created_at) VALUES {}",
                    rows.join(", ")
                );
                statements.push(Statement { query: query(sql, params), must_affect: None });
            }
            (statements, links.iter().map(|l| link_change(l, ChangeKind::Created)).collect())
        }
        Write::RemoveLinks(links) => {
            let statements = links
                .iter()
                .map(|link| {
                    statement(
                        "DELETE FROM links WHERE tenant_id = $1 AND group_id = $2 AND relation = $3 AND member_id = $4 AND active = 1",
                        vec![t(), link.group.into(), link.relation.as_str().into(), link.member.into()],
                    )
                })
                .collect();
            (statements, links.iter().map(|l| link_change(l, ChangeKind::Purged)).collect())
        }
        Write::RemoveLink(link) => (
            vec![checked(
                "DELETE FROM links WHERE tenant_id = $1 AND group_id = $2 AND relation = $3 AND member_id = $4 AND active = 1",
                vec![t(), link.group.into(), link.relation.as_str().into(), link.member.into()],
                StoreError::Missing,
            )],
            vec![link_change(&link, ChangeKind::Purged)],
        ),
        Write::CreateTenant(record) => {
            let mut statements = vec![statement(
                "INSERT INTO tenants (id, display_name, initial_domain, created_at, change_seq, organization, version, \
                 default_domain) VALUES ($1, $2, $3, $4, 0, $5, $6, $7)",
                vec![
                    record.id.into(),
                    record.display_name.into(),
                    record.initial_domain.into(),
                    micros(record.created_at).into(),
                    json(&record.organization)?.into(),
                    record.version.into(),
                    record.default_domain.into(),
                ],
            )];
            for domain in &record.domains {
                statements.push(statement(
                    "INSERT INTO tenant_domains (tenant_id, name, verified, code, created_at) VALUES ($1, $2, 1, NULL, $3)",
                    vec![record.id.into(), domain.to_lowercase().into(), micros(record.created_at).into()],
                ));
                statements.push(statement(
                    "INSERT INTO domains (name, tenant_id) VALUES ($1, $2)",
                    vec![domain.to_lowercase().into(), record.id.into()],
                ));
            }
            (statements, vec![Change::other("tenant", record.id, ChangeKind::Created, vec!["domains".into()])])
        }
        Write::AddDomain(domain) => {
            let mut statements = vec![statement(
                "INSERT INTO tenant_domains (tenant_id, name, verified, code, created_at) VALUES ($1, $2, $3, $4, $5)",
                vec![
                    t(),
                    domain.name.as_str().into(),
                    i64::from(domain.verified).into(),
                    domain.code.into(),
                    micros(domain.created_at).into(),
                ],
            )];
            if domain.verified {
                statements.push(verified_domain(tenant, &domain.name));
            }
            (statements, vec![Change::other("domain", &domain.name, ChangeKind::Created, vec!["isVerified".into()])])
        }
        Write::VerifyDomain { name } => (
            vec![
                checked(
                    "UPDATE tenant_domains SET verified = 1 WHERE tenant_id = $1 AND name = $2 AND verified = 0",
                    vec![t(), name.as_str().into()],
                    StoreError::Missing,
                ),
                verified_domain(tenant, &name),
            ],
            vec![Change::other("domain", name, ChangeKind::Updated, vec!["isVerified".into()])],
        ),
        Write::SetDefaultDomain { name } => (
            vec![checked(
                "UPDATE tenants SET default_domain = $2 WHERE id = $1 \
                 AND EXISTS (SELECT 1 FROM domains WHERE tenant_id = $1 AND name = $2)",
                vec![t(), name.as_str().into()],
                StoreError::Missing,
            )],
            vec![Change::other("domain", name, ChangeKind::Updated, vec!["isDefault".into()])],
        ),
        Write::RemoveDomain { name } => (
            vec![
                checked(
                    "DELETE FROM tenant_domains WHERE tenant_id = $1 AND name = $2 \
                     AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = $1 AND (t.default_domain = $2 OR t.initial_domain = $2)) \
                     AND NOT EXISTS (SELECT 1 FROM tenant_domains s WHERE s.tenant_id = $1 AND s.name LIKE ('%.' || $2)) \
                     AND NOT EXISTS (SELECT 1 FROM object_values v JOIN objects o ON o.tenant_id = v.tenant_id AND o.id = v.object_id \
                     WHERE v.tenant_id = $1 AND v.property IN ('userPrincipalName', 'mail', 'proxyAddresses') \
                     AND o.kind IN ('user', 'group') AND v.value LIKE ('%@' || $2))",
                    vec![t(), name.as_str().into()],
                    StoreError::Conflict("in use".into()),
                ),
                statement("DELETE FROM domains WHERE tenant_id = $1 AND name = $2", vec![t(), name.as_str().into()]),
            ],
            vec![Change::other("domain", name, ChangeKind::Purged, vec![])],
        ),
        Write::UpdateOrganization { organization, expected_version, attributes, .. } => (
            vec![checked(
                "UPDATE tenants SET organization = $1, version = version + 1 WHERE id = $2 AND version = $3",
                vec![json(&organization)?.into(), t(), expected_version.into()],
                StoreError::VersionMismatch,
            )],
            vec![Change::other("organization", tenant, ChangeKind::Updated, attributes)],
        ),
        Write::InsertObject(object) => {
            let mut attributes: Vec<String> = object.doc.keys().filter(|k| !k.starts_with('_')).cloned().collect();
            attributes.sort();
            let insert = statement(
                "INSERT INTO objects (tenant_id, id, kind, version, unique_key, manager_id, doc, created_at, deleted_at, sort_name) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9)",
                vec![
                    t(),
                    object.id.into(),
                    object.kind.as_str().into(),
                    object.version.into(),
                    object.unique_key.clone().into(),
                    object.manager.into(),
                    json(&object.doc)?.into(),
                    micros(object.created_at).into(),
                    gatehouse_core::store::sort_name(&object).into(),
                ],
            );
            let mut statements = vec![insert, count(tenant, object.kind, false, 1)];
            statements.extend(index_statements(tenant, &object));
            (statements, vec![Change::object(object.kind, object.id, ChangeKind::Created, attributes)])
        }
        Write::UpdateObject { object, expected_version, attributes, before, .. } => {
            let update = checked(
                "UPDATE objects SET version = version + 1, unique_key = $1, manager_id = $2, doc = $3, sort_name = $7 \
                 WHERE tenant_id = $4 AND id = $5 AND version = $6 AND deleted_at IS NULL",
                vec![
                    object.unique_key.clone().into(),
                    object.manager.into(),
                    json(&object.doc)?.into(),
                    t(),
                    object.id.into(),
                    expected_version.into(),
                    gatehouse_core::store::sort_name(&object).into(),
                ],
                StoreError::VersionMismatch,
            );
            let mut statements = vec![update];
            match before {
                Some(before) => statements.extend(changed_values(tenant, object.id, &before, &query::index_values(&object))),
                None => statements.extend(index_statements(tenant, &object)),
            }
            (statements, vec![Change::object(object.kind, object.id, ChangeKind::Updated, attributes)])
        }
        Write::Purge { kind, id } => {
            let mut statements: Vec<Statement> = [
                "DELETE FROM passwords WHERE tenant_id = $1 AND user_id = $2",
                "DELETE FROM object_values WHERE tenant_id = $1 AND object_id = $2",
                "DELETE FROM client_secrets WHERE tenant_id = $1 AND owner_id = $2",
                "DELETE FROM app_role_assignments WHERE tenant_id = $1 AND (principal_id = $2 OR resource_id = $2)",
                "UPDATE objects SET manager_id = NULL WHERE tenant_id = $1 AND manager_id = $2",
                "DELETE FROM links WHERE tenant_id = $1 AND (group_id = $2 OR member_id = $2)",
                "DELETE FROM dynamic_status WHERE tenant_id = $1 AND group_id = $2",
            ]
            .into_iter()
            .map(|sql| statement(sql, vec![t(), id.into()]))
            .collect();
            statements.push(statement(
                "UPDATE object_counts SET n = n - 1 WHERE tenant_id = $1 AND kind = $2 AND deleted = \
                 (SELECT CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END FROM objects WHERE tenant_id = $1 AND id = $3)",
                vec![t(), kind.as_str().into(), id.into()],
            ));
            statements.push(checked(
                "DELETE FROM objects WHERE tenant_id = $1 AND id = $2 AND kind = $3",
                vec![t(), id.into(), kind.as_str().into()],
                StoreError::Missing,
            ));
            (statements, vec![Change::object(kind, id, ChangeKind::Purged, vec![])])
        }
        Write::SetPassword { user, hash } => (
            vec![statement(
                "INSERT INTO passwords (tenant_id, user_id, hash) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, user_id) DO UPDATE SET hash = excluded.hash",
                vec![t(), user.into(), hash.into()],
            )],
            vec![Change::object(ObjectKind::User, user, ChangeKind::Updated, vec!["passwordProfile".into()])],
        ),
        Write::RehashPassword { user, hash } => (
            vec![checked(
                "UPDATE passwords SET hash = $1 WHERE tenant_id = $2 AND user_id = $3",
                vec![hash.into(), t(), user.into()],
                StoreError::Missing,
            )],
            vec![],
        ),
        Write::AddSecret(secret) => (
            vec![statement(
                "INSERT INTO client_secrets (tenant_id, owner_id, key_id, digest, hint, display_name, start_at, end_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                vec![
                    t(),
                    secret.owner.into(),
                    secret.key_id.into(),
                    secret.digest.into(),
                    secret.hint.into(),
                    secret.display_name.into(),
                    micros(secret.start).into(),
                    micros(secret.end).into(),
                ],
            )],
            vec![Change::other("clientSecret", secret.key_id, ChangeKind::Created, vec![secret.owner.to_string()])],
        ),
        Write::RemoveSecret { owner, key_id } => (
            vec![checked(
                "DELETE FROM client_secrets WHERE tenant_id = $1 AND owner_id = $2 AND key_id = $3",
                vec![t(), owner.into(), key_id.into()],
                StoreError::Missing,
            )],
            vec![Change::other("clientSecret", key_id, ChangeKind::Purged, vec![owner.to_string()])],
        ),
        Write::AddAppRoleAssignment(a) => (
            vec![statement(
                "INSERT INTO app_role_assignments (tenant_id, id, principal_id, resource_id, app_role_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                vec![t(), a.id.into(), a.principal.into(), a.resource.into(), a.app_role_id.into(), micros(a.created_at).into()],
            )],
            vec![Change::other(
                "appRoleAssignment",
                a.id,
                ChangeKind::Created,
                vec![a.principal.to_string(), a.resource.to_string()],
            )],
        ),
        Write::RemoveAppRoleAssignment { id, principal, resource } => (
            vec![checked(
                "DELETE FROM app_role_assignments WHERE tenant_id = $1 AND id = $2",
                vec![t(), id.into()],
                StoreError::Missing,
            )],
            vec![Change::other(
                "appRoleAssignment",
                id,
                ChangeKind::Purged,
                vec![principal.to_string(), resource.to_string()],
            )],
        ),
        Write::SetConditionalAccess { doc, previous, expected_version } => {
            let changes = audit::conditional_access_changes(&previous, &doc);
            let statement = match expected_version {
                0 => checked(
                    "INSERT INTO conditional_access (tenant_id, doc, version) VALUES ($1, $2, 1) \
                     ON CONFLICT (tenant_id) DO NOTHING",
                    vec![t(), json(&doc)?.into()],
                    StoreError::VersionMismatch,
                ),
                _ => checked(
                    "UPDATE conditional_access SET doc = $1, version = version + 1 WHERE tenant_id = $2 AND version = $3",
                    vec![json(&doc)?.into(), t(), expected_version.into()],
                    StoreError::VersionMismatch,
                ),
            };
            (vec![statement], changes)
        }
        Write::LogSignIns(records) => (
            records
                .iter()
                .map(|r| {
                    statement(
                        "INSERT INTO sign_ins (tenant_id, id, created_at, user_id, user_principal_name, app_id, \
                         error_code, record) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        vec![
                            t(),
                            r.id.into(),
                            micros(r.at).into(),
                            r.user.into(),
                            r.user_principal_name.clone().into(),
                            r.app.into(),
                            r.error_code.into(),
                            Value::Object(r.doc.clone()).to_string().into(),
                        ],
                    )
                })
                .collect(),
            vec![],
        ),
        Write::QueueMail(m) => (
            vec![statement(
                "INSERT INTO mail_outbox (tenant_id, id, kind, recipient, subject, body_text, body_html, state, \
                 attempts, next_attempt_at, claimed_until, last_error, created_at, sent_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, $11, NULL)",
                vec![
                    t(),
                    m.id.into(),
                    m.kind.into(),
                    m.to.into(),
                    m.subject.into(),
                    m.text.into(),
                    m.html.into(),
                    m.state.as_str().into(),
                    m.attempts.into(),
                    micros(m.next_attempt_at).into(),
                    micros(m.created_at).into(),
                ],
            )],
            vec![],
        ),
        Write::ClaimMail { id, attempts, until, now } => (
            vec![checked(
                "UPDATE mail_outbox SET attempts = attempts + 1, claimed_until = $1 WHERE tenant_id = $2 AND id = $3 \
                 AND state = 'pending' AND attempts = $4 AND (claimed_until IS NULL OR claimed_until < $5)",
                vec![micros(until).into(), t(), id.into(), attempts.into(), micros(now).into()],
                StoreError::VersionMismatch,
            )],
            vec![],
        ),
        Write::EndMailAttempt { id, sent, error, retry_at } => {
            let state = match (sent, retry_at) {
                (Some(_), _) => MailState::Sent,
                (None, Some(_)) => MailState::Pending,
                (None, None) => MailState::Dead,
            };
            let next = retry_at.map(micros);
            (
                vec![statement(
                    "UPDATE mail_outbox SET state = $1, sent_at = $2, last_error = $3, \
                     next_attempt_at = COALESCE($4, next_attempt_at), claimed_until = NULL \
                     WHERE tenant_id = $5 AND id = $6",
                    vec![state.as_str().into(), sent.map(micros).into(), error.into(), next.into(), t(), id.into()],
                )],
                vec![],
            )
        }
        Write::CreateSharingLink(l) => (
            vec![statement(
                "INSERT INTO sharing_links (tenant_id, id, resource_id, shared_by, recipient, access, created_at, \
                 expires_at, revoked_at, uses, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, 0, NULL)",
                vec![
                    t(),
                    l.id.into(),
                    l.resource.into(),
                    l.shared_by.into(),
                    l.recipient.into(),
                    if l.edit { "edit" } else { "view" }.into(),
                    micros(l.created_at).into(),
                    micros(l.expires_at).into(),
                ],
            )],
            vec![Change::other("sharingLink", l.id, ChangeKind::Created, vec![l.resource.to_string()])],
        ),
        Write::RevokeSharingLink { id, at } => (
            vec![checked(
                "UPDATE sharing_links SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
                vec![micros(at).into(), t(), id.into()],
                StoreError::Missing,
            )],
            vec![Change::other("sharingLink", id, ChangeKind::Purged, vec![])],
        ),
        Write::UseSharingLink { id, at, .. } => (
            vec![checked(
                "UPDATE sharing_links SET uses = uses + 1, last_used_at = $1 WHERE tenant_id = $2 AND id = $3 \
                 AND revoked_at IS NULL AND expires_at > $1",
                vec![micros(at).into(), t(), id.into()],
                StoreError::Missing,
            )],
            vec![Change::other("sharingLink", id, ChangeKind::Updated, vec!["uses".to_owned()])],
        ),
        provisioning @ (Write::PutProvisioningJob { .. }
        | Write::DeleteProvisioningJob { .. }
        | Write::SetProvisioned(_)
        | Write::ForgetProvisioned { .. }
        | Write::LogProvisioning(_)) => super::provisioning::plan(tenant, provisioning)?,
        Write::PurgeSignIns { before } => (
            vec![statement("DELETE FROM sign_ins WHERE tenant_id = $1 AND created_at < $2", vec![t(), micros(before).into()])],
            vec![],
        ),
        Write::ClaimDeployment { name, value } => (
            vec![statement("INSERT INTO deployment (name, value) VALUES ($1, $2)", vec![name.into(), value.into()])],
            vec![],
        ),
        Write::ClaimProcessor { name, holder, until, now } => (
            vec![checked(
                "INSERT INTO processors (tenant_id, name, seq, holder, lease_until) VALUES ($1, $2, 0, $3, $4) \
                 ON CONFLICT (tenant_id, name) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until \
                 WHERE processors.holder = excluded.holder OR processors.lease_until < $5",
                vec![t(), name.into(), holder.into(), micros(until).into(), micros(now).into()],
                StoreError::Conflict("lease".into()),
            )],
            vec![],
        ),
        Write::AdvanceProcessor { name, holder, from, to } => (
            vec![checked(
                "UPDATE processors SET seq = $1 WHERE tenant_id = $2 AND name = $3 AND seq = $4 AND holder = $5",
                vec![to.into(), t(), name.into(), from.into(), holder.into()],
                StoreError::Conflict("cursor".into()),
            )],
            vec![],
        ),
        Write::CheckSeats { sku, capacity } => (
            vec![checked(
                "UPDATE tenants SET change_seq = change_seq WHERE id = $1 AND COALESCE((SELECT n FROM value_counts \
                 WHERE tenant_id = $1 AND property = 'assignedLicenses' AND value = $2), 0) <= $3",
                vec![t(), sku.into(), i64::try_from(capacity).unwrap_or(i64::MAX).into()],
                StoreError::Conflict("seats".into()),
            )],
            vec![],
        ),
        Write::SetDynamicStatus(status) => (
            vec![statement(
                "INSERT INTO dynamic_status (tenant_id, group_id, status, updated_at, evaluated_at, error) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, group_id) DO UPDATE SET \
                 status = excluded.status, updated_at = excluded.updated_at, evaluated_at = excluded.evaluated_at, \
                 error = excluded.error",
                vec![
                    t(),
                    status.group.into(),
                    status.status.into(),
                    micros(status.updated_at).into(),
                    micros(status.evaluated_at).into(),
                    status.error.into(),
                ],
            )],
            vec![],
        ),
        Write::StartRefreshFamily(f) => (
            vec![statement(
                "INSERT INTO refresh_families (tenant_id, id, user_id, client_id, scopes, generation, auth_time, methods, \
                 expires_at, sliding, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                vec![
                    t(),
                    f.id.into(),
                    f.user.into(),
                    f.client.into(),
                    f.scopes.into(),
                    f.generation.into(),
                    micros(f.auth_time).into(),
                    f.methods.into(),
                    micros(f.expires_at).into(),
                    i64::from(f.sliding).into(),
                    i64::from(f.revoked).into(),
                ],
            )],
            vec![],
        ),
        Write::RotateRefreshFamily { id, from, expires_at } => (
            vec![checked(
                "UPDATE refresh_families SET generation = generation + 1, expires_at = $1 \
                 WHERE tenant_id = $2 AND id = $3 AND generation = $4 AND revoked = 0",
                vec![micros(expires_at).into(), t(), id.into(), from.into()],
                StoreError::Conflict("generation".into()),
            )],
            vec![],
        ),
        Write::RevokeRefreshFamily { id } => (
            vec![statement(
                "UPDATE refresh_families SET revoked = 1 WHERE tenant_id = $1 AND id = $2",
                vec![t(), id.into()],
            )],
            vec![],
        ),
        Write::CreateCode(c) => (
            vec![statement(
                "INSERT INTO authorization_codes (tenant_id, digest, client_id, redirect_uri, user_id, scopes, nonce, \
                 challenge, challenge_method, auth_time, methods, expires_at, family_id, redeemed) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                vec![
                    t(),
                    c.digest.into(),
                    c.client.into(),
                    c.redirect_uri.into(),
                    c.user.into(),
                    c.scopes.into(),
                    c.nonce.into(),
                    c.challenge.into(),
                    c.challenge_method.into(),
                    micros(c.auth_time).into(),
                    c.methods.into(),
                    micros(c.expires_at).into(),
                    c.family.into(),
                    i64::from(c.redeemed).into(),
                ],
            )],
            vec![],
        ),
        Write::RedeemCode { digest } => (
            vec![checked(
                "UPDATE authorization_codes SET redeemed = 1 WHERE tenant_id = $1 AND digest = $2 AND redeemed = 0",
                vec![t(), digest.into()],
                StoreError::Conflict("redeemed".into()),
            )],
            vec![],
        ),
        Write::CreateDeviceCode(d) => (
            vec![statement(
                "INSERT INTO device_codes (tenant_id, digest, user_code, client_id, scope, expires_at, status, user_id, \
                 auth_time, methods, scopes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                vec![
                    t(),
                    d.digest.into(),
                    d.user_code.into(),
                    d.client.into(),
                    d.scope.into(),
                    micros(d.expires_at).into(),
                    d.status.into(),
                    d.user.map(|u| u.to_string()).into(),
                    d.auth_time.map(micros).into(),
                    d.methods.into(),
                    d.scopes.into(),
                ],
            )],
            vec![],
        ),
        Write::DecideDeviceCode { user_code, approval } => {
            let decided = StoreError::Conflict("decided".into());
            let statement = match approval {
                Some((user, auth_time, methods, scopes)) => checked(
                    "UPDATE device_codes SET status = 'approved', user_id = $1, auth_time = $2, methods = $3, scopes = $4 \
                     WHERE tenant_id = $5 AND user_code = $6 AND status = 'pending'",
                    vec![user.into(), micros(auth_time).into(), methods.into(), scopes.into(), t(), user_code.into()],
                    decided,
                ),
                None => checked(
                    "UPDATE device_codes SET status = 'declined' WHERE tenant_id = $1 AND user_code = $2 AND status = 'pending'",
                    vec![t(), user_code.into()],
                    decided,
                ),
            };
            (vec![statement], vec![])
        }
        Write::RedeemDeviceCode { digest } => (
            vec![checked(
                "UPDATE device_codes SET status = 'redeemed' WHERE tenant_id = $1 AND digest = $2 AND status = 'approved'",
                vec![t(), digest.into()],
                StoreError::Conflict("redeemed".into()),
            )],
            vec![],
        ),
        Write::SetLockout { user, state, expected_version: None } => (
            vec![statement(
                "INSERT INTO sign_in_lockouts (tenant_id, user_id, state, version) VALUES ($1, $2, $3, 1)",
                vec![t(), user.into(), state.into()],
            )],
            vec![],
        ),
        Write::SetLockout { user, state, expected_version: Some(version) } => (
            vec![checked(
                "UPDATE sign_in_lockouts SET state = $1, version = version + 1 \
                 WHERE tenant_id = $2 AND user_id = $3 AND version = $4",
                vec![state.into(), t(), user.into(), version.into()],
                StoreError::Conflict("lockout".into()),
            )],
            vec![],
        ),
        Write::UseAssertion { client, jti, expires_at, now } => (
            vec![
                statement(
                    "DELETE FROM client_assertions WHERE tenant_id = $1 AND expires_at < $2",
                    vec![t(), micros(now).into()],
                ),
                statement(
                    "INSERT INTO client_assertions (tenant_id, client_id, jti, expires_at) VALUES ($1, $2, $3, $4)",
                    vec![t(), client.into(), jti.into(), micros(expires_at).into()],
                ),
            ],
            vec![],
        ),
        Write::AddPermissionGrant(g) => (
            vec![statement(
                "INSERT INTO permission_grants (tenant_id, id, client_id, principal_id, resource_id, scope, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                vec![
                    t(),
                    g.id.into(),
                    g.client.into(),
                    g.principal.map(|p| p.to_string()).unwrap_or_default().into(),
                    g.resource.into(),
                    g.scope.into(),
                    micros(g.created_at).into(),
                ],
            )],
            vec![Change::other("oauth2PermissionGrant", g.id, ChangeKind::Created, vec![g.client.to_string()])],
        ),
        Write::UpdatePermissionGrant { id, scope } => (
            vec![checked(
                "UPDATE permission_grants SET scope = $1 WHERE tenant_id = $2 AND id = $3",
                vec![scope.into(), t(), id.into()],
                StoreError::Missing,
            )],
            vec![Change::other("oauth2PermissionGrant", id, ChangeKind::Updated, vec!["scope".into()])],
        ),
        Write::RemovePermissionGrant { id } => (
            vec![checked(
                "DELETE FROM permission_grants WHERE tenant_id = $1 AND id = $2",
                vec![t(), id.into()],
                StoreError::Missing,
            )],
            vec![Change::other("oauth2PermissionGrant", id, ChangeKind::Purged, vec![])],
        ),
        Write::AddSigningKey(key) => (
            vec![statement(
                "INSERT INTO signing_keys (tenant_id, kid, sealed, created_at) VALUES ($1, $2, $3, $4)",
                vec![t(), key.kid.clone().into(), key.sealed_private_key.into(), micros(key.created_at).into()],
            )],
            vec![Change::other("signingKey", key.kid, ChangeKind::Created, vec![])],
        ),
    })
}

/// Maps a verified domain to its tenant; fails with `Conflict` when another tenant holds it.
pub(super) fn verified_domain(tenant: &str, name: &str) -> Statement {
    statement("INSERT INTO domains (name, tenant_id) VALUES ($1, $2)", vec![name.into(), tenant.into()])
}
