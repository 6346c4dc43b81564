//! Generates the client from the workspace's `openapi/openapi.json` at every build, so a
//! route added to the API (and to the committed spec) is in the SDK without a step of its own.
//!
//! The document is OpenAPI 3.1 (utoipa); progenitor reads 3.0 only, so it is first rewritten
//! by `src/downgrade.rs` (see there for what changes and why nothing progenitor uses is lost).

#[path = "src/downgrade.rs"]
#[allow(dead_code, unreachable_pub)]
mod downgrade;

use std::path::{Path, PathBuf};

fn main() {
    if let Err(message) = generate() {
        // A build script reports through a failed build; this is the message the user reads.
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn generate() -> Result<(), String> {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let spec_path = manifest_dir.join("../../openapi/openapi.json");
    println!("cargo:rerun-if-changed={}", spec_path.display());
    println!("cargo:rerun-if-changed=src/downgrade.rs");
    let text = std::fs::read_to_string(&spec_path)
        .map_err(|e| format!("failed to read {}: {e}", spec_path.display()))?;
    let mut document: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not JSON: {e}", spec_path.display()))?;
    downgrade::to_openapi_3_0(&mut document);
    let spec: openapiv3::OpenAPI = serde_json::from_value(document).map_err(|e| {
        format!(
            "{} does not parse as OpenAPI 3.0 once downgraded: {e}",
            spec_path.display()
        )
    })?;

    let mut settings = progenitor::GenerationSettings::default();
    // Builder calls (`client.list_clusters().tenant_id(t).limit(10).send()`): a query parameter
    // or body field the API adds later does not change existing call sites.
    settings.with_interface(progenitor::InterfaceStyle::Builder);
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator.generate_tokens(&spec).map_err(|e| {
        format!(
            "progenitor cannot generate a client from {}: {e}",
            spec_path.display()
        )
    })?;
    let file: syn::File =
        syn::parse2(tokens).map_err(|e| format!("generated code does not parse: {e}"))?;
    let out = Path::new(&std::env::var("OUT_DIR").map_err(|e| e.to_string())?).join("codegen.rs");
    std::fs::write(&out, prettyplease::unparse(&file))
        .map_err(|e| format!("failed to write {}: {e}", out.display()))
}
