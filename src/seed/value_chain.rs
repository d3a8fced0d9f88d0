//! The steel value chain of the Vietnamese listings: nodes and their supply edges.
use super::batch::{s as text, ts, Batch};
use super::Seed;
use entity::*;
use sea_orm::Value;
use uuid::Uuid;

/// Five nodes and five edges.
pub(super) async fn value_chain(s: &mut Seed) -> anyhow::Result<()> {
    let tx = &s.tx;
    let created = s.created;
    let nodes = [
        ("Iron Ore", None, "Basic Resources", "Upstream"),
        ("Coking Coal", None, "Basic Resources", "Upstream"),
        ("Hoa Phat Group", Some("HPG"), "Basic Resources", "Midstream"),
        ("Hoa Sen Group", Some("HSG"), "Basic Resources", "Midstream"),
        ("Coteccons Construction", Some("CTD"), "Construction & Materials", "Downstream"),
    ];
    let node_id = |k: usize| Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0004_0000 + k as u128);
    let mut vn = Batch::new(
        tx,
        &[
            value_chain_nodes::Column::Id,
            value_chain_nodes::Column::Symbol,
            value_chain_nodes::Column::Name,
            value_chain_nodes::Column::Sector,
            value_chain_nodes::Column::NodeType,
            value_chain_nodes::Column::Description,
            value_chain_nodes::Column::CreatedAt,
        ],
    );
    for (k, (name, sym, sector, kind)) in nodes.iter().enumerate() {
        vn.push(vec![
            Value::Uuid(Some(node_id(k))),
            sym.map(text).unwrap_or(Value::String(None)),
            text(name),
            text(sector),
            text(kind),
            text(&format!("{name} in the steel value chain.")),
            ts(created),
        ])
        .await?;
    }
    vn.finish().await?;
    let mut ve = Batch::new(
        tx,
        &[
            value_chain_edges::Column::Id,
            value_chain_edges::Column::SourceId,
            value_chain_edges::Column::TargetId,
            value_chain_edges::Column::Relationship,
            value_chain_edges::Column::CorrelationCoeff,
            value_chain_edges::Column::LeadTimeDays,
            value_chain_edges::Column::Weight,
            value_chain_edges::Column::CreatedAt,
            value_chain_edges::Column::UpdatedAt,
        ],
    );
    for (k, (from, to, rel, corr, lag)) in [
        (0, 2, "supplies", 0.62, 20),
        (1, 2, "supplies", 0.48, 15),
        (2, 4, "sells_to", 0.35, 45),
        (3, 4, "sells_to", 0.28, 40),
        (0, 3, "supplies", 0.51, 25),
    ]
    .iter()
    .enumerate()
    {
        ve.push(vec![
            Value::Uuid(Some(Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0005_0000 + k as u128))),
            Value::Uuid(Some(node_id(*from))),
            Value::Uuid(Some(node_id(*to))),
            text(rel),
            Value::Double(Some(*corr)),
            Value::Int(Some(*lag)),
            Value::Double(Some(corr * 10.0)),
            ts(created),
            ts(created),
        ])
        .await?;
    }
    ve.finish().await?;
    Ok(())
}
