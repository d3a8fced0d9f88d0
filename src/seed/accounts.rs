//! The demo accounts, the trader's workflows with their runs, and allocations: stable ids, so
//! that the demo and the tests can refer to them.
use super::batch::{j, s as text, ts, Batch};
use super::{Seed, DEMO_PASSWORD, DEMO_USERS};
use chrono::Duration;
use entity::*;
use sea_orm::Value;
use serde_json::json;
use uuid::Uuid;

/// Users, workflows, workflow runs and portfolio allocations.
pub(super) async fn accounts(s: &mut Seed) -> anyhow::Result<()> {
    let tx = &s.tx;
    let created = s.created;
    // Accounts, workflows and allocations: stable ids so the demo can refer to them.
    let hash = crate::auth::hash_password(DEMO_PASSWORD)?;
    let mut us = Batch::new(
        tx,
        &[
            users::Column::Id,
            users::Column::Email,
            users::Column::PasswordHash,
            users::Column::Role,
            users::Column::CreatedAt,
            users::Column::UpdatedAt,
        ],
    );
    let user_ids: Vec<Uuid> =
        (0..DEMO_USERS.len()).map(|i| Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0001 + i as u128)).collect();
    for ((email, role), id) in DEMO_USERS.iter().zip(&user_ids) {
        us.push(vec![Value::Uuid(Some(*id)), text(email), text(&hash), text(role), ts(created), ts(created)]).await?;
    }
    us.finish().await?;
    let trader = user_ids[3];
    let mut wfl = Batch::new(
        tx,
        &[
            workflows::Column::Id,
            workflows::Column::UserId,
            workflows::Column::Name,
            workflows::Column::JsonGraph,
            workflows::Column::IsActive,
            workflows::Column::CreatedAt,
            workflows::Column::UpdatedAt,
        ],
    );
    let mut ex = Batch::new(
        tx,
        &[
            workflow_execution_logs::Column::Id,
            workflow_execution_logs::Column::WorkflowId,
            workflow_execution_logs::Column::Status,
            workflow_execution_logs::Column::ExecutedAt,
            workflow_execution_logs::Column::Result,
            workflow_execution_logs::Column::ErrorMessage,
            workflow_execution_logs::Column::DurationMs,
        ],
    );
    for (i, name) in ["Steel cycle monitor", "Foreign flow alert"].iter().enumerate() {
        let wid = Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0001_0000 + i as u128);
        let graph = json!({"nodes": [{"id": "1", "type": "source", "data": {"symbol": "HPG"}}, {"id": "2", "type": "signal"}], "edges": [{"source": "1", "target": "2"}]});
        wfl.push(vec![
            Value::Uuid(Some(wid)),
            Value::Uuid(Some(trader)),
            text(name),
            j(graph),
            Value::Bool(Some(true)),
            ts(created),
            ts(created),
        ])
        .await?;
        for k in 0..3u128 {
            let ok = k != 1;
            ex.push(vec![
                Value::Uuid(Some(Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0002_0000 + (i as u128) * 16 + k))),
                Value::Uuid(Some(wid)),
                text(if ok { "success" } else { "failed" }),
                ts(created - Duration::hours(k as i64 * 6)),
                if ok { j(json!({"signals": k + 1})) } else { Value::Json(None) },
                if ok { Value::String(None) } else { text("broker API timed out") },
                Value::Int(Some(800 + k as i32 * 150)),
            ])
            .await?;
        }
    }
    wfl.finish().await?;
    ex.finish().await?;
    let mut al = Batch::new(
        tx,
        &[
            portfolio_allocations::Column::Id,
            portfolio_allocations::Column::UserId,
            portfolio_allocations::Column::Symbol,
            portfolio_allocations::Column::AllocationPct,
            portfolio_allocations::Column::CreatedAt,
        ],
    );
    for (k, (sym, pct)) in [("HPG", 40.0), ("FPT", 35.0), ("VCB", 25.0)].iter().enumerate() {
        al.push(vec![
            Value::Uuid(Some(Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0003_0000 + k as u128))),
            Value::Uuid(Some(trader)),
            text(sym),
            Value::Double(Some(*pct)),
            ts(created),
        ])
        .await?;
    }
    al.finish().await?;
    Ok(())
}
