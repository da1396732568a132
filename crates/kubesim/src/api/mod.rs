//! The request handler of one cluster: authentication, routing, dispatch to the verbs, and
//! the request log.

pub mod apply;
pub mod body;
pub mod columns;
pub mod fields;
pub mod list;
pub mod logs;
pub mod meta;
pub mod objects;
pub mod partial;
pub mod patch;
pub mod query;
pub mod route;
pub mod scale;
pub mod table;
pub mod token;
pub mod watch;

use crate::cluster::ClusterState;
use crate::discovery::{ResourceInfo, documents, openapi};
use crate::request_log::RequestRecord;
use crate::server::ConnInfo;
use crate::status::ApiError;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use query::Query;
use route::{ResourcePath, Route};
use std::sync::Arc;

/// A JSON response.
pub fn json_response<T: serde::Serialize + ?Sized>(code: StatusCode, value: &T) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub fn ok<T: serde::Serialize + ?Sized>(value: &T) -> Response<Body> {
    json_response(StatusCode::OK, value)
}

/// Everything a verb handler needs about the request.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub state: &'a Arc<ClusterState>,
    pub info: Arc<ResourceInfo>,
    pub path: ResourcePath,
    pub query: Query,
    pub content_type: Option<String>,
    pub user_agent: Option<String>,
    /// Answer with metadata only (`PartialObjectMetadata`).
    pub metadata_only: bool,
    /// Answer with a `Table` (what `kubectl get` asks for).
    pub table: bool,
}

impl Ctx<'_> {
    pub fn namespace(&self) -> &str {
        self.path.namespace.as_deref().unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.path.name.as_deref().unwrap_or("")
    }

    pub fn not_found(&self) -> ApiError {
        ApiError::not_found(&self.info.group, &self.info.plural, self.name())
    }

    /// The field manager of a non-apply write: `fieldManager`, else the User-Agent's
    /// program name, as the real server defaults it.
    pub fn manager(&self) -> String {
        if let Some(m) = self
            .query
            .field_manager
            .as_deref()
            .filter(|m| !m.is_empty())
        {
            return m.to_string();
        }
        self.user_agent
            .as_deref()
            .and_then(|ua| ua.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    }
}

fn header_str(req: &Request<hyper::body::Incoming>, name: header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn authenticated(state: &ClusterState, conn: ConnInfo, authorization: Option<&str>) -> bool {
    if conn.client_certificate {
        return true;
    }
    authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| t.trim() == state.token)
}

/// Handles one request.
pub async fn handle(
    state: Arc<ClusterState>,
    conn: ConnInfo,
    req: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let method = req.method().clone();
    let path = query::percent_decode(req.uri().path());
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let content_type = header_str(&req, header::CONTENT_TYPE);
    let user_agent = header_str(&req, header::USER_AGENT);
    let authorization = header_str(&req, header::AUTHORIZATION);
    let accept = header_str(&req, header::ACCEPT);
    let parsed = Query::parse(Some(&raw_query));
    let field_manager = parsed.as_ref().ok().and_then(|q| q.field_manager.clone());

    let route = route::parse(&path);
    let public = matches!(route, Route::Version | Route::Health) && authorization.is_none();
    let verdict = state.faults.check(method.as_str(), &path);
    if let Some(delay) = verdict.delay {
        tokio::time::sleep(delay).await;
    }
    let response = if !public && !authenticated(&state, conn, authorization.as_deref()) {
        ApiError::unauthorized().into_response()
    } else if let Some((error, _)) = verdict.error {
        error.into_response()
    } else {
        match parsed {
            Err(e) => e.into_response(),
            Ok(query) => {
                let body = Body::new(req.into_body());
                dispatch(
                    &state,
                    route,
                    method.clone(),
                    query,
                    Headers {
                        content_type: content_type.clone(),
                        user_agent: user_agent.clone(),
                        accept,
                    },
                    body,
                )
                .await
                .unwrap_or_else(IntoResponse::into_response)
            }
        }
    };
    state.log.push(RequestRecord {
        method: method.to_string(),
        path,
        query: raw_query,
        content_type,
        field_manager,
        user_agent,
        status: response.status().as_u16(),
    });
    response
}

fn get_only(method: &Method) -> Result<(), ApiError> {
    if method == Method::GET || method == Method::HEAD {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        )))
    }
}

/// The request headers the handlers look at.
#[derive(Debug)]
struct Headers {
    content_type: Option<String>,
    user_agent: Option<String>,
    accept: Option<String>,
}

