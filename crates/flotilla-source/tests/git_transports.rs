//! Git transports and credentials against real servers on loopback: `git http-backend`
//! over HTTP and HTTPS (basic and bearer auth), `git daemon`, a private `sshd`, and hosts
//! that refuse or never answer.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::time::{Duration, Instant};

use common::{branch, env, read, source};
use flotilla_source::SourceError;
use flotilla_source::git::{GitAuth, GitSource};
use flotilla_testkit::git::{
    GitDaemon, GitHttpServer, GitRepos, HttpAuth, SilentServer, SshServer,
};
use flotilla_testkit::tls::TestCa;

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
