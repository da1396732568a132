//! The blocking gix side of a Git fetch: a bare cache repository per (URL, credentials),
//! into which each fetch brings only what changed.
//!
//! Every fetch is shallow (`DepthAtRemote(1)`): the hub needs the tree at one commit, never
//! the history. Refs land in the cache under their own names with forced refspecs
//! (`+refs/heads/main:refs/heads/main`), so a force-push simply moves the cached ref, and the
//! refs already present are offered to the server as "haves", so a new commit on a later
//! interval transfers only the objects that commit introduced. A commit that is already in
//! the cache is not fetched again at all.
//!
//! Repositories are opened isolated from the machine's Git configuration, and credentials
//! come only from the caller: no credential helper, prompt or `~/.gitconfig` takes part.

use std::io::Write;
use std::num::NonZeroU32;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gix::ObjectId;
use gix::progress::Discard;
use gix::protocol::transport::client::blocking_io::Transport;
use gix::protocol::transport::client::blocking_io::http::Options as HttpOptions;
use gix::protocol::transport::client::blocking_io::http::reqwest::Options as ReqwestOptions;
use gix::remote::Direction;
use gix::remote::fetch::{Shallow, Tags};

use crate::error::{Operation, SourceError};
use crate::git::auth::GitAuth;
use crate::git::reference::{GitTarget, pick_semver};

/// The shallow fetch of a single commit.
fn depth_one() -> Shallow {
    Shallow::DepthAtRemote(NonZeroU32::MIN)
}

/// A connection to the remote with our credentials attached.
type Connection<'remote, 'auth, 'repo> =
    gix::remote::Connection<'remote, 'auth, 'repo, Box<dyn Transport + Send>>;

/// What a fetch moved over the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transfer {
    /// Objects received in the pack (0 when nothing was fetched).
    pub objects: u64,
    /// Bytes of the pack written to the cache. A thin pack is completed locally with
    /// objects the cache already had, so this can exceed what crossed the network.
    pub bytes: u64,
    /// Whether the cache repository already existed (an incremental fetch).
    pub reused_cache: bool,
    /// Whether the network was used at all (a cached commit needs none).
    pub contacted_remote: bool,
}

/// The commit a target resolved to.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The commit.
    pub commit: ObjectId,
    /// The name for the revision string (`main`, `v1.2.0`), if any.
    pub name: Option<String>,
    pub transfer: Transfer,
}

/// One remote repository as seen from one cache directory.
pub(crate) struct Remote<'a> {
    pub url: &'a str,
    /// The URL as it may appear in messages.
    pub shown_url: &'a str,
    pub auth: &'a GitAuth,
    /// Extra CA certificates (PEM) for HTTPS.
    pub ca_cert: Option<&'a str>,
    pub timeout: Duration,
    pub interrupt: &'a AtomicBool,
}

