//! kubesim: an emulated Kubernetes API server (see `/work/shared/kubesim.md` for the contract).
//!
//! This crate currently provides [`ssa`], the server-side apply merge library the HTTP layer
//! will call for every write.

pub mod ssa;
