//! What the request pipeline needs to know of the schema, read once from its own SDL: the
//! return and argument types of every field, and the input types. It also holds the input
//! checks async-graphql's validator leaves out — a string where an input object or an enum
//! literal is required passes there — and the coercion of variable values (spec §6.1.2), so an
//! ill-typed input is a request error before anything runs, on every path.
use async_graphql::parser::types::{
    BaseType, ExecutableDocument, FieldDefinition, OperationDefinition, OperationType, Selection, SelectionSet,
    ServiceDocument, Type, TypeDefinition, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, Positioned, ServerError, Variables};
use async_graphql_value::{ConstValue, Value};
use std::collections::{HashMap, HashSet};

/// The root type an operation of `ty` selects from.
pub fn root_type(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => "Subscription",
    }
}

/// A field's return type, unwrapped to its named type.
#[derive(Clone, Debug)]
pub struct FieldType {
    pub named: String,
    pub list: bool,
    /// Whether the field itself may be null (no `!` outside).
    pub nullable: bool,
    /// For lists, whether their items may be null.
    pub items_nullable: bool,
}

struct FieldDef {
    ty: FieldType,
    args: HashMap<String, Type>,
}

enum InputDef {
    Scalar,
    Enum(HashSet<String>),
    /// Fields with their types and whether a default exists.
    Object(Vec<(String, Type, bool)>),
}

pub struct SchemaIndex {
    objects: HashMap<String, HashMap<String, FieldDef>>,
    inputs: HashMap<String, InputDef>,
    /// Abstract types (unions such as federation's `_Entity`, interfaces such as `Node`) and
    /// the object types that are theirs. Selections on them are taken as written.
    possible: HashMap<String, HashSet<String>>,
}

fn field_type(t: &Type) -> FieldType {
    let mut ty = t;
    let mut list = false;
    while let BaseType::List(inner) = &ty.base {
        list = true;
        ty = inner;
    }
    let (nullable, items_nullable) = (t.nullable, ty.nullable);
    match &ty.base {
        BaseType::Named(n) => FieldType { named: n.to_string(), list, nullable, items_nullable },
        BaseType::List(_) => unreachable!("lists unwrapped above"),
    }
}

/// The fields of an object or interface type, by name.
fn fields_of(fields: Vec<Positioned<FieldDefinition>>) -> HashMap<String, FieldDef> {
    fields
        .into_iter()
        .map(|f| {
            let args = f.node.arguments.iter().map(|a| (a.node.name.node.to_string(), a.node.ty.node.clone()));
            let def = FieldDef { ty: field_type(&f.node.ty.node), args: args.collect() };
            (f.node.name.node.to_string(), def)
        })
        .collect()
}

impl SchemaIndex {
    /// Reads the types of an SDL text (the schema's own `sdl()`).
    pub fn from_sdl(sdl: &str) -> Result<Self, String> {
        let doc: ServiceDocument = async_graphql::parser::parse_schema(sdl).map_err(|e| e.to_string())?;
        let mut objects = HashMap::new();
        let mut possible: HashMap<String, HashSet<String>> = HashMap::new();
        let mut inputs: HashMap<String, InputDef> =
            ["Int", "Float", "String", "Boolean", "ID"].iter().map(|s| (s.to_string(), InputDef::Scalar)).collect();
        for def in doc.definitions {
            let TypeSystemDefinition::Type(t) = def else { continue };
            let TypeDefinition { name, kind, .. } = t.node;
            let name = name.node.to_string();
            match kind {
                TypeKind::Object(obj) => {
                    for i in &obj.implements {
                        possible.entry(i.node.to_string()).or_default().insert(name.clone());
                    }
                    objects.insert(name, fields_of(obj.fields));
                }
                TypeKind::Interface(i) => {
                    possible.entry(name.clone()).or_default();
                    objects.insert(name, fields_of(i.fields));
                }
                TypeKind::Scalar => {
                    inputs.insert(name, InputDef::Scalar);
                }
                TypeKind::Union(u) => {
                    possible.entry(name).or_default().extend(u.members.iter().map(|m| m.node.to_string()));
                }
                TypeKind::Enum(e) => {
                    inputs
                        .insert(name, InputDef::Enum(e.values.iter().map(|v| v.node.value.node.to_string()).collect()));
                }
                TypeKind::InputObject(o) => {
                    let fields = o
                        .fields
                        .iter()
                        .map(|f| (f.node.name.node.to_string(), f.node.ty.node.clone(), f.node.default_value.is_some()))
                        .collect();
                    inputs.insert(name, InputDef::Object(fields));
                }
            }
        }
        Ok(SchemaIndex { objects, inputs, possible })
    }

