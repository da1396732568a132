//! The artifact store on its own: atomic, content-addressed, bounded and unescapable.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use flotilla_api::revision::Revision;
use flotilla_source::{ArtifactStore, Limits, SourceError};

const REV: &str = "main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738";

fn rev() -> Revision {
    REV.parse().unwrap()
}

/// Every path under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(base).unwrap().display().to_string());
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn store_in(dir: &Path, limits: Limits) -> ArtifactStore {
    ArtifactStore::open(dir.join("store"), limits).unwrap()
}

#[test]
fn same_content_is_stored_once_read_only_under_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path(), Limits::default());
    let write = |body: &str| {
        let mut w = store.writer().unwrap();
        w.add_file(b"apps/a.yaml", false, body.as_bytes()).unwrap();
        w.add_file(b"run.sh", true, b"#!/bin/sh\n").unwrap();
        w.add_symlink(b"apps/link.yaml", b"a.yaml").unwrap();
        w.finish(rev()).unwrap()
    };
    let first = write("a: 1\n");
    let again = write("a: 1\n");
    let other = write("a: 2\n");
    assert_eq!(first.digest, again.digest);
    assert_eq!(first.path, again.path);
    assert_ne!(first.digest, other.digest);
    assert_eq!(first.path, store.root().join(first.digest.hex()));
    assert_eq!((first.size, first.files), (15, 3));
    assert_eq!(
        fs::read_to_string(first.path.join("apps/link.yaml")).unwrap(),
        "a: 1\n"
    );
    assert!(
        fs::metadata(first.path.join("apps/a.yaml"))
            .unwrap()
            .permissions()
            .readonly()
    );
    assert!(fs::metadata(&first.path).unwrap().permissions().readonly());
    // An empty directory is content too.
    let mut w = store.writer().unwrap();
    w.add_file(b"apps/a.yaml", false, b"a: 1\n").unwrap();
    w.add_file(b"run.sh", true, b"#!/bin/sh\n").unwrap();
    w.add_symlink(b"apps/link.yaml", b"a.yaml").unwrap();
    w.add_dir(b"empty/dir").unwrap();
    let with_dir = w.finish(rev()).unwrap();
    assert_ne!(with_dir.digest, first.digest);
    assert!(with_dir.path.join("empty/dir").is_dir());
    assert!(matches!(
        store.writer().unwrap().add_dir(b"../up"),
        Err(SourceError::Rejected(_))
    ));
    store
        .gc(&[first.digest.clone(), other.digest.clone()].into())
        .unwrap();
    // Two artifacts, no temporary directories left behind.
    assert_eq!(fs::read_dir(store.root()).unwrap().count(), 2);
    let status = first.to_status();
    assert_eq!(status.revision, REV);
    assert_eq!(status.digest, first.digest.to_string());
    assert_eq!(status.size, Some(15));
}

#[test]
fn gc_removes_only_unreferenced_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path(), Limits::default());
    let mut artifacts = Vec::new();
    for i in 0..3 {
        let mut w = store.writer().unwrap();
        w.add_file(b"x", false, format!("{i}").as_bytes()).unwrap();
        artifacts.push(w.finish(rev()).unwrap());
    }
    let live: HashSet<_> = [artifacts[0].digest.clone(), artifacts[2].digest.clone()].into();
    let report = store.gc(&live).unwrap();
    assert_eq!(report.removed, vec![artifacts[1].digest.clone()]);
    assert!(artifacts[0].path.join("x").is_file());
    assert!(!artifacts[1].path.exists());
    assert!(store.path_of(&artifacts[2].digest).is_some());
    assert!(store.gc(&live).unwrap().removed.is_empty());
}

#[test]
fn escaping_paths_are_refused_and_nothing_lands_outside() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path(), Limits::default());
    let before = listing(dir.path());
    let rejected = |r: Result<(), SourceError>| matches!(r, Err(SourceError::Rejected(_)));

    let mut w = store.writer().unwrap();
    assert!(rejected(w.add_file(b"../x", false, b"x")));
    assert!(rejected(w.add_file(b"a/../../x", false, b"x")));
    assert!(rejected(w.add_file(b"/etc/x", false, b"x")));
    assert!(rejected(w.add_file(b"a//x", false, b"x")));
    assert!(rejected(w.add_symlink(b"up", b"../outside")));
    assert!(rejected(w.add_symlink(b"abs", b"/etc/passwd")));
    assert!(rejected(w.add_symlink(b"a/b/deep", b"../../../x")));
    // A symlink inside the tree is fine, but nothing is written through it.
    w.add_symlink(b"here", b".").unwrap();
    assert!(rejected(w.add_file(b"here/x", false, b"x")));
    drop(w);
    // Nothing new anywhere: not in the store, not beside it.
    let expected = before.clone();
    assert_eq!(expected, vec!["store".to_string()]);
    assert_eq!(listing(dir.path()), expected);

    // `here -> .` then `esc -> here/..` is lexically inside but resolves outside.
    let mut w = store.writer().unwrap();
    w.add_symlink(b"here", b".").unwrap();
    w.add_symlink(b"esc", b"here/..").unwrap();
    assert!(matches!(w.finish(rev()), Err(SourceError::Rejected(m)) if m.contains("esc")));
    assert_eq!(listing(dir.path()), expected);
}

#[test]
fn size_and_file_caps_are_enforced_while_writing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(
        dir.path(),
        Limits {
            max_bytes: 10,
            max_files: 2,
        },
    );
    let mut w = store.writer().unwrap();
    w.add_file(b"a", false, b"12345").unwrap();
    let err = w.add_file(b"b", false, b"123456").unwrap_err();
    assert!(err.to_string().contains("more than 10 bytes"), "{err}");
    assert!(!w_path_exists(&store, "b"));
    w.add_file(b"b", false, b"12345").unwrap();
    let err = w.add_file(b"c", false, b"").unwrap_err();
    assert!(err.to_string().contains("more than 2 files"), "{err}");
    assert_eq!(err.reason(), "ArtifactFailed");
}

/// Whether any temporary tree in the store holds `name`.
fn w_path_exists(store: &ArtifactStore, name: &str) -> bool {
    fs::read_dir(store.root())
        .unwrap()
        .any(|e| e.unwrap().path().join(name).exists())
}

#[test]
fn reopening_removes_abandoned_temporary_trees() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path(), Limits::default());
    fs::create_dir(store.root().join(".tmp-crashed")).unwrap();
    fs::write(store.root().join(".tmp-crashed/x"), "x").unwrap();
    let store = store_in(dir.path(), Limits::default());
    assert_eq!(fs::read_dir(store.root()).unwrap().count(), 0);
}
