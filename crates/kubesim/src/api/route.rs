//! Parsing request paths into what they address.
//!
//! The API server's URL space:
//! - `/api/v1/<resource>[/<name>[/<subresource>]]` and the same under `/apis/<group>/<version>`
//!   for cluster-scoped resources (and all-namespace lists of namespaced ones);
//! - `…/namespaces/<ns>/<resource>[/<name>[/<subresource>]]` for namespaced ones;
//! - `…/namespaces/<name>/status|finalize`, subresources of the Namespace itself, which
//!   share the shape `namespaces/<x>/<y>` with a namespaced collection: the real server
//!   resolves `<y>` as a resource first, and `status`/`finalize` are not resource names.

/// A path below a group/version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub resource: String,
    /// The namespace in the path, if any.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Everything a request path can address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    GroupVersion { group: String, version: String },
    OpenApiIndex,
    OpenApiDocument { group: String, version: String },
    Resource(ResourcePath),
    NotFound,
}

/// Parses a (percent-decoded) path.
pub fn parse(path: &str) -> Route {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group(group.to_string()),
        ["api", version] => Route::GroupVersion {
            group: String::new(),
            version: version.to_string(),
        },
        ["apis", group, version] => Route::GroupVersion {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["openapi", "v3"] => Route::OpenApiIndex,
        ["openapi", "v3", "api", version] => Route::OpenApiDocument {
            group: String::new(),
            version: version.to_string(),
        },
        ["openapi", "v3", "apis", group, version] => Route::OpenApiDocument {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["api", version, rest @ ..] => resource("", version, rest),
        ["apis", group, version, rest @ ..] => resource(group, version, rest),
        _ => Route::NotFound,
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Route {
    let mk = |resource: &str, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(ResourcePath {
            group: group.to_string(),
            version: version.to_string(),
            resource: resource.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
        })
    };
    let namespace_sub = |s: &str| matches!(s, "status" | "finalize");
    match rest {
        ["namespaces", ns, sub] if group.is_empty() && namespace_sub(sub) => {
            mk("namespaces", None, Some(ns), Some(sub))
        }
        ["namespaces", ns, resource] => mk(resource, Some(ns), None, None),
        ["namespaces", ns, resource, name] => mk(resource, Some(ns), Some(name), None),
        ["namespaces", ns, resource, name, sub] => mk(resource, Some(ns), Some(name), Some(sub)),
        [resource] => mk(resource, None, None, None),
        [resource, name] => mk(resource, None, Some(name), None),
        [resource, name, sub] => mk(resource, None, Some(name), Some(sub)),
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse(path) {
            Route::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn namespaced_and_cluster_paths() {
        let r = res("/api/v1/namespaces/default/configmaps/c");
        assert_eq!(r.group, "");
        assert_eq!(r.resource, "configmaps");
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.name.as_deref(), Some("c"));
        let r = res("/apis/apps/v1/deployments");
        assert_eq!((r.group.as_str(), r.namespace), ("apps", None));
        let r = res("/api/v1/namespaces/t");
        assert_eq!(
            (r.resource.as_str(), r.name.as_deref()),
            ("namespaces", Some("t"))
        );
        let r = res("/api/v1/namespaces/t/status");
        assert_eq!(r.subresource.as_deref(), Some("status"));
        assert_eq!(r.namespace, None);
        let r = res("/apis/apps/v1/namespaces/a/deployments/web/scale");
        assert_eq!(r.subresource.as_deref(), Some("scale"));
    }

    #[test]
    fn discovery_paths() {
        assert_eq!(parse("/version"), Route::Version);
        assert_eq!(parse("/apis"), Route::Groups);
        assert_eq!(
            parse("/openapi/v3/apis/apps/v1"),
            Route::OpenApiDocument {
                group: "apps".into(),
                version: "v1".into()
            }
        );
        assert_eq!(
            parse("/api/v1"),
            Route::GroupVersion {
                group: String::new(),
                version: "v1".into()
            }
        );
    }
}
