//! The admin center's applications: app registrations a page at a time with search, a new registration
//! (its enterprise application made with it, as Entra's portal does), and an application's page — its ids
//! and redirect URIs, client secrets (a new one shown once; removal after confirmation), its app roles, and
//! who is assigned to them (users and groups added and removed), and its provisioning jobs with their state
//! and log (started, paused and restarted). Every action goes through the same use
//! cases as Graph.

use super::{
    admin_page, confirm_page, home, input, listing_of, may, next_link, refused, search_form, table, Admin, AdminForm,
    Confirmation, Searched, PURPOSE,
};
use crate::pages::{escape, hidden_fields, redirect};
use crate::IdentityState;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use gatehouse_core::auth::authorization::Action;
use gatehouse_core::filter::{Filter, Literal, Op, Test};
use gatehouse_core::kernel::error::Error;
use gatehouse_core::provisioning::Control;
use gatehouse_core::query::Listing;
use gatehouse_core::store::{ObjectKind, ObjectRecord, ProvisioningLogQuery};
use gatehouse_core::Caller;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The provisioning log entries an app's page shows.
const LOG_SHOWN: u32 = 20;

fn body_of(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// `GET /{tenant}/admin/apps?search=…&page=…`: app registrations by display name.
pub async fn apps(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (search, listing) = listing_of(&state, &query, "admin-apps", Searched::Names);
    let page = match state.directory.applications().list(&caller, ObjectKind::Application, listing).await {
        Ok(page) => page,
        Err(e) => return refused(&tenant, &caller, &e),
    };
    let path = format!("{}/apps", home(&tenant));
    let rows: Vec<String> = page
        .items
        .iter()
        .map(|app| {
            let text = |name: &str| escape(app.doc.get(name).and_then(Value::as_str).unwrap_or_default());
            format!(
                "<tr><td><a href=\"{}/{}\">{}</a></td><td>{}</td></tr>\n",
                escape(&path),
                app.id,
                text("displayName"),
                text("appId")
            )
        })
        .collect();
    let new = match may(&caller, Action::WriteApplications) {
        true => format!("<p><a href=\"{}/new\">New registration</a></p>", escape(&path)),
        false => String::new(),
    };
    let body = format!(
        "<h1>App registrations</h1>\n{new}\n{}\n{}\n{}",
        search_form(&path, "Search by name", &search),
        table("Applications", &["Name", "Application (client) id"], &rows, "There are no app registrations yet."),
        next_link(&state, "admin-apps", &path, &search, page.next),
    );
    admin_page(&tenant, &caller, "App registrations", &body, &[])
}

/// The new-registration form, with what was entered and the problem beside its field.
fn new_app_form(
    state: &IdentityState,
    tenant: &str,
    caller: &Caller,
    entered: (&str, &str),
    problem: Option<&Error>,
) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "form": "new-app"}));
    let at = |name: &str| problem.filter(|p| p.target.as_deref() == Some(name)).map(|p| p.message.as_str());
    let general = problem
        .filter(|p| !matches!(p.target.as_deref(), Some("displayName" | "web")))
        .map(|p| format!("<p role=\"alert\">{}</p>\n", escape(&p.message)))
        .unwrap_or_default();
    let base = escape(&home(tenant));
    let body = format!(
        "<h1>Register an application</h1>\n{general}<form method=\"post\" action=\"{base}/apps/new\">\n{fields}\n{}\n{}\n<p>Who can use it: accounts in this organization only.</p>\n<p><button type=\"submit\">Register</button> <a href=\"{base}/apps\">Cancel</a></p>\n</form>",
        input("displayName", "Name", "text", entered.0, at("displayName"), " required"),
        input("redirectUri", "Redirect URI (web, optional)", "url", entered.1, at("web"), ""),
    );
    let mut response = admin_page(tenant, caller, "Register an application", &body, &[csrf]);
    if let Some(problem) = problem {
        *response.status_mut() = super::status_of(problem);
    }
    response
}

/// `GET /{tenant}/admin/apps/new`.
pub async fn new_app(State(state): State<IdentityState>, Admin { tenant, caller }: Admin) -> Response {
    new_app_form(&state, &tenant, &caller, ("", ""), None)
}

