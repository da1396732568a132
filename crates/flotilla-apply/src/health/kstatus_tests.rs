//! kstatus rules on status fixtures shaped like a real API server's objects.

use serde_json::{Value, json};

use super::*;

/// 2026-11-26T06:50:49Z.
const NOW: i64 = 1_795_675_849;

fn judge(object: Value) -> (Status, String) {
    let s = compute(&object, NOW);
    (s.status, s.message)
}

fn deployment(spec: Value, status: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "generation": 2},
           "spec": spec, "status": status})
}

#[test]
fn timestamps() {
    assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(unix_seconds("2026-11-26T06:50:49Z"), Some(NOW));
    assert_eq!(unix_seconds("2000-03-01T00:00:01.5Z"), Some(951_868_801));
    assert_eq!(unix_seconds("yesterday"), None);
}

#[test]
fn generic_properties() {
    let terminating = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "a", "deletionTimestamp": "2026-11-26T06:00:00Z"}});
    assert_eq!(judge(terminating).0, Status::Terminating);
    let stale = deployment(
        json!({"replicas": 1}),
        json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
               "readyReplicas": 1, "availableReplicas": 1}),
    );
    assert_eq!(
        judge(stale),
        (
            Status::InProgress,
            "Deployment generation is 2, but latest observed generation is 1".into()
        )
    );
    let stalled = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "status": {"conditions": [{"type": "Stalled", "status": "True", "reason": "Broken", "message": "out of gears"}]}});
    assert_eq!(judge(stalled), (Status::Failed, "out of gears".into()));
    let reconciling = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "status": {"conditions": [{"type": "Reconciling", "status": "True", "message": "working"}]}});
    assert_eq!(judge(reconciling), (Status::InProgress, "working".into()));
}

#[test]
fn generic_ready_condition_and_plain_objects() {
    let ready = |status: &str| {
        json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "Kustomization",
            "metadata": {"name": "k", "generation": 3},
            "status": {"observedGeneration": 3, "conditions": [
                {"type": "Ready", "status": status, "reason": "Progressing", "message": "applying"}]}})
    };
    assert_eq!(
        judge(ready("True")),
        (Status::Current, "Resource is Ready".into())
    );
    assert_eq!(
        judge(ready("False")),
        (Status::InProgress, "applying".into())
    );
    assert_eq!(judge(ready("Unknown")).0, Status::InProgress);
    let config_map =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {}});
    assert_eq!(
        judge(config_map),
        (Status::Current, "Resource is current".into())
    );
}

#[test]
fn deployments() {
    let available = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
        "readyReplicas": 3, "availableReplicas": 3, "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]});
    let spec = json!({"replicas": 3, "progressDeadlineSeconds": 600});
    assert_eq!(
        judge(deployment(spec.clone(), available.clone())),
        (
            Status::Current,
            "Deployment is available. Replicas: 3".into()
        )
    );

    let mut rolling = available.clone();
    rolling["updatedReplicas"] = json!(1);
    assert_eq!(
        judge(deployment(spec.clone(), rolling)),
        (Status::InProgress, "Updated: 1/3".into())
    );
    let mut surging = available.clone();
    surging["replicas"] = json!(4);
    assert_eq!(
        judge(deployment(spec.clone(), surging)),
        (Status::InProgress, "Pending termination: 1".into())
    );
    let mut unready = available.clone();
    unready["readyReplicas"] = json!(2);
    assert_eq!(
        judge(deployment(spec.clone(), unready)),
        (Status::InProgress, "Ready: 2/3".into())
    );
    let mut not_available = available.clone();
    not_available["conditions"][0]["status"] = json!("False");
    assert_eq!(
        judge(deployment(spec.clone(), not_available)),
        (Status::InProgress, "Deployment not Available".into())
    );
    let mut still_progressing = available.clone();
    still_progressing["conditions"][1]["reason"] = json!("ReplicaSetUpdated");
    assert_eq!(
        judge(deployment(spec.clone(), still_progressing.clone())),
        (Status::InProgress, "ReplicaSet not Available".into())
    );
    // Without a progress deadline there is no Progressing condition to wait for.
    assert_eq!(
        judge(deployment(json!({"replicas": 3}), still_progressing)).0,
        Status::Current
    );
    let mut deadline = available.clone();
    deadline["conditions"][1] = json!({"type": "Progressing", "status": "False",
        "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-1\" has timed out progressing."});
    assert_eq!(
        judge(deployment(spec.clone(), deadline)),
        (Status::Failed, "Progress deadline exceeded".into())
    );
    // A new Deployment the controller has not looked at: spec.replicas defaults to 1.
    assert_eq!(
        judge(deployment(json!({}), json!({}))),
        (Status::InProgress, "Replicas: 0/1".into())
    );
}