impl Remote<'_> {
    /// Opens or creates the bare cache at `cache`, fetches `target` into it and resolves
    /// it to a commit.
    pub(crate) fn fetch(
        &self,
        cache: &Path,
        target: &GitTarget,
    ) -> Result<(gix::Repository, Resolved), SourceError> {
        let reused_cache = cache.join("HEAD").is_file();
        if !reused_cache {
            std::fs::create_dir_all(cache).map_err(|e| SourceError::io(cache, &e))?;
            gix::init_bare(cache).map_err(|e| self.error(&e))?;
        }
        let mut repo =
            gix::open_opts(cache, gix::open::Options::isolated()).map_err(|e| self.error(&e))?;
        // Lives until the fetch is done: the system ssh reads the key from it.
        let _ssh_files = self.configure_ssh(&mut repo)?;
        let mut transfer = Transfer {
            reused_cache,
            ..Transfer::default()
        };
        let (spec, name) = match target {
            GitTarget::Commit { id, branch } => {
                if !repo.has_object(id) {
                    let spec = format!("{id}:refs/flotilla/commits/{id}");
                    self.fetch_spec(&repo, &spec, target, &mut transfer, depth_one())?;
                }
                let commit = self.peel(&repo, *id)?;
                if let Some(branch) = branch {
                    self.verify_on_branch(&repo, commit, branch, &mut transfer)?;
                }
                let name = branch.clone();
                return Ok((
                    repo,
                    Resolved {
                        commit,
                        name,
                        transfer,
                    },
                ));
            }
            GitTarget::Name(name) => (format!("+{name}:{name}"), Some(name.clone())),
            GitTarget::Semver(range) => {
                let tag = self.pick_tag(&repo, range, target)?;
                (format!("+refs/tags/{tag}:refs/tags/{tag}"), Some(tag))
            }
            GitTarget::Tag(tag) => (
                format!("+refs/tags/{tag}:refs/tags/{tag}"),
                Some(tag.clone()),
            ),
            GitTarget::Branch(b) => (format!("+refs/heads/{b}:refs/heads/{b}"), Some(b.clone())),
        };
        let id = self.fetch_spec(&repo, &spec, target, &mut transfer, depth_one())?;
        let commit = self.peel(&repo, id)?;
        Ok((
            repo,
            Resolved {
                commit,
                name,
                transfer,
            },
        ))
    }

    /// Checks that `commit` is in the history of `branch`, as Flux requires when both are
    /// given. Only the branch's history since the commit's date is fetched (`deepen-since`),
    /// which is all a commit on the branch can be part of.
    fn verify_on_branch(
        &self,
        repo: &gix::Repository,
        commit: ObjectId,
        branch: &str,
        transfer: &mut Transfer,
    ) -> Result<(), SourceError> {
        let time = repo
            .find_commit(commit)
            .and_then(|c| c.time())
            .map_err(|e| self.error(&e))?;
        // A second of slack: the server keeps commits at or after the cutoff.
        let cutoff = gix::date::Time {
            seconds: time.seconds - 1,
            offset: time.offset,
        };
        let spec = format!("+refs/heads/{branch}:refs/heads/{branch}");
        let target = GitTarget::Branch(branch.to_owned());
        let tip = self.fetch_spec(repo, &spec, &target, transfer, Shallow::Since { cutoff })?;
        let tip = self.peel(repo, tip)?;
        let on_branch = tip == commit
            || repo
                .rev_walk([tip])
                .all()
                .map_err(|e| self.error(&e))?
                .any(|info| info.is_ok_and(|info| info.id == commit));
        if on_branch {
            Ok(())
        } else {
            Err(SourceError::RefNotFound {
                operation: Operation::Git,
                url: self.shown_url.to_owned(),
                reference: format!("commit {commit} on branch {branch:?}"),
            })
        }
    }

    /// Lists the remote's tags and picks the highest matching `range`.
    fn pick_tag(
        &self,
        repo: &gix::Repository,
        range: &str,
        target: &GitTarget,
    ) -> Result<String, SourceError> {
        let (ref_map, _) = self.with_connection(repo, "+refs/tags/*:refs/tags/*", |c| {
            c.ref_map(Discard, Default::default())
                .map_err(|e| self.error(&e))
        })?;
        let names: Vec<String> = ref_map
            .remote_refs
            .iter()
            .filter_map(|r| {
                let (name, _, _) = r.unpack();
                name.to_string()
                    .strip_prefix("refs/tags/")
                    .map(str::to_owned)
            })
            .collect();
        pick_semver(range, names.iter().map(String::as_str))?
            .map(str::to_owned)
            .ok_or_else(|| self.not_found(target))
    }

    /// Fetches one refspec shallowly and returns the object its source pointed at.
    fn fetch_spec(
        &self,
        repo: &gix::Repository,
        spec: &str,
        target: &GitTarget,
        transfer: &mut Transfer,
        shallow: Shallow,
    ) -> Result<ObjectId, SourceError> {
        transfer.contacted_remote = true;
        self.with_connection(repo, spec, |connection| {
            let prepare = connection
                .prepare_fetch(Discard, Default::default())
                .map_err(|e| self.error(&e))?;
            let id = prepare
                .ref_map()
                .mappings
                .iter()
                .find_map(|m| m.remote.as_id().map(ToOwned::to_owned))
                .ok_or_else(|| self.not_found(target))?;
            let outcome = prepare
                .with_shallow(shallow)
                .receive(Discard, self.interrupt)
                .map_err(|e| match (target, self.error(&e)) {
                    // The server refuses wants of objects it does not have.
                    (GitTarget::Commit { .. }, SourceError::Git { message, .. })
                        if message.contains("not our ref") =>
                    {
                        self.not_found(target)
                    }
                    (_, error) => error,
                })?;
            if let gix::remote::fetch::Status::Change {
                write_pack_bundle, ..
            } = &outcome.status
            {
                transfer.objects = write_pack_bundle.index.num_objects.into();
                transfer.bytes = write_pack_bundle
                    .data_path
                    .as_deref()
                    .and_then(|p| std::fs::metadata(p).ok())
                    .map_or(0, |m| m.len());
            }
            Ok(id)
        })
    }

    /// Builds a remote for `spec`, connects with the caller's credentials and the
    /// source's timeout, and hands the connection to `f`.
    fn with_connection<R>(
        &self,
        repo: &gix::Repository,
        spec: &str,
        f: impl FnOnce(Connection<'_, '_, '_>) -> Result<R, SourceError>,
    ) -> Result<R, SourceError> {
        let remote = repo
            .remote_at(self.url)
            .map_err(|e| self.error(&e))?
            .with_fetch_tags(Tags::None)
            .with_refspecs([spec], Direction::Fetch)
            .map_err(|e| self.error(&e))?;
        let mut connection = remote
            .connect(Direction::Fetch)
            .map_err(|e| self.error(&e))?
            // Credentials travel in a header we set; answering gix's requests with nothing
            // keeps credential helpers and prompts out.
            .with_credentials(|_| Ok(None));
        if let Some(mut options) = repo
            .transport_options(self.url, None)
            .map_err(|e| self.error(&e))?
        {
            if let Some(http) = options.downcast_mut::<HttpOptions>() {
                http.connect_timeout = Some(self.timeout);
                // The caller's timer cannot stop a blocking read; reqwest's own timeout
                // ends the request (and frees the cache lock) within the same bound.
                let timeout = self.timeout;
                let roots = match self.ca_cert {
                    Some(pem) => {
                        reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
                            SourceError::InvalidSpec(format!("ca.crt is not PEM certificates: {e}"))
                        })?
                    }
                    None => Vec::new(),
                };
                let reqwest = ReqwestOptions {
                    configure_client: Some(Box::new(move |client| {
                        Ok(client.timeout(timeout).tls_certs_merge(roots.clone()))
                    })),
                    configure_request: None,
                };
                http.backend = Some(Arc::new(Mutex::new(reqwest)));
                http.extra_headers.extend(self.auth.header());
            }
            connection = connection.with_transport_options(options);
        }
        f(connection)
    }

    /// For SSH credentials, writes the key and `known_hosts` to a private temporary
    /// directory and points `core.sshCommand` (in memory only) at them, with strict host
    /// key checking and no interaction.
    fn configure_ssh(
        &self,
        repo: &mut gix::Repository,
    ) -> Result<Option<tempfile::TempDir>, SourceError> {
        let GitAuth::Ssh {
            identity,
            known_hosts,
        } = self.auth
        else {
            return Ok(None);
        };
        let dir = tempfile::Builder::new()
            .prefix("flotilla-ssh-")
            .tempdir()
            .map_err(|e| SourceError::io(&std::env::temp_dir(), &e))?;
        let write_private = |name: &str, content: &str| {
            let path = dir.path().join(name);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| SourceError::io(&path, &e))?;
            // ssh refuses a key without its final newline.
            let newline = if content.ends_with('\n') { "" } else { "\n" };
            file.write_all(content.as_bytes())
                .and_then(|()| file.write_all(newline.as_bytes()))
                .map_err(|e| SourceError::io(&path, &e))?;
            Ok::<_, SourceError>(path)
        };
        let key = write_private("identity", identity)?;
        let hosts = write_private("known_hosts", known_hosts)?;
        let command = format!(
            "ssh -F /dev/null -i '{}' -o IdentitiesOnly=yes -o UserKnownHostsFile='{}' \
             -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout={} \
             -o ServerAliveInterval=15",
            key.display(),
            hosts.display(),
            self.timeout.as_secs().max(1)
        );
        let mut config = repo.config_snapshot_mut();
        let invalid = |e: gix::Error| SourceError::InvalidSpec(format!("ssh configuration: {e}"));
        config
            .set_raw_value(gix::config::tree::Core::SSH_COMMAND, command.as_str())
            .map_err(invalid)?;
        config
            .set_raw_value("ssh.variant", "ssh")
            .map_err(invalid)?;
        config.commit().map_err(|e| self.error(&e))?;
        Ok(Some(dir))
    }

    /// Follows tags to the commit `id` names.
    fn peel(&self, repo: &gix::Repository, id: ObjectId) -> Result<ObjectId, SourceError> {
        let object = repo.find_object(id).map_err(|e| self.error(&e))?;
        let commit = object.peel_to_commit().map_err(|e| self.error(&e))?;
        Ok(commit.id)
    }

    fn not_found(&self, target: &GitTarget) -> SourceError {
        SourceError::RefNotFound {
            operation: Operation::Git,
            url: self.shown_url.to_owned(),
            reference: target.describe(),
        }
    }

    /// Maps a gix error to Flux's reasons: refused credentials are `AuthenticationFailed`,
    /// anything else `GitOperationFailed`.
    fn error(&self, error: &(dyn std::error::Error + 'static)) -> SourceError {
        let mut message = error.to_string();
        let mut auth = false;
        let mut source = error.source();
        while let Some(e) = source {
            let text = e.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                auth |= io.kind() == std::io::ErrorKind::PermissionDenied;
            }
            source = e.source();
        }
        auth |= gix::error::classify(error).is_unauthenticated()
            || gix::error::classify(error).is_permission_denied();
        if auth {
            SourceError::Authentication {
                url: self.shown_url.to_owned(),
                message,
            }
        } else {
            SourceError::Git {
                url: self.shown_url.to_owned(),
                message,
            }
        }
    }
}
