//! API discovery of one cluster, cached and shared.
//!
//! Every apply, diff, prune and health wait needs to know which resources the cluster
//! serves. Discovering costs two requests with aggregated discovery (one per group
//! version without it) and parsing every served group's resources (about 3 ms on
//! kubesim, more against a real API server), and reconciling a deployer runs several of
//! these steps, for several deployers, against the same cluster. So the answer is kept,
//! like client-go's cached discovery and Flux's REST mapper, and asked again only when it
//! may be wrong:
//!
//! - when it does not serve something a caller needs (a CRD installed since, a version
//!   added): a kind that is missing is looked for again before it is called not served;
//! - when the applier or the pruner has written or deleted CRDs, which add or remove
//!   kinds and versions;
//! - when it is older than [`ApiDiscovery::max_age`], so that kinds and versions removed
//!   by others are noticed too.
//!
//! Callers missing a kind at the same time share one new discovery: a caller that waited
//! for the lock while a discovery started after it asked takes that answer, served or
//! not.
//!
//! Clones share the cache: create one per cluster and hand it to each [`Applier`],
//! [`Pruner`] and [`HealthChecker`] of that cluster (`with_discovery`).
//!
//! [`Applier`]: crate::Applier
//! [`Pruner`]: crate::Pruner
//! [`HealthChecker`]: crate::health::HealthChecker

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;
use tokio::sync::Mutex;

use crate::error::ApplyError;
use crate::target::Targets;

/// API discovery of one cluster, cached; see the module docs.
#[derive(Clone)]
pub struct ApiDiscovery {
    client: Client,
    max_age: Duration,
    /// The last discovery. The lock is held while discovering, so callers that find it
    /// stale at the same time wait for one discovery.
    cached: Arc<Mutex<Option<Discovered>>>,
}

/// A discovery and when it was started.
struct Discovered {
    started: Instant,
    targets: Arc<Targets>,
}

impl std::fmt::Debug for ApiDiscovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiDiscovery")
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl ApiDiscovery {
    /// How long a discovery is used, by default: long enough for a worker's reconciles of
    /// one cluster to share one, short enough that a removed kind is noticed soon.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

    /// Discovery through `client`, nothing cached yet.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            max_age: Self::DEFAULT_MAX_AGE,
            cached: Arc::default(),
        }
    }

    /// The same discovery, with answers used for at most `max_age` (zero: discover on
    /// every call).
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How long an answer is used.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The cached discovery if it is young enough and `serves` holds of it, else a new
    /// one (of which `serves` may still not hold: the kind is not served). A discovery
    /// started after this call was made, while it waited for the lock, is as new as one
    /// it would make, and is taken as it is.
    pub(crate) async fn current(
        &self,
        serves: impl Fn(&Targets) -> bool,
    ) -> Result<Arc<Targets>, ApplyError> {
        let asked = Instant::now();
        let mut cached = self.cached.lock().await;
        if let Some(discovered) = cached.as_ref()
            && discovered.started.elapsed() < self.max_age
            && (discovered.started >= asked || serves(&discovered.targets))
        {
            return Ok(discovered.targets.clone());
        }
        Self::discover_into(&self.client, &mut cached).await
    }

    /// Forgets the cached discovery: the next caller discovers. For callers that changed
    /// what the cluster serves some other way (installed or removed CRDs).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// A new discovery, replacing the cached one.
    pub(crate) async fn refresh(&self) -> Result<Arc<Targets>, ApplyError> {
        let mut cached = self.cached.lock().await;
        Self::discover_into(&self.client, &mut cached).await
    }

    async fn discover_into(
        client: &Client,
        cached: &mut Option<Discovered>,
    ) -> Result<Arc<Targets>, ApplyError> {
        let started = Instant::now();
        let targets = Arc::new(Targets::discover(client).await?);
        *cached = Some(Discovered {
            started,
            targets: targets.clone(),
        });
        Ok(targets)
    }
}
