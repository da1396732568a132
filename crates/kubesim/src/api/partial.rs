//! Metadata-only responses: `PartialObjectMetadata` and `PartialObjectMetadataList`.
//!
//! Clients that only need metadata (kube-rs' `get_metadata`, `list_metadata` and
//! `metadata_watcher`, client-go's metadata informers) ask for them with
//! `Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1` (or
//! `…List` for lists); gets, lists and watch events then carry only `metadata`.

use serde_json::{Value, json};

/// Whether the Accept header asks for metadata only (the list form included).
pub fn wants_metadata(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|t| {
            let t = t.replace(' ', "");
            t.contains("as=PartialObjectMetadata") && t.contains("g=meta.k8s.io")
        })
    })
}

/// The `PartialObjectMetadata` of an object.
pub fn partial(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or(json!({})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_forms() {
        assert!(wants_metadata(Some(
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
        )));
        assert!(wants_metadata(Some(
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
        )));
        assert!(!wants_metadata(Some("application/json")));
        let p = partial(&json!({"metadata": {"name": "a"}, "spec": {}}));
        assert_eq!(
            p,
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "a"}})
        );
    }
}
