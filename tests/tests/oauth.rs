//! SASL/OAUTHBEARER with librdkafka and a raw client: JWTs signed by a key in the broker's
//! JWKS are accepted and name the principal; expired, foreign-signed and malformed tokens are
//! refused; and the token's expiry bounds the session (KIP-368): librdkafka re-authenticates
//! on the same connection, while a client that does not is disconnected.

#![allow(clippy::unwrap_used)] // test helpers fail the test on any error

use std::error::Error;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use fjord_tests::secure::SecureBroker;
use fjord_tests::wire::WireClient;
use fjord_tests::{STEP_TIMEOUT, unique_name};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::ClientConfig;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

/// An Ed25519 signing key and the JWKS file that publishes it.
struct Issuer {
    kid: String,
    key: EncodingKey,
}

impl Issuer {
    fn new(dir: &Path, kid: &str) -> (Self, std::path::PathBuf) {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key_raw());
        let jwks = serde_json::json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"
        }]});
        let path = dir.join(format!("{kid}.json"));
        std::fs::write(&path, jwks.to_string()).unwrap();
        let key = EncodingKey::from_ed_der(&pair.serialize_der());
        (
            Issuer {
                kid: kid.into(),
                key,
            },
            path,
        )
    }

    /// A token for `sub` expiring `ttl_s` seconds from now (negative: already expired).
    fn token(&self, sub: &str, ttl_s: i64) -> (String, i64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let exp = now + ttl_s;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let claims = serde_json::json!({"sub": sub, "exp": exp, "iat": now, "aud": "fjord"});
        (
            jsonwebtoken::encode(&header, &claims, &self.key).unwrap(),
            exp * 1000,
        )
    }
}

/// Mints a fresh short-lived token whenever librdkafka asks, and counts deliveries.
struct Minter {
    issuer: Arc<Issuer>,
    ttl_s: i64,
    minted: AtomicUsize,
    delivered: AtomicUsize,
    failed: AtomicUsize,
}

impl ClientContext for Minter {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn log(&self, _level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        if std::env::var_os("RDKAFKA_DEBUG").is_some() {
            eprintln!("rdkafka {fac}: {message}");
        }
    }

    fn generate_oauth_token(&self, _config: Option<&str>) -> Result<OAuthToken, Box<dyn Error>> {
        self.minted.fetch_add(1, Ordering::SeqCst);
        let (token, lifetime_ms) = self.issuer.token("svc-reporting", self.ttl_s);
        Ok(OAuthToken {
            token,
            principal_name: "svc-reporting".into(),
            lifetime_ms,
        })
    }
}

impl ProducerContext for Minter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::SeqCst),
            Err(_) => self.failed.fetch_add(1, Ordering::SeqCst),
        };
    }
}

fn oauth_client(b: &SecureBroker) -> ClientConfig {
    let mut c = fjord_tests::client_config(&b.addr("SASL_SSL"));
    c.set("security.protocol", "SASL_SSL")
        .set("ssl.ca.location", b.tls.ca.display().to_string())
        .set("sasl.mechanism", "OAUTHBEARER");
    // RDKAFKA_DEBUG=security,broker shows librdkafka's side when this test misbehaves.
    if let Ok(d) = std::env::var("RDKAFKA_DEBUG") {
        c.set("debug", d);
    }
    c
}

