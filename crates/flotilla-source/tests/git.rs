//! Git sources against a real `git http-backend` on loopback: refs, incremental fetches,
//! ignore rules, safety limits, shared fetches and cache pruning.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use common::{branch, env, read, source};
use flotilla_source::git::{GitFetcher, GitSource, GitTarget};
use flotilla_source::{ArtifactStore, Limits, SourceError, SourceSpec, Sources};
use flotilla_testkit::git::{GitHttpServer, GitRepos, HttpAuth};

#[tokio::test]
async fn branch_over_http_with_default_excludes() {
    let repos = GitRepos::new().unwrap();
    let work = repos.create("app", "main").unwrap();
    work.write("deploy/app.yaml", "kind: ConfigMap\n").unwrap();
    work.write(".github/workflows/ci.yml", "on: push\n")
        .unwrap();
    work.write("logo.png", "png").unwrap();
    work.write("run.sh", "#!/bin/sh\n").unwrap();
    let head = work.commit("first").unwrap();
    work.push().unwrap();
    let server = GitHttpServer::start(&repos, HttpAuth::None).await.unwrap();
    let env = env();

    let fetched = env
        .fetcher
        .fetch(&source(&server.url("app"), branch("main")))
        .await
        .unwrap();
    let artifact = &fetched.artifact;
    assert_eq!(artifact.revision.to_string(), format!("main@sha1:{head}"));
    assert_eq!(read(&artifact.path, "deploy/app.yaml"), "kind: ConfigMap\n");
    assert!(!artifact.path.join(".github").exists());
    assert!(!artifact.path.join("logo.png").exists());
    assert!(!artifact.path.join(".git").exists());
    assert_eq!(artifact.files, 2);
    assert!(artifact.path.starts_with(env.dir.path().join("store")));
    assert!(!fetched.transfer.reused_cache);
    assert!(fetched.transfer.objects > 0);
}

#[tokio::test]
async fn tags_semver_and_commits_resolve_like_flux() {
    let repos = GitRepos::new().unwrap();
    let mut work = repos.create("app", "main").unwrap();
    let mut commits = Vec::new();
    for version in ["1.0.0", "1.2.0", "2.0.0"] {
        work.write("version.txt", version).unwrap();
        commits.push(work.commit(version).unwrap());
        work.tag(&format!("v{version}")).unwrap();
    }
    work.write("version.txt", "unreleased").unwrap();
    work.commit("unreleased").unwrap();
    work.push().unwrap();
    let server = GitHttpServer::start(&repos, HttpAuth::None).await.unwrap();
    let url = server.url("app");
    let env = env();

    let tag = env
        .fetcher
        .fetch(&source(&url, GitTarget::Tag("v1.0.0".into())))
        .await
        .unwrap()
        .artifact;
    // The annotated tag is peeled: the revision names the commit, not the tag object.
    assert_eq!(
        tag.revision.to_string(),
        format!("v1.0.0@sha1:{}", commits[0])
    );
    assert_eq!(read(&tag.path, "version.txt"), "1.0.0");

    let semver = env
        .fetcher
        .fetch(&source(&url, GitTarget::Semver("^1".into())))
        .await
        .unwrap()
        .artifact;
    assert_eq!(
        semver.revision.to_string(),
        format!("v1.2.0@sha1:{}", commits[1])
    );
    assert_eq!(read(&semver.path, "version.txt"), "1.2.0");

    let pinned = GitTarget::Commit {
        id: commits[2].parse().unwrap(),
        branch: None,
    };
    let commit = env
        .fetcher
        .fetch(&source(&url, pinned.clone()))
        .await
        .unwrap();
    assert_eq!(
        commit.artifact.revision.to_string(),
        format!("sha1:{}", commits[2])
    );
    assert_eq!(read(&commit.artifact.path, "version.txt"), "2.0.0");
    // A commit never changes: the second time it comes from the cache alone.
    let posts = server.upload_pack_posts();
    let again = env.fetcher.fetch(&source(&url, pinned)).await.unwrap();
    assert!(!again.transfer.contacted_remote);
    assert_eq!(server.upload_pack_posts(), posts);
    assert_eq!(again.artifact.digest, commit.artifact.digest);

    let with_branch = GitTarget::Commit {
        id: commits[0].parse().unwrap(),
        branch: Some("main".into()),
    };
    let named = env.fetcher.fetch(&source(&url, with_branch)).await.unwrap();
    assert_eq!(
        named.artifact.revision.to_string(),
        format!("main@sha1:{}", commits[0])
    );
    // Same content as the tag v1.0.0: the same artifact directory.
    assert_eq!(named.artifact.path, tag.path);

    // A commit that exists, but not on the branch named next to it.
    work.branch("side").unwrap();
    work.write("version.txt", "side").unwrap();
    let side = work.commit("side").unwrap();
    work.push().unwrap();
    let off_branch = GitTarget::Commit {
        id: side.parse().unwrap(),
        branch: Some("main".into()),
    };
    let err = env
        .fetcher
        .fetch(&source(&url, off_branch))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::RefNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("on branch \"main\""), "{err}");
    let on_side = GitTarget::Commit {
        id: side.parse().unwrap(),
        branch: Some("side".into()),
    };
    env.fetcher.fetch(&source(&url, on_side)).await.unwrap();
}

