//! Git sources against real `git http-backend` and `git daemon` servers on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flotilla_source::git::{GitAuth, GitFetcher, GitSource, GitTarget};
use flotilla_source::{ArtifactStore, Limits, SourceError, SourceSpec, Sources};
use flotilla_testkit::git::{
    GitDaemon, GitHttpServer, GitRepos, HttpAuth, SilentServer, SshServer,
};
use flotilla_testkit::tls::TestCa;
use tempfile::TempDir;

struct Env {
    dir: TempDir,
    fetcher: GitFetcher,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path().join("store"), Limits::default()).unwrap();
    let fetcher = GitFetcher::new(store, dir.path().join("cache"));
    Env { dir, fetcher }
}

fn source(url: &str, target: GitTarget) -> GitSource {
    GitSource {
        url: url.to_owned(),
        target,
        auth: GitAuth::Anonymous,
        ignore: None,
        ca_cert: None,
        timeout: Duration::from_secs(30),
    }
}

fn branch(name: &str) -> GitTarget {
    GitTarget::Branch(name.into())
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap()
}

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
async fn credentials_basic_and_bearer() {
    let repos = GitRepos::new().unwrap();
    let work = repos.create("private", "main").unwrap();
    work.write("a.yaml", "a: 1\n").unwrap();
    work.commit("first").unwrap();
    work.push().unwrap();
    let basic = GitHttpServer::start(&repos, HttpAuth::Basic("flux".into(), "s3cret".into()))
        .await
        .unwrap();
    let env = env();
    let with = |auth: GitAuth| GitSource {
        auth,
        ..source(&basic.url("private"), branch("main"))
    };

    let good = env
        .fetcher
        .fetch(&with(GitAuth::Basic {
            username: "flux".into(),
            password: "s3cret".into(),
        }))
        .await
        .unwrap();
    assert_eq!(read(&good.artifact.path, "a.yaml"), "a: 1\n");

    let wrong = env
        .fetcher
        .fetch(&with(GitAuth::Basic {
            username: "flux".into(),
            password: "wrong-password".into(),
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(wrong, SourceError::Authentication { .. }),
        "{wrong:?}"
    );
    assert_eq!(wrong.reason(), "AuthenticationFailed");
    assert!(!format!("{wrong} {wrong:?}").contains("wrong-password"));

    let none = env
        .fetcher
        .fetch(&with(GitAuth::Anonymous))
        .await
        .unwrap_err();
    assert_eq!(none.reason(), "AuthenticationFailed", "{none:?}");

    let bearer = GitHttpServer::start(&repos, HttpAuth::Bearer("t0ken".into()))
        .await
        .unwrap();
    let src = |token: &str| GitSource {
        auth: GitAuth::Bearer(token.into()),
        ..source(&bearer.url("private"), branch("main"))
    };
    let ok = env.fetcher.fetch(&src("t0ken")).await.unwrap();
    assert_eq!(ok.artifact.digest, good.artifact.digest);
    let bad = env.fetcher.fetch(&src("other")).await.unwrap_err();
    assert_eq!(bad.reason(), "AuthenticationFailed", "{bad:?}");
    assert!(!format!("{bad} {bad:?}").contains("other"));
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
async fn an_unresponsive_host_times_out_within_the_timeout() {
    let silent = SilentServer::start().await.unwrap();
    let env = env();
    let src = GitSource {
        timeout: Duration::from_secs(2),
        ..source(&silent.url(), branch("main"))
    };
    let started = Instant::now();
    let err = env.fetcher.fetch(&src).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(err, SourceError::Timeout { seconds: 2, .. }),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    // The blocking fetch gives up too (reqwest's timeout), closing its connection, so it
    // does not hold the cache repository's lock forever.
    let deadline = Instant::now() + Duration::from_secs(10);
    while silent.closed_connections() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(silent.closed_connections() >= 1);
}

#[tokio::test]
async fn a_refused_connection_is_a_git_operation_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = env();
    let url = format!("http://127.0.0.1:{port}/gone.git");
    let err = env
        .fetcher
        .fetch(&source(&url, branch("main")))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Git { .. }), "{err:?}");
    assert_eq!(err.reason(), "GitOperationFailed");
    assert!(err.to_string().contains(&url), "{err}");
}

