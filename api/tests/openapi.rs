//! The OpenAPI document: the committed copy is fresh, every `$ref` resolves, every
//! operation documents its problems, and the server serves the same document.

#![allow(clippy::unwrap_used)]

use serde_json::Value;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");

#[test]
fn the_committed_spec_is_fresh() {
    let generated = fjord_api::openapi::spec_json();
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `cargo run -p fjord-api -- openapi > openapi/openapi.json`"
    );
}

fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push(v.as_str().unwrap());
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_schema_reference_resolves() {
    let spec: Value = serde_json::from_str(&fjord_api::openapi::spec_json()).unwrap();
    let mut found = Vec::new();
    refs(&spec, &mut found);
    assert!(
        found.len() > 50,
        "suspiciously few references: {}",
        found.len()
    );
    for reference in found {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference} is not a local reference"));
        assert!(
            spec.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
}

#[test]
fn every_operation_is_tagged_and_secured_routes_declare_bearer() {
    let spec: Value = serde_json::from_str(&fjord_api::openapi::spec_json()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() >= 20);
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path}"
            );
            let public = path.starts_with("/healthz")
                || path.starts_with("/readyz")
                || path == "/v1/auth/token"
                || path == "/.well-known/jwks.json";
            if !public {
                assert_eq!(
                    op["security"][0]["bearer"],
                    Value::Array(vec![]),
                    "{method} {path}"
                );
            }
        }
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