    pub fn field(&self, parent: &str, name: &str) -> Option<&FieldType> {
        self.objects.get(parent)?.get(name).map(|f| &f.ty)
    }

    /// Whether values of `name` have fields (an object, interface or union type).
    pub fn is_composite(&self, name: &str) -> bool {
        self.objects.contains_key(name) || self.possible.contains_key(name)
    }

    /// Whether `name` is a union or an interface.
    pub fn is_abstract(&self, name: &str) -> bool {
        self.possible.contains_key(name)
    }

    /// Whether a fragment on `condition` applies to an object of type `ty`: the same type, or
    /// an interface or union that `ty` is one of.
    pub fn applies(&self, condition: &str, ty: &str) -> bool {
        condition == ty || self.possible.get(condition).is_some_and(|p| p.contains(ty))
    }

    fn arg(&self, parent: &str, field: &str, arg: &str) -> Option<&Type> {
        self.objects.get(parent)?.get(field)?.args.get(arg)
    }

    /// Why `v` is not a value of `ty`, if it is not. Document literals must spell enum values
    /// as enums; variables (JSON) give them as strings. `$` marks a variable inside a literal,
    /// checked on its own.
    fn check(&self, ty: &Type, v: &ConstValue, literal: bool, depth: usize) -> Result<(), String> {
        if depth > 64 {
            return Err("value is nested too deep".into());
        }
        if matches!(v, ConstValue::Enum(n) if n.as_str() == "$") {
            return Ok(());
        }
        if matches!(v, ConstValue::Null) {
            return if ty.nullable { Ok(()) } else { Err(format!("expected a non-null {ty}")) };
        }
        let name = match &ty.base {
            BaseType::List(inner) => {
                return match v {
                    ConstValue::List(items) => items.iter().try_for_each(|x| self.check(inner, x, literal, depth + 1)),
                    // Input coercion: one value where a list is expected is a list of one.
                    one => self.check(inner, one, literal, depth + 1),
                };
            }
            BaseType::Named(n) => n.as_str(),
        };
        let bad = || Err(format!("expected {name}, got {v}"));
        match (self.inputs.get(name), v) {
            (None, _) => Ok(()),
            (Some(InputDef::Scalar), _) => match (name, v) {
                ("Int", ConstValue::Number(n)) if n.as_i64().is_some_and(|x| i32::try_from(x).is_ok()) => Ok(()),
                ("Float", ConstValue::Number(_)) => Ok(()),
                ("String", ConstValue::String(_)) => Ok(()),
                ("Boolean", ConstValue::Boolean(_)) => Ok(()),
                ("ID", ConstValue::String(_)) => Ok(()),
                ("ID", ConstValue::Number(n)) if n.is_i64() => Ok(()),
                ("Decimal" | "BigInt", ConstValue::String(_) | ConstValue::Number(_)) => Ok(()),
                ("Date" | "DateTime" | "UUID", ConstValue::String(_)) => Ok(()),
                // A federation representation: any object (`_entities` reads what it needs).
                ("JSON", _) | ("_Any", ConstValue::Object(_)) => Ok(()),
                _ => bad(),
            },
            (Some(InputDef::Enum(values)), ConstValue::Enum(e)) if values.contains(e.as_str()) => Ok(()),
            (Some(InputDef::Enum(values)), ConstValue::String(s)) if !literal && values.contains(s.as_str()) => Ok(()),
            (Some(InputDef::Enum(_)), _) => bad(),
            (Some(InputDef::Object(fields)), ConstValue::Object(map)) => {
                if let Some(k) = map.keys().find(|k| !fields.iter().any(|(f, _, _)| f == k.as_str())) {
                    return Err(format!("{name} has no field `{k}`"));
                }
                for (f, fty, has_default) in fields {
                    match map.get(f.as_str()) {
                        Some(x) => self.check(fty, x, literal, depth + 1).map_err(|e| format!("{name}.{f}: {e}"))?,
                        None if !fty.nullable && !has_default => return Err(format!("{name}.{f} is required")),
                        None => {}
                    }
                }
                Ok(())
            }
            (Some(InputDef::Object(_)), _) => Err(format!("expected an input object {name}, got {v}")),
        }
    }