#[test]
fn stateful_sets_daemon_sets_and_replica_sets() {
    let sts = |status: Value, strategy: Value| {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
               "spec": {"replicas": 2, "updateStrategy": strategy}, "status": status})
    };
    let done = json!({"replicas": 2, "readyReplicas": 2, "currentReplicas": 2, "updatedReplicas": 2,
        "currentRevision": "db-1", "updateRevision": "db-1"});
    let rolling = json!({"type": "RollingUpdate"});
    assert_eq!(
        judge(sts(done.clone(), rolling.clone())),
        (
            Status::Current,
            "All replicas scheduled as expected. Replicas: 2".into()
        )
    );
    let mut revising = done.clone();
    revising["updateRevision"] = json!("db-2");
    assert_eq!(
        judge(sts(revising.clone(), rolling)),
        (
            Status::InProgress,
            "Waiting for updated revision db-2 to match current db-1".into()
        )
    );
    assert_eq!(
        judge(sts(revising.clone(), json!({"type": "OnDelete"}))).0,
        Status::Current
    );
    let mut partial = revising;
    partial["updatedReplicas"] = json!(1);
    let partitioned = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}});
    assert_eq!(
        judge(sts(partial, partitioned)),
        (
            Status::Current,
            "Partitioned roll out complete. updated: 1".into()
        )
    );

    let ds = |status: Value| json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"}, "status": status});
    assert_eq!(
        judge(ds(json!({}))),
        (
            Status::InProgress,
            "Missing .status.desiredNumberScheduled".into()
        )
    );
    assert_eq!(
        judge(ds(
            json!({"desiredNumberScheduled": 3, "currentNumberScheduled": 3,
            "updatedNumberScheduled": 3, "numberAvailable": 2, "numberReady": 3})
        )),
        (Status::InProgress, "Available: 2/3".into())
    );
    assert_eq!(
        judge(ds(
            json!({"desiredNumberScheduled": 3, "currentNumberScheduled": 3,
            "updatedNumberScheduled": 3, "numberAvailable": 3, "numberReady": 3})
        ))
        .0,
        Status::Current
    );

    let rs = |status: Value| {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-1"},
               "spec": {"replicas": 2}, "status": status})
    };
    assert_eq!(
        judge(rs(
            json!({"replicas": 2, "fullyLabeledReplicas": 2, "availableReplicas": 2, "readyReplicas": 2})
        )),
        (
            Status::Current,
            "ReplicaSet is available. Replicas: 2".into()
        )
    );
    assert_eq!(
        judge(rs(
            json!({"replicas": 2, "fullyLabeledReplicas": 2, "availableReplicas": 1})
        )),
        (Status::InProgress, "Available: 1/2".into())
    );
    assert_eq!(
        judge(rs(
            json!({"conditions": [{"type": "ReplicaFailure", "status": "True"}]})
        )),
        (
            Status::InProgress,
            "Replica Failure condition. Check Pods".into()
        )
    );
}

