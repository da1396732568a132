-- Fleet state: what the hub knows about each workload cluster and each deployer on it.
--
-- Enumerations are CHECK-constrained text rather than Postgres enum types: adding a value
-- later is a plain constraint swap inside a transactional migration, and the Rust side maps
-- them with `as_str`/`TryFrom<String>` without custom type OIDs.
--
-- Kubernetes object identity is (object_group, kind, namespace, name) with '' for the core
-- group and for cluster-scoped objects, so the columns can be NOT NULL and take part in
-- primary keys and unique indexes (NULLs would never compare equal there).

-- A Cluster API Cluster the hub manages, identified as Kubernetes identifies it.
CREATE TABLE clusters (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace    text        NOT NULL,
    name         text        NOT NULL,
    labels       jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(labels) = 'object'),
    reachable    boolean     NOT NULL DEFAULT false,
    -- Why the cluster is unreachable, or '' when it is fine.
    message      text        NOT NULL DEFAULT '',
    last_seen_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace, name)
);

-- Label selectors over the fleet (`clusterSelector`) become jsonb containment queries.
CREATE INDEX clusters_labels ON clusters USING gin (labels jsonb_path_ops);

-- A Kustomization or HelmRelease on the management cluster.
CREATE TABLE deployers (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       text        NOT NULL CHECK (kind IN ('Kustomization', 'HelmRelease')),
    namespace  text        NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, namespace, name)
);

-- The latest known state of one deployer on one cluster: the row ClusterSync and the
-- deployer's aggregate status are computed from.
CREATE TABLE deployer_states (
    cluster_id         bigint      NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    deployer_id        bigint      NOT NULL REFERENCES deployers (id) ON DELETE CASCADE,
    -- Last revision applied successfully; NULL until the first success.
    applied_revision   text,
    -- Revision of the most recent attempt, successful or not.
    attempted_revision text,
    status             text        NOT NULL
        CHECK (status IN ('pending', 'progressing', 'ready', 'failed', 'suspended')),
    message            text        NOT NULL DEFAULT '',
    drifted_count      integer     NOT NULL DEFAULT 0 CHECK (drifted_count >= 0),
    last_applied_at    timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_id, deployer_id)
);

-- "What revision runs where", per deployer (the primary key already serves per cluster).
CREATE INDEX deployer_states_by_deployer ON deployer_states (deployer_id, applied_revision);

-- One reconcile attempt of one deployer on one cluster.
CREATE TABLE reconcile_runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster_id    bigint      NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    deployer_id   bigint      NOT NULL REFERENCES deployers (id) ON DELETE CASCADE,
    revision      text,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    outcome       text        NOT NULL DEFAULT 'running'
        CHECK (outcome IN ('running', 'succeeded', 'failed', 'skipped', 'cancelled')),
    message       text        NOT NULL DEFAULT '',
    applied_count integer     NOT NULL DEFAULT 0 CHECK (applied_count >= 0),
    pruned_count  integer     NOT NULL DEFAULT 0 CHECK (pruned_count >= 0),
    drifted_count integer     NOT NULL DEFAULT 0 CHECK (drifted_count >= 0),
    CHECK ((outcome = 'running') = (finished_at IS NULL)),
    CHECK (finished_at IS NULL OR finished_at >= started_at)
);

-- Reconcile history of one deployer on one cluster, of one cluster, and of one deployer,
-- newest first; `id` breaks ties between runs started in the same microsecond.
CREATE INDEX reconcile_runs_by_cluster_deployer
    ON reconcile_runs (cluster_id, deployer_id, started_at DESC, id DESC);
CREATE INDEX reconcile_runs_by_cluster ON reconcile_runs (cluster_id, started_at DESC, id DESC);
CREATE INDEX reconcile_runs_by_deployer ON reconcile_runs (deployer_id, started_at DESC, id DESC);

-- The objects a deployer last applied to a cluster: what the next apply prunes against.
CREATE TABLE inventory_entries (
    cluster_id   bigint NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    deployer_id  bigint NOT NULL REFERENCES deployers (id) ON DELETE CASCADE,
    object_group text   NOT NULL,
    kind         text   NOT NULL,
    namespace    text   NOT NULL,
    name         text   NOT NULL,
    version      text   NOT NULL,
    PRIMARY KEY (cluster_id, deployer_id, object_group, kind, namespace, name)
);

-- Which deployer owns an object on a cluster (drift attribution, conflicts between deployers).
CREATE INDEX inventory_entries_by_object
    ON inventory_entries (cluster_id, kind, namespace, name);

-- A change to a managed object that no apply of ours caused. Open while resolved_at is NULL.
-- Only field paths, the field managers blamed and a hash of the drifted state are kept:
-- never a value, so Secret contents cannot reach the database.
CREATE TABLE drift_events (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster_id       bigint      NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    deployer_id      bigint      NOT NULL REFERENCES deployers (id) ON DELETE CASCADE,
    object_group     text        NOT NULL,
    kind             text        NOT NULL,
    namespace        text        NOT NULL,
    name             text        NOT NULL,
    drift_kind       text        NOT NULL CHECK (drift_kind IN ('modified', 'deleted')),
    changed_paths    text[]      NOT NULL DEFAULT '{}',
    field_managers   text[]      NOT NULL DEFAULT '{}',
    -- e.g. 'sha256:<hex>' of the drifted fields as observed.
    observed_hash    text,
    detected_at      timestamptz NOT NULL,
    -- Latest time the drift was seen again while open.
    last_detected_at timestamptz NOT NULL,
    resolved_at      timestamptz,
    resolution       text CHECK (resolution IN ('corrected', 'reverted', 'accepted', 'pruned')),
    CHECK ((resolved_at IS NULL) = (resolution IS NULL)),
    CHECK (last_detected_at >= detected_at)
);

-- At most one open event per object: re-detections update it rather than piling up. The
-- same partial index is the current drift report of one cluster, and it stays small however
-- long the history grows, which also serves the fleet-wide open-drift summary.
CREATE UNIQUE INDEX drift_events_open
    ON drift_events (cluster_id, deployer_id, object_group, kind, namespace, name)
    WHERE resolved_at IS NULL;

-- Fleet-wide open drift by deployer (and the summaries grouped by deployer, cluster and
-- kind): covering, so once vacuumed the summaries read only this index.
CREATE INDEX drift_events_open_by_deployer
    ON drift_events (deployer_id, cluster_id, object_group, kind) INCLUDE (detected_at)
    WHERE resolved_at IS NULL;

-- The drift history of one object on one cluster, newest first.
CREATE INDEX drift_events_by_object
    ON drift_events (cluster_id, kind, namespace, name, detected_at DESC);
