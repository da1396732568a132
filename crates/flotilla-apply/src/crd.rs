//! The set's own CustomResourceDefinitions: which custom kinds they define (so their
//! resources can wait for them) and waiting until the API server reports them
//! Established, i.e. serving their resources.

use std::collections::HashSet;
use std::time::Duration;

use flotilla_render::{Object, ObjectId};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use serde_json::Value;

use crate::error::ApplyError;

const GROUP: &str = "apiextensions.k8s.io";
const KIND: &str = "CustomResourceDefinition";
/// How often an unestablished CRD is read again.
const POLL: Duration = Duration::from_millis(100);

/// Whether `object` is a CustomResourceDefinition.
pub(crate) fn is_crd(object: &Object) -> bool {
    is_crd_id(&object.id)
}

/// Whether `id` is that of a CustomResourceDefinition.
pub(crate) fn is_crd_id(id: &ObjectId) -> bool {
    id.group == GROUP && id.kind == KIND
}

/// `(group, kind)` of every custom resource the set's CRDs define.
pub(crate) fn defined_kinds<'a>(
    objects: impl IntoIterator<Item = &'a Object>,
) -> HashSet<(String, String)> {
    objects
        .into_iter()
        .filter(|o| is_crd(o))
        .filter_map(|crd| {
            let spec = crd.value.get("spec")?;
            let group = spec.get("group")?.as_str()?;
            let kind = spec.get("names")?.get("kind")?.as_str()?;
            Some((group.to_owned(), kind.to_owned()))
        })
        .collect()
}

/// Waits until every CRD named in `names` has condition `Established=True`, reading each
/// again every [`POLL`], for at most `timeout` in all.
pub(crate) async fn wait_established(
    client: &Client,
    names: &[&str],
    timeout: Duration,
) -> Result<(), ApplyError> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, "v1", KIND));
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let deadline = tokio::time::Instant::now() + timeout;
    for name in names {
        loop {
            let crd = api
                .get_opt(name)
                .await
                .map_err(|source| ApplyError::Cluster {
                    what: format!("reading CustomResourceDefinition {name}"),
                    source,
                })?;
            if crd.is_some_and(|crd| established(&crd.data)) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApplyError::NotEstablished {
                    name: (*name).to_owned(),
                    timeout,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
    Ok(())
}

/// Whether a CRD's `status.conditions` has `Established` with status `True`.
fn established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Established")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kinds_and_conditions() {
        let crd = Object::new(
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                   "metadata": {"name": "widgets.example.com"},
                   "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}}}),
            "x",
        )
        .unwrap();
        assert_eq!(
            defined_kinds([&crd]),
            HashSet::from([("example.com".to_owned(), "Widget".to_owned())])
        );
        assert!(established(
            &json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}})
        ));
        assert!(!established(
            &json!({"status": {"conditions": [{"type": "Established", "status": "False"}]}})
        ));
        assert!(!established(&json!({})));
    }
}