/// `POST /{tenant}/admin/apps/new`: the registration and its enterprise application, then its page.
pub async fn create_app(State(state): State<IdentityState>, AdminForm { tenant, caller, form }: AdminForm) -> Response {
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
    let (name, uri) = (field("displayName"), field("redirectUri"));
    let mut body = json!({"displayName": name});
    if !uri.is_empty() {
        body["web"] = json!({"redirectUris": [uri]});
    }
    let applications = state.directory.applications();
    let app = match applications.create_application(&caller, &body_of(body)).await {
        Ok(app) => app,
        Err(e) => return new_app_form(&state, &tenant, &caller, (name, uri), Some(&e)),
    };
    let app_id = app.doc.get("appId").cloned().unwrap_or(Value::Null);
    if let Err(e) = applications.create_service_principal(&caller, &body_of(json!({"appId": app_id}))).await {
        return refused(&tenant, &caller, &e);
    }
    redirect(&format!("{}/apps/{}", home(&tenant), app.id), &[])
}

/// The application or service principal (`kind`) of an app id, when there is one.
pub(crate) async fn by_app_id(
    state: &IdentityState,
    caller: &Caller,
    kind: ObjectKind,
    app_id: &str,
) -> Option<ObjectRecord> {
    let filter = Filter::Property {
        property: "appId".into(),
        test: Test::Compare(Op::Eq, Literal::Text(app_id.to_lowercase())),
    };
    let listing = Listing { filter: Some(filter), order: Vec::new(), after: None, top: 1, count: false };
    let page = state.directory.applications().list(caller, kind, listing).await.ok()?;
    page.items.into_iter().next()
}

/// The enterprise application (service principal) of an app registration, when there is one.
async fn service_principal(state: &IdentityState, caller: &Caller, app: &ObjectRecord) -> Option<ObjectRecord> {
    let app_id = app.doc.get("appId").and_then(Value::as_str)?;
    by_app_id(state, caller, ObjectKind::ServicePrincipal, app_id).await
}

/// The app's roles people can be assigned, by id: the default access first, as Entra lists it.
fn assignable_roles(app: &ObjectRecord) -> Vec<(String, String)> {
    let roles = app.doc.get("appRoles").and_then(Value::as_array).into_iter().flatten();
    let roles = roles.filter(|r| {
        r["isEnabled"] != false && r["allowedMemberTypes"].as_array().is_some_and(|t| t.iter().any(|t| t == "User"))
    });
    std::iter::once((uuid::Uuid::nil().to_string(), "Default Access".to_owned()))
        .chain(roles.map(|r| {
            (r["id"].as_str().unwrap_or_default().to_owned(), r["displayName"].as_str().unwrap_or_default().to_owned())
        }))
        .collect()
}

