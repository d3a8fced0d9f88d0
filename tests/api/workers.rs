//! Workflow workers: claiming runs from the queue, leases that lapse, the pending-run feed.
use crate::common::*;
use quantgraph::auth::Role;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const CLAIM: &str = "mutation($w: String!, $l: Int) { claimWorkflowExecution(worker: $w, leaseSeconds: $l) \
                     { rowId status claimedBy attempts leaseExpiresAt } }";
const FINISH: &str = "mutation($id: UUID!, $w: String, $s: WorkflowRunStatus!) { \
                      updateWorkflowExecution(rowId: $id, worker: $w, status: $s, result: { ok: true }) { status } }";
const RENEW: &str = "mutation($id: UUID!, $w: String!, $l: Int) { \
                     renewWorkflowExecutionLease(rowId: $id, worker: $w, leaseSeconds: $l) { leaseExpiresAt } }";
const RUNS: &str =
    "{ workflowExecutionLogs(first: 1000) { totalCount nodes { rowId status claimedBy attempts errorMessage } } }";

/// A user with one workflow and `n` queued runs: (user token, workflow id, run ids).
async fn queue(app: &TestApp, n: usize) -> (String, String, Vec<String>) {
    let (user, _) = register(app, "owner@example.com").await;
    let (wid, ids) = workflow_with_runs(app, &user, "queue", n).await;
    (user, wid, ids)
}

async fn runs(app: &TestApp) -> Vec<Value> {
    let admin = token(app, Role::Admin);
    let r = as_role(app, &admin, RUNS, json!({})).await;
    r["data"]["workflowExecutionLogs"]["nodes"].as_array().unwrap_or_else(|| panic!("{r}")).clone()
}

/// Four workers drain 200 runs: every run is executed exactly once, by the worker that claimed it.
#[tokio::test]
async fn four_workers_execute_each_of_200_runs_once() {
    for backend in backends() {
        let app = spawn_with(backend, false, |_| {}).await;
        let (_, _, queued) = queue(&app, 200).await;
        let svc = token(&app, Role::Service);
        let workers: Vec<_> = (0..4)
            .map(|i| {
                let (http, url, svc) = (app.http.clone(), app.url.clone(), svc.clone());
                tokio::spawn(async move {
                    let name = format!("worker-{i}");
                    let post = |q: &'static str, v: Value| {
                        let req =
                            http.post(&url).header("Authorization", &svc).json(&json!({ "query": q, "variables": v }));
                        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
                    };
                    let mut done = Vec::new();
                    loop {
                        let c = post(CLAIM, json!({ "w": name, "l": 60 })).await;
                        assert!(c.get("errors").is_none(), "{c}");
                        let run = &c["data"]["claimWorkflowExecution"];
                        if run.is_null() {
                            break;
                        }
                        assert_eq!(run["status"], "running");
                        assert_eq!(run["claimedBy"], name.as_str());
                        let id = run["rowId"].as_str().unwrap().to_string();
                        let f = post(FINISH, json!({ "id": id, "w": name, "s": "success" })).await;
                        assert_eq!(f["data"]["updateWorkflowExecution"]["status"], "success", "{f}");
                        done.push(id);
                    }
                    (name, done)
                })
            })
            .collect();
        let mut by_worker = HashMap::new();
        for w in workers {
            let (name, done) = w.await.unwrap();
            by_worker.insert(name, done);
        }
        let claimed: Vec<&String> = by_worker.values().flatten().collect();
        assert_eq!(claimed.len(), 200, "{backend:?}: claims in all");
        let distinct: HashSet<&String> = claimed.iter().copied().collect();
        assert_eq!(distinct, queued.iter().collect(), "{backend:?}: each queued run claimed once");
        assert!(by_worker.values().all(|d| !d.is_empty()), "{backend:?}: every worker got work");
        let stored = runs(&app).await;
        assert_eq!(stored.len(), 200);
        for r in &stored {
            let id = r["rowId"].as_str().unwrap().to_string();
            let holder = by_worker.iter().find(|(_, d)| d.contains(&id)).map(|(n, _)| n.as_str());
            assert_eq!(r["status"], "success", "{backend:?}: {r}");
            assert_eq!(r["attempts"], 1, "{backend:?}: {r}");
            assert_eq!(r["claimedBy"].as_str(), holder, "{backend:?}: {r}");
        }
    }
}

