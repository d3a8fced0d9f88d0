//! The market snapshot cache: exact values, expiry, roles, and sharing through Redis.
use crate::common::*;
use quantgraph::auth::Role;
use serde_json::json;

const PUBLISH: &str = r#"mutation($t: String!) { publishMarketSnapshot(marketType: $t, snapshot: {
    vnIndex: "1200.5012345678901234", dxy: "105.2", foreignNetFlow: "50000000000000", marketLiquidity: "1000000000",
    timestamp: "2025-12-24T10:00:00Z" }) { marketType vnIndex } }"#;
const READ: &str =
    "query($t: String!) { marketSnapshot(marketType: $t) { vnIndex dxy foreignNetFlow marketLiquidity timestamp } }";

#[tokio::test]
async fn snapshots_are_exact_expire_and_need_the_service_role() {
    let app = spawn_with(Backend::Sqlite, false, |c| c.snapshot_ttl_secs = 1).await;
    let svc = format!("Bearer {}", app.app.state.tokens.issue("feeder", Role::Service, 60).unwrap());
    let anon = app.gql(PUBLISH, json!({ "t": "VN" })).await;
    assert_eq!(anon["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert_eq!(app.data(READ, json!({ "t": "VN" })).await["marketSnapshot"], serde_json::Value::Null);
    let r = app.gql_with(PUBLISH, json!({ "t": "VN" }), &[("Authorization", &svc)]).await;
    assert!(r.get("errors").is_none(), "{r}");
    let got = app.gql_with(READ, json!({ "t": "VN" }), &[("Time-Zone", "Asia/Ho_Chi_Minh")]).await;
    let s = &got["data"]["marketSnapshot"];
    assert_eq!(s["vnIndex"], "1200.5012345678901234");
    assert_eq!(s["foreignNetFlow"], "50000000000000");
    assert_eq!(s["timestamp"], "2025-12-24T17:00:00+07:00");
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(app.data(READ, json!({ "t": "VN" })).await["marketSnapshot"], serde_json::Value::Null, "expired");
}

#[tokio::test]
async fn a_snapshot_written_through_one_gateway_is_read_through_another() {
    let Some(redis) = redis_url() else { return };
    let t = format!("T{}", uuid::Uuid::new_v4().simple());
    let a = spawn_with(Backend::Sqlite, false, |c| c.redis_url = Some(redis.clone())).await;
    let b = spawn_with(Backend::Sqlite, false, |c| c.redis_url = Some(redis.clone())).await;
    let svc = format!("Bearer {}", a.app.state.tokens.issue("feeder", Role::Service, 60).unwrap());
    let mut ws = Ws::connect(&b, None, false).await;
    ws.subscribe("s", "subscription($t: String!) { marketSnapshot(marketType: $t) { vnIndex } }", json!({ "t": t }))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let r = a.gql_with(PUBLISH, json!({ "t": t }), &[("Authorization", &svc)]).await;
    assert!(r.get("errors").is_none(), "{r}");
    assert_eq!(b.data(READ, json!({ "t": t })).await["marketSnapshot"]["vnIndex"], "1200.5012345678901234");
    let ev = ws.next_data(std::time::Duration::from_secs(10)).await.unwrap();
    assert_eq!(ev["data"]["marketSnapshot"]["vnIndex"], "1200.5012345678901234", "{ev}");
}