/// An application's page, with a note (a new secret, shown this once) when an action just happened.
async fn app_page(state: &IdentityState, tenant: &str, caller: &Caller, id: &str, note: Option<&str>) -> Response {
    let applications = state.directory.applications();
    let app = match applications.get(caller, ObjectKind::Application, id).await {
        Ok(app) => app,
        Err(e) => return refused(tenant, caller, &e),
    };
    let text = |name: &str| escape(app.doc.get(name).and_then(Value::as_str).unwrap_or_default());
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "object": app.id}));
    let action = format!("{}/apps/{}", escape(&home(tenant)), app.id);
    let form = |inner: String| format!("<form method=\"post\" action=\"{action}\">\n{fields}\n{inner}\n</form>");
    let writes = may(caller, Action::WriteApplications);
    let listed = |name: &str, list: &str| {
        app.doc.get(name).and_then(|v| v.get(list)).and_then(Value::as_array).cloned().unwrap_or_default()
    };
    let uris: String = ["web", "publicClient", "spa"]
        .iter()
        .flat_map(|kind| listed(kind, "redirectUris"))
        .collect::<Vec<Value>>()
        .iter()
        .filter_map(Value::as_str)
        .map(|uri| format!("<li>{}</li>", escape(uri)))
        .collect();
    let property = |name: &str| app.doc.get(name).and_then(Value::as_array).cloned().unwrap_or_default();
    let secrets: Vec<String> = property("passwordCredentials")
        .iter()
        .map(|secret| {
            let value = |name: &str| escape(secret[name].as_str().unwrap_or_default());
            let remove = match writes {
                true => form(format!(
                    "<input type=\"hidden\" name=\"key\" value=\"{}\"><button type=\"submit\" name=\"action\" value=\"remove-secret\" aria-label=\"Remove the secret {}…\">Remove</button>",
                    value("keyId"),
                    value("hint")
                )),
                false => String::new(),
            };
            format!(
                "<tr><td>{}</td><td>{}…</td><td>{}</td><td>{remove}</td></tr>\n",
                value("displayName"),
                value("hint"),
                value("endDateTime")
            )
        })
        .collect();
    let new_secret = match writes {
        true => form(format!(
            "{}<p><button type=\"submit\" name=\"action\" value=\"add-secret\">New client secret</button></p>",
            input("description", "Description", "text", "", None, "")
        )),
        false => String::new(),
    };
    let roles: Vec<String> = property("appRoles")
        .iter()
        .map(|role| {
            let value = |name: &str| escape(role[name].as_str().unwrap_or_default());
            let members = role["allowedMemberTypes"]
                .as_array()
                .map(|t| t.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "));
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                value("displayName"),
                value("value"),
                escape(&members.unwrap_or_default()),
                value("description")
            )
        })
        .collect();
    let sp = service_principal(state, caller, &app).await;
    let role_names = assignable_roles(&app);
    let assigned = match &sp {
        Some(sp) => {
            let assignments = applications.app_role_assigned_to(caller, &sp.id.to_string()).await.unwrap_or_default();
            let grants = may(caller, Action::GrantAppRoles);
            let rows: Vec<String> = assignments
                .iter()
                .map(|a| {
                    let role = role_names
                        .iter()
                        .find(|(id, _)| id.eq_ignore_ascii_case(&a.record.app_role_id.to_string()))
                        .map_or("Unknown role", |(_, name)| name.as_str());
                    let name = a.principal_display_name.clone().unwrap_or_default();
                    let remove = match grants {
                        true => form(format!(
                            "<input type=\"hidden\" name=\"assignment\" value=\"{}\"><button type=\"submit\" name=\"action\" value=\"unassign\" aria-label=\"Remove {}'s assignment\">Remove</button>",
                            a.record.id,
                            escape(&name)
                        )),
                        false => String::new(),
                    };
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{remove}</td></tr>\n",
                        escape(&name),
                        a.principal_type,
                        escape(role)
                    )
                })
                .collect();
            let options: String = role_names
                .iter()
                .map(|(id, name)| format!("<option value=\"{}\">{}</option>", escape(id), escape(name)))
                .collect();
            let add = match grants {
                true => form(format!(
                    "{}<p><label for=\"role\">Role</label>\n<select id=\"role\" name=\"role\">{options}</select></p>\n<p><button type=\"submit\" name=\"action\" value=\"assign\">Assign</button></p>",
                    input("principal", "User name, or a group's name", "text", "", None, " required")
                )),
                false => String::new(),
            };
            format!(
                "{}\n{add}",
                table(
                    "Who is assigned to the application",
                    &["Name", "Type", "Role"],
                    &rows,
                    "Nobody is assigned yet."
                )
            )
        }
        None => "<p class=\"empty\">The application has no enterprise application in this organization.</p>".to_owned(),
    };
    let provisioning = match &sp {
        Some(sp) if may(caller, Action::ReadSynchronization) => provisioning(state, caller, sp, &form).await,
        _ => String::new(),
    };
    let delete = match writes {
        true => form("<button type=\"submit\" name=\"action\" value=\"delete\">Delete registration</button>".into()),
        false => String::new(),
    };
    let note = note.map(|n| format!("<div role=\"status\" class=\"note\">{n}</div>\n")).unwrap_or_default();
    let body = format!(
        "<h1>{name}</h1>\n{note}<dl>\n<dt>Application (client) id</dt><dd id=\"app-id\">{app_id}</dd>\n<dt>Object id</dt><dd>{id}</dd>\n<dt>Supported accounts</dt><dd>This organization only</dd>\n</dl>\n<h2>Redirect URIs</h2>\n<ul>{uris}</ul>\n<h2>Client secrets</h2>\n{secrets}\n{new_secret}\n<h2>App roles</h2>\n{roles}\n<h2>Users and groups</h2>\n{assigned}\n{provisioning}{delete}",
        name = text("displayName"),
        app_id = text("appId"),
        id = app.id,
        secrets = table("Client secrets (their values are never shown again)", &["Description", "Value", "Expires"], &secrets, "The application has no client secrets."),
        roles = table("App roles", &["Name", "Value", "Who may hold it", "Description"], &roles, "The application defines no app roles."),
    );
    admin_page(tenant, caller, "Application", &body, &[csrf])
}

