//! Reading a Secret a source refers to. Its values stay in memory and never reach a log,
//! an error or a status: messages name the Secret, never its content.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

/// The data of Secret `name` in `namespace`; an error message naming it when it is missing
/// or unreadable.
pub async fn read(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(Some(secret)) => {
            let mut data: BTreeMap<String, Vec<u8>> = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            // An API server folds stringData into data on write; a client-built object
            // (or a permissive server) may still carry it.
            for (k, v) in secret.string_data.unwrap_or_default() {
                data.entry(k).or_insert_with(|| v.into_bytes());
            }
            Ok(data)
        }
        Ok(None) => Err(format!("secret '{namespace}/{name}' not found")),
        Err(e) => Err(format!("cannot read secret '{namespace}/{name}': {e}")),
    }
}