#[tokio::test]
async fn new_commits_are_fetched_incrementally_and_force_pushes_followed() {
    let repos = GitRepos::new().unwrap();
    let work = repos.create("app", "main").unwrap();
    for i in 0..200 {
        work.write(&format!("apps/app-{i}.yaml"), format!("name: app-{i}\n"))
            .unwrap();
    }
    work.commit("200 apps").unwrap();
    work.push().unwrap();
    let server = GitHttpServer::start(&repos, HttpAuth::None).await.unwrap();
    let src = source(&server.url("app"), branch("main"));
    let env = env();

    let first = env.fetcher.fetch(&src).await.unwrap();
    assert!(first.transfer.objects >= 200, "{:?}", first.transfer);
    assert!(first.exported);

    // Nothing new: no pack, and the previous artifact is reused without an export.
    let unchanged = env.fetcher.fetch(&src).await.unwrap();
    assert!(unchanged.transfer.contacted_remote && unchanged.transfer.reused_cache);
    assert_eq!(unchanged.transfer.objects, 0);
    assert!(!unchanged.exported);
    assert_eq!(unchanged.artifact, first.artifact);

    work.write("apps/app-7.yaml", "name: app-7\nreplicas: 2\n")
        .unwrap();
    let second_head = work.commit("scale app-7").unwrap();
    work.push().unwrap();
    let second = env.fetcher.fetch(&src).await.unwrap();
    assert!(second.transfer.reused_cache && second.exported);
    assert_eq!(
        second.artifact.revision.to_string(),
        format!("main@sha1:{second_head}")
    );
    // The new commit, its root tree, `apps/` and one blob: a handful, not 200 again.
    assert!(second.transfer.objects < 10, "{:?}", second.transfer);
    assert!(
        second.transfer.bytes < first.transfer.bytes,
        "{:?} vs {:?}",
        second.transfer,
        first.transfer
    );
    assert_eq!(
        read(&second.artifact.path, "apps/app-7.yaml"),
        "name: app-7\nreplicas: 2\n"
    );
    // Unchanged files are shared with the previous artifact, changed ones are not; the
    // digest is the same as a fresh export's.
    let inode =
        |a: &flotilla_source::Artifact, p: &str| std::fs::metadata(a.path.join(p)).unwrap().ino();
    assert_eq!(
        inode(&first.artifact, "apps/app-8.yaml"),
        inode(&second.artifact, "apps/app-8.yaml")
    );
    assert_ne!(
        inode(&first.artifact, "apps/app-7.yaml"),
        inode(&second.artifact, "apps/app-7.yaml")
    );
    let other = common::env();
    let fresh = other.fetcher.fetch(&src).await.unwrap().artifact;
    assert_eq!(fresh.digest, second.artifact.digest);
    assert_ne!(fresh.path, second.artifact.path);

    let rewritten = work
        .force_push_rewrite("apps/app-7.yaml", "name: seven\n")
        .unwrap();
    let third = env.fetcher.fetch(&src).await.unwrap();
    assert_eq!(
        third.artifact.revision.to_string(),
        format!("main@sha1:{rewritten}")
    );
    assert_eq!(
        read(&third.artifact.path, "apps/app-7.yaml"),
        "name: seven\n"
    );
}

#[tokio::test]
async fn missing_refs_are_named() {
    let repos = GitRepos::new().unwrap();
    let work = repos.create("app", "main").unwrap();
    work.write("a.yaml", "a: 1\n").unwrap();
    work.commit("first").unwrap();
    work.tag("v1.0.0").unwrap();
    work.push().unwrap();
    let server = GitHttpServer::start(&repos, HttpAuth::None).await.unwrap();
    let url = server.url("app");
    let env = env();

    for (target, named) in [
        (branch("no-such-branch"), "no-such-branch"),
        (GitTarget::Tag("v9.9.9".into()), "v9.9.9"),
        (GitTarget::Semver(">=2".into()), ">=2"),
        (
            GitTarget::Commit {
                id: "0123456789012345678901234567890123456789".parse().unwrap(),
                branch: None,
            },
            "0123456789012345678901234567890123456789",
        ),
    ] {
        let err = env.fetcher.fetch(&source(&url, target)).await.unwrap_err();
        assert!(matches!(err, SourceError::RefNotFound { .. }), "{err:?}");
        assert!(err.to_string().contains(named), "{err}");
        assert_eq!(err.reason(), "GitOperationFailed");
    }
}