/// The app's provisioning jobs (users pushed into it over SCIM): each job's state, last run and counts, with
/// Start, Pause and Restart for those who manage provisioning; then the newest entries of its log.
async fn provisioning(
    state: &IdentityState,
    caller: &Caller,
    sp: &ObjectRecord,
    form: &impl Fn(String) -> String,
) -> String {
    let service = state.directory.provisioning();
    let jobs = service.jobs(caller, &sp.id.to_string()).await.unwrap_or_default();
    if jobs.is_empty() {
        return "<h2>Provisioning</h2>\n<p class=\"empty\">The application has no provisioning job: set one up through Graph's synchronization API.</p>\n".to_owned();
    }
    let manages = may(caller, Action::ManageSynchronization);
    let rows: Vec<String> = jobs
        .iter()
        .map(|job| {
            let id = escape(job.get("id").and_then(Value::as_str).unwrap_or_default());
            let status = job.get("status").cloned().unwrap_or(Value::Null);
            let last = &status["lastExecution"];
            let counts: Vec<String> = status["synchronizedEntryCountByType"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| format!("{} {}", c["value"], c["key"].as_str().unwrap_or_default().to_lowercase()))
                .collect();
            let controls = match manages {
                true => form(format!(
                    "<input type=\"hidden\" name=\"job\" value=\"{id}\"><button type=\"submit\" name=\"action\" value=\"start\">Start</button> <button type=\"submit\" name=\"action\" value=\"pause\">Pause</button> <button type=\"submit\" name=\"action\" value=\"restart\">Restart</button>"
                )),
                false => String::new(),
            };
            format!(
                "<tr><td class=\"job-state\">{}</td><td>{} {}</td><td>{}</td><td>{controls}</td></tr>\n",
                escape(status["code"].as_str().unwrap_or_default()),
                escape(last["state"].as_str().unwrap_or("Not run yet")),
                escape(last["timeEnded"].as_str().unwrap_or_default()),
                escape(&counts.join(", ")),
            )
        })
        .collect();
    let first_job = jobs.first().and_then(|j| j.get("id")).and_then(Value::as_str);
    let job = first_job.and_then(gatehouse_core::provisioning::job::parse_job_id);
    let query = ProvisioningLogQuery { job, limit: LOG_SHOWN, ..ProvisioningLogQuery::default() };
    let log = service.log(caller, &query).await.unwrap_or_default();
    let log_rows: Vec<String> = log
        .iter()
        .map(|entry| {
            let text = |name: &str| escape(entry.get(name).and_then(Value::as_str).unwrap_or_default());
            let who = entry.get("sourceIdentity").and_then(|s| s["displayName"].as_str()).unwrap_or_default();
            let info = entry.get("provisioningStatusInfo").cloned().unwrap_or(Value::Null);
            let reason = info["errorInformation"]["reason"].as_str().unwrap_or_default();
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>\n",
                text("activityDateTime"),
                escape(who),
                text("provisioningAction"),
                escape(info["status"].as_str().unwrap_or_default()),
                escape(reason),
            )
        })
        .collect();
    format!(
        "<h2>Provisioning</h2>\n{}\n{}\n",
        table("Provisioning jobs", &["State", "Last run", "In the app", "Control"], &rows, ""),
        table(
            "Provisioning log, newest first",
            &["Date", "Who", "Action", "Result"],
            &log_rows,
            "Nothing was provisioned yet."
        ),
    )
}

/// `GET /{tenant}/admin/apps/{id}`.
pub async fn app(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    app_page(&state, &tenant, &caller, &id, None).await
}

/// The principal an assignment names: a user by user name, else a group by its exact name.
async fn principal(state: &IdentityState, caller: &Caller, name: &str) -> Result<(ObjectKind, ObjectRecord), Error> {
    if let Ok(user) = state.directory.users().get(caller, name).await {
        return Ok((ObjectKind::User, user));
    }
    let filter = Filter::Property {
        property: "displayName".into(),
        test: Test::Compare(Op::Eq, Literal::Text(gatehouse_core::kernel::text::fold(name))),
    };
    let listing = Listing { filter: Some(filter), order: Vec::new(), after: None, top: 2, count: false };
    let found = state.directory.groups().list(caller, listing).await?.items;
    match found.as_slice() {
        [group] => Ok((ObjectKind::Group, group.clone())),
        [] => Err(Error::invalid_property("principal", format!("No user or group is named '{name}'."))),
        _ => Err(Error::invalid_property("principal", format!("Several groups are named '{name}': use a user name."))),
    }
}