/// A worker that stops renewing loses its run to the next claimant, cannot report it any more,
/// and the run fails once its attempts are used up.
#[tokio::test]
async fn a_lapsed_lease_returns_the_run_then_fails_it() {
    for backend in backends() {
        let app = spawn_with(backend, false, |c| c.workflow_max_attempts = 2).await;
        let (user, _, ids) = queue(&app, 1).await;
        let svc = token(&app, Role::Service);
        assert_eq!(code(&as_role(&app, &user, CLAIM, json!({ "w": "u" })).await), Some("FORBIDDEN"));
        assert_eq!(code(&app.gql(CLAIM, json!({ "w": "anon" })).await), Some("UNAUTHENTICATED"));
        assert_eq!(code(&as_role(&app, &svc, CLAIM, json!({ "w": "a", "l": 0 })).await), Some("BAD_USER_INPUT"));

        let a = as_role(&app, &svc, CLAIM, json!({ "w": "a", "l": 1 })).await;
        assert_eq!(a["data"]["claimWorkflowExecution"]["rowId"], ids[0].as_str(), "{backend:?}: {a}");
        let lease = |v: &Value, f: &str| {
            let s = v["data"][f]["leaseExpiresAt"].as_str().unwrap_or_else(|| panic!("{v}")).to_string();
            chrono::DateTime::parse_from_rfc3339(&s).unwrap()
        };
        let first = lease(&a, "claimWorkflowExecution");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let renewed = as_role(&app, &svc, RENEW, json!({ "id": ids[0], "w": "a", "l": 1 })).await;
        let later = lease(&renewed, "renewWorkflowExecutionLease");
        assert!(later > first, "{backend:?}: renewing moves the lease on: {first} -> {later}");
        assert_eq!(code(&as_role(&app, &svc, RENEW, json!({ "id": ids[0], "w": "b" })).await), Some("CONFLICT"));
        let none = as_role(&app, &svc, CLAIM, json!({ "w": "b" })).await;
        assert!(none["data"]["claimWorkflowExecution"].is_null(), "{backend:?}: held runs are not handed out: {none}");

        tokio::time::sleep(Duration::from_millis(1500)).await;
        let b = as_role(&app, &svc, CLAIM, json!({ "w": "b", "l": 1 })).await;
        let run = &b["data"]["claimWorkflowExecution"];
        assert_eq!(run["rowId"], ids[0].as_str(), "{backend:?}: the lapsed run is claimable again: {b}");
        assert_eq!((run["claimedBy"].as_str(), run["attempts"].as_i64()), (Some("b"), Some(2)));
        let late = as_role(&app, &svc, FINISH, json!({ "id": ids[0], "w": "a", "s": "success" })).await;
        assert_eq!(code(&late), Some("CONFLICT"), "{backend:?}: the first worker lost the run: {late}");
        assert_eq!(code(&as_role(&app, &svc, RENEW, json!({ "id": ids[0], "w": "a" })).await), Some("CONFLICT"));

        // The second worker stops too: its lapse is the run's last attempt, and the background sweep fails it.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let stored = loop {
            let stored = runs(&app).await;
            if stored[0]["status"] != "running" || std::time::Instant::now() > deadline {
                break stored;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0]["status"], "failed", "{backend:?}: {stored:?}");
        assert_eq!(stored[0]["attempts"], 2);
        assert!(stored[0]["errorMessage"].as_str().unwrap_or("").contains("lease"), "{stored:?}");
        let none = as_role(&app, &svc, CLAIM, json!({ "w": "c" })).await;
        assert!(none["data"]["claimWorkflowExecution"].is_null(), "{backend:?}: a failed run is not retried: {none}");
    }
}

