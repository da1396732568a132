//! Identifiers and enumerations shared by the store's modules.

use serde::{Deserialize, Serialize};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef, Postgres};

use crate::StoreError;

/// Database id of a cluster row.
pub type ClusterId = i64;
/// Database id of a deployer row.
pub type DeployerId = i64;

/// Identity of a Kubernetes object on a workload cluster. `group` is `""` for the core API
/// group and `namespace` is `""` for cluster-scoped objects.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::FromRow,
)]
pub struct ObjectRef {
    #[sqlx(rename = "object_group")]
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(
        group: impl Into<String>,
        kind: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// Declares an enum stored as CHECK-constrained text: `as_str` gives the stored text, and
/// the sqlx impls let it be bound, read (also as `Option`) and sent in arrays as `text`.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// The text stored in the database (and used in JSON).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = StoreError;

            fn from_str(value: &str) -> Result<Self, StoreError> {
                match value {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(StoreError::InvalidValue { what: $what, value: value.to_owned() }),
                }
            }
        }

        impl sqlx::Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <&str as sqlx::Type<Postgres>>::type_info()
            }

            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as sqlx::Type<Postgres>>::compatible(ty)
            }
        }

        impl PgHasArrayType for $name {
            fn array_type_info() -> PgTypeInfo {
                <&str as PgHasArrayType>::array_type_info()
            }
        }

        impl sqlx::Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as sqlx::Encode<'_, Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as sqlx::Decode<'r, Postgres>>::decode(value)?;
                Ok(text.parse()?)
            }
        }
    };
}

text_enum!(
    /// The kinds of deployer Flotilla reconciles.
    DeployerKind, "deployer kind" {
        Kustomization => "Kustomization",
        HelmRelease => "HelmRelease",
    }
);

text_enum!(
    /// Readiness of one deployer on one cluster, in kstatus terms.
    DeployerStatus, "deployer status" {
        /// Targeted but not reconciled yet (e.g. waiting on `dependsOn`).
        Pending => "pending",
        /// Applied and waiting for health checks.
        Progressing => "progressing",
        Ready => "ready",
        Failed => "failed",
        Suspended => "suspended",
    }
);

text_enum!(
    /// How a reconcile run ended; `Running` until it does.
    RunOutcome, "run outcome" {
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        /// Nothing attempted, e.g. a dependency is not ready on this cluster.
        Skipped => "skipped",
        /// Interrupted, e.g. by hub shutdown.
        Cancelled => "cancelled",
    }
);

text_enum!(
    /// What happened to an object out of band.
    DriftKind, "drift kind" {
        Modified => "modified",
        Deleted => "deleted",
    }
);

text_enum!(
    /// How an open drift event was closed.
    DriftResolution, "drift resolution" {
        /// The hub re-applied the desired state.
        Corrected => "corrected",
        /// The live object returned to the desired state by someone else's hand.
        Reverted => "reverted",
        /// The desired state changed to match, or an operator accepted the change.
        Accepted => "accepted",
        /// The object left the inventory, so there is nothing to converge any more.
        Pruned => "pruned",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_enums_round_trip() {
        for status in [
            DeployerStatus::Pending,
            DeployerStatus::Ready,
            DeployerStatus::Failed,
        ] {
            assert_eq!(status.as_str().parse::<DeployerStatus>().ok(), Some(status));
        }
        assert!("fixed".parse::<DriftResolution>().is_err());
        assert_eq!(
            serde_json::to_string(&DeployerKind::HelmRelease)
                .ok()
                .as_deref(),
            Some("\"HelmRelease\"")
        );
    }
}
