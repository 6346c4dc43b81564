//! API stability: `openapi/openapi.json` (the current document, itself checked fresh by
//! `openapi.rs`) against `openapi/released/openapi.json` (the last released one). A breaking
//! change fails unless `info.version` is bumped: its major, or its minor while the major is 0
//! (semver's rule for 0.x).
//!
//! Breaking, for a client built against the released document:
//! - a path or an operation removed; a success status of an operation removed;
//! - a response field removed, made optional, or given a type it did not have (a new type in
//!   its set, `null` included);
//! - a request field or parameter that is new and required, or that became required; one that
//!   was removed (the API refuses unknown fields); one whose accepted types narrowed.
//!
//! Additions (paths, operations, optional request fields, response fields) are not breaking,
//! so the billing routes being added in parallel pass. No maintained offline tool reads
//! OpenAPI 3.1 for this (oasdiff is a Go binary, openapi-diff Java), so the comparison is
//! here, with tests of its own.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// Deeper schemas than this are not compared (a recursive schema would loop).
const MAX_DEPTH: usize = 12;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Client → server: the new schema must accept all the old one did.
    Request,
    /// Server → client: the new schema must promise all the old one did.
    Response,
}

struct Compare<'a> {
    old: &'a Value,
    new: &'a Value,
    breaks: Vec<String>,
}

/// The breaking changes from `old` to `new`, one sentence each.
fn breaking_changes(old: &Value, new: &Value) -> Vec<String> {
    let mut compare = Compare {
        old,
        new,
        breaks: Vec::new(),
    };
    let empty = serde_json::Map::new();
    let old_paths = old["paths"].as_object().unwrap_or(&empty);
    let new_paths = new["paths"].as_object().unwrap_or(&empty);
    for (path, old_item) in old_paths {
        let Some(new_item) = new_paths.get(path) else {
            compare.breaks.push(format!("path {path} removed"));
            continue;
        };
        for method in METHODS {
            let Some(old_op) = old_item.get(method) else {
                continue;
            };
            let at = format!("{} {path}", method.to_uppercase());
            let Some(new_op) = new_item.get(method) else {
                compare.breaks.push(format!("{at}: operation removed"));
                continue;
            };
            compare.operation(&at, old_item, old_op, new_item, new_op);
        }
    }
    compare.breaks
}

