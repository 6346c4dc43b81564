//! OpenAPI 3.1 → 3.0.3, so progenitor can read the document.
//!
//! utoipa writes OpenAPI 3.1 (JSON Schema 2020-12); progenitor reads its input with the
//! `openapiv3` crate, which knows 3.0.x only (progenitor issues #762 and #1268 track 3.1).
//! The constructs utoipa emits have exact 3.0 spellings, so this rewrite loses nothing
//! progenitor uses:
//!
//! - `"type": ["string", "null"]` → `"type": "string", "nullable": true`;
//! - `oneOf`/`anyOf` with a `{"type": "null"}` branch → that branch dropped and
//!   `"nullable": true` (a single remaining `$ref` is wrapped in `allOf`, as 3.0 forbids
//!   siblings of `$ref`);
//! - siblings of `$ref` (utoipa's `description`s) dropped;
//! - `examples: [..]` in a schema → `example`; numeric `exclusiveMinimum`/`Maximum` →
//!   `minimum`/`maximum` with the boolean flag; `const` → a one-value `enum`;
//!   `propertyNames`, `contentEncoding`, `contentMediaType`, `$schema`, `$id` dropped;
//! - an optional parameter's schema loses its `null` (absent already means none);
//! - `info.license.identifier`, `jsonSchemaDialect` and `webhooks` (3.1 only) dropped;
//! - `application/problem+json` bodies read as `application/json` (progenitor types JSON
//!   bodies by that media type only; a problem is a JSON object).
//!
//! It is shared by the build script (`#[path]`) and the crate's unit tests.

use serde_json::{Map, Value, json};

/// Rewrites an OpenAPI 3.1 document as 3.0.3 in place; a 3.0 document is left as it is.
pub fn to_openapi_3_0(document: &mut Value) {
    let Some(root) = document.as_object_mut() else {
        return;
    };
    let is_3_1 = root
        .get("openapi")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("3.1"));
    if !is_3_1 {
        return;
    }
    root.insert("openapi".into(), json!("3.0.3"));
    root.remove("jsonSchemaDialect");
    root.remove("webhooks");
    if let Some(license) = root
        .get_mut("info")
        .and_then(|i| i.get_mut("license"))
        .and_then(Value::as_object_mut)
    {
        license.remove("identifier");
    }
    rewrite(document);
}

fn rewrite(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(rewrite),
        Value::Object(object) => {
            rewrite_object(object);
            object.values_mut().for_each(rewrite);
        }
        _ => {}
    }
}