    /// Argument literals of every field of the document, against their declared types.
    pub fn check_literals(&self, doc: &ExecutableDocument) -> Vec<ServerError> {
        let mut errors = Vec::new();
        for (_, op) in doc.operations.iter() {
            self.literals_in(root_type(op.node.ty), &op.node.selection_set.node, 0, &mut errors);
        }
        for f in doc.fragments.values() {
            self.literals_in(f.node.type_condition.node.on.node.as_str(), &f.node.selection_set.node, 0, &mut errors);
        }
        errors
    }

    fn literals_in(&self, parent: &str, set: &SelectionSet, depth: usize, errors: &mut Vec<ServerError>) {
        // The document passed the parser's and async-graphql's depth checks; this bound is a guard.
        if depth > 128 {
            return;
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    let name = f.node.name.node.as_str();
                    for (arg, value) in &f.node.arguments {
                        let Some(ty) = self.arg(parent, name, arg.node.as_str()) else { continue };
                        let v = literal(&value.node);
                        if let Err(e) = self.check(ty, &v, true, 0) {
                            errors.push(ServerError::new(
                                format!("Invalid value for argument \"{}\" of \"{name}\": {e}", arg.node),
                                Some(value.pos),
                            ));
                        }
                    }
                    if let Some(ft) = self.field(parent, name) {
                        self.literals_in(&ft.named, &f.node.selection_set.node, depth + 1, errors);
                    }
                }
                Selection::InlineFragment(i) => {
                    let on = i.node.type_condition.as_ref().map_or(parent, |c| c.node.on.node.as_str());
                    self.literals_in(on, &i.node.selection_set.node, depth + 1, errors);
                }
                Selection::FragmentSpread(_) => {}
            }
        }
    }

    /// CoerceVariableValues: every declared variable is given (or has a default, or may be
    /// null) and its value fits its type.
    pub fn check_variables(&self, op: &OperationDefinition, vars: &Variables) -> Vec<ServerError> {
        let mut errors = Vec::new();
        for def in &op.variable_definitions {
            let d = &def.node;
            let ty = &d.var_type.node;
            let pos = Some(def.pos);
            match vars.get(&d.name.node) {
                None if !ty.nullable && d.default_value.is_none() => errors.push(ServerError::new(
                    format!("Variable \"${}\" of required type \"{ty}\" was not provided.", d.name.node),
                    pos,
                )),
                None => {}
                Some(v) => {
                    if let Err(e) = self.check(ty, v, false, 0) {
                        errors.push(ServerError::new(
                            format!("Variable \"${}\" got an invalid value: {e}", d.name.node),
                            pos,
                        ));
                    }
                }
            }
        }
        errors
    }
}

/// A literal with every variable inside it replaced by the marker `$` (checked on its own).
fn literal(v: &Value) -> ConstValue {
    v.clone()
        .into_const_with(|_| Ok::<_, std::convert::Infallible>(ConstValue::Enum(Name::new("$"))))
        .unwrap_or_default()
}