impl Compare<'_> {
    fn operation(
        &mut self,
        at: &str,
        old_item: &Value,
        old_op: &Value,
        new_item: &Value,
        new_op: &Value,
    ) {
        // Parameters, by (in, name); path-level ones apply to every operation.
        let params = |item: &Value, op: &Value| -> BTreeMap<(String, String), Value> {
            let mut all = BTreeMap::new();
            for list in [&item["parameters"], &op["parameters"]] {
                for p in list.as_array().into_iter().flatten() {
                    let key = (
                        p["in"].as_str().unwrap_or("").to_string(),
                        p["name"].as_str().unwrap_or("").to_string(),
                    );
                    all.insert(key, p.clone());
                }
            }
            all
        };
        let old_params = params(old_item, old_op);
        let new_params = params(new_item, new_op);
        for ((place, name), new_param) in &new_params {
            let required = new_param["required"].as_bool().unwrap_or(false);
            match old_params.get(&(place.clone(), name.clone())) {
                None if required => self
                    .breaks
                    .push(format!("{at}: new required {place} parameter `{name}`")),
                None => {}
                Some(old_param) => {
                    if required && !old_param["required"].as_bool().unwrap_or(false) {
                        self.breaks
                            .push(format!("{at}: {place} parameter `{name}` became required"));
                    }
                    let here = format!("{at}: {place} parameter `{name}`");
                    self.schema(
                        &here,
                        &old_param["schema"],
                        &new_param["schema"],
                        Direction::Request,
                        0,
                    );
                }
            }
        }
        for (place, name) in old_params.keys() {
            if !new_params.contains_key(&(place.clone(), name.clone())) {
                self.breaks
                    .push(format!("{at}: {place} parameter `{name}` removed"));
            }
        }

        let old_body = json_schema(&old_op["requestBody"]);
        let new_body = json_schema(&new_op["requestBody"]);
        let body_required = |op: &Value| op["requestBody"]["required"].as_bool().unwrap_or(false);
        match (old_body, new_body) {
            (None, Some(_)) if body_required(new_op) => self
                .breaks
                .push(format!("{at}: a request body is now required")),
            (Some(_), None) => self
                .breaks
                .push(format!("{at}: the request body is no longer accepted")),
            (Some(old), Some(new)) => self.schema(
                &format!("{at}: request body"),
                old,
                new,
                Direction::Request,
                0,
            ),
            _ => {}
        }

        let empty = serde_json::Map::new();
        let old_responses = old_op["responses"].as_object().unwrap_or(&empty);
        let new_responses = new_op["responses"].as_object().unwrap_or(&empty);
        for (status, old_response) in old_responses.iter().filter(|(s, _)| s.starts_with('2')) {
            let Some(new_response) = new_responses.get(status) else {
                self.breaks.push(format!("{at}: response {status} removed"));
                continue;
            };
            match (json_schema(old_response), json_schema(new_response)) {
                (Some(_), None) => self
                    .breaks
                    .push(format!("{at}: response {status} lost its body")),
                (Some(old), Some(new)) => {
                    self.schema(
                        &format!("{at}: response {status}"),
                        old,
                        new,
                        Direction::Response,
                        0,
                    );
                }
                _ => {}
            }
        }
    }

    fn schema(&mut self, at: &str, old: &Value, new: &Value, direction: Direction, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let old = resolve(self.old, old);
        let new = resolve(self.new, new);
        let old_types = types(self.old, old);
        let new_types = types(self.new, new);
        if !old_types.is_empty() && !new_types.is_empty() {
            match direction {
                Direction::Response => {
                    let added: Vec<_> = new_types.difference(&old_types).collect();
                    if !added.is_empty() {
                        self.breaks.push(format!(
                            "{at}: type changed from {old_types:?} to {new_types:?}"
                        ));
                    }
                }
                Direction::Request => {
                    let lost: Vec<_> = old_types.difference(&new_types).collect();
                    if !lost.is_empty() {
                        self.breaks.push(format!(
                            "{at}: accepted type changed from {old_types:?} to {new_types:?}"
                        ));
                    }
                }
            }
        }
        if direction == Direction::Request {
            // Enum values a client may send must stay accepted.
            if let (Some(old_enum), Some(new_enum)) =
                (enum_values(self.old, old), enum_values(self.new, new))
            {
                for value in old_enum.difference(&new_enum) {
                    self.breaks
                        .push(format!("{at}: value {value} no longer accepted"));
                }
            }
        }
        let (old_props, old_required) = object_shape(self.old, old);
        let (new_props, new_required) = object_shape(self.new, new);
        match direction {
            Direction::Response => {
                for (name, old_prop) in &old_props {
                    let here = format!("{at}.{name}");
                    match new_props.get(name) {
                        None => self.breaks.push(format!("{here}: response field removed")),
                        Some(new_prop) => {
                            if old_required.contains(name) && !new_required.contains(name) {
                                self.breaks.push(format!(
                                    "{here}: response field no longer always present"
                                ));
                            }
                            self.schema(&here, old_prop, new_prop, direction, depth + 1);
                        }
                    }
                }
            }
            Direction::Request => {
                for name in new_required.difference(&old_required) {
                    let what = if old_props.contains_key(name) {
                        "became required"
                    } else {
                        "new required request field"
                    };
                    self.breaks.push(format!("{at}.{name}: {what}"));
                }
                for (name, old_prop) in &old_props {
                    let here = format!("{at}.{name}");
                    match new_props.get(name) {
                        None => self
                            .breaks
                            .push(format!("{here}: request field removed (now refused)")),
                        Some(new_prop) => {
                            self.schema(&here, old_prop, new_prop, direction, depth + 1)
                        }
                    }
                }
            }
        }
        for key in ["items", "additionalProperties"] {
            if let (Some(o), Some(n)) = (old.get(key), new.get(key))
                && o.is_object()
                && n.is_object()
            {
                self.schema(&format!("{at}[]"), o, n, direction, depth + 1);
            }
        }
    }
}

/// The `application/json` (or `+json`) schema of a request body or response.
fn json_schema(holder: &Value) -> Option<&Value> {
    let content = holder.get("content")?.as_object()?;
    content
        .iter()
        .find(|(media, _)| media.as_str() == "application/json" || media.ends_with("+json"))
        .and_then(|(_, m)| m.get("schema"))
}

/// Follows `$ref`s (local ones, as utoipa writes them).
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    let mut schema = schema;
    for _ in 0..MAX_DEPTH {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            break;
        };
        match document.pointer(pointer) {
            Some(target) => schema = target,
            None => break,
        }
    }
    schema
}

/// The JSON types a schema allows (`null` included); empty when it does not say.
fn types(document: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = resolve(document, schema);
    let mut set = BTreeSet::new();
    match &schema["type"] {
        Value::String(t) => {
            set.insert(t.clone());
        }
        Value::Array(ts) => set.extend(ts.iter().filter_map(Value::as_str).map(str::to_string)),
        _ => {}
    }
    if schema["nullable"] == json!(true) {
        set.insert("null".into());
    }
    for key in ["oneOf", "anyOf"] {
        for branch in schema[key].as_array().into_iter().flatten() {
            set.extend(types(document, branch));
        }
    }
    if set.is_empty() && (schema.get("properties").is_some() || schema.get("allOf").is_some()) {
        set.insert("object".into());
    }
    // JSON integers are numbers: widening integer to number is not a change of type.
    if set.contains("number") {
        set.insert("integer".into());
    }
    set
}