#[test]
fn jobs() {
    let job = |status: Value| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
               "spec": {"completions": 1}, "status": status})
    };
    assert_eq!(
        judge(job(json!({}))),
        (Status::InProgress, "Job not started".into())
    );
    assert_eq!(
        judge(job(
            json!({"startTime": "2026-11-26T06:00:00Z", "active": 1})
        )),
        (
            Status::InProgress,
            "Job in progress. success:0, active: 1, failed: 0".into()
        )
    );
    assert_eq!(
        judge(job(json!({"succeeded": 1, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}))),
        (Status::Current, "Job Completed. succeeded: 1/1".into())
    );
    assert_eq!(
        judge(job(json!({"failed": 6, "conditions": [
            {"type": "FailureTarget", "status": "True"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}))),
        (Status::Failed, "Job Failed. failed: 6/1".into())
    );
}

#[test]
fn pods() {
    let pod = |status: Value, created: &str| {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "p", "creationTimestamp": created}, "status": status})
    };
    let recently = "2026-11-26T06:50:40Z";
    let long_ago = "2026-11-26T06:00:00Z";
    assert_eq!(
        judge(pod(
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
            recently
        )),
        (Status::Current, "Pod is Ready".into())
    );
    assert_eq!(
        judge(pod(json!({"phase": "Succeeded"}), recently)).0,
        Status::Current
    );
    assert_eq!(
        judge(pod(json!({"phase": "Failed"}), recently)),
        (
            Status::Failed,
            "Pod has completed, but not successfully".into()
        )
    );
    assert_eq!(
        judge(pod(
            json!({"phase": "Running", "containerStatuses": [
            {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
            {"name": "sidecar", "state": {"running": {}}}]}),
            recently
        )),
        (Status::Failed, "Containers in CrashLoop state: app".into())
    );
    assert_eq!(
        judge(pod(json!({"phase": "Running"}), recently)),
        (Status::InProgress, "Pod is running but is not Ready".into())
    );
    let unschedulable = json!({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]});
    assert_eq!(
        judge(pod(unschedulable.clone(), recently)),
        (Status::InProgress, "Pod has not been scheduled".into())
    );
    assert_eq!(
        judge(pod(unschedulable, long_ago)),
        (Status::Failed, "Pod could not be scheduled".into())
    );
    assert_eq!(
        judge(pod(json!({}), recently)),
        (Status::InProgress, "Pod phase not available".into())
    );
}

#[test]
fn claims_services_budgets_and_crds() {
    let pvc = |phase: &str| {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
               "status": {"phase": phase}})
    };
    assert_eq!(
        judge(pvc("Bound")),
        (Status::Current, "PVC is Bound".into())
    );
    assert_eq!(
        judge(pvc("Pending")),
        (
            Status::InProgress,
            "PVC is not Bound. phase: Pending".into()
        )
    );

    let svc = |spec: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec});
    assert_eq!(
        judge(svc(json!({"type": "LoadBalancer"}))),
        (
            Status::InProgress,
            "ClusterIP not set. Service type: LoadBalancer".into()
        )
    );
    assert_eq!(
        judge(svc(
            json!({"type": "LoadBalancer", "clusterIP": "10.96.0.10"})
        ))
        .0,
        Status::Current
    );
    assert_eq!(
        judge(svc(json!({}))),
        (Status::Current, "Service is ready".into())
    );

    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
        "status": {"currentHealthy": 1, "desiredHealthy": 2}});
    assert_eq!(
        judge(pdb),
        (
            Status::InProgress,
            "Budget not met. healthy replicas: 1/2".into()
        )
    );

    let crd = |conditions: Value| {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "widgets.example.com"}, "status": {"conditions": conditions}})
    };
    assert_eq!(
        judge(crd(
            json!([{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}])
        )),
        (Status::Current, "CRD is established".into())
    );
    assert_eq!(
        judge(crd(
            json!([{"type": "Established", "status": "False", "reason": "Installing"}])
        )),
        (Status::InProgress, "Install in progress".into())
    );
    assert_eq!(
        judge(crd(
            json!([{"type": "NamesAccepted", "status": "False", "reason": "MultipleNamesNotAllowed",
            "message": "\"widget\" is already in use"}])
        )),
        (Status::Failed, "\"widget\" is already in use".into())
    );
}