/// `POST /{tenant}/admin/apps/{id}`: a secret added or removed, an assignment added or removed, or the
/// registration deleted once confirmed.
pub async fn app_action(
    State(state): State<IdentityState>,
    Path((_, id)): Path<(String, String)>,
    AdminForm { tenant, caller, form }: AdminForm,
) -> Response {
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
    let applications = state.directory.applications();
    let application = ObjectKind::Application;
    let done = match field("action") {
        "add-secret" => {
            let body = json!({"passwordCredential": {"displayName": field("description")}});
            applications.add_password(&caller, application, &id, &body_of(body)).await.map(|made| {
                format!(
                    "<p>A new client secret. Copy its value now: it is never shown again.</p>\n<p><code id=\"secret\">{}</code></p>",
                    escape(made.credential["secretText"].as_str().unwrap_or_default())
                )
            })
        }
        "remove-secret" => {
            let action = format!("{}/apps/{id}", home(&tenant));
            let question = "Remove this client secret?";
            let consequence = "Anything that signs in with it stops working at once.";
            let asked = Confirmation::new(question, consequence, (&action, "remove-secret-confirmed"));
            let asked = asked.labelled("Remove").on(&id).carrying("key", field("key"));
            return confirm_page(&state, (&tenant, &caller), asked);
        }
        "remove-secret-confirmed" => applications
            .remove_password(&caller, application, &id, &body_of(json!({"keyId": field("key")})))
            .await
            .map(|()| "The client secret was removed.".to_owned()),
        "assign" => match applications.get(&caller, application, &id).await {
            Ok(app) => match (
                service_principal(&state, &caller, &app).await,
                principal(&state, &caller, field("principal")).await,
            ) {
                (Some(sp), Ok((kind, holder))) => {
                    let body = json!({"principalId": holder.id, "resourceId": sp.id, "appRoleId": field("role")});
                    applications
                        .assign_app_role(&caller, Some(kind), &holder.id.to_string(), &body_of(body))
                        .await
                        .map(|_| format!("{} was assigned.", escape(field("principal"))))
                }
                (None, _) => Err(Error::invalid("The application has no enterprise application to assign people to.")),
                (_, Err(e)) => Err(e),
            },
            Err(e) => Err(e),
        },
        "unassign" => match applications.get(&caller, application, &id).await {
            Ok(app) => match service_principal(&state, &caller, &app).await {
                Some(sp) => applications
                    .remove_app_role_assignment(&caller, None, &sp.id.to_string(), field("assignment"))
                    .await
                    .map(|()| "The assignment was removed.".to_owned()),
                None => Err(Error::not_found(field("assignment"))),
            },
            Err(e) => Err(e),
        },
        control @ ("start" | "pause" | "restart") => {
            let control = match control {
                "start" => Control::Start,
                "pause" => Control::Pause,
                _ => Control::Restart,
            };
            match applications.get(&caller, application, &id).await {
                Ok(app) => match service_principal(&state, &caller, &app).await {
                    Some(sp) => state
                        .directory
                        .provisioning()
                        .control(&caller, &sp.id.to_string(), field("job"), control)
                        .await
                        .map(|()| "The provisioning job was told.".to_owned()),
                    None => Err(Error::not_found(field("job"))),
                },
                Err(e) => Err(e),
            }
        }
        "delete" => {
            let found = applications.get(&caller, application, &id).await;
            let consequence = "The registration goes to deleted applications and can be restored for 30 days. Its secrets and certificates stop signing in at once.";
            return super::ask_delete(&state, (&tenant, &caller), ("apps", &id), found, consequence);
        }
        "delete-confirmed" => {
            return super::deleted(&tenant, &caller, "apps", applications.delete(&caller, application, &id).await)
        }
        _ => Err(Error::invalid("Choose an action.")),
    };
    match done {
        Ok(note) => app_page(&state, &tenant, &caller, &id, Some(&note)).await,
        Err(e) => refused(&tenant, &caller, &e),
    }
}