fn rewrite_object(object: &mut Map<String, Value>) {
    if object.contains_key("$ref") {
        object.retain(|k, _| k == "$ref");
        return;
    }
    // An optional parameter's absence is its null: `nullable` on it would make progenitor
    // type it `Option<Option<T>>`.
    if object.contains_key("in") && object.get("required") != Some(&json!(true)) {
        if let Some(Value::Array(types)) = object.get_mut("schema").and_then(|s| s.get_mut("type"))
        {
            types.retain(|t| t != "null");
        }
    }
    // Media types: `content: {"application/problem+json": …}`.
    if let Some(problem) = object.remove("application/problem+json") {
        object.entry("application/json").or_insert(problem);
    }
    if let Some(Value::Array(types)) = object.get("type").cloned() {
        let nullable = types.iter().any(|t| t == "null");
        let rest: Vec<Value> = types.into_iter().filter(|t| t != "null").collect();
        match rest.as_slice() {
            [] => {
                object.remove("type");
            }
            [one] => {
                object.insert("type".into(), one.clone());
            }
            many => {
                object.remove("type");
                let branches = many.iter().map(|t| json!({ "type": t })).collect();
                object.insert("anyOf".into(), Value::Array(branches));
            }
        }
        if nullable {
            object.insert("nullable".into(), json!(true));
        }
    }
    for key in ["oneOf", "anyOf"] {
        let Some(Value::Array(branches)) = object.get_mut(key) else {
            continue;
        };
        let before = branches.len();
        branches.retain(|b| b.get("type").and_then(Value::as_str) != Some("null"));
        if branches.len() == before {
            continue;
        }
        object.insert("nullable".into(), json!(true));
        if let Some(Value::Array(branches)) = object.remove(key) {
            if branches.len() == 1 {
                object.insert("allOf".into(), Value::Array(branches));
            } else {
                object.insert(key.into(), Value::Array(branches));
            }
        }
    }
    if let Some(Value::Array(examples)) = object.get("examples") {
        // A schema's `examples` (an array); parameters' and media types' are maps (3.0 too).
        let first = examples.first().cloned();
        object.remove("examples");
        if let Some(first) = first {
            object.insert("example".into(), first);
        }
    }
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(limit) = object.get(exclusive).filter(|v| v.is_number()).cloned() {
            object.insert(bound.into(), limit);
            object.insert(exclusive.into(), json!(true));
        }
    }
    if let Some(constant) = object.remove("const") {
        object.insert("enum".into(), json!([constant]));
    }
    for dropped in [
        "propertyNames",
        "contentEncoding",
        "contentMediaType",
        "$schema",
        "$id",
    ] {
        object.remove(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn downgraded(schema: Value) -> Value {
        let mut document = json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1.2.3", "license": {"name": "MIT", "identifier": "MIT"}},
            "paths": {},
            "components": {"schemas": {"S": schema}},
        });
        to_openapi_3_0(&mut document);
        assert_eq!(document["openapi"], "3.0.3");
        assert_eq!(document["info"]["license"], json!({"name": "MIT"}));
        document["components"]["schemas"]["S"].take()
    }

    #[test]
    fn type_arrays_with_null_become_nullable() {
        assert_eq!(
            downgraded(json!({"type": ["string", "null"], "description": "d"})),
            json!({"type": "string", "nullable": true, "description": "d"})
        );
        assert_eq!(
            downgraded(json!({"type": ["integer", "string"]})),
            json!({"anyOf": [{"type": "integer"}, {"type": "string"}]})
        );
    }

    #[test]
    fn a_null_branch_becomes_nullable_all_of() {
        assert_eq!(
            downgraded(json!({"oneOf": [{"type": "null"}, {"$ref": "#/c", "description": "x"}]})),
            json!({"allOf": [{"$ref": "#/c"}], "nullable": true})
        );
        assert_eq!(
            downgraded(json!({"anyOf": [{"$ref": "#/a"}, {"$ref": "#/b"}, {"type": "null"}]})),
            json!({"anyOf": [{"$ref": "#/a"}, {"$ref": "#/b"}], "nullable": true})
        );
    }

    #[test]
    fn json_schema_2020_keywords_get_3_0_spellings() {
        assert_eq!(
            downgraded(json!({
                "type": "object",
                "propertyNames": {"type": "string"},
                "additionalProperties": {"type": ["string", "null"]},
                "properties": {
                    "n": {"type": "number", "exclusiveMinimum": 0, "examples": [1, 2]},
                    "k": {"const": "fixed"},
                    "r": {"$ref": "#/components/schemas/R", "description": "dropped"}
                }
            })),
            json!({
                "type": "object",
                "additionalProperties": {"type": "string", "nullable": true},
                "properties": {
                    "n": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "example": 1},
                    "k": {"enum": ["fixed"]},
                    "r": {"$ref": "#/components/schemas/R"}
                }
            })
        );
    }

    #[test]
    fn optional_parameters_are_not_nullable_twice() {
        let mut document = json!({
            "openapi": "3.1.0",
            "paths": {"/x": {"patch": {"parameters": [
                {"name": "If-Match", "in": "header", "required": false, "schema": {"type": ["string", "null"]}},
                {"name": "id", "in": "path", "required": true, "schema": {"type": ["string", "null"]}}
            ]}}}
        });
        to_openapi_3_0(&mut document);
        let parameters = &document["paths"]["/x"]["patch"]["parameters"];
        assert_eq!(parameters[0]["schema"], json!({"type": "string"}));
        assert_eq!(
            parameters[1]["schema"],
            json!({"type": "string", "nullable": true})
        );
    }

    #[test]
    fn problem_bodies_read_as_json_and_3_0_documents_stay_untouched() {
        let mut document = json!({
            "openapi": "3.1.0",
            "paths": {"/x": {"get": {"responses": {"404": {"description": "no",
                "content": {"application/problem+json": {"schema": {"type": "object"}}}}}}}}
        });
        to_openapi_3_0(&mut document);
        assert_eq!(
            document["paths"]["/x"]["get"]["responses"]["404"]["content"],
            json!({"application/json": {"schema": {"type": "object"}}})
        );
        let mut old = json!({"openapi": "3.0.3", "x": {"type": ["string", "null"]}});
        let before = old.clone();
        to_openapi_3_0(&mut old);
        assert_eq!(old, before);
    }
}