async fn start(jwks: &Path) -> SecureBroker {
    let url = format!("file:{}", jwks.display());
    SecureBroker::start(&[
        (
            "sasl.enabled.mechanisms",
            "OAUTHBEARER,SCRAM-SHA-256,SCRAM-SHA-512",
        ),
        ("sasl.oauthbearer.jwks.endpoint.url", &url),
        ("sasl.oauthbearer.expected.audience", "fjord"),
        ("sasl.oauthbearer.clock.skew.seconds", "0"),
    ])
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn librdkafka_reauthenticates_before_each_token_expires() {
    let dir = tempfile::tempdir().unwrap();
    let (issuer, jwks) = Issuer::new(dir.path(), "k1");
    let b = start(&jwks).await;
    let accepted_before = connections_accepted(&b);
    let minter = Minter {
        issuer: Arc::new(issuer),
        ttl_s: 5,
        minted: AtomicUsize::new(0),
        delivered: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
    };
    let topic = unique_name("oauth");
    let cfg = oauth_client(&b);
    let topic2 = topic.clone();
    let (minted, delivered, failed) = tokio::task::spawn_blocking(move || {
        let producer: ThreadedProducer<Minter> = cfg.create_with_context(minter).unwrap();
        // Twelve seconds of traffic: more than two token lifetimes.
        for i in 0..60 {
            producer
                .send(BaseRecord::<(), _>::to(&topic2).payload(&format!("r{i}")))
                .unwrap();
            std::thread::sleep(Duration::from_millis(200));
        }
        producer.flush(STEP_TIMEOUT).unwrap();
        let c = producer.context();
        (
            c.minted.load(Ordering::SeqCst),
            c.delivered.load(Ordering::SeqCst),
            c.failed.load(Ordering::SeqCst),
        )
    })
    .await
    .unwrap();
    assert_eq!((delivered, failed), (60, 0), "every record delivered");
    assert!(minted >= 3, "a token per lifetime: {minted}");
    // Re-authentication happens on the open connections: a client disconnected at each
    // expiry would have opened one or two connections per token.
    let opened = connections_accepted(&b) - accepted_before;
    assert!(opened <= 3, "{opened} connections for {minted} tokens");
}

fn connections_accepted(b: &SecureBroker) -> u64 {
    let text = b.broker().unwrap().metrics_text().unwrap();
    text.lines()
        .filter(|l| l.starts_with("fjord_connections_accepted_total{") && l.contains("SASL_SSL"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

// ---------------------------------------------------------------------------------------
// A raw client: the refusals and the disconnect at expiry.

/// Handshake + SaslAuthenticate v2 with `token` on SASL_PLAINTEXT.
async fn authenticate(b: &SecureBroker, token: &str) -> (WireClient, SaslAuthenticateResponse) {
    let mut c = WireClient::connect(&b.addr("SASL_PLAINTEXT"))
        .await
        .unwrap();
    let hs = c
        .send(
            &SaslHandshakeRequest::default()
                .with_mechanism(StrBytes::from_static_str("OAUTHBEARER")),
            1,
        )
        .await
        .unwrap();
    assert_eq!(hs.error_code, 0);
    let msg = format!("n,,\x01auth=Bearer {token}\x01\x01");
    let auth = c
        .send(
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(msg)),
            2,
        )
        .await
        .unwrap();
    (c, auth)
}

async fn metadata(c: &mut WireClient) -> Option<MetadataResponse> {
    c.send(&MetadataRequest::default().with_topics(None), 12)
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tokens_are_refused_and_expired_sessions_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (issuer, jwks) = Issuer::new(dir.path(), "k1");
    let (stranger, _) = Issuer::new(dir.path(), "k-unknown");
    let (impostor, _) = Issuer::new(dir.path(), "k1-other");
    let b = start(&jwks).await;

    let refused = |r: &SaslAuthenticateResponse| {
        r.error_code == kafka_protocol::ResponseError::SaslAuthenticationFailed.code()
    };
    let (_, r) = authenticate(&b, &issuer.token("alice", -60).0).await;
    assert!(refused(&r), "expired");
    let (_, r) = authenticate(&b, &stranger.token("alice", 60).0).await;
    assert!(refused(&r), "unknown kid");
    // Signed by another key under a kid the JWKS has.
    let forged = Issuer {
        kid: "k1".into(),
        key: impostor.key,
    };
    let (_, r) = authenticate(&b, &forged.token("alice", 60).0).await;
    assert!(refused(&r), "bad signature");
    let (_, r) = authenticate(&b, "not-a-jwt").await;
    assert!(refused(&r), "malformed");
    assert!(
        b.broker()
            .unwrap()
            .failed_authentications
            .load(Ordering::Relaxed)
            >= 4
    );

    // A good token: the session lasts until it expires, then only re-authentication is
    // served and anything else closes the connection.
    let (token, expires_ms) = issuer.token("alice", 2);
    let (mut s, r) = authenticate(&b, &token).await;
    assert_eq!(r.error_code, 0);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        r.session_lifetime_ms > 0 && r.session_lifetime_ms <= expires_ms - now_ms + 50,
        "lifetime {} vs expiry in {}",
        r.session_lifetime_ms,
        expires_ms - now_ms
    );
    assert!(metadata(&mut s).await.is_some(), "served while valid");
    tokio::time::sleep(Duration::from_millis(r.session_lifetime_ms as u64 + 300)).await;
    assert!(metadata(&mut s).await.is_none(), "closed after expiry");
}
