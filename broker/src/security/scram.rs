//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677): stored credentials, the server
//! side of the exchange, and a client (for tests and the control plane).
//!
//! Written on the RustCrypto primitives (`hmac`, `sha2`, `pbkdf2`): the SCRAM crates on
//! crates.io are client-only, SHA-256-only or little used, and the state machine is small.
//! Like Kafka, the broker stores only `salt`, `StoredKey`, `ServerKey` and the iteration
//! count, never a password; an unknown user gets a made-up salt so the exchange fails only at
//! the proof and does not reveal which users exist.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's bounds on iterations (`ScramMechanism` in Kafka).
pub const MIN_ITERATIONS: i32 = 4096;
/// Kafka's upper bound on iterations.
pub const MAX_ITERATIONS: i32 = 16384;
/// The most iterations [`ScramClient`] computes: a bound on the CPU a server can make a
/// client spend.
pub const MAX_CLIENT_ITERATIONS: u32 = 1 << 20;

/// A SCRAM hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScramMechanism {
    /// SCRAM-SHA-256 (Kafka type 1).
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256,
    /// SCRAM-SHA-512 (Kafka type 2).
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512,
}

impl ScramMechanism {
    /// Both mechanisms.
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// The SASL mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// Parses a SASL mechanism name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// The `mechanism` number of Describe/AlterUserScramCredentials.
    pub fn kafka_type(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// Parses the wire `mechanism` number.
    pub fn from_kafka_type(t: i8) -> Option<Self> {
        match t {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // new_from_slice accepts keys of any length for HMAC; the error arm is unreachable.
        match self {
            ScramMechanism::Sha256 => Hmac::<Sha256>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
                .unwrap_or_default(),
            ScramMechanism::Sha512 => Hmac::<Sha512>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
                .unwrap_or_default(),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn output_len(self) -> usize {
        match self {
            ScramMechanism::Sha256 => 32,
            ScramMechanism::Sha512 => 64,
        }
    }

    /// `SaltedPassword := Hi(Normalize(password), salt, i)`: PBKDF2 with this HMAC. CPU-heavy
    /// (thousands of HMACs); callers on async workers run it on the blocking pool.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.output_len()];
        match self {
            ScramMechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out)
            }
            ScramMechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out)
            }
        }
        out
    }
}

/// What the broker stores per user and mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    /// Random salt chosen by whoever set the password.
    #[serde(with = "b64")]
    pub salt: Vec<u8>,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    #[serde(with = "b64")]
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    #[serde(with = "b64")]
    pub server_key: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: i32,
}

impl ScramCredential {
    /// Derives the stored keys from a salted password (what AlterUserScramCredentials sends).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: Vec<u8>,
        salted_password: &[u8],
        iterations: i32,
    ) -> Self {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        ScramCredential {
            salt,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }

    /// Derives a credential from a password with a fresh random salt.
    pub fn from_password(mechanism: ScramMechanism, password: &str, iterations: i32) -> Self {
        let salt = random_bytes(32);
        let salted =
            mechanism.salted_password(password.as_bytes(), &salt, iterations.max(1) as u32);
        Self::from_salted_password(mechanism, salt, &salted, iterations)
    }

    /// Whether `password` is the one this credential was made from (SASL/PLAIN checks
    /// passwords against the SCRAM store). CPU-heavy, like [`ScramMechanism::salted_password`].
    pub fn verify_password(&self, mechanism: ScramMechanism, password: &str) -> bool {
        let salted = mechanism.salted_password(
            password.as_bytes(),
            &self.salt,
            self.iterations.max(1) as u32,
        );
        let client_key = mechanism.hmac(&salted, b"Client Key");
        constant_time_eq(&mechanism.hash(&client_key), &self.stored_key)
    }
}

mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// Why a SCRAM exchange failed. The client only ever learns "authentication failed"; the
/// detail is for the broker's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// A message did not follow RFC 5802's grammar.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// Channel binding requested, or an extension we do not support (e.g. `tokenauth`).
    #[error("unsupported SCRAM feature: {0}")]
    Unsupported(&'static str),
    /// Wrong password, unknown user or nonce mismatch.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A message arrived in the wrong state.
    #[error("unexpected SCRAM message in this state")]
    State,
}

enum ServerState {
    Initial,
    SentFirst(Box<SentFirst>),
    Done,
}

struct SentFirst {
    user: String,
    known_user: bool,
    credential: ScramCredential,
    gs2_header: String,
    nonce: String,
    client_first_bare: String,
    server_first: String,
}

