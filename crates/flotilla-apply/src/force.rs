//! `force`: recreating an object whose immutable fields changed, as Flux's
//! kustomize-controller does. The API server refuses such a change with 422 Invalid (a
//! Deployment's `spec.selector`, a Job's `spec.template`, a Service's `clusterIP`, most of
//! a StatefulSet's `spec`, the data of an `immutable: true` ConfigMap…); the server-side
//! dry-run already sees the refusal, so the applier knows before writing anything which
//! objects need recreating. With force on (for the deployer, or `flotilla.dev/force:
//! enabled` on the object) such an object is deleted, awaited until gone, and applied
//! anew; without it the run fails naming the object and the fields.

use std::time::Duration;

use flotilla_render::Object;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};

use crate::error::ObjectFailure;
use crate::target::Target;

/// How often a deleted object is read again until it is gone.
const POLL: Duration = Duration::from_millis(50);

/// The fields an update may not change, when `error` is the API server refusing an
/// immutable-field change; `None` for any other error. The list may be empty when the
/// server named no field.
pub(crate) fn immutable_fields(error: &kube::Error) -> Option<Vec<String>> {
    let kube::Error::Api(status) = error else {
        return None;
    };
    if status.code != 422 {
        return None;
    }
    let causes = status
        .details
        .as_ref()
        .map(|d| d.causes.as_slice())
        .unwrap_or_default();
    let mut fields: Vec<String> = causes
        .iter()
        .filter(|c| is_immutability(&c.message))
        .map(|c| c.field.clone())
        .filter(|f| !f.is_empty())
        .collect();
    if fields.is_empty() && !is_immutability(&status.message) {
        return None;
    }
    fields.dedup();
    Some(fields)
}

/// Whether a validation message is the server's refusal to change a frozen field, in the
/// wordings kube-apiserver (and CEL `self == oldSelf` rules, by convention) use.
fn is_immutability(message: &str) -> bool {
    message.contains("field is immutable")
        || message.contains("is immutable")
        || message.contains("may not change once set")
        || message.contains("updates to statefulset spec for fields other than")
}

/// The failure reported for an immutable-field change without force.
pub(crate) fn not_forced(object: &Object, fields: &[String], error: &kube::Error) -> ObjectFailure {
    let server = ObjectFailure::from_kube(&object.id, error).reason;
    let fields = if fields.is_empty() {
        "an immutable field".to_owned()
    } else {
        format!("immutable field(s) {}", fields.join(", "))
    };
    ObjectFailure {
        id: object.id.clone(),
        reason: format!(
            "{fields} changed; enable force on the deployer or annotate the object \
             flotilla.dev/force: enabled to recreate it ({server})"
        ),
    }
}

/// Deletes the live object (only the one of `uid`, so a concurrent recreation is not
/// deleted again), waits until it is gone for at most `timeout`, then applies `object`.
pub(crate) async fn recreate(
    target: &Target,
    object: &Object,
    uid: Option<String>,
    params: &PatchParams,
    timeout: Duration,
) -> Result<DynamicObject, ObjectFailure> {
    let name = &object.id.name;
    let failure = |e: kube::Error| ObjectFailure::from_kube(&object.id, &e);
    // An object without our owner labels was not listed: read which one is to go.
    let uid = match uid {
        Some(uid) => Some(uid),
        None => target
            .api
            .get_opt(name)
            .await
            .map_err(failure)?
            .and_then(|live| live.metadata.uid),
    };
    let mut delete = DeleteParams::background();
    if let Some(uid) = &uid {
        delete = delete.preconditions(Preconditions {
            uid: Some(uid.clone()),
            resource_version: None,
        });
    }
    match target.api.delete(name, &delete).await {
        Ok(_) => {}
        // Already gone: nothing to wait for.
        Err(kube::Error::Api(status)) if status.is_not_found() => {}
        Err(e) => return Err(failure(e)),
    }
    tracing::info!(object = %object.id, "deleted to recreate it (immutable field changed)");
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let live = target.api.get_opt(name).await.map_err(failure)?;
        let gone = match (&live, &uid) {
            (None, _) => true,
            (Some(live), Some(uid)) => live.metadata.uid.as_ref() != Some(uid),
            (Some(_), None) => false,
        };
        if gone {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ObjectFailure {
                id: object.id.clone(),
                reason: format!(
                    "deleted to recreate it (immutable field changed), but still present after {timeout:?}"
                ),
            });
        }
        tokio::time::sleep(POLL).await;
    }
    target
        .api
        .patch(name, params, &Patch::Apply(&object.value))
        .await
        .map_err(failure)
}

#[cfg(test)]
mod tests {
    use kube::core::{Status, response::StatusCause, response::StatusDetails};

    use super::*;

    fn invalid(message: &str, causes: &[(&str, &str)]) -> kube::Error {
        let mut status = Status::failure(message, "Invalid").with_code(422);
        status.details = Some(StatusDetails {
            causes: causes
                .iter()
                .map(|(field, message)| StatusCause {
                    reason: "FieldValueInvalid".into(),
                    message: (*message).into(),
                    field: (*field).into(),
                })
                .collect(),
            name: "web".into(),
            group: "apps".into(),
            kind: "deployments".into(),
            uid: String::new(),
            retry_after_seconds: 0,
        });
        kube::Error::Api(status.boxed())
    }

    #[test]
    fn recognises_immutable_field_errors() {
        let selector = invalid(
            r#"Deployment.apps "web" is invalid: spec.selector: Invalid value: {"matchLabels":{"app":"x"}}: field is immutable"#,
            &[(
                "spec.selector",
                r#"Invalid value: {"matchLabels":{"app":"x"}}: field is immutable"#,
            )],
        );
        assert_eq!(
            immutable_fields(&selector),
            Some(vec!["spec.selector".to_owned()])
        );
        let sts = invalid(
            r#"StatefulSet.apps "db" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas' are forbidden"#,
            &[(
                "spec",
                "Forbidden: updates to statefulset spec for fields other than 'replicas' are forbidden",
            )],
        );
        assert_eq!(immutable_fields(&sts), Some(vec!["spec".to_owned()]));
        let unknown = invalid(
            r#"Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"#,
            &[(
                "spec.replicas",
                "Invalid value: -1: must be greater than or equal to 0",
            )],
        );
        assert_eq!(immutable_fields(&unknown), None);
        let conflict = kube::Error::Api(
            Status::failure("field is immutable", "Conflict")
                .with_code(409)
                .boxed(),
        );
        assert_eq!(immutable_fields(&conflict), None);
    }
}
