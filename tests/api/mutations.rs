//! Every generic mutation of the catalog, on both backends: for each writable table, create →
//! read → update → read → delete → read, as the role allowed to (each step's stored rows
//! checked in SQL, not only the answer) and as one that is not (refused with its code, and
//! nothing written); deleting a ticker removes every row that hangs on it.
use crate::common::*;
use crate::differential::sdl;
use quantgraph::auth::Role;
use quantgraph::data::catalog::{Catalog, Column, Mutation, Table, Writers};
use quantgraph::data::values::Kind;
use serde_json::{json, Map, Value};

/// The new ticker the created rows hang on (so that every natural key is new).
const TICKER: (&str, &str) = ("ZZMUT", "VN");

struct Roles {
    admin: String,
    service: String,
    analyst: String,
    user: String,
    other_user: String,
}

impl Roles {
    /// Who may write `w`, and one caller who may not with the code they get.
    fn of(&self, w: Writers) -> (&str, Option<&str>, &'static str) {
        match w {
            Writers::Admin => (&self.admin, Some(&self.analyst), "FORBIDDEN"),
            Writers::Service => (&self.service, Some(&self.analyst), "FORBIDDEN"),
            Writers::Research => (&self.analyst, None, "UNAUTHENTICATED"),
            // Another user's rows do not exist for them.
            Writers::Owner => (&self.user, Some(&self.other_user), "NOT_FOUND"),
            Writers::None => unreachable!("no generic writes"),
        }
    }
}

/// Rows stored in `t` under the key of `row` (an answer or an input), counted in SQL.
async fn stored(app: &TestApp, t: &Table, row: &Map<String, Value>) -> i64 {
    use sea_orm::ConnectionTrait;
    let db = app.sql().await;
    let conds: Vec<String> = t
        .key
        .iter()
        .map(|k| {
            let c = &t.columns[*k];
            let v = &row[&c.field];
            let text = v.as_str().map(|s| s.replace('\'', "''"));
            let sqlite = app.backend == Backend::Sqlite;
            match (c.kind, text) {
                // SQLite keeps UUIDs as 16-byte blobs and times as text in its own format.
                (Kind::Uuid, Some(u)) if sqlite => format!("\"{}\" = X'{}'", c.name, u.replace('-', "")),
                (Kind::DateTime, Some(d)) if sqlite => format!("datetime(\"{}\") = datetime('{d}')", c.name),
                (_, Some(s)) => format!("\"{}\" = '{s}'", c.name),
                _ => format!("\"{}\" = {v}", c.name),
            }
        })
        .collect();
    let sql = format!("SELECT COUNT(*) AS n FROM \"{}\" WHERE {}", t.name, conds.join(" AND "));
    let r = db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql.clone())).await;
    r.unwrap_or_else(|e| panic!("{sql}: {e}")).expect("a count").try_get::<i64>("", "n").unwrap()
}

/// A value for key column `c` of `t` that no stored row has: the new ticker's where the column
/// points at tickers, else one made up for the column's kind.
fn fresh_key(t: &Table, c: &Column, n: usize) -> Value {
    let to_ticker =
        t.relations.iter().find(|r| r.target == "tickers" && r.fixed.is_empty() && r.from_cols.contains(&c.name));
    if let Some(r) = to_ticker {
        let i = r.from_cols.iter().position(|f| *f == c.name).unwrap();
        return json!(if r.to_cols[i] == "ticker" { TICKER.0 } else { TICKER.1 });
    }
    match c.kind {
        Kind::Date => json!(format!("2099-01-{:02}", 1 + n % 28)),
        Kind::DateTime => json!(format!("2099-01-01T00:{:02}:00Z", n % 60)),
        Kind::Int => json!(900_000 + n),
        Kind::BigInt => json!((900_000 + n).to_string()),
        Kind::Uuid => json!(uuid::Uuid::new_v4().to_string()),
        _ if c.name == "region" => json!(TICKER.1),
        _ if c.name == "ticker" || c.name == "symbol" || c.name == "etf_ticker" => json!(TICKER.0),
        _ => json!(format!("mut-{n}")),
    }
}

/// A changed value for a patchable column, or `None` when the column cannot show a change.
fn changed(c: &Column, old: &Value) -> Option<Value> {
    if c.words.is_some() {
        return None;
    }
    let v = match c.kind {
        Kind::String => json!(format!("{}-x", old.as_str().unwrap_or("v"))
            .chars()
            .take(c.max_len.unwrap_or(64) as usize)
            .collect::<String>()),
        Kind::Boolean => json!(!old.as_bool().unwrap_or(false)),
        Kind::Int => json!(old.as_i64().unwrap_or(0) + 1),
        _ => return None,
    };
    (v != *old).then_some(v)
}