/// The server side of one SCRAM exchange.
pub struct ScramServer {
    mechanism: ScramMechanism,
    state: ServerState,
}

impl std::fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramServer")
            .field("mechanism", &self.mechanism)
            .finish_non_exhaustive()
    }
}

impl ScramServer {
    /// A new exchange for `mechanism`.
    pub fn new(mechanism: ScramMechanism) -> Self {
        ScramServer {
            mechanism,
            state: ServerState::Initial,
        }
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// The user named in client-first, once it has been received.
    pub fn user(&self) -> Option<&str> {
        match &self.state {
            ServerState::SentFirst(sent) => Some(&sent.user),
            _ => None,
        }
    }

    /// Handles client-first (`n,,n=user,r=nonce`) and returns server-first. `lookup` finds
    /// the user's credential; an unknown user continues with a made-up one.
    pub fn client_first(
        &mut self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<Vec<u8>, ScramError> {
        if !matches!(self.state, ServerState::Initial) {
            return Err(ScramError::State);
        }
        let text = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        // gs2-header = gs2-cbind-flag "," [ authzid ] ","
        let (flag, rest) = text
            .split_once(',')
            .ok_or(ScramError::Malformed("no GS2 header"))?;
        match flag {
            "n" | "y" => {}
            f if f.starts_with("p=") => return Err(ScramError::Unsupported("channel binding")),
            _ => return Err(ScramError::Malformed("bad GS2 channel-binding flag")),
        }
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or(ScramError::Malformed("no GS2 header"))?;
        let gs2_header = format!("{flag},{authzid},");
        let mut user = None;
        let mut client_nonce = None;
        for (i, attr) in bare.split(',').enumerate() {
            let (k, v) = attr
                .split_once('=')
                .ok_or(ScramError::Malformed("attribute without '='"))?;
            match (i, k) {
                (0, "m") => return Err(ScramError::Unsupported("mandatory extension")),
                (0, "n") => user = Some(decode_saslname(v)?),
                (1, "r") => client_nonce = Some(v.to_string()),
                (_, "tokenauth") => return Err(ScramError::Unsupported("delegation tokens")),
                (i, _) if i >= 2 => {} // other extensions are optional: ignore
                _ => return Err(ScramError::Malformed("expected n=user,r=nonce")),
            }
        }
        let user = user.ok_or(ScramError::Malformed("no user name"))?;
        let client_nonce = client_nonce.ok_or(ScramError::Malformed("no nonce"))?;
        if client_nonce.is_empty() {
            return Err(ScramError::Malformed("empty nonce"));
        }
        if let Some(authz) = authzid.strip_prefix("a=")
            && decode_saslname(authz)? != user
        {
            return Err(ScramError::Unsupported(
                "authorization id other than the user",
            ));
        }
        let (credential, known_user) = match lookup(&user) {
            Some(c) => (c, true),
            None => (
                ScramCredential {
                    salt: random_bytes(32),
                    stored_key: random_bytes(self.mechanism.output_len()),
                    server_key: random_bytes(self.mechanism.output_len()),
                    iterations: MIN_ITERATIONS,
                },
                false,
            ),
        };
        let nonce = format!("{client_nonce}{}", B64.encode(random_bytes(18)));
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credential.salt),
            credential.iterations
        );
        let out = server_first.clone().into_bytes();
        self.state = ServerState::SentFirst(Box::new(SentFirst {
            user,
            known_user,
            credential,
            gs2_header,
            nonce,
            client_first_bare: bare.to_string(),
            server_first,
        }));
        Ok(out)
    }

    /// Handles client-final (`c=…,r=…,p=…`); on a valid proof returns server-final
    /// (`v=…`) and the authenticated user name.
    pub fn client_final(&mut self, message: &[u8]) -> Result<(Vec<u8>, String), ScramError> {
        let state = std::mem::replace(&mut self.state, ServerState::Done);
        let ServerState::SentFirst(sent) = state else {
            return Err(ScramError::State);
        };
        let SentFirst {
            user,
            known_user,
            credential,
            gs2_header,
            nonce,
            client_first_bare,
            server_first,
        } = *sent;
        let text = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut attrs = without_proof.split(',');
        let binding = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Malformed("no channel binding attribute"))?;
        let got_nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("no nonce"))?;
        if B64.decode(binding).ok().as_deref() != Some(gs2_header.as_bytes()) {
            return Err(ScramError::Malformed(
                "channel binding does not match the GS2 header",
            ));
        }
        // Kafka accepts a nonce that *ends with* the server's (`endsWith` in its
        // ScramSaslServer): librdkafka before 2.1 sends the client nonce twice. The proof
        // covers the message as sent, so this loosens nothing.
        if !got_nonce.ends_with(&nonce) {
            return Err(ScramError::InvalidCredentials);
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("proof is not base64"))?;
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let m = self.mechanism;
        let client_signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(ScramError::InvalidCredentials);
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        if !known_user || !constant_time_eq(&m.hash(&client_key), &credential.stored_key) {
            return Err(ScramError::InvalidCredentials);
        }
        let server_signature = m.hmac(&credential.server_key, auth_message.as_bytes());
        Ok((
            format!("v={}", B64.encode(server_signature)).into_bytes(),
            user,
        ))
    }
}

