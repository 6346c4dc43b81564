//! Profiles: where the CLI keeps an API's URL, an API key, a tenant and the last access
//! token, in `config.yaml` of the user's config dir (`$XDG_CONFIG_HOME/fjord`,
//! `~/Library/Application Support/fjord`, `%APPDATA%\fjord`) or of `$FJORD_CONFIG_DIR`.
//!
//! The API key is kept (the file is readable by its owner only) because tokens are
//! short-lived: the CLI exchanges the key again when the token has expired, as `rpk` and
//! the `confluent` CLI keep their credentials.

use std::collections::BTreeMap;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::GlobalArgs;
use super::session::{self, describe_error};

/// Overrides the config directory (tests, several installations side by side).
pub const CONFIG_DIR_ENV: &str = "FJORD_CONFIG_DIR";
/// The profile used when `--profile` is not given and none is current.
const DEFAULT_PROFILE: &str = "default";

/// `fjord login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// URL of the Fjord API, e.g. `https://fjord.example.com` (default: the profile's, else
    /// `http://127.0.0.1:8080`, where `fjord dev` listens).
    #[arg(long, env = "FJORD_URL")]
    url: Option<String>,
    /// API key (`fjk_…`); read from stdin when not given, so it stays out of shell history.
    #[arg(long, env = "FJORD_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

/// The config file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ConfigFile {
    /// The profile used without `--profile`: the last one logged in to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) current: Option<String>,
    #[serde(default)]
    pub(crate) profiles: BTreeMap<String, Profile>,
}

/// One API, one identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Profile {
    pub(crate) url: String,
    pub(crate) api_key: String,
    /// The tenant commands act on: the key's own, or the one a platform administrator chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token: Option<String>,
    /// When `token` expires (unix seconds).
    #[serde(default)]
    pub(crate) token_expires_at: i64,
}

/// The claims of an access token the CLI reads (the API verifies the signature, not us).
#[derive(Debug, Deserialize)]
pub(crate) struct TokenClaims {
    pub(crate) tenant: Option<String>,
    pub(crate) role: String,
    pub(crate) exp: i64,
}

impl TokenClaims {
    /// Reads the claims of a JWT without verifying it.
    pub(crate) fn peek(token: &str) -> anyhow::Result<TokenClaims> {
        let payload = token
            .split('.')
            .nth(1)
            .context("the API answered a token that is not a JWT")?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .context("the API answered a token whose claims are not base64url")?;
        serde_json::from_slice(&bytes)
            .context("the API answered a token without the expected claims")
    }
}

pub(crate) fn config_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(CONFIG_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::config_dir()
        .map(|d| d.join("fjord"))
        .with_context(|| format!("no config directory for this user: set {CONFIG_DIR_ENV}"))
}

pub(crate) fn config_path() -> anyhow::Result<PathBuf> {
    Ok(config_dir()?.join("config.yaml"))
}