#[tokio::test]
async fn ignore_patterns_exclude_files() {
    let repos = GitRepos::new().unwrap();
    let work = repos.create("app", "main").unwrap();
    work.write("deploy/a.yaml", "a: 1\n").unwrap();
    work.write("deploy/secrets/key.yaml", "k\n").unwrap();
    work.write("deploy/notes.md", "notes\n").unwrap();
    work.write("docs/diagram.png", "png").unwrap();
    work.write("deploy/.sourceignore", "*.local.yaml\n")
        .unwrap();
    work.write("deploy/dev.local.yaml", "dev\n").unwrap();
    work.write("other/dev.local.yaml", "dev\n").unwrap();
    work.commit("first").unwrap();
    work.push().unwrap();
    let server = GitHttpServer::start(&repos, HttpAuth::None).await.unwrap();
    let env = env();
    let src = GitSource {
        ignore: Some("secrets/\n*.md\n!docs/*.png\n".into()),
        ..source(&server.url("app"), branch("main"))
    };
    let artifact = env.fetcher.fetch(&src).await.unwrap().artifact;
    assert!(artifact.path.join("deploy/a.yaml").is_file());
    assert!(!artifact.path.join("deploy/secrets").exists());
    assert!(!artifact.path.join("deploy/notes.md").exists());
    assert!(artifact.path.join("docs/diagram.png").is_file());
    assert!(!artifact.path.join("deploy/dev.local.yaml").exists());
    assert!(artifact.path.join("other/dev.local.yaml").is_file());
}

#[tokio::test]
async fn repositories_with_outward_symlinks_are_rejected() {
    let repos = GitRepos::new().unwrap();
    let work = repos.create("evil", "main").unwrap();
    work.write("a.yaml", "a: 1\n").unwrap();
    work.symlink("passwd", "../../../../../../etc/passwd")
        .unwrap();
    work.commit("escape").unwrap();
    work.push().unwrap();
    let server = GitHttpServer::start(&repos, HttpAuth::None).await.unwrap();
    let env = env();
    let err = env
        .fetcher
        .fetch(&source(&server.url("evil"), branch("main")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::Rejected(ref m) if m.contains("passwd")),
        "{err:?}"
    );
    let store = env.dir.path().join("store");
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 0);
}

#[tokio::test]
async fn oversized_repositories_are_rejected_before_anything_is_stored() {
    let repos = GitRepos::new().unwrap();
    let work = repos.create("big", "main").unwrap();
    work.write("small.yaml", "a: 1\n").unwrap();
    work.write("huge.bin", vec![b'x'; 64 * 1024]).unwrap();
    work.commit("big").unwrap();
    work.push().unwrap();
    let server = GitHttpServer::start(&repos, HttpAuth::None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_bytes: 16 * 1024,
        max_files: 100,
    };
    let store = ArtifactStore::open(dir.path().join("store"), limits).unwrap();
    let fetcher = GitFetcher::new(store.clone(), dir.path().join("cache"));
    let err = fetcher
        .fetch(&source(&server.url("big"), branch("main")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::Rejected(ref m) if m.contains("huge.bin")),
        "{err:?}"
    );
    assert_eq!(std::fs::read_dir(store.root()).unwrap().count(), 0);
}

#[tokio::test]
async fn concurrent_fetches_of_one_source_share_one_fetch() {
    let repos = GitRepos::new().unwrap();
    let work = repos.create("app", "main").unwrap();
    work.write("a.yaml", "a: 1\n").unwrap();
    work.commit("first").unwrap();
    work.push().unwrap();
    let server = GitHttpServer::start(&repos, HttpAuth::None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path().join("store"), Limits::default()).unwrap();
    let sources = Arc::new(Sources::new(store, dir.path().join("cache")));
    let spec = SourceSpec::Git(source(&server.url("app"), branch("main")));

    let fetches = (0..8).map(|_| {
        let sources = sources.clone();
        let spec = spec.clone();
        tokio::spawn(async move { sources.fetch(&spec).await })
    });
    let artifacts: Vec<_> = futures::future::join_all(fetches)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert!(artifacts.iter().all(|a| a == &artifacts[0]));
    assert_eq!(sources.git().remote_fetches(), 1);

    // A later interval fetches again.
    sources.fetch(&spec).await.unwrap();
    assert_eq!(sources.git().remote_fetches(), 2);
}

#[tokio::test]
async fn pruning_drops_the_caches_of_deleted_sources_only() {
    let repos = GitRepos::new().unwrap();
    for name in ["kept", "deleted"] {
        let work = repos.create(name, "main").unwrap();
        work.write("a.yaml", name).unwrap();
        work.commit("first").unwrap();
        work.push().unwrap();
    }
    let server = GitHttpServer::start(&repos, HttpAuth::None).await.unwrap();
    let env = env();
    let kept = source(&server.url("kept"), branch("main"));
    let deleted = source(&server.url("deleted"), branch("main"));
    env.fetcher.fetch(&kept).await.unwrap();
    env.fetcher.fetch(&deleted).await.unwrap();

    assert_eq!(env.fetcher.prune(&[&kept]).unwrap(), 1);
    assert!(env.fetcher.cache_dir(&kept).is_dir());
    assert!(!env.fetcher.cache_dir(&deleted).exists());
    assert!(
        env.fetcher
            .fetch(&kept)
            .await
            .unwrap()
            .transfer
            .reused_cache
    );
    assert!(
        !env.fetcher
            .fetch(&deleted)
            .await
            .unwrap()
            .transfer
            .reused_cache
    );
}
