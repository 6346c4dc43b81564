//! The cluster's Secrets: cluster CA `N-ca`, broker TLS `N-broker-tls` and internal users
//! `N-internal-users`.
//!
//! Pure apart from randomness (keys, serials, the password): the clock comes in as `now`, and
//! existing Secrets come in as read from the API server. [`plan_secrets`] returns only the
//! Secrets that must be written, so valid material is kept byte-for-byte; a reconcile that finds
//! everything valid writes nothing.
//!
//! Renewal ([`tls_renewal`]): a missing or unusable CA, or one expiring within
//! [`RENEW_BEFORE`], gets a new CA and a new leaf; otherwise a missing or unusable leaf, one
//! expiring within [`RENEW_BEFORE`], or one issued by another CA gets a new leaf signed by the
//! kept CA. Brokers re-read `broker.pem` when it changes, so no restart is needed. The
//! internal users' password is generated once and never rotated.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;

use super::configmap::TLS_PEM_KEY;
use super::{BuildSettings, ClusterNames, owned_meta};
use crate::crd::FjordCluster;
use crate::error::{Error, Result};

/// Key of the CA certificate (PEM) in the CA and broker TLS Secrets: what clients trust.
pub const CA_CERT_KEY: &str = "ca.crt";
/// Key of the CA private key (PEM) in the CA Secret.
pub const CA_KEY_KEY: &str = "ca.key";
/// Key of `fjord.bootstrap.users` (`user:password`) in the internal users Secret; the
/// StatefulSet reads it through a `secretKeyRef`.
pub const USERS_KEY: &str = "users";
/// Key of the control plane's password alone in the internal users Secret.
pub const PASSWORD_KEY: &str = "password";
/// The control plane's super user.
pub const CONTROL_USER: &str = "fjord-control";
/// Validity of a new cluster CA.
pub const CA_VALIDITY: Duration = Duration::days(3650);
/// Validity of a new broker certificate (never past the CA's).
pub const LEAF_VALIDITY: Duration = Duration::days(365);
/// Certificates are renewed this long before they expire.
pub const RENEW_BEFORE: Duration = Duration::days(30);
/// New certificates start this far in the past, for nodes whose clocks lag a little.
const BACKDATE: Duration = Duration::hours(1);
const SECRET_TYPE: &str = "Opaque";

/// What to do with the CA and broker TLS Secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsRenewal {
    /// Both are valid; keep them and decide again by `renew_at`.
    Keep {
        /// When the first of the two enters its renewal window.
        renew_at: OffsetDateTime,
    },
    /// Keep the CA, issue a new broker certificate.
    NewLeaf,
    /// Issue a new CA and a new broker certificate.
    NewCaAndLeaf,
}

/// The Secrets read from the API server (`None`: not found).
#[derive(Debug, Clone, Default)]
pub struct ExistingSecrets {
    /// `N-ca`.
    pub ca: Option<Secret>,
    /// `N-broker-tls`.
    pub broker_tls: Option<Secret>,
    /// `N-internal-users`.
    pub internal_users: Option<Secret>,
}

/// The outcome of [`plan_secrets`].
#[derive(Debug, Clone)]
pub struct SecretPlan {
    /// Secrets to create or replace (empty when everything is valid).
    pub writes: Vec<Secret>,
    /// When the certificates must be looked at again.
    pub renew_at: OffsetDateTime,
}

/// A CA certificate and its key, parsed and checked.
struct StoredCa {
    cert_pem: String,
    key_pem: String,
    not_after: OffsetDateTime,
}

fn data<'a>(secret: &'a Secret, key: &str) -> Option<&'a str> {
    let bytes = secret.data.as_ref()?.get(key)?;
    std::str::from_utf8(&bytes.0).ok()
}

fn not_after(cert: &X509Certificate<'_>) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).ok()
}