fn enum_values(document: &Value, schema: &Value) -> Option<BTreeSet<String>> {
    let values = resolve(document, schema)["enum"].as_array()?;
    Some(values.iter().map(Value::to_string).collect())
}

/// Properties and required names of an object schema, `allOf` branches merged.
fn object_shape<'a>(
    document: &'a Value,
    schema: &'a Value,
) -> (BTreeMap<String, &'a Value>, BTreeSet<String>) {
    let schema = resolve(document, schema);
    let mut props = BTreeMap::new();
    let mut required = BTreeSet::new();
    if let Some(map) = schema["properties"].as_object() {
        props.extend(map.iter().map(|(k, v)| (k.clone(), v)));
    }
    required.extend(
        schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string),
    );
    for branch in schema["allOf"].as_array().into_iter().flatten() {
        let (p, r) = object_shape(document, branch);
        props.extend(p);
        required.extend(r);
    }
    (props, required)
}

/// `major.minor.patch` (a pre-release or build suffix ignored).
fn version(document: &Value) -> (u64, u64, u64) {
    let text = document["info"]["version"].as_str().unwrap_or("0.0.0");
    let core = text.split(['-', '+']).next().unwrap_or(text);
    let mut parts = core.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// True when `new`'s version may break `old`'s clients.
fn breaking_allowed(old: &Value, new: &Value) -> bool {
    let (old_major, old_minor, _) = version(old);
    let (new_major, new_minor, _) = version(new);
    new_major > old_major || (old_major == 0 && new_major == 0 && new_minor > old_minor)
}

fn load(path: &str) -> Value {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    let text = std::fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("failed to read {}: {e}", full.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", full.display()))
}

#[test]
fn the_current_spec_keeps_the_released_contract_or_bumps_its_version() {
    let released = load("openapi/released/openapi.json");
    let current = load("openapi/openapi.json");
    assert!(
        version(&current) >= version(&released),
        "info.version went back from {:?} to {:?}",
        version(&released),
        version(&current)
    );
    let breaks = breaking_changes(&released, &current);
    if !breaks.is_empty() && !breaking_allowed(&released, &current) {
        panic!(
            "openapi/openapi.json breaks clients of the released API (openapi/released/openapi.json, \
             version {}):\n  - {}\nKeep the old contract, or bump info.version's major (minor while 0.x) \
             in api/src/openapi.rs and regenerate.",
            released["info"]["version"],
            breaks.join("\n  - ")
        );
    }
}

fn doc(version: &str, paths: Value, schemas: Value) -> Value {
    json!({"openapi": "3.1.0", "info": {"title": "t", "version": version}, "paths": paths, "components": {"schemas": schemas}})
}

fn cluster_api(version: &str, cluster: Value, create: Value) -> Value {
    doc(
        version,
        json!({
            "/v1/clusters": {
                "post": {
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Create"}}}},
                    "responses": {"202": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Cluster"}}}}}
                },
                "get": {
                    "parameters": [{"name": "limit", "in": "query", "required": false, "schema": {"type": "integer"}}],
                    "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["items"],
                        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Cluster"}}}}}}}}
                }
            }
        }),
        json!({"Cluster": cluster, "Create": create}),
    )
}

fn base_cluster() -> Value {
    json!({"type": "object", "required": ["id", "state"], "properties": {
        "id": {"type": "string"},
        "state": {"type": "string", "enum": ["provisioning", "ready"]},
        "bootstrap": {"type": ["string", "null"]}}})
}

fn base_create() -> Value {
    json!({"type": "object", "required": ["name"], "additionalProperties": false, "properties": {
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["standard", "dedicated"]}}})
}

#[test]
fn additions_are_not_breaking() {
    let old = cluster_api("0.1.0", base_cluster(), base_create());
    let mut new = old.clone();
    new["paths"]["/v1/invoices"] = json!({"get": {"responses": {"200": {"description": "ok"}}}});
    new["paths"]["/v1/clusters"]["delete"] = json!({"responses": {"204": {"description": "gone"}}});
    new["components"]["schemas"]["Cluster"]["properties"]["region"] = json!({"type": "string"});
    new["components"]["schemas"]["Create"]["properties"]["region"] =
        json!({"type": ["string", "null"]});
    new["paths"]["/v1/clusters"]["get"]["parameters"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "state", "in": "query", "required": false, "schema": {"type": "string"}}));
    assert_eq!(breaking_changes(&old, &new), Vec::<String>::new());
}