/// A backlog longer than a replay page (1,000) reaches a worker whole: every waiting run once,
/// oldest first, then the live ones.
#[tokio::test]
async fn a_long_backlog_is_replayed_in_pages_every_run_once() {
    const SUB: &str = "subscription { pendingWorkflowExecutions { rowId executedAt } }";
    for backend in backends() {
        let app = spawn_with(backend, false, |_| {}).await;
        let (user, wid, _) = queue(&app, 0).await;
        let mut ids = HashSet::new();
        for _ in 0..26 {
            let runs = (0..100).map(|_| {
                as_role(&app, &user, "mutation($id: UUID!) { runWorkflow(rowId: $id) { rowId } }", json!({ "id": wid }))
            });
            for r in futures_util::future::join_all(runs).await {
                ids.insert(r["data"]["runWorkflow"]["rowId"].as_str().unwrap_or_else(|| panic!("{r}")).to_string());
            }
        }
        assert_eq!(ids.len(), 2600);
        let svc = token(&app, Role::Service);
        let mut worker = Ws::connect(&app, svc.strip_prefix("Bearer "), false).await;
        let before = app.statements().await;
        worker.subscribe("1", SUB, json!({})).await;
        let mut got = Vec::new();
        while got.len() < 2600 {
            let d = worker
                .next_data(Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("{backend:?}: stalled at {}", got.len()));
            let e = &d["data"]["pendingWorkflowExecutions"];
            got.push((
                e["executedAt"].as_str().unwrap_or_else(|| panic!("{d}")).to_string(),
                e["rowId"].as_str().unwrap().to_string(),
            ));
        }
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let disorder: Vec<_> = got.windows(2).filter(|w| at(&w[0].0) > at(&w[1].0)).collect();
        assert!(disorder.is_empty(), "{backend:?}: oldest first: {:?}", &disorder[..disorder.len().min(3)]);
        let distinct: HashSet<String> = got.iter().map(|g| g.1.clone()).collect();
        assert_eq!(distinct, ids, "{backend:?}: every waiting run, once");
        // Read as 1,000 + 1,000 + 600 rows, never all at once.
        assert_eq!(app.statements().await - before, 3, "{backend:?}: pages read");
        let r =
            as_role(&app, &user, "mutation($id: UUID!) { runWorkflow(rowId: $id) { rowId } }", json!({ "id": wid }))
                .await;
        let d = worker.next_data(Duration::from_secs(10)).await.expect("the new run");
        assert_eq!(d["data"]["pendingWorkflowExecutions"]["rowId"], r["data"]["runWorkflow"]["rowId"], "{backend:?}");
        assert!(worker.recv(Duration::from_millis(300)).await.is_none(), "{backend:?}: nothing twice");
    }
}

