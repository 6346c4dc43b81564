//! A cluster's TLS material, generated with rcgen (ring backend): a self-signed CA and a
//! broker certificate signed by it, in the PEM shapes the broker and clients read.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// How long the CA and the broker certificate are valid. There is no renewal yet (the broker
/// re-reads its keystore when the file changes, so renewal needs no restart when it comes).
const VALIDITY: Duration = Duration::days(10 * 365);

/// TLS material of one cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterCerts {
    /// The CA certificate clients trust (PEM).
    pub ca_cert_pem: String,
    /// The CA's private key (PEM, PKCS#8), kept to sign renewed broker certificates.
    pub ca_key_pem: String,
    /// The broker's keystore: its private key, then its certificate and the CA certificate
    /// (the `ssl.keystore.location` PEM format).
    pub broker_pem: String,
}

impl std::fmt::Debug for ClusterCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Private keys stay out of logs.
        f.debug_struct("ClusterCerts")
            .field("ca_cert_pem", &self.ca_cert_pem)
            .finish_non_exhaustive()
    }
}

/// Generates a CA named after `cluster_id` and a broker certificate for `hosts` (DNS names
/// or IP addresses, e.g. `127.0.0.1` and `localhost`).
pub fn generate(cluster_id: &str, hosts: &[&str]) -> Result<ClusterCerts, rcgen::Error> {
    let now = OffsetDateTime::now_utc();
    // An hour of slack for clocks that are a little behind.
    let not_before = now - Duration::hours(1);
    let not_after = now + VALIDITY;

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = name(&format!("Fjord cluster {cluster_id} CA"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca.self_signed(&ca_key)?;

    let broker_key = KeyPair::generate()?;
    let mut broker =
        CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())?;
    broker.distinguished_name = name(&format!("Fjord cluster {cluster_id} broker"));
    broker.is_ca = IsCa::ExplicitNoCa;
    broker.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    broker.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    broker.use_authority_key_identifier_extension = true;
    broker.not_before = not_before;
    broker.not_after = not_after;
    let issuer = Issuer::new(ca, &ca_key);
    let broker_cert = broker.signed_by(&broker_key, &issuer)?;

    let ca_cert_pem = ca_cert.pem();
    Ok(ClusterCerts {
        broker_pem: format!(
            "{}{}{}",
            broker_key.serialize_pem(),
            broker_cert.pem(),
            ca_cert_pem
        ),
        ca_key_pem: ca_key.serialize_pem(),
        ca_cert_pem,
    })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Fjord");
    dn.push(DnType::CommonName, common_name);
    dn
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    use super::*;

    fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn the_broker_certificate_verifies_against_the_ca_for_each_host() {
        let c = generate("c1", &["127.0.0.1", "localhost"]).unwrap();
        assert!(c.broker_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let chain = certs(&c.broker_pem);
        assert_eq!(chain.len(), 2, "leaf and CA");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certs(&c.ca_cert_pem)[0].clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        let now = UnixTime::now();
        for host in ["127.0.0.1", "localhost"] {
            let name = ServerName::try_from(host).unwrap();
            verifier
                .verify_server_cert(&chain[0], &chain[1..], &name, &[], now)
                .unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        let other = ServerName::try_from("example.com").unwrap();
        assert!(
            verifier
                .verify_server_cert(&chain[0], &[], &other, &[], now)
                .is_err()
        );
        // Another cluster's CA does not vouch for this broker.
        let other_ca = generate("c2", &["127.0.0.1"]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certs(&other_ca.ca_cert_pem)[0].clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        assert!(
            verifier
                .verify_server_cert(&chain[0], &chain[1..], &name, &[], now)
                .is_err()
        );
        assert!(!format!("{c:?}").contains("PRIVATE KEY"));
    }
}
