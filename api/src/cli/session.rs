//! A profile turned into an authenticated SDK client: the token is exchanged again from the
//! API key when it has expired (or is about to), and saved back to the profile.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow};
use fjord_sdk::types::Problem;

use super::GlobalArgs;
use super::profile::{ConfigFile, TokenClaims, config_path};

/// A token this close to its expiry is renewed before use.
const RENEW_BEFORE_SECS: i64 = 30;

/// An authenticated client and the tenant it acts on.
pub(crate) struct Session {
    pub(crate) client: fjord_sdk::Client,
    pub(crate) url: String,
    tenant: Option<String>,
    profile: String,
}

impl Session {
    /// Opens the profile `--profile` names (or the current one).
    pub(crate) async fn open(global: &GlobalArgs) -> anyhow::Result<Session> {
        let path = config_path()?;
        let mut config = ConfigFile::load(&path)?;
        let name = config.profile_name(global);
        let Some(profile) = config.profiles.get_mut(&name) else {
            return Err(anyhow!(
                "not logged in (no profile `{name}` in {}): run `fjord login --url URL`",
                path.display()
            ));
        };
        let now = unix_now();
        let token = match &profile.token {
            Some(token) if profile.token_expires_at > now + RENEW_BEFORE_SECS => token.clone(),
            _ => {
                let (token, claims) = exchange(&profile.url, &profile.api_key)
                    .await
                    .with_context(|| {
                        format!("failed to renew the access token of profile `{name}`")
                    })?;
                profile.token = Some(token.clone());
                profile.token_expires_at = claims.exp;
                config.save(&path)?;
                token
            }
        };
        let profile = &config.profiles[&name];
        Ok(Session {
            client: client_for(&profile.url, &token)?,
            url: profile.url.clone(),
            tenant: global.tenant.clone().or_else(|| profile.tenant.clone()),
            profile: name,
        })
    }

    /// The tenant commands act on.
    pub(crate) fn tenant(&self) -> anyhow::Result<&str> {
        self.tenant.as_deref().ok_or_else(|| {
            anyhow!(
                "no tenant chosen: profile `{}` is a platform administrator's; pass --tenant ID \
                 (or run `fjord login --tenant ID` to keep one)",
                self.profile
            )
        })
    }
}

/// Exchanges an API key for an access token and reads its claims.
pub(crate) async fn exchange(url: &str, api_key: &str) -> anyhow::Result<(String, TokenClaims)> {
    let anonymous = fjord_sdk::Client::new(url);
    let answer = anonymous
        .exchange_token()
        .body_map(|b| b.api_key(api_key.to_string()))
        .send()
        .await;
    let token = match answer {
        Ok(token) => token.into_inner().access_token,
        Err(e) if e.status() == Some(fjord_sdk::reqwest::StatusCode::UNAUTHORIZED) => {
            return Err(anyhow!(
                "{url} refused the API key (unknown, revoked or mistyped): check it, or create a \
                 new one, then run `fjord login` again"
            ));
        }
        Err(e) => return Err(describe_error(e, url, "API", url)),
    };
    let claims = TokenClaims::peek(&token)?;
    Ok((token, claims))
}

/// An SDK client that sends `token`.
pub(crate) fn client_for(url: &str, token: &str) -> anyhow::Result<fjord_sdk::Client> {
    fjord_sdk::authenticated(url, token).context("failed to set up the API client")
}

/// An SDK error as a message saying what went wrong and what to do next. `kind` and `name`
/// say what the request was about ("cluster", "orders"), for 404s.
pub(crate) fn describe_error(
    error: fjord_sdk::Error<Problem>,
    url: &str,
    kind: &str,
    name: &str,
) -> anyhow::Error {
    use fjord_sdk::Error;
    match error {
        Error::ErrorResponse(answer) => {
            let status = answer.status();
            let problem = answer.into_inner();
            problem_message(status.as_u16(), &problem.title, &problem.detail, kind, name)
        }
        Error::CommunicationError(e) if e.is_timeout() => anyhow!(
            "{url} did not answer in time: try again, or check the API's health at {url}/readyz"
        ),
        Error::CommunicationError(e) => anyhow!(e).context(format!(
            "cannot reach the API at {url}: is it running, and is the URL right? (change it with \
             `fjord login --url URL`)"
        )),
        Error::UnexpectedResponse(response) => {
            let status = response.status();
            problem_message(
                status.as_u16(),
                status.canonical_reason().unwrap_or("unexpected answer"),
                "the API answered a status its OpenAPI document does not list",
                kind,
                name,
            )
        }
        Error::InvalidResponsePayload(_, e) => anyhow!(e).context(format!(
            "the API at {url} answered a body this fjord does not understand: is it a different \
             version? (`fjord --version`, and the API's /openapi.json)"
        )),
        other => anyhow!("request to {url} failed: {other}"),
    }
}

fn problem_message(
    status: u16,
    title: &str,
    detail: &str,
    kind: &str,
    name: &str,
) -> anyhow::Error {
    let hint = match status {
        401 => "your session is no longer valid: run `fjord login`".to_string(),
        403 => "your role does not allow this: ask a tenant-admin".to_string(),
        404 => format!(
            "no {kind} `{name}` here: check the name (list them with the `list` subcommand)"
        ),
        409 => "it conflicts with the current state: check it with `get`/`list` and retry".into(),
        422 | 400 => "fix the request and retry".into(),
        s if s >= 500 => "the API failed: retry later, or see its logs".into(),
        _ => String::new(),
    };
    if hint.is_empty() {
        anyhow!("{title} ({status}): {detail}")
    } else {
        anyhow!("{title} ({status}): {detail}\n  {hint}")
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_come_with_what_to_do_next() {
        let m =
            problem_message(404, "Not Found", "no such cluster", "cluster", "orders").to_string();
        assert!(
            m.contains("no such cluster") && m.contains("no cluster `orders` here"),
            "{m}"
        );
        let m = problem_message(401, "Unauthorized", "expired", "x", "y").to_string();
        assert!(m.contains("run `fjord login`"), "{m}");
        let m = problem_message(418, "Teapot", "short and stout", "x", "y").to_string();
        assert_eq!(m, "Teapot (418): short and stout");
    }
}