/// Whether `key_pem` is the private key of `cert`.
fn key_matches(key_pem: &str, cert: &X509Certificate<'_>) -> bool {
    KeyPair::from_pem(key_pem)
        .is_ok_and(|key| key.public_key_raw() == cert.public_key().subject_public_key.data.as_ref())
}

fn stored_ca(secret: Option<&Secret>) -> Option<StoredCa> {
    let secret = secret?;
    let cert_pem = data(secret, CA_CERT_KEY)?;
    let key_pem = data(secret, CA_KEY_KEY)?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    if !cert.is_ca() || !key_matches(key_pem, &cert) {
        return None;
    }
    Some(StoredCa {
        cert_pem: cert_pem.to_owned(),
        key_pem: key_pem.to_owned(),
        not_after: not_after(&cert)?,
    })
}

/// The expiry of the broker certificate in `secret`, if it is usable with `ca`: `broker.pem`
/// holds a private key and a chain whose leaf matches the key and was issued by `ca`, whose
/// certificate ends the chain and is the Secret's `ca.crt`.
fn stored_leaf_expiry(secret: Option<&Secret>, ca: &StoredCa) -> Option<OffsetDateTime> {
    let secret = secret?;
    let ca_der = x509_parser::pem::parse_x509_pem(ca.cert_pem.as_bytes())
        .ok()?
        .1
        .contents;
    let stored_ca_pem = data(secret, CA_CERT_KEY)?;
    if x509_parser::pem::parse_x509_pem(stored_ca_pem.as_bytes())
        .ok()?
        .1
        .contents
        != ca_der
    {
        return None;
    }
    let broker_pem = data(secret, TLS_PEM_KEY)?;
    let blocks: Vec<Pem> = Pem::iter_from_buffer(broker_pem.as_bytes())
        .collect::<Result<_, _>>()
        .ok()?;
    // The key comes first (as written by `issue_leaf`); `KeyPair::from_pem` reads the first
    // block.
    if !blocks.first()?.label.ends_with("PRIVATE KEY") {
        return None;
    }
    let certs: Vec<&Pem> = blocks.iter().filter(|b| b.label == "CERTIFICATE").collect();
    let (leaf_pem, chain_end) = (certs.first()?, certs.last()?);
    if chain_end.contents != ca_der || certs.len() < 2 {
        return None;
    }
    let leaf = leaf_pem.parse_x509().ok()?;
    let ca_cert = chain_end.parse_x509().ok()?;
    if leaf.issuer() != ca_cert.subject() || !key_matches(broker_pem, &leaf) {
        return None;
    }
    not_after(&leaf)
}