/// The client side of one SCRAM exchange.
#[derive(Debug)]
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    gs2_header: String,
    client_first_bare: String,
    client_nonce: String,
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// Starts an exchange for `user` with `password`.
    pub fn new(mechanism: ScramMechanism, user: &str, password: &str) -> Self {
        let client_nonce = B64.encode(random_bytes(18));
        ScramClient {
            mechanism,
            password: password.to_string(),
            gs2_header: "n,,".to_string(),
            client_first_bare: format!("n={},r={client_nonce}", encode_saslname(user)),
            client_nonce,
            server_signature: None,
        }
    }

    /// client-first.
    pub fn client_first(&self) -> Vec<u8> {
        format!("{}{}", self.gs2_header, self.client_first_bare).into_bytes()
    }

    /// Given server-first, computes client-final. PBKDF2 runs here (CPU-heavy).
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        let text =
            std::str::from_utf8(server_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attr in text.split(',') {
            match attr.split_once('=') {
                Some(("r", v)) => nonce = Some(v.to_string()),
                Some(("s", v)) => salt = B64.decode(v).ok(),
                Some(("i", v)) => iterations = v.parse::<u32>().ok(),
                Some(("e", _)) => return Err(ScramError::InvalidCredentials),
                _ => {}
            }
        }
        let nonce = nonce.ok_or(ScramError::Malformed("no nonce"))?;
        let salt = salt.ok_or(ScramError::Malformed("no salt"))?;
        let iterations = iterations.ok_or(ScramError::Malformed("no iteration count"))?;
        if iterations == 0 || iterations > MAX_CLIENT_ITERATIONS {
            return Err(ScramError::Malformed("iteration count out of range"));
        }
        if !nonce.starts_with(&self.client_nonce) {
            return Err(ScramError::InvalidCredentials);
        }
        let m = self.mechanism;
        let salted = m.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let server_key = m.hmac(&salted, b"Server Key");
        let without_proof = format!("c={},r={nonce}", B64.encode(&self.gs2_header));
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let client_signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        self.server_signature = Some(m.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks server-final: the server proved it knows the credential too.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let text =
            std::str::from_utf8(server_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let verifier = text
            .strip_prefix("v=")
            .and_then(|v| B64.decode(v).ok())
            .ok_or(ScramError::InvalidCredentials)?;
        match &self.server_signature {
            Some(expected) if constant_time_eq(expected, &verifier) => Ok(()),
            _ => Err(ScramError::InvalidCredentials),
        }
    }
}

fn decode_saslname(name: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3);
        match esc {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed("bad '=' escape in user name")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(ScramError::Malformed("empty user name"));
    }
    Ok(out)
}

fn encode_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// `n` random bytes from the OS-seeded thread RNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    rand::rng().fill_bytes(&mut out);
    out
}

