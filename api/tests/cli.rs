//! The `fjord` command line end to end: the real binary (`CARGO_BIN_EXE_fjord`) against a
//! live API on 127.0.0.1:0 (the real router and reconciler; clusters are the harness's
//! in-process broker), with its profiles in a temporary `FJORD_CONFIG_DIR`. Every command
//! goes through the generated Rust SDK, so this also exercises the SDK.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use common::{Backend, TestApp};

/// A live API: the shared harness's state served on a real socket, with the reconciler.
struct LiveApi {
    app: TestApp,
    url: String,
    stop: tokio::sync::watch::Sender<bool>,
}

impl LiveApi {
    async fn start() -> LiveApi {
        let app = TestApp::new(Backend::Sqlite).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut server_stop = stopped.clone();
        tokio::spawn(fjord_api::serve(listener, app.state.clone(), async move {
            let _ = server_stop.changed().await;
        }));
        let mut reconciler_stop = stopped;
        tokio::spawn(fjord_api::clusters::reconciler::run(
            app.state.clone(),
            async move {
                let _ = reconciler_stop.changed().await;
            },
        ));
        LiveApi { app, url, stop }
    }

    /// A user of a new tenant with `role`, and an API key for it.
    async fn tenant_key(&self, tenant: &str, role: &str) -> (String, String) {
        let tenant_id = self.app.tenant(tenant).await;
        let admin = &self.app.admin_token;
        let user = self
            .app
            .post(
                &format!("/v1/tenants/{tenant_id}/users"),
                admin,
                json!({ "name": "cli", "role": role }),
            )
            .await;
        assert_eq!(user.status, 201, "{:#}", user.body);
        let key = self
            .app
            .post(
                &format!("/v1/tenants/{tenant_id}/api-keys"),
                admin,
                json!({ "principal_id": user.body["id"], "name": "cli" }),
            )
            .await;
        assert_eq!(key.status, 201, "{:#}", key.body);
        (tenant_id, key.body["key"].as_str().unwrap().to_string())
    }
}

