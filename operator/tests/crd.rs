//! The committed CRD must be the generated one, and the shipped sample must fit its schema.

use std::path::PathBuf;

use fjord_operator::FjordCluster;
use fjord_operator::crd::crd_yaml;
use kube::CustomResourceExt;
use serde_json::Value;

const REGENERATE: &str = "cargo run -p fjord-operator -- crd > charts/fjord/crds/fjordcluster.yaml";

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

#[test]
fn committed_crd_matches_the_rust_types() {
    let path = repo_file("charts/fjord/crds/fjordcluster.yaml");
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; create it with `{REGENERATE}`",
            path.display()
        )
    });
    let generated = crd_yaml().expect("crd renders");
    assert!(
        committed == generated,
        "charts/fjord/crds/fjordcluster.yaml is stale: the FjordCluster types changed. \
         Regenerate it with `{REGENERATE}` and commit the result."
    );
}

/// Checks `value` against the subset of OpenAPI v3 a structural CRD schema uses: types,
/// known properties (no pruning surprises), required keys, enums, minimums, minItems.
fn validate(schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if value.is_null() && schema["nullable"] == true {
        return;
    }
    let type_ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        errors.push(format!("{at}: expected {}, got {value}", schema["type"]));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(min), Some(v)) = (schema["minimum"].as_f64(), value.as_f64())
        && v < min
    {
        errors.push(format!("{at}: {v} < minimum {min}"));
    }
    if let Some(object) = value.as_object() {
        for key in schema["required"].as_array().into_iter().flatten() {
            if !object.contains_key(key.as_str().unwrap_or_default()) {
                errors.push(format!("{at}: missing required {key}"));
            }
        }
        if let Some(properties) = schema["properties"].as_object() {
            for (key, child) in object {
                match properties.get(key) {
                    Some(child_schema) => {
                        validate(child_schema, child, &format!("{at}.{key}"), errors);
                    }
                    None => errors.push(format!("{at}.{key}: unknown field (would be pruned)")),
                }
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = schema["minItems"].as_u64()
            && (items.len() as u64) < min
        {
            errors.push(format!("{at}: fewer than {min} items"));
        }
        for (i, item) in items.iter().enumerate() {
            validate(&schema["items"], item, &format!("{at}[{i}]"), errors);
        }
    }
}

fn schema() -> Value {
    let crd = serde_json::to_value(FjordCluster::crd()).expect("crd json");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

#[test]
fn sample_cluster_fits_the_crd_schema_and_the_types() {
    let text = std::fs::read_to_string(repo_file("operator/samples/fjordcluster.yaml"))
        .expect("sample exists");
    let value: Value = serde_saphyr::from_str(&text).expect("sample is yaml");
    let mut errors = Vec::new();
    let spec = value.get("spec").expect("sample has a spec");
    validate(&schema()["properties"]["spec"], spec, "spec", &mut errors);
    assert!(errors.is_empty(), "{errors:#?}");

    let cluster: FjordCluster = serde_json::from_value(value).expect("sample deserializes");
    assert_eq!(cluster.spec.brokers.min, 3);
    assert_eq!(cluster.spec.storage.size, "50Gi");
}

#[test]
fn schema_check_rejects_what_the_api_server_would() {
    let spec = serde_json::json!({
        "brokers": { "min": 0, "max": 3 },
        "listeners": { "saslMechanisms": ["GSSAPI"] },
        "storage": { "sise": "1Gi" },
    });
    let mut errors = Vec::new();
    validate(&schema()["properties"]["spec"], &spec, "spec", &mut errors);
    assert_eq!(errors.len(), 3, "{errors:#?}");
}