/// Workers hear of runs waiting now and of each new one; other roles are refused.
#[tokio::test]
async fn workers_subscribe_to_pending_runs() {
    const SUB: &str = "subscription { pendingWorkflowExecutions { rowId status workflowId } }";
    let t = Duration::from_secs(10);
    for backend in backends() {
        let app = spawn_with(backend, false, |_| {}).await;
        let (user, wid, ids) = queue(&app, 2).await;
        let svc = token(&app, Role::Service);
        let mut worker = Ws::connect(&app, svc.strip_prefix("Bearer "), false).await;
        worker.subscribe("1", SUB, json!({})).await;
        let mut seen = Vec::new();
        for _ in 0..2 {
            let d = worker.next_data(t).await.expect("a replayed pending run");
            assert_eq!(d["data"]["pendingWorkflowExecutions"]["status"], "pending", "{backend:?}: {d}");
            seen.push(d["data"]["pendingWorkflowExecutions"]["rowId"].as_str().unwrap().to_string());
        }
        seen.sort();
        let mut waiting = ids.clone();
        waiting.sort();
        assert_eq!(seen, waiting, "{backend:?}: the waiting runs");
        let r =
            as_role(&app, &user, "mutation($id: UUID!) { runWorkflow(rowId: $id) { rowId } }", json!({ "id": wid }))
                .await;
        let d = worker.next_data(t).await.expect("the new run");
        assert_eq!(
            d["data"]["pendingWorkflowExecutions"]["rowId"], r["data"]["runWorkflow"]["rowId"],
            "{backend:?}: {d}"
        );
        // Claiming is not news to this feed: the next event is the next pending run only.
        as_role(&app, &svc, CLAIM, json!({ "w": "a" })).await;
        assert!(worker.recv(Duration::from_millis(500)).await.is_none(), "{backend:?}: a claim is not a pending run");

        let mut other = Ws::connect(&app, user.strip_prefix("Bearer "), false).await;
        other.subscribe("1", SUB, json!({})).await;
        let e = other.recv(t).await.unwrap();
        assert_eq!(message_code(&e), Some("FORBIDDEN"), "{backend:?}: {e}");
    }
}