#[test]
fn removals_and_narrowing_are_breaking() {
    let old = cluster_api("0.1.0", base_cluster(), base_create());
    let check = |change: &dyn Fn(&mut Value), expected: &str| {
        let mut new = old.clone();
        change(&mut new);
        let breaks = breaking_changes(&old, &new);
        assert!(
            breaks.iter().any(|b| b.contains(expected)),
            "expected `{expected}` in {breaks:#?}"
        );
    };
    check(
        &|n| {
            n["paths"].as_object_mut().unwrap().remove("/v1/clusters");
        },
        "path /v1/clusters removed",
    );
    check(
        &|n| {
            n["paths"]["/v1/clusters"]
                .as_object_mut()
                .unwrap()
                .remove("get");
        },
        "GET /v1/clusters: operation removed",
    );
    check(
        &|n| {
            n["components"]["schemas"]["Cluster"]["properties"]
                .as_object_mut()
                .unwrap()
                .remove("bootstrap");
        },
        "response 202.bootstrap: response field removed",
    );
    check(
        &|n| {
            n["components"]["schemas"]["Cluster"]["properties"]
                .as_object_mut()
                .unwrap()
                .remove("state");
        },
        "response 200.items[].state: response field removed",
    );
    check(
        &|n| {
            n["components"]["schemas"]["Cluster"]["required"] = json!(["id"]);
        },
        "state: response field no longer always present",
    );
    check(
        &|n| {
            n["components"]["schemas"]["Cluster"]["properties"]["id"] = json!({"type": "integer"});
        },
        ".id: type changed",
    );
    check(
        &|n| {
            n["components"]["schemas"]["Cluster"]["properties"]["id"] =
                json!({"type": ["string", "null"]});
        },
        ".id: type changed",
    );
    check(
        &|n| {
            n["components"]["schemas"]["Create"]["required"] = json!(["name", "kind"]);
        },
        "request body.kind: became required",
    );
    check(
        &|n| {
            n["components"]["schemas"]["Create"]["properties"]["plan"] = json!({"type": "string"});
            n["components"]["schemas"]["Create"]["required"] = json!(["name", "plan"]);
        },
        "request body.plan: new required request field",
    );
    check(
        &|n| {
            n["components"]["schemas"]["Create"]["properties"]
                .as_object_mut()
                .unwrap()
                .remove("kind");
        },
        "request body.kind: request field removed",
    );
    check(
        &|n| {
            n["components"]["schemas"]["Create"]["properties"]["name"] = json!({"type": "integer"});
        },
        "request body.name: accepted type changed",
    );
    check(
        &|n| {
            n["components"]["schemas"]["Create"]["properties"]["kind"]["enum"] =
                json!(["standard"]);
        },
        "value \"dedicated\" no longer accepted",
    );
    check(
        &|n| {
            n["paths"]["/v1/clusters"]["get"]["parameters"][0]["required"] = json!(true);
        },
        "query parameter `limit` became required",
    );
    check(
        &|n| {
            n["paths"]["/v1/clusters"]["get"]["parameters"].as_array_mut().unwrap()
            .push(json!({"name": "region", "in": "query", "required": true, "schema": {"type": "string"}}));
        },
        "new required query parameter `region`",
    );
    check(
        &|n| {
            n["paths"]["/v1/clusters"]["post"]["responses"] = json!({"201": {"description": "ok"}});
        },
        "response 202 removed",
    );
}

#[test]
fn a_breaking_change_needs_a_major_bump_or_a_minor_one_while_0_x() {
    let at = |v: &str| json!({"info": {"version": v}});
    assert!(!breaking_allowed(&at("0.1.0"), &at("0.1.7")));
    assert!(breaking_allowed(&at("0.1.0"), &at("0.2.0")));
    assert!(breaking_allowed(&at("0.9.3"), &at("1.0.0")));
    assert!(!breaking_allowed(&at("1.2.0"), &at("1.3.0")));
    assert!(breaking_allowed(&at("1.2.0"), &at("2.0.0-rc.1")));
    assert_eq!(version(&at("2.0.0-rc.1")), (2, 0, 0));
}

#[test]
fn the_released_spec_is_a_fjord_openapi_document() {
    // Guards the check itself: comparing against an empty file would pass anything.
    let released = load("openapi/released/openapi.json");
    assert!(
        released["paths"].as_object().is_some_and(|p| p.len() > 10),
        "openapi/released/openapi.json has no paths"
    );
    assert_eq!(breaking_changes(&released, &released), Vec::<String>::new());
}
