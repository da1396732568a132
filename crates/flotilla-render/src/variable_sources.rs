//! [`VariableSource`]s from the ConfigMaps and Secrets that `postBuild.substituteFrom`
//! names, as the hub reads them from the management cluster.

use std::collections::BTreeMap;

use flotilla_api::common::ValuesKind;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use crate::variables::VariableSource;

/// A Secret key whose value is not UTF-8 text, so cannot be substituted into a manifest.
/// Names the key, never the bytes.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("Secret/{secret}: the value of key {key:?} is not UTF-8 text")]
pub struct NotText {
    /// The Secret's name.
    pub secret: String,
    /// The key.
    pub key: String,
}

impl VariableSource {
    /// The `data` of a ConfigMap (`binaryData` holds no text and is ignored, as in Flux).
    pub fn from_config_map(config_map: &ConfigMap) -> Self {
        Self {
            kind: ValuesKind::ConfigMap,
            name: config_map.metadata.name.clone().unwrap_or_default(),
            data: config_map.data.clone().unwrap_or_default(),
        }
    }

    /// The `data` of a Secret (already base64-decoded by the client) and its `stringData`,
    /// which wins, as the API server merges it.
    pub fn from_secret(secret: &Secret) -> Result<Self, NotText> {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let mut data = BTreeMap::new();
        for (key, bytes) in secret.data.iter().flatten() {
            let text = String::from_utf8(bytes.0.clone()).map_err(|_| NotText {
                secret: name.clone(),
                key: key.clone(),
            })?;
            data.insert(key.clone(), text);
        }
        data.extend(secret.string_data.clone().unwrap_or_default());
        Ok(Self {
            kind: ValuesKind::Secret,
            name,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        }
    }

    #[test]
    fn secret_data_and_string_data_become_variables() {
        let secret = Secret {
            metadata: meta("creds"),
            data: Some(
                [
                    ("token".to_owned(), ByteString(b"from-data".to_vec())),
                    ("user".to_owned(), ByteString(b"admin".to_vec())),
                ]
                .into(),
            ),
            string_data: Some([("token".to_owned(), "from-string-data".to_owned())].into()),
            ..Default::default()
        };
        let source = VariableSource::from_secret(&secret).unwrap();
        assert_eq!(source.kind, ValuesKind::Secret);
        assert_eq!(source.data["token"], "from-string-data");
        assert_eq!(source.data["user"], "admin");
    }

    #[test]
    fn binary_secret_values_are_refused_without_showing_them() {
        let secret = Secret {
            metadata: meta("certs"),
            data: Some([("key.der".to_owned(), ByteString(vec![0xff, 0xfe, 0x41]))].into()),
            ..Default::default()
        };
        let err = VariableSource::from_secret(&secret).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Secret/certs: the value of key \"key.der\" is not UTF-8 text"
        );
    }

    #[test]
    fn config_map_data() {
        let config_map = ConfigMap {
            metadata: meta("defaults"),
            data: Some([("replicas".to_owned(), "3".to_owned())].into()),
            ..Default::default()
        };
        let source = VariableSource::from_config_map(&config_map);
        assert_eq!(source.name, "defaults");
        assert_eq!(source.data["replicas"], "3");
    }
}