/// Decides whether the CA and broker certificate must be (re)issued at `now`.
pub fn tls_renewal(
    ca: Option<&Secret>,
    broker_tls: Option<&Secret>,
    now: OffsetDateTime,
) -> TlsRenewal {
    let Some(ca) = stored_ca(ca).filter(|ca| ca.not_after - RENEW_BEFORE > now) else {
        return TlsRenewal::NewCaAndLeaf;
    };
    match stored_leaf_expiry(broker_tls, &ca) {
        Some(leaf_expiry) if leaf_expiry - RENEW_BEFORE > now => TlsRenewal::Keep {
            renew_at: leaf_expiry.min(ca.not_after) - RENEW_BEFORE,
        },
        _ => TlsRenewal::NewLeaf,
    }
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive and non-zero, as RFC 5280 asks.
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

/// Issues a self-signed cluster CA valid from `now` for [`CA_VALIDITY`].
fn issue_ca(names: &ClusterNames, now: OffsetDateTime) -> Result<StoredCa> {
    let key = KeyPair::generate().map_err(Error::Certificate)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Fjord");
    dn.push(
        DnType::CommonName,
        format!("fjord CA {}/{}", names.namespace, names.cluster),
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(random_serial());
    params.not_before = now - BACKDATE;
    params.not_after = now + CA_VALIDITY;
    let cert = params.self_signed(&key).map_err(Error::Certificate)?;
    Ok(StoredCa {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        not_after: params.not_after,
    })
}

/// The DNS names the broker certificate covers: every broker through the headless Service,
/// the bootstrap Service, and `localhost`.
pub fn broker_dns_names(names: &ClusterNames) -> Vec<String> {
    let ns = &names.namespace;
    let headless = names.headless_service();
    let bootstrap = names.bootstrap_service();
    vec![
        format!("*.{headless}.{ns}.svc"),
        format!("*.{headless}.{ns}.svc.cluster.local"),
        bootstrap.clone(),
        format!("{bootstrap}.{ns}.svc"),
        format!("{bootstrap}.{ns}.svc.cluster.local"),
        "localhost".to_owned(),
    ]
}

/// Issues the brokers' certificate signed by `ca`; returns `broker.pem` (key, leaf, CA) and
/// the leaf's expiry.
fn issue_leaf(
    names: &ClusterNames,
    ca: &StoredCa,
    now: OffsetDateTime,
) -> Result<(String, OffsetDateTime)> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(Error::Certificate)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(Error::Certificate)?;
    let key = KeyPair::generate().map_err(Error::Certificate)?;
    let mut params = CertificateParams::new(broker_dns_names(names)).map_err(Error::Certificate)?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Fjord");
    params.distinguished_name.push(
        DnType::CommonName,
        format!("{}.{}.svc", names.bootstrap_service(), names.namespace),
    );
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // Brokers are servers to clients and clients of each other on the CONTROL listener.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    params.not_before = now - BACKDATE;
    params.not_after = (now + LEAF_VALIDITY).min(ca.not_after);
    let leaf = params
        .signed_by(&key, &issuer)
        .map_err(Error::Certificate)?;
    let broker_pem = format!("{}{}{}", key.serialize_pem(), leaf.pem(), ca.cert_pem);
    Ok((broker_pem, params.not_after))
}

fn secret(
    cluster: &FjordCluster,
    settings: &BuildSettings,
    name: String,
    entries: [(&str, String); 2],
) -> Secret {
    Secret {
        metadata: owned_meta(cluster, settings, name),
        type_: Some(SECRET_TYPE.to_owned()),
        data: Some(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), ByteString(v.into_bytes())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Secret::default()
    }
}

/// Whether `secret` holds a usable `users` entry for [`CONTROL_USER`].
fn has_control_user(secret: Option<&Secret>) -> bool {
    secret
        .and_then(|s| data(s, USERS_KEY))
        .is_some_and(|users| {
            users.split(',').any(|entry| {
                entry
                    .trim()
                    .split_once(':')
                    .is_some_and(|(user, password)| user == CONTROL_USER && !password.is_empty())
            })
        })
}

/// A new random password: 24 random bytes as hex (no `,` or `:`, which
/// `fjord.bootstrap.users` uses as separators).
fn random_password() -> String {
    let bytes: [u8; 24] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The internal users Secret with `password` for [`CONTROL_USER`].
pub fn internal_users_secret(
    cluster: &FjordCluster,
    settings: &BuildSettings,
    password: &str,
) -> Secret {
    secret(
        cluster,
        settings,
        ClusterNames::of(cluster).internal_users_secret(),
        [
            (USERS_KEY, format!("{CONTROL_USER}:{password}")),
            (PASSWORD_KEY, password.to_owned()),
        ],
    )
}

/// Decides which of the cluster's Secrets to (re)write at `now`, and builds them.
pub fn plan_secrets(
    cluster: &FjordCluster,
    settings: &BuildSettings,
    existing: &ExistingSecrets,
    now: OffsetDateTime,
) -> Result<SecretPlan> {
    let names = ClusterNames::of(cluster);
    let mut writes = Vec::new();
    let decision = tls_renewal(existing.ca.as_ref(), existing.broker_tls.as_ref(), now);
    let renew_at = match decision {
        TlsRenewal::Keep { renew_at } => renew_at,
        TlsRenewal::NewLeaf | TlsRenewal::NewCaAndLeaf => {
            let ca = match decision {
                TlsRenewal::NewLeaf => stored_ca(existing.ca.as_ref()),
                _ => None,
            };
            let ca = match ca {
                Some(ca) => ca,
                None => {
                    let ca = issue_ca(&names, now)?;
                    writes.push(secret(
                        cluster,
                        settings,
                        names.ca_secret(),
                        [
                            (CA_CERT_KEY, ca.cert_pem.clone()),
                            (CA_KEY_KEY, ca.key_pem.clone()),
                        ],
                    ));
                    ca
                }
            };
            let (broker_pem, leaf_expiry) = issue_leaf(&names, &ca, now)?;
            writes.push(secret(
                cluster,
                settings,
                names.broker_tls_secret(),
                [
                    (TLS_PEM_KEY, broker_pem),
                    (CA_CERT_KEY, ca.cert_pem.clone()),
                ],
            ));
            leaf_expiry.min(ca.not_after) - RENEW_BEFORE
        }
    };
    if !has_control_user(existing.internal_users.as_ref()) {
        writes.push(internal_users_secret(cluster, settings, &random_password()));
    }
    Ok(SecretPlan { writes, renew_at })
}

#[cfg(test)]
mod tests {
    use x509_parser::extensions::GeneralName;

    use super::*;
    use crate::resources::{assert_owned, test_cluster};

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time")
    }

    fn text(secret: &Secret, key: &str) -> String {
        data(secret, key).expect(key).to_owned()
    }

    fn named<'a>(writes: &'a [Secret], name: &str) -> &'a Secret {
        writes
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no {name} written"))
    }

    /// Every Secret of a fresh cluster, as the API server would return them.
    fn fresh(at: OffsetDateTime) -> ExistingSecrets {
        let plan = plan_secrets(
            &test_cluster(),
            &BuildSettings::default(),
            &ExistingSecrets::default(),
            at,
        )
        .expect("plan");
        ExistingSecrets {
            ca: Some(named(&plan.writes, "orders-ca").clone()),
            broker_tls: Some(named(&plan.writes, "orders-broker-tls").clone()),
            internal_users: Some(named(&plan.writes, "orders-internal-users").clone()),
        }
    }

    fn certs(pem: &str) -> Vec<Pem> {
        Pem::iter_from_buffer(pem.as_bytes())
            .map(|b| b.expect("pem block"))
            .filter(|b| b.label == "CERTIFICATE")
            .collect()
    }

    #[test]
    fn empty_namespace_gets_all_three_secrets_labelled_and_owned() {
        let plan = plan_secrets(
            &test_cluster(),
            &BuildSettings::default(),
            &ExistingSecrets::default(),
            now(),
        )
        .expect("plan");
        let names: Vec<_> = plan
            .writes
            .iter()
            .map(|s| s.metadata.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            ["orders-ca", "orders-broker-tls", "orders-internal-users"]
        );
        for secret in &plan.writes {
            assert_owned(&secret.metadata);
            assert_eq!(secret.type_.as_deref(), Some("Opaque"));
        }
        // The leaf (1 year) expires first.
        assert_eq!(plan.renew_at, now() + LEAF_VALIDITY - RENEW_BEFORE);
    }

    #[test]
    fn ca_is_a_ten_year_ca_whose_key_is_in_the_secret() {
        let existing = fresh(now());
        let ca_secret = existing.ca.as_ref().expect("ca");
        let ca_pem = text(ca_secret, CA_CERT_KEY);
        let blocks = certs(&ca_pem);
        let ca = blocks[0].parse_x509().expect("ca parses");
        assert!(ca.is_ca());
        assert_eq!(ca.subject(), ca.issuer());
        ca.verify_signature(None).expect("self-signed");
        assert!(key_matches(&text(ca_secret, CA_KEY_KEY), &ca));
        assert_eq!(not_after(&ca), Some(now() + CA_VALIDITY));
        assert!(!text(ca_secret, CA_KEY_KEY).contains("CERTIFICATE"));
    }

    #[test]
    fn broker_pem_is_key_then_leaf_signed_by_the_ca_then_the_ca() {
        let existing = fresh(now());
        let ca_pem = text(existing.ca.as_ref().expect("ca"), CA_CERT_KEY);
        let tls = existing.broker_tls.as_ref().expect("tls");
        assert_eq!(text(tls, CA_CERT_KEY), ca_pem);
        let broker_pem = text(tls, TLS_PEM_KEY);
        assert!(broker_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let chain = certs(&broker_pem);
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1].contents, certs(&ca_pem)[0].contents);
        let leaf = chain[0].parse_x509().expect("leaf parses");
        let ca = chain[1].parse_x509().expect("ca parses");
        assert!(!leaf.is_ca());
        assert_eq!(leaf.issuer(), ca.subject());
        leaf.verify_signature(Some(ca.public_key()))
            .expect("leaf signed by the CA");
        assert_eq!(not_after(&leaf), Some(now() + LEAF_VALIDITY));
        assert!(key_matches(&broker_pem, &leaf), "the key is the leaf's");

        let san = leaf
            .subject_alternative_name()
            .expect("san parses")
            .expect("san present");
        let dns: Vec<&str> = san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(name) => Some(*name),
                _ => None,
            })
            .collect();
        assert_eq!(
            dns,
            [
                "*.orders-brokers.tenant-a.svc",
                "*.orders-brokers.tenant-a.svc.cluster.local",
                "orders-bootstrap",
                "orders-bootstrap.tenant-a.svc",
                "orders-bootstrap.tenant-a.svc.cluster.local",
                "localhost",
            ]
        );
    }

    #[test]
    fn internal_users_hold_a_control_password_in_the_key_the_statefulset_reads() {
        let existing = fresh(now());
        let users = existing.internal_users.as_ref().expect("users");
        let password = text(users, PASSWORD_KEY);
        assert_eq!(password.len(), 48);
        assert_eq!(text(users, USERS_KEY), format!("{CONTROL_USER}:{password}"));
        assert_ne!(password, random_password());
    }

    #[test]
    fn valid_secrets_are_kept_and_nothing_is_written() {
        let existing = fresh(now());
        let later = now() + Duration::days(200);
        assert_eq!(
            tls_renewal(existing.ca.as_ref(), existing.broker_tls.as_ref(), later),
            TlsRenewal::Keep {
                renew_at: now() + LEAF_VALIDITY - RENEW_BEFORE
            }
        );
        let plan = plan_secrets(&test_cluster(), &BuildSettings::default(), &existing, later)
            .expect("plan");
        assert!(plan.writes.is_empty(), "{:?}", plan.writes);
        assert_eq!(plan.renew_at, now() + LEAF_VALIDITY - RENEW_BEFORE);
    }

    #[test]
    fn leaf_expiring_in_ten_days_gets_a_new_leaf_from_the_same_ca() {
        let existing = fresh(now());
        let later = now() + LEAF_VALIDITY - Duration::days(10);
        assert_eq!(
            tls_renewal(existing.ca.as_ref(), existing.broker_tls.as_ref(), later),
            TlsRenewal::NewLeaf
        );
        let plan = plan_secrets(&test_cluster(), &BuildSettings::default(), &existing, later)
            .expect("plan");
        assert_eq!(plan.writes.len(), 1, "only the broker TLS Secret");
        let tls = named(&plan.writes, "orders-broker-tls");
        let old_tls = existing.broker_tls.as_ref().expect("tls");
        assert_ne!(text(tls, TLS_PEM_KEY), text(old_tls, TLS_PEM_KEY));
        let ca_pem = text(existing.ca.as_ref().expect("ca"), CA_CERT_KEY);
        assert_eq!(text(tls, CA_CERT_KEY), ca_pem);
        let chain = certs(&text(tls, TLS_PEM_KEY));
        let leaf = chain[0].parse_x509().expect("leaf");
        let ca_blocks = certs(&ca_pem);
        let ca = ca_blocks[0].parse_x509().expect("ca");
        leaf.verify_signature(Some(ca.public_key()))
            .expect("signed by the kept CA");
        assert_eq!(not_after(&leaf), Some(later + LEAF_VALIDITY));
        assert_eq!(plan.renew_at, later + LEAF_VALIDITY - RENEW_BEFORE);
    }

    #[test]
    fn ca_expiring_within_thirty_days_gets_a_new_ca_and_leaf() {
        let existing = fresh(now());
        let later = now() + CA_VALIDITY - Duration::days(29);
        assert_eq!(
            tls_renewal(existing.ca.as_ref(), existing.broker_tls.as_ref(), later),
            TlsRenewal::NewCaAndLeaf
        );
        let plan = plan_secrets(&test_cluster(), &BuildSettings::default(), &existing, later)
            .expect("plan");
        let new_ca = text(named(&plan.writes, "orders-ca"), CA_CERT_KEY);
        assert_ne!(new_ca, text(existing.ca.as_ref().expect("ca"), CA_CERT_KEY));
        let tls = named(&plan.writes, "orders-broker-tls");
        assert_eq!(text(tls, CA_CERT_KEY), new_ca);
        assert_eq!(plan.writes.len(), 2, "users are never rotated");
    }

    #[test]
    fn leaf_never_outlives_its_ca() {
        let existing = fresh(now());
        // The CA has 40 days left: renewal of a leaf issued now is due when the CA's is.
        let later = now() + CA_VALIDITY - Duration::days(40);
        let ca = stored_ca(existing.ca.as_ref()).expect("ca");
        let (pem, expiry) =
            issue_leaf(&ClusterNames::of(&test_cluster()), &ca, later).expect("leaf");
        assert_eq!(expiry, ca.not_after);
        assert!(certs(&pem).len() == 2);
    }

    #[test]
    fn garbage_or_missing_material_is_reissued() {
        let existing = fresh(now());
        let mut garbage_tls = existing.broker_tls.clone().expect("tls");
        garbage_tls
            .data
            .as_mut()
            .expect("data")
            .insert(TLS_PEM_KEY.to_owned(), ByteString(b"not a pem".to_vec()));
        assert_eq!(
            tls_renewal(existing.ca.as_ref(), Some(&garbage_tls), now()),
            TlsRenewal::NewLeaf
        );
        assert_eq!(
            tls_renewal(existing.ca.as_ref(), None, now()),
            TlsRenewal::NewLeaf
        );

        let mut garbage_ca = existing.ca.clone().expect("ca");
        garbage_ca
            .data
            .as_mut()
            .expect("data")
            .insert(CA_CERT_KEY.to_owned(), ByteString(b"garbage".to_vec()));
        assert_eq!(
            tls_renewal(Some(&garbage_ca), existing.broker_tls.as_ref(), now()),
            TlsRenewal::NewCaAndLeaf
        );
        assert_eq!(
            tls_renewal(None, existing.broker_tls.as_ref(), now()),
            TlsRenewal::NewCaAndLeaf
        );

        let mut garbage_users = existing.internal_users.clone().expect("users");
        garbage_users.data = Some(BTreeMap::new());
        let plan = plan_secrets(
            &test_cluster(),
            &BuildSettings::default(),
            &ExistingSecrets {
                internal_users: Some(garbage_users),
                ..existing
            },
            now(),
        )
        .expect("plan");
        assert_eq!(plan.writes.len(), 1);
        named(&plan.writes, "orders-internal-users");
    }

    #[test]
    fn leaf_from_another_ca_is_reissued() {
        let first = fresh(now());
        let second = fresh(now());
        assert_eq!(
            tls_renewal(first.ca.as_ref(), second.broker_tls.as_ref(), now()),
            TlsRenewal::NewLeaf
        );
    }
}