async fn dispatch(
    state: &Arc<ClusterState>,
    route: Route,
    method: Method,
    query: Query,
    headers: Headers,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let Headers {
        content_type,
        user_agent,
        accept,
    } = headers;
    let catalog = state.catalog();
    match route {
        Route::Version => {
            get_only(&method)?;
            Ok(ok(&documents::version(&state.config.kubernetes_version)))
        }
        Route::Health => {
            let mut r = Response::new(Body::from("ok"));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Ok(r)
        }
        Route::CoreVersions | Route::Groups if documents::wants_aggregated(accept.as_deref()) => {
            get_only(&method)?;
            let doc = documents::aggregated(&catalog, route == Route::CoreVersions);
            let mut r = ok(&doc);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(documents::AGGREGATED_CONTENT_TYPE),
            );
            Ok(r)
        }
        Route::CoreVersions => {
            get_only(&method)?;
            Ok(ok(&documents::core_versions(&state.address)))
        }
        Route::Groups => {
            get_only(&method)?;
            Ok(ok(&documents::group_list(&catalog)))
        }
        Route::Group(g) => {
            get_only(&method)?;
            documents::group(&catalog, &g)
                .map(|d| ok(&d))
                .ok_or_else(ApiError::no_route)
        }
        Route::GroupVersion { group, version } => {
            get_only(&method)?;
            documents::resource_list(&catalog, &group, &version)
                .map(|d| ok(&d))
                .ok_or_else(ApiError::no_route)
        }
        Route::OpenApiIndex => {
            get_only(&method)?;
            Ok(ok(&openapi::index(&catalog)))
        }
        Route::OpenApiDocument { group, version } => {
            get_only(&method)?;
            let custom = state.custom();
            openapi::group_version_document(
                &catalog,
                &state.shared.definitions,
                &custom.openapi,
                &group,
                &version,
                &state.config.kubernetes_version,
            )
            .map(|d| ok(&d))
            .ok_or_else(ApiError::no_route)
        }
        Route::NotFound => Err(ApiError::no_route()),
        Route::Resource(path) => {
            let info = catalog
                .lookup(&path.group, &path.version, &path.resource)
                .cloned()
                .ok_or_else(ApiError::no_route)?;
            // A namespace in the path of a cluster-scoped resource addresses nothing.
            if !info.namespaced && path.namespace.is_some() {
                return Err(ApiError::no_route());
            }
            if let Some(sub) = path.subresource.as_deref()
                && !info.has_subresource(sub)
            {
                return Err(ApiError::no_route());
            }
            let ctx = Ctx {
                state,
                info,
                path,
                query,
                content_type,
                user_agent,
                metadata_only: partial::wants_metadata(accept.as_deref())
                    && !table::wants_table(accept.as_deref()),
                table: table::wants_table(accept.as_deref()),
            };
            let is_crd = ctx.info.group == crate::crd::CRD_GROUP
                && ctx.info.plural == crate::crd::CRD_PLURAL;
            let writes = method != Method::GET;
            let response = resource(ctx, method, body).await;
            if is_crd && writes && response.is_ok() {
                state.refresh_crds();
            }
            response
        }
    }
}

async fn resource(ctx: Ctx<'_>, method: Method, body: Body) -> Result<Response<Body>, ApiError> {
    if ctx.path.subresource.as_deref() == Some("scale") {
        return scale::handle(&ctx, method, body).await;
    }
    if ctx.path.subresource.as_deref() == Some("log") {
        return logs::get(&ctx, &method);
    }
    if ctx.path.subresource.as_deref() == Some("token") && method == Method::POST {
        let bytes = body::read(body).await?;
        return token::create(&ctx, &bytes);
    }
    let named = ctx.path.name.is_some();
    // The deprecated watch of one object by URL is a watch of its collection by name.
    if named && method == Method::GET && ctx.query.watch && ctx.path.subresource.is_none() {
        let mut ctx = ctx;
        let by_name = format!("metadata.name={}", ctx.name());
        ctx.query.field_selector = Some(match ctx.query.field_selector.take() {
            Some(f) if !f.is_empty() => format!("{f},{by_name}"),
            _ => by_name,
        });
        ctx.path.name = None;
        return watch::watch(&ctx);
    }
    // Reads are answered at once; writes first read the request body.
    type Write = fn(&Ctx<'_>, bytes::Bytes) -> Result<Response<Body>, ApiError>;
    let write: Write = match (method, named) {
        (Method::GET, false) if ctx.query.watch => return watch::watch(&ctx),
        (Method::GET, false) => return list::list(&ctx),
        (Method::GET, true) => return objects::get(&ctx),
        (Method::POST, false) => objects::create,
        (Method::DELETE, false) => list::delete_collection,
        (Method::PUT, true) => objects::update,
        (Method::PATCH, true) => patch::patch,
        (Method::DELETE, true) => objects::delete,
        (method, _) => {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({method})"
            )));
        }
    };
    write(&ctx, body::read(body).await?)
}
