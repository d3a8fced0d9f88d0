//! Builds `CREATE TABLE` statements from entity metadata, per backend.
//!
//! Same as SeaORM's `Schema::create_table_from_entity`, except that on SQLite a DECIMAL
//! column gets TEXT affinity: SQLite would otherwise store it as an 8-byte REAL and keep
//! only ~15 significant digits, and money must survive exactly.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{
    sea_query::ColumnType, ColumnTrait, DbBackend, EntityTrait, Iterable, PrimaryKeyArity, PrimaryKeyToColumn,
    PrimaryKeyTrait, RelationTrait, Schema,
};

/// Per-column adjustments a migration may make (generated columns, identities, defaults).
pub type Adjust<'a> = &'a dyn Fn(&str, &mut ColumnDef);

pub fn table<E: EntityTrait + Default>(backend: DbBackend, adjust: Adjust) -> TableCreateStatement {
    let schema = Schema::new(backend);
    let entity = E::default();
    let mut stmt = Table::create();
    stmt.table(entity.table_ref()).if_not_exists();
    let pk_arity = <<E::PrimaryKey as PrimaryKeyTrait>::ValueType as PrimaryKeyArity>::ARITY;
    for column in E::Column::iter() {
        let mut def = schema.get_column_def::<E>(column);
        let name = def.get_column_name();
        if backend == DbBackend::Sqlite {
            match def.get_column_type() {
                Some(ColumnType::Decimal(_)) => {
                    def.text();
                }
                // CURRENT_TIMESTAMP has a space where the driver writes a `T`; keep one text form so
                // comparisons and ordering stay right.
                Some(ColumnType::TimestampWithTimeZone) if column.def().get_column_default().is_some() => {
                    def.default(Expr::cust("(strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'))"));
                }
                _ => {}
            }
        }
        if backend == DbBackend::Postgres && matches!(def.get_column_type(), Some(ColumnType::Uuid)) && pk_arity == 1 {
            let is_pk = E::PrimaryKey::iter().any(|pk| pk.into_column().to_string() == name);
            if is_pk {
                def.default(Expr::cust("gen_random_uuid()"));
            }
        }
        adjust(&name, &mut def);
        stmt.col(&mut def);
    }
    if pk_arity > 1 {
        let mut pk = Index::create();
        for key in E::PrimaryKey::iter() {
            pk.col(key);
        }
        stmt.primary_key(pk.name(format!("{}_pkey", entity.table_name())).primary());
    }
    for relation in E::Relation::iter() {
        let relation = relation.def();
        if relation.is_owner || relation.skip_fk {
            continue;
        }
        stmt.foreign_key(&mut relation.into());
    }
    stmt
}

/// No per-column adjustment.
pub fn plain(_: &str, _: &mut ColumnDef) {}

pub fn unique(name: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).unique();
    for c in cols {
        idx.col(Alias::new(*c));
    }
    idx
}

pub fn check(name: &str, expr: &str) -> Check {
    Check::named(Alias::new(name), Expr::cust(expr.to_string()))
}