#[tokio::test]
async fn same_commit_same_digest_over_daemon_and_http() {
    let repos = GitRepos::new().unwrap();
    let work = repos.create("app", "main").unwrap();
    work.write("deploy/a.yaml", "a: 1\n").unwrap();
    work.write("bin/run.sh", "#!/bin/sh\n").unwrap();
    work.symlink("current.yaml", "deploy/a.yaml").unwrap();
    let head = work.commit("first").unwrap();
    work.push().unwrap();
    let http = GitHttpServer::start(&repos, HttpAuth::None).await.unwrap();
    let daemon = GitDaemon::start(&repos).unwrap();

    let (a, b) = (env(), env());
    let over_http = a
        .fetcher
        .fetch(&source(&http.url("app"), branch("main")))
        .await
        .unwrap()
        .artifact;
    let over_daemon = b
        .fetcher
        .fetch(&source(&daemon.url("app"), branch("main")))
        .await
        .unwrap()
        .artifact;
    assert_eq!(
        over_daemon.revision.to_string(),
        format!("main@sha1:{head}")
    );
    assert_eq!(over_http.digest, over_daemon.digest);
    assert_ne!(over_http.path, over_daemon.path);
    assert_eq!(read(&over_daemon.path, "current.yaml"), "a: 1\n");
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
async fn ssh_with_a_key_and_known_hosts() {
    if !SshServer::available() {
        eprintln!("SKIPPED: /usr/sbin/sshd not installed (Debian openssh-server; CI installs it)");
        return;
    }
    let repos = GitRepos::new().unwrap();
    let work = repos.create("app", "main").unwrap();
    work.write("a.yaml", "a: 1\n").unwrap();
    let head = work.commit("first").unwrap();
    work.push().unwrap();
    let server = SshServer::start(&repos).unwrap();
    let env = env();
    let with = |identity: &str, known_hosts: &str| GitSource {
        auth: GitAuth::Ssh {
            identity: identity.to_owned(),
            known_hosts: known_hosts.to_owned(),
        },
        ..source(&server.url("app"), branch("main"))
    };

    let good = env
        .fetcher
        .fetch(&with(&server.identity, &server.known_hosts))
        .await
        .unwrap();
    assert_eq!(
        good.artifact.revision.to_string(),
        format!("main@sha1:{head}")
    );
    assert_eq!(read(&good.artifact.path, "a.yaml"), "a: 1\n");

    // Another key the server does not know.
    let other = SshServer::start(&repos).unwrap();
    let err = env
        .fetcher
        .fetch(&with(&other.identity, &server.known_hosts))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "AuthenticationFailed", "{err:?}");
    assert!(!format!("{err:?}").contains("PRIVATE KEY"));

    // The right key, but the host key we trust for this address is another server's.
    let (address, _) = server.known_hosts.split_once(' ').unwrap();
    let (_, other_key) = other.known_hosts.split_once(' ').unwrap();
    let err = env
        .fetcher
        .fetch(&with(&server.identity, &format!("{address} {other_key}")))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Git { .. }), "{err:?}");
}

#[tokio::test]
async fn https_with_the_secrets_ca_and_basic_auth() {
    let repos = GitRepos::new().unwrap();
    let work = repos.create("app", "main").unwrap();
    work.write("a.yaml", "a: 1\n").unwrap();
    let head = work.commit("first").unwrap();
    work.push().unwrap();
    let ca = TestCa::generate().unwrap();
    let auth = HttpAuth::Basic("flux".into(), "s3cret".into());
    let server = GitHttpServer::start_tls(&repos, auth, &ca).await.unwrap();
    let env = env();
    let with = |ca_cert: Option<&str>, password: &str| GitSource {
        auth: GitAuth::Basic {
            username: "flux".into(),
            password: password.into(),
        },
        ca_cert: ca_cert.map(str::to_owned),
        ..source(&server.url("app"), branch("main"))
    };
    assert!(server.url("app").starts_with("https://"));

    let fetched = env
        .fetcher
        .fetch(&with(Some(ca.ca_pem()), "s3cret"))
        .await
        .unwrap();
    assert_eq!(
        fetched.artifact.revision.to_string(),
        format!("main@sha1:{head}")
    );

    let wrong = env
        .fetcher
        .fetch(&with(Some(ca.ca_pem()), "nope"))
        .await
        .unwrap_err();
    assert_eq!(wrong.reason(), "AuthenticationFailed", "{wrong:?}");

    // Without the CA the server's certificate is not trusted.
    let untrusted = env.fetcher.fetch(&with(None, "s3cret")).await.unwrap_err();
    assert!(
        matches!(untrusted, SourceError::Git { .. }),
        "{untrusted:?}"
    );
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