impl Drop for LiveApi {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Runs `fjord ARGS` with its config in `config_dir` (off the async workers: the API
/// answering it runs on them).
async fn fjord(config_dir: &Path, args: &[&str]) -> Output {
    let config_dir = config_dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fjord"));
        command.args(&args).env("FJORD_CONFIG_DIR", &config_dir);
        for name in [
            "FJORD_PROFILE",
            "FJORD_TENANT",
            "FJORD_OUTPUT",
            "FJORD_URL",
            "FJORD_API_KEY",
            "FJORD_CLUSTER",
        ] {
            command.env_remove(name);
        }
        command.output().unwrap()
    })
    .await
    .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Succeeded; its stdout.
fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed ({:?}):\nstdout: {}\nstderr: {}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// Succeeded with JSON on stdout.
fn ok_json(output: Output) -> Value {
    let text = ok(output);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{text}"))
}

/// Failed with exit status 1 and a message containing each of `needles`.
fn fails_with(output: Output, needles: &[&str]) {
    let err = stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected failure, got {:?}:\nstdout: {}\nstderr: {err}",
        output.status,
        stdout(&output)
    );
    for needle in needles {
        assert!(err.contains(needle), "stderr lacks `{needle}`:\n{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_logs_in_and_manages_clusters_topics_and_credentials() {
    let api = LiveApi::start().await;
    let (tenant_id, key) = api.tenant_key("acme", "tenant-admin").await;
    let config = tempfile::tempdir().unwrap();
    let dir = config.path();

    // Before login every command says what to do.
    fails_with(
        fjord(dir, &["cluster", "list"]).await,
        &["not logged in", "fjord login"],
    );
    fails_with(
        fjord(dir, &["login", "--url", &api.url, "--api-key", "fjk_wrong"]).await,
        &["refused the API key", "fjord login"],
    );
    fails_with(
        fjord(dir, &["login", "--url", "127.0.0.1:1", "--api-key", &key]).await,
        &["give the scheme"],
    );

    let login = fjord(
        dir,
        &[
            "login",
            "--url",
            &format!("{}/", api.url),
            "--api-key",
            &key,
        ],
    )
    .await;
    ok(login.clone());
    assert!(
        stderr(&login).contains(&format!("tenant {tenant_id}")),
        "{}",
        stderr(&login)
    );
    let file = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    assert!(file.contains(&key) && file.contains(&tenant_id), "{file}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("config.yaml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the profile holds an API key");
    }

    // A cluster, watched until ready: status lines on stderr, the result on stdout.
    let created = fjord(dir, &["cluster", "create", "orders", "-o", "json"]).await;
    let progress = stderr(&created);
    let cluster = ok_json(created);
    assert_eq!(cluster["state"], "ready", "{cluster:#}");
    assert_eq!(cluster["name"], "orders");
    assert!(progress.contains("ready"), "no progress lines: {progress}");
    let cluster_id = cluster["id"].as_str().unwrap().to_string();

    let table = ok(fjord(dir, &["cluster", "list"]).await);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("NAME") && header.contains("STATE"),
        "{table}"
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains(&cluster_id) && row.contains("orders") && row.contains("ready"),
        "{table}"
    );
    assert_eq!(lines.next(), None, "{table}");

    let listed = ok_json(fjord(dir, &["cluster", "list", "--output", "json"]).await);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], cluster_id.as_str());
    let yaml = ok(fjord(dir, &["cluster", "get", "orders", "-o", "yaml"]).await);
    assert!(
        yaml.contains(&format!("id: {cluster_id}")) && yaml.contains("state: ready"),
        "{yaml}"
    );
    let by_id = ok_json(fjord(dir, &["cluster", "get", &cluster_id, "-o", "json"]).await);
    assert_eq!(by_id["name"], "orders");
    let ca = dir.join("ca.pem");
    ok(fjord(
        dir,
        &[
            "cluster",
            "get",
            "orders",
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    )
    .await);
    assert!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    fails_with(
        fjord(dir, &["cluster", "get", "nope"]).await,
        &["no cluster `nope`", "fjord cluster list"],
    );

    // Topics.
    let topic = ok_json(
        fjord(
            dir,
            &[
                "topic",
                "create",
                "payments",
                "-c",
                "orders",
                "-p",
                "3",
                "--config",
                "retention.ms=3600000",
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(topic["partitions"], 3, "{topic:#}");
    let described = ok_json(
        fjord(
            dir,
            &[
                "topic",
                "describe",
                "payments",
                "-c",
                &cluster_id,
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(
        described["configs"]["retention.ms"], "3600000",
        "{described:#}"
    );
    let table = ok(fjord(dir, &["topic", "describe", "payments", "-c", "orders"]).await);
    assert!(
        table.contains("config") && table.contains("retention.ms=3600000"),
        "{table}"
    );
    let altered = ok_json(
        fjord(
            dir,
            &[
                "topic",
                "alter",
                "payments",
                "-c",
                "orders",
                "--config",
                "retention.ms=7200000",
                "--partitions",
                "4",
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(altered["partitions"], 4, "{altered:#}");
    let described = ok_json(
        fjord(
            dir,
            &[
                "topic", "describe", "payments", "-c", "orders", "-o", "json",
            ],
        )
        .await,
    );
    assert_eq!(
        described["configs"]["retention.ms"], "7200000",
        "{described:#}"
    );
    fails_with(
        fjord(dir, &["topic", "alter", "payments", "-c", "orders"]).await,
        &["nothing to change"],
    );
    let output = fjord(
        dir,
        &[
            "topic", "create", "x", "-c", "orders", "--config", "novalue",
        ],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(2),
        "clap rejects a malformed flag"
    );
    assert!(
        stderr(&output).contains("not KEY=VALUE"),
        "{}",
        stderr(&output)
    );
    assert!(ok(fjord(dir, &["topic", "list", "-c", "orders"]).await).contains("payments"));
    ok(fjord(dir, &["topic", "delete", "payments", "-c", "orders"]).await);
    fails_with(
        fjord(dir, &["topic", "describe", "payments", "-c", "orders"]).await,
        &["(404)"],
    );

    // Credentials: the password once, then revoked.
    let credential = ok_json(
        fjord(
            dir,
            &["credential", "create", "app", "-c", "orders", "-o", "json"],
        )
        .await,
    );
    assert!(
        credential["password"].as_str().unwrap().len() >= 16,
        "{credential:#}"
    );
    let credential_id = credential["id"].as_str().unwrap();
    let listed = ok_json(fjord(dir, &["credential", "list", "-c", "orders", "-o", "json"]).await);
    assert_eq!(listed[0]["id"], credential_id);
    assert!(
        listed[0].get("password").is_none(),
        "passwords are never listed"
    );
    ok(fjord(
        dir,
        &["credential", "revoke", credential_id, "-c", "orders"],
    )
    .await);
    let listed = ok_json(fjord(dir, &["credential", "list", "-c", "orders", "-o", "json"]).await);
    assert_eq!(listed, json!([]));

    // Usage and invoices.
    let usage = ok_json(
        fjord(
            dir,
            &[
                "usage",
                "--granularity",
                "day",
                "--group-by",
                "topic",
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(usage["granularity"], "day");
    assert_eq!(usage["group_by"], "topic");
    assert!(usage["items"].is_array());
    // The month's draft invoice, in USD from the default price book.
    let invoices = ok_json(fjord(dir, &["invoice", "-o", "json"]).await);
    let items = invoices["items"].as_array().expect("an invoice list");
    assert_eq!(items.len(), 1, "{invoices:#}");
    assert_eq!(items[0]["status"], "draft");
    assert_eq!(items[0]["currency"], "USD");
    let table = ok(fjord(dir, &["invoice"]).await);
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("draft"), "{table}");

    // An expired token is renewed from the profile's API key.
    let file = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    let expired = file
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("token_expires_at:") {
                "    token_expires_at: 0".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("config.yaml"), &expired).unwrap();
    assert_eq!(
        ok_json(fjord(dir, &["cluster", "list", "-o", "json"]).await)[0]["id"],
        cluster_id.as_str()
    );
    let renewed = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    assert!(
        !renewed.contains("token_expires_at: 0"),
        "the renewed token is saved:\n{renewed}"
    );

    // Deletion needs --yes, then waits for the cluster to go.
    fails_with(
        fjord(dir, &["cluster", "delete", "orders"]).await,
        &["--yes"],
    );
    let deleted = ok_json(
        fjord(
            dir,
            &[
                "cluster", "delete", "orders", "--yes", "--wait", "-o", "json",
            ],
        )
        .await,
    );
    assert_eq!(deleted["state"], "deleted", "{deleted:#}");
    assert_eq!(
        api.app
            .provisioner
            .deletes
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    ok(fjord(dir, &["logout"]).await);
    fails_with(fjord(dir, &["cluster", "list"]).await, &["not logged in"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_profiles_and_roles() {
    let api = LiveApi::start().await;
    let (_, admin_key) = api.tenant_key("acme", "tenant-admin").await;
    let (other_tenant, viewer_key) = api.tenant_key("globex", "viewer").await;
    let config = tempfile::tempdir().unwrap();
    let dir = config.path();

    ok(fjord(dir, &["login", "--url", &api.url, "--api-key", &admin_key]).await);
    ok(fjord(
        dir,
        &[
            "--profile",
            "globex",
            "login",
            "--url",
            &api.url,
            "--api-key",
            &viewer_key,
        ],
    )
    .await);
    // The last login is current; --profile picks another.
    let mine = ok_json(fjord(dir, &["cluster", "list", "-o", "json"]).await);
    assert_eq!(mine, json!([]));
    ok(fjord(
        dir,
        &[
            "--profile",
            "default",
            "cluster",
            "create",
            "orders",
            "--no-wait",
        ],
    )
    .await);
    assert_eq!(
        ok_json(
            fjord(
                dir,
                &["cluster", "list", "--profile", "default", "-o", "json"]
            )
            .await
        )
        .as_array()
        .unwrap()
        .len(),
        1
    );
    assert_eq!(
        ok_json(fjord(dir, &["cluster", "list", "-o", "json"]).await),
        json!([]),
        "globex sees none of acme's"
    );

    // A viewer cannot create; a tenant key cannot act on another tenant.
    fails_with(
        fjord(dir, &["cluster", "create", "x", "--no-wait"]).await,
        &["(403)", "role"],
    );
    fails_with(
        fjord(
            dir,
            &[
                "--tenant",
                "someone-else",
                "login",
                "--url",
                &api.url,
                "--api-key",
                &viewer_key,
            ],
        )
        .await,
        &[&format!("belongs to tenant {other_tenant}")],
    );
    fails_with(
        fjord(dir, &["--profile", "nope", "cluster", "list"]).await,
        &["no profile `nope`", "fjord login"],
    );

    // Shell completions know the subcommands; a bad --output is refused by the parser.
    let bash = ok(fjord(dir, &["completions", "bash"]).await);
    assert!(
        bash.contains("fjord") && bash.contains("cluster") && bash.contains("credential"),
        "{bash}"
    );
    assert!(ok(fjord(dir, &["completions", "zsh"]).await).contains("#compdef fjord"));
    assert!(ok(fjord(dir, &["completions", "fish"]).await).contains("complete -c fjord"));
    let bad = fjord(dir, &["cluster", "list", "-o", "xml"]).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("table, json, yaml"),
        "{}",
        stderr(&bad)
    );
}
