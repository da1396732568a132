//! What an apply did to each object, judged by its `resourceVersion` before and after:
//! none before means created, a new one means the server changed something, the same
//! one means the apply was a no-op.

use flotilla_render::ObjectId;

/// What the apply did to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// It did not exist.
    Created,
    /// It existed and the apply changed it (its resourceVersion changed).
    Configured,
    /// It existed and already matched (its resourceVersion did not change).
    Unchanged,
}

impl Action {
    /// The action that turned `before` into `after` (resourceVersions; `None` before means
    /// the object did not exist).
    pub(crate) fn between(before: Option<&str>, after: Option<&str>) -> Action {
        match before {
            None => Action::Created,
            Some(before) if Some(before) == after => Action::Unchanged,
            Some(_) => Action::Configured,
        }
    }
}

/// One applied object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedObject {
    /// The object.
    pub id: ObjectId,
    /// What the apply did.
    pub action: Action,
    /// Its resourceVersion after the apply.
    pub resource_version: Option<String>,
}

/// Every object of a successful apply, in apply order (stage by stage).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// The objects.
    pub objects: Vec<AppliedObject>,
}

impl ApplyReport {
    /// How many objects the apply did `action` to.
    pub fn count(&self, action: Action) -> usize {
        self.objects.iter().filter(|o| o.action == action).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions() {
        assert_eq!(Action::between(None, Some("3")), Action::Created);
        assert_eq!(Action::between(Some("3"), Some("3")), Action::Unchanged);
        assert_eq!(Action::between(Some("3"), Some("4")), Action::Configured);
    }
}