/// Compares without stopping at the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user "user", password "pencil", SCRAM-SHA-256.
    #[test]
    fn rfc7677_test_vector_server_side() {
        let m = ScramMechanism::Sha256;
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = m.salted_password(b"pencil", &salt, 4096);
        let cred = ScramCredential::from_salted_password(m, salt, &salted, 4096);
        let client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let without_proof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let client_sig = m.hmac(&cred.stored_key, auth.as_bytes());
        let proof = B64
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        let client_key: Vec<u8> = proof.iter().zip(&client_sig).map(|(a, b)| a ^ b).collect();
        assert_eq!(m.hash(&client_key), cred.stored_key);
        let server_sig = m.hmac(&cred.server_key, auth.as_bytes());
        assert_eq!(
            B64.encode(server_sig),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    fn exchange(
        m: ScramMechanism,
        stored: Option<ScramCredential>,
        password: &str,
    ) -> Result<String, ScramError> {
        let mut client = ScramClient::new(m, "alice,=x", password);
        let mut server = ScramServer::new(m);
        let first = server.client_first(&client.client_first(), |u| {
            assert_eq!(u, "alice,=x");
            stored
        })?;
        let fin = client.client_final(&first)?;
        let (server_final, user) = server.client_final(&fin)?;
        client.verify_server_final(&server_final)?;
        Ok(user)
    }

    #[test]
    fn client_and_server_agree_for_both_mechanisms() {
        for m in ScramMechanism::ALL {
            let cred = ScramCredential::from_password(m, "s3cret", 4096);
            assert_eq!(exchange(m, Some(cred), "s3cret").unwrap(), "alice,=x");
        }
    }

    #[test]
    fn wrong_password_and_unknown_user_fail_the_same_way() {
        let m = ScramMechanism::Sha512;
        let cred = ScramCredential::from_password(m, "right", 4096);
        assert_eq!(
            exchange(m, Some(cred), "wrong"),
            Err(ScramError::InvalidCredentials)
        );
        assert_eq!(
            exchange(m, None, "any"),
            Err(ScramError::InvalidCredentials)
        );
    }

    #[test]
    fn a_tampered_nonce_or_binding_is_refused() {
        let m = ScramMechanism::Sha256;
        let cred = ScramCredential::from_password(m, "pw", 4096);
        let mut client = ScramClient::new(m, "bob", "pw");
        let mut server = ScramServer::new(m);
        let first = server
            .client_first(&client.client_first(), |_| Some(cred.clone()))
            .unwrap();
        let fin = String::from_utf8(client.client_final(&first).unwrap()).unwrap();
        let tampered = fin.replacen("c=biws", "c=eSws", 1);
        assert!(matches!(
            server.client_final(tampered.as_bytes()),
            Err(ScramError::Malformed(_))
        ));
        // The exchange is over after a failure.
        assert_eq!(server.client_final(fin.as_bytes()), Err(ScramError::State));
    }

    /// Regression: librdkafka 2.0.x (Debian's kcat) repeats the client nonce in
    /// client-final (`r=<cnonce><cnonce+snonce>`); Kafka accepts it, so must we.
    #[test]
    fn librdkafka_2_0_repeated_client_nonce_is_accepted() {
        let m = ScramMechanism::Sha256;
        let cred = ScramCredential::from_password(m, "pw", 4096);
        let mut server = ScramServer::new(m);
        let cnonce = "KMu=O=o=P:3:XdGwy?hG<9Ud96~o4zda";
        let first_bare = format!("n=admin,r={cnonce}");
        let first = server
            .client_first(format!("n,,{first_bare}").as_bytes(), |_| {
                Some(cred.clone())
            })
            .unwrap();
        let first = String::from_utf8(first).unwrap();
        let snonce = first.strip_prefix("r=").unwrap().split(',').next().unwrap();
        let without_proof = format!("c=biws,r={cnonce}{snonce}");
        let salted = m.salted_password(b"pw", &cred.salt, 4096);
        let client_key = m.hmac(&salted, b"Client Key");
        let auth = format!("{first_bare},{first},{without_proof}");
        let sig = m.hmac(&m.hash(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        let fin = format!("{without_proof},p={}", B64.encode(proof));
        let (_, user) = server.client_final(fin.as_bytes()).unwrap();
        assert_eq!(user, "admin");
    }

    #[test]
    fn malformed_client_first_messages_are_errors_not_panics() {
        for msg in [
            &b""[..],
            b"n",
            b"n,,",
            b"x,,n=a,r=b",
            b"p=tls-unique,,n=a,r=b",
            b"n,,r=b,n=a",
            b"n,,n=,r=b",
            b"n,,n=a=2,r=b",
            b"n,,n=a,r=",
            b"n,,m=x,n=a,r=b",
            b"n,,n=a,r=b,tokenauth=true",
            b"\xff\xfe",
        ] {
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            assert!(server.client_first(msg, |_| None).is_err(), "{msg:?}");
        }
    }

    #[test]
    fn plain_passwords_verify_against_the_scram_store() {
        let cred = ScramCredential::from_password(ScramMechanism::Sha512, "pw", 4096);
        assert!(cred.verify_password(ScramMechanism::Sha512, "pw"));
        assert!(!cred.verify_password(ScramMechanism::Sha512, "pw2"));
        let json = serde_json::to_string(&cred).unwrap();
        assert_eq!(
            serde_json::from_str::<ScramCredential>(&json).unwrap(),
            cred
        );
    }
}