impl ConfigFile {
    /// The file, or an empty one when it does not exist yet.
    pub(crate) fn load(path: &Path) -> anyhow::Result<ConfigFile> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_saphyr::from_str(&text).with_context(|| {
                format!(
                    "{} is not a valid fjord config: fix or delete it, then run `fjord login`",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(e) => Err(e).with_context(|| format!("failed to read {}", path.display())),
        }
    }

    /// Writes the file readable by its owner only (it holds an API key).
    pub(crate) fn save(&self, path: &Path) -> anyhow::Result<()> {
        let dir = path.parent().context("the config path has no directory")?;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let text = serde_saphyr::to_string(self).context("failed to encode the config")?;
        let temporary = path.with_extension("yaml.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&temporary)
            .with_context(|| format!("failed to write {}", temporary.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("failed to write {}", temporary.display()))?;
        std::fs::rename(&temporary, path)
            .with_context(|| format!("failed to write {}", path.display()))
    }

    /// The profile's name: `--profile`, else the current one, else `default`.
    pub(crate) fn profile_name(&self, global: &GlobalArgs) -> String {
        global
            .profile
            .clone()
            .or_else(|| self.current.clone())
            .unwrap_or_else(|| DEFAULT_PROFILE.to_string())
    }
}

pub(super) async fn login(args: LoginArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let path = config_path()?;
    let mut config = ConfigFile::load(&path)?;
    let name = config.profile_name(global);
    let previous = config.profiles.get(&name);
    let url = args
        .url
        .or_else(|| previous.map(|p| p.url.clone()))
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_string());
    let url = normalize_url(&url)?;
    let api_key = match args.api_key {
        Some(key) => key,
        None => read_api_key()?,
    };
    let api_key = api_key.trim().to_string();
    if api_key.is_empty() {
        bail!("no API key given: pass --api-key, set FJORD_API_KEY or type it on stdin");
    }

    let (token, claims) = session::exchange(&url, &api_key).await?;
    let tenant = match (&global.tenant, &claims.tenant) {
        (Some(chosen), Some(own)) if chosen != own => bail!(
            "this API key belongs to tenant {own}; it cannot act on tenant {chosen} (drop --tenant)"
        ),
        (_, Some(own)) => Some(own.clone()),
        (Some(chosen), None) => {
            // A platform administrator picks a tenant: check it exists now, not at first use.
            let client = session::client_for(&url, &token)?;
            client
                .get_tenant()
                .tenant_id(chosen.as_str())
                .send()
                .await
                .map_err(|e| describe_error(e, &url, "tenant", chosen))?;
            Some(chosen.clone())
        }
        (None, None) => None,
    };
    config.profiles.insert(
        name.clone(),
        Profile {
            url: url.clone(),
            api_key,
            tenant: tenant.clone(),
            token: Some(token),
            token_expires_at: claims.exp,
        },
    );
    config.current = Some(name.clone());
    config.save(&path)?;
    match &tenant {
        Some(t) => eprintln!("Logged in to {url} as {} of tenant {t}.", claims.role),
        None => eprintln!(
            "Logged in to {url} as platform administrator; pass --tenant ID to act on a tenant \
             (or log in again with --tenant ID to keep one)."
        ),
    }
    eprintln!("Profile `{name}` saved in {}.", path.display());
    Ok(())
}

pub(super) fn logout(global: &GlobalArgs) -> anyhow::Result<()> {
    let path = config_path()?;
    let mut config = ConfigFile::load(&path)?;
    let name = config.profile_name(global);
    if config.profiles.remove(&name).is_none() {
        bail!(
            "no profile `{name}` in {}: nothing to log out of",
            path.display()
        );
    }
    if config.current.as_deref() == Some(name.as_str()) {
        config.current = None;
    }
    config.save(&path)?;
    eprintln!(
        "Logged out: profile `{name}` removed from {}.",
        path.display()
    );
    Ok(())
}

/// `http://host:port` without a trailing slash; a URL without a scheme is refused (http
/// versus https must be a choice).
fn normalize_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!("`{url}` is not a URL: give the scheme, e.g. --url http://127.0.0.1:8080");
    };
    if scheme != "http" && scheme != "https" {
        bail!("`{url}`: the API speaks http or https, not {scheme}");
    }
    if rest.is_empty() {
        bail!("`{url}` names no host");
    }
    Ok(url.to_string())
}

fn read_api_key() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("API key: ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("failed to read the API key from stdin")?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_scheme_and_lose_trailing_slashes() {
        assert_eq!(
            normalize_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalize_url(" https://api.example/ ").unwrap(),
            "https://api.example"
        );
        assert!(
            normalize_url("127.0.0.1:8080")
                .unwrap_err()
                .to_string()
                .contains("give the scheme")
        );
        assert!(normalize_url("ftp://x").is_err());
        assert!(normalize_url("http://").is_err());
    }

    #[test]
    fn token_claims_are_read_from_the_payload() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"m1","tenant":"t1","role":"developer","exp":1700000000,"iat":1}"#);
        let claims = TokenClaims::peek(&format!("h.{payload}.s")).unwrap();
        assert_eq!(claims.tenant.as_deref(), Some("t1"));
        assert_eq!(claims.role, "developer");
        assert_eq!(claims.exp, 1_700_000_000);
        assert!(TokenClaims::peek("not-a-jwt").is_err());
        assert!(TokenClaims::peek("a.!!!.c").is_err());
    }

    #[test]
    fn the_config_file_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.yaml");
        assert!(ConfigFile::load(&path).unwrap().profiles.is_empty());
        let mut config = ConfigFile::default();
        config.current = Some("prod".into());
        config.profiles.insert(
            "prod".into(),
            Profile {
                url: "https://api".into(),
                api_key: "fjk_x".into(),
                tenant: Some("t1".into()),
                token: None,
                token_expires_at: 0,
            },
        );
        config.save(&path).unwrap();
        let loaded = ConfigFile::load(&path).unwrap();
        assert_eq!(loaded.current.as_deref(), Some("prod"));
        assert_eq!(loaded.profiles["prod"].tenant.as_deref(), Some("t1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "profiles: [not, a, map]").unwrap();
        let error = ConfigFile::load(&path).unwrap_err().to_string();
        assert!(error.contains("not a valid fjord config"), "{error}");
    }
}