/// The loop a worker lives in, with two workers competing: hear of pending runs over the socket,
/// claim one (each run is won by exactly one of them), read the workflow it has to execute,
/// renew the lease, report the result. Beyond the runs it may work on, a worker reads nothing.
#[tokio::test]
async fn two_workers_hear_claim_read_renew_and_report() {
    const SUB: &str = "subscription { pendingWorkflowExecutions { rowId workflowId } }";
    const TAKE: &str = "mutation($w: String!) { claimWorkflowExecution(worker: $w, leaseSeconds: 30) \
                        { rowId status leaseExpiresAt workflow { rowId name jsonGraph } } }";
    let t = Duration::from_secs(10);
    for backend in backends() {
        let app = spawn_with(backend, false, |_| {}).await;
        let (user, wid, ids) = queue(&app, 6).await;
        let graph = json!({ "nodes": [{ "id": "n1", "type": "fetch" }], "edges": [] });
        let set = as_role(
            &app,
            &user,
            "mutation($id: UUID!, $g: JSON!) { updateWorkflow(rowId: $id, patch: { jsonGraph: $g }) { rowId } }",
            json!({ "id": wid, "g": graph }),
        )
        .await;
        assert!(set.get("errors").is_none(), "{backend:?}: {set}");
        let svc = token(&app, Role::Service);
        let raw = svc.strip_prefix("Bearer ");
        let (mut a, mut b) = (Ws::connect(&app, raw, false).await, Ws::connect(&app, raw, true).await);
        a.subscribe("1", SUB, json!({})).await;
        b.subscribe("1", SUB, json!({})).await;
        let mut won: HashMap<String, &str> = HashMap::new();
        for _ in 0..ids.len() {
            for ws in [&mut a, &mut b] {
                let d = ws.next_data(t).await.expect("a pending run");
                assert_eq!(d["data"]["pendingWorkflowExecutions"]["workflowId"], wid.as_str(), "{backend:?}: {d}");
            }
            // Both heard of a run; both race to claim.
            let (ca, cb) = tokio::join!(
                as_role(&app, &svc, TAKE, json!({ "w": "a" })),
                as_role(&app, &svc, TAKE, json!({ "w": "b" }))
            );
            for (name, c) in [("a", &ca), ("b", &cb)] {
                assert!(c.get("errors").is_none(), "{backend:?}: a worker reads the workflow it claimed: {c}");
                let run = &c["data"]["claimWorkflowExecution"];
                if run.is_null() {
                    continue;
                }
                assert_eq!(run["status"], "running", "{backend:?}: {c}");
                assert_eq!(run["workflow"]["rowId"], wid.as_str(), "{backend:?}: {c}");
                assert_eq!(run["workflow"]["name"], "queue", "{backend:?}: {c}");
                assert_eq!(run["workflow"]["jsonGraph"], graph, "{backend:?}: {c}");
                let id = run["rowId"].as_str().unwrap().to_string();
                assert!(won.insert(id.clone(), name).is_none(), "{backend:?}: {id} claimed twice");
                let before = chrono::DateTime::parse_from_rfc3339(run["leaseExpiresAt"].as_str().unwrap()).unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
                let r = as_role(&app, &svc, RENEW, json!({ "id": id, "w": name, "l": 120 })).await;
                let after = r["data"]["renewWorkflowExecutionLease"]["leaseExpiresAt"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{r}"));
                let after = chrono::DateTime::parse_from_rfc3339(after).unwrap();
                assert!(after > before, "{backend:?}: renewing moves the lease on: {before} -> {after}");
                // While it holds the run, the worker may read it and its workflow by id.
                let held = as_role(
                    &app,
                    &svc,
                    "query($id: UUID!) { workflowExecutionLog(rowId: $id) { status claimedBy workflow { name } } }",
                    json!({ "id": id }),
                )
                .await;
                assert_eq!(held["data"]["workflowExecutionLog"]["claimedBy"], name, "{backend:?}: {held}");
                assert_eq!(held["data"]["workflowExecutionLog"]["workflow"]["name"], "queue", "{backend:?}: {held}");
                let f = as_role(&app, &svc, FINISH, json!({ "id": id, "w": name, "s": "success" })).await;
                assert_eq!(f["data"]["updateWorkflowExecution"]["status"], "success", "{backend:?}: {f}");
            }
        }
        // Each heard of every run; a claim takes the oldest waiting one, so the queue is drained
        // within the rounds, and then there is nothing left to win.
        for ws in [&mut a, &mut b] {
            assert!(ws.recv(Duration::from_millis(300)).await.is_none(), "{backend:?}: each run announced once");
        }
        assert!(as_role(&app, &svc, TAKE, json!({ "w": "a" })).await["data"]["claimWorkflowExecution"].is_null());
        let mut expected = ids.clone();
        expected.sort();
        let mut got: Vec<String> = won.keys().cloned().collect();
        got.sort();
        assert_eq!(got, expected, "{backend:?}: every run claimed exactly once");
        let stored = runs(&app).await;
        assert_eq!(stored.len(), ids.len());
        assert!(stored.iter().all(|r| r["status"] == "success" && r["attempts"] == 1), "{backend:?}: {stored:?}");

        // Finished runs are no longer a worker's to read; the user who owns them still reads them all.
        let own = as_role(&app, &user, RUNS, json!({})).await;
        assert_eq!(own["data"]["workflowExecutionLogs"]["totalCount"], ids.len().to_string(), "{backend:?}: {own}");
        let seen = as_role(&app, &svc, RUNS, json!({})).await;
        assert!(seen.get("errors").is_none(), "{backend:?}: {seen}");
        assert_eq!(seen["data"]["workflowExecutionLogs"]["totalCount"], "0", "{backend:?}: {seen}");
        for q in ["{ users(first: 5) { nodes { email } } }", "{ portfolioAllocations(first: 5) { nodes { rowId } } }"] {
            let r = as_role(&app, &svc, q, json!({})).await;
            assert_eq!(code(&r), Some("FORBIDDEN"), "{backend:?}: signed in, not allowed: {r}");
            let key = if q.contains("users") { "users" } else { "portfolioAllocations" };
            // A list is non-null: its error nulls `data`, and the error names the field.
            assert!(r["data"].is_null(), "{backend:?}: {r}");
            assert_eq!(r["errors"][0]["path"], json!([key]), "{backend:?}: {r}");
        }
    }
}
