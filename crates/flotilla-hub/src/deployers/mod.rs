//! What the hub gathers for deployers (Kustomizations, HelmReleases) on the management
//! cluster before rendering them per cluster. The reconcilers themselves join later.

pub mod substitute_from;