#[tokio::test]
async fn every_generic_mutation_writes_reads_and_refuses() {
    for backend in backends() {
        let app = spawn(backend).await;
        let (user, _) = register(&app, "writer@example.com").await;
        let (other_user, _) = register(&app, "other@example.com").await;
        let roles = Roles {
            admin: token(&app, Role::Admin),
            service: token(&app, Role::Service),
            analyst: token(&app, Role::Analyst),
            user,
            other_user,
        };
        let cat = Catalog::get();
        let mut exercised = Vec::new();
        let mut hung_on_ticker = Vec::new();
        for (n, t) in cat.tables.iter().enumerate() {
            if t.mutations.is_empty() || t.writers == Writers::None {
                continue;
            }
            let (allowed, refused, refusal) = roles.of(t.writers);
            let at = |step: &str| format!("{backend:?} {}: {step}", t.name);
            let inputs = &sdl()[&t.input_name];
            let shown: Vec<&Column> = t.columns.iter().filter(|c| c.kind != Kind::Json).collect();
            let fields = shown.iter().map(|c| c.field.as_str()).collect::<Vec<_>>().join(" ");
            // A stored row as the template of the new one (its values pass every check).
            let q = format!("{{ {}(first: 1) {{ nodes {{ {} }} }} }}", t.list_field, inputs.join(" "));
            let owner_view = if t.writers == Writers::Owner { allowed } else { &roles.admin };
            let mut template = as_role(&app, owner_view, &q, json!({})).await["data"][t.list_field]["nodes"][0].clone();
            if template.is_null() && t.name == "workflows" {
                template = json!({ "name": "wf", "jsonGraph": { "nodes": [], "edges": [] }, "isActive": true });
            }
            let mut input =
                template.as_object().cloned().unwrap_or_else(|| panic!("{}: no stored row", at("template")));
            input.retain(|_, v| !v.is_null());
            // New natural keys; and every reference to a ticker points at the new one, so that
            // unique constraints beyond the key are met too and the cascade reaches the row.
            // A plain text key column (a timeframe, a period) keeps its stored word when another
            // key column is new already.
            let mut fresh = 0;
            for pass in [false, true] {
                for (i, c) in t.columns.iter().enumerate() {
                    let to_ticker = t
                        .relations
                        .iter()
                        .any(|r| r.target == "tickers" && r.fixed.is_empty() && r.from_cols.contains(&c.name));
                    let named = ["region", "ticker", "symbol", "etf_ticker"].contains(&c.name.as_str());
                    let plain_text = c.kind == Kind::String && !to_ticker && !named;
                    if !inputs.contains(&c.field) || !(t.key.contains(&i) || to_ticker) || plain_text != pass {
                        continue;
                    }
                    if pass && fresh > 0 {
                        continue;
                    }
                    input.insert(c.field.clone(), fresh_key(t, c, n));
                    fresh += 1;
                }
            }
            // A serial key: a unique name beside it (a strategy's) is made new instead.
            if fresh == 0 {
                let named = t
                    .columns
                    .iter()
                    .find(|c| c.kind == Kind::String && c.words.is_none() && input.contains_key(&c.field));
                if let Some(c) = named {
                    let v = format!("{}-new", input[&c.field].as_str().unwrap_or_default());
                    input.insert(c.field.clone(), json!(v));
                }
            }
            let create = t.mutations.iter().find(|m| !matches!(m, Mutation::Update(_) | Mutation::Delete(_)));
            let Some(create) = create else { continue };
            let (doc, vars) = match create {
                Mutation::Create(name) => (
                    format!("mutation($r: {}!) {{ {name}(input: $r) {{ {fields} }} }}", t.input_name),
                    json!({ "r": input }),
                ),
                Mutation::CreateMany(name, arg) => (
                    format!("mutation($r: [{}!]!) {{ {name}({arg}: $r) {{ {fields} }} }}", t.input_name),
                    json!({ "r": [input] }),
                ),
                Mutation::Upsert(name, arg) => (
                    format!("mutation($r: [{}!]!) {{ {name}({arg}: $r) {{ inserted updated }} }}", t.input_name),
                    json!({ "r": [input] }),
                ),
                _ => unreachable!(),
            };
            // Allowed: the row is stored, and read back as written.
            let made = as_role(&app, allowed, &doc, vars.clone()).await;
            assert!(made.get("errors").is_none(), "{}: {made}\n{doc}\n{vars}", at("create"));
            let key_args = |row: &Map<String, Value>| {
                t.key
                    .iter()
                    .map(|k| format!("{}: {}", t.columns[*k].field, row[&t.columns[*k].field]))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut row = input.clone();
            if let Some(back) = made["data"].as_object().and_then(|d| d.values().next()) {
                let back = if back.is_array() { &back[0] } else { back };
                if let Some(b) = back.as_object().filter(|b| !b.contains_key("inserted")) {
                    for (k, v) in &input {
                        if t.columns.iter().any(|c| c.field == *k && c.kind != Kind::Json) {
                            assert_eq!(&b[k], v, "{}: `{k}` as written", at("create"));
                        }
                    }
                    row.extend(b.clone());
                } else {
                    assert_eq!(back["inserted"], 1, "{}: {made}", at("upsert"));
                }
            }
            assert_eq!(stored(&app, t, &row).await, 1, "{}", at("stored after create"));
            let one = format!("{{ {}({}) {{ {fields} }} }}", t.one_field, key_args(&row));
            let read = as_role(&app, allowed, &one, json!({})).await;
            assert!(read["data"][&t.one_field].is_object(), "{}: {read}", at("read after create"));
            // Refused: nothing of another new row is written.
            let mut other = input.clone();
            for k in &t.key {
                let c = &t.columns[*k];
                if inputs.contains(&c.field) && !c.kind.eq(&Kind::String) {
                    other.insert(c.field.clone(), fresh_key(t, c, n + 7));
                }
            }
            {
                let vars = if vars["r"].is_array() { json!({ "r": [other] }) } else { json!({ "r": other }) };
                // Another user may create rows of their own: only the anonymous caller is refused.
                let (r, want) = match refused.filter(|_| t.writers != Writers::Owner) {
                    Some(who) => (as_role(&app, who, &doc, vars).await, refusal),
                    None => (app.gql(&doc, vars).await, "UNAUTHENTICATED"),
                };
                assert_eq!(code(&r), Some(want), "{}: {r}", at("refused create"));
            }
            assert_eq!(stored(&app, t, &row).await, 1, "{}", at("one row after the refusal"));

            if let Some(Mutation::Update(name)) = t.mutations.iter().find(|m| matches!(m, Mutation::Update(_))) {
                let patchable = &sdl()[&format!("{}Patch", t.type_name)];
                let (c, v) = t
                    .columns
                    .iter()
                    .filter(|c| patchable.contains(&c.field))
                    .find_map(|c| changed(c, row.get(&c.field).unwrap_or(&Value::Null)).map(|v| (c, v)))
                    .unwrap_or_else(|| panic!("{}: no column to patch", at("update")));
                let doc = format!(
                    "mutation($p: {}Patch!) {{ {name}({}, patch: $p) {{ {} }} }}",
                    t.type_name,
                    key_args(&row),
                    c.field
                );
                let p = json!({ "p": { c.field.clone(): v.clone() } });
                let r = match refused {
                    Some(who) => as_role(&app, who, &doc, p.clone()).await,
                    None => app.gql(&doc, p.clone()).await,
                };
                assert_eq!(code(&r), Some(refusal), "{}: {r}", at("refused update"));
                let before = as_role(&app, allowed, &one, json!({})).await;
                assert_eq!(
                    before["data"][&t.one_field][&c.field],
                    row[&c.field],
                    "{}: unchanged",
                    at("refused update")
                );
                let r = as_role(&app, allowed, &doc, p).await;
                assert_eq!(r["data"][name][&c.field], v, "{}: {r}", at("update"));
                let after = as_role(&app, allowed, &one, json!({})).await;
                assert_eq!(after["data"][&t.one_field][&c.field], v, "{}: read back", at("update"));
            }
            let hangs = t.relations.iter().any(|r| r.target == "tickers" && r.fixed.is_empty());
            if let Some(Mutation::Delete(name)) = t.mutations.iter().find(|m| matches!(m, Mutation::Delete(_))) {
                if t.name == "tickers" {
                    // The new ticker stays for the rows created next; the cascade below deletes it.
                    exercised.push(t.name);
                    continue;
                }
                let doc = format!("mutation {{ {name}({}) }}", key_args(&row));
                let r = match refused {
                    Some(who) => as_role(&app, who, &doc, json!({})).await,
                    None => app.gql(&doc, json!({})).await,
                };
                assert!(code(&r) == Some(refusal) || r["data"][name] == false, "{}: {r}", at("refused delete"));
                assert_eq!(stored(&app, t, &row).await, 1, "{}", at("still stored after the refusal"));
                let r = as_role(&app, allowed, &doc, json!({})).await;
                assert_eq!(r["data"][name], true, "{}: {r}", at("delete"));
                assert_eq!(stored(&app, t, &row).await, 0, "{}", at("gone after delete"));
                let gone = as_role(&app, allowed, &one, json!({})).await;
                assert!(gone["data"][&t.one_field].is_null(), "{}: {gone}", at("read after delete"));
            } else if hangs {
                hung_on_ticker.push((t, row.clone()));
            }
            exercised.push(t.name);
        }
        // Deleting the ticker takes every row that hangs on it.
        assert!(!hung_on_ticker.is_empty(), "{backend:?}: rows left for the cascade");
        for (t, row) in &hung_on_ticker {
            assert_eq!(stored(&app, t, row).await, 1, "{backend:?} {}: before the cascade", t.name);
        }
        let del = format!("mutation {{ deleteTicker(ticker: \"{}\", region: \"{}\") }}", TICKER.0, TICKER.1);
        let r = as_role(&app, &roles.admin, &del, json!({})).await;
        assert_eq!(r["data"]["deleteTicker"], true, "{backend:?}: {r}");
        for (t, row) in &hung_on_ticker {
            assert_eq!(stored(&app, t, row).await, 0, "{backend:?} {}: removed with its ticker", t.name);
        }
        let writable = cat.tables.iter().filter(|t| !t.mutations.is_empty() && t.writers != Writers::None).count();
        assert_eq!(exercised.len(), writable, "{backend:?}: every writable table: {exercised:?}");
    }
}
