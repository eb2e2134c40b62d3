//! A throwaway PKI made with rcgen: a private CA and one server certificate it signed, written as
//! PEM files to a temp dir (HTTPS in tests/cli/https.rs, TLS to PostgreSQL in the store
//! suite).

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// A CA and a leaf it signed. The files live as long as this value.
pub struct Pki {
    pub dir: tempfile::TempDir,
    /// The CA's certificate (PEM file).
    pub ca: PathBuf,
    /// The leaf's certificate (PEM file), and its text.
    pub cert: PathBuf,
    pub cert_pem: String,
    /// The leaf's private key (PEM file), and its text.
    pub key: PathBuf,
    pub key_pem: String,
}

/// A private CA named `ca_name` and a server certificate it signed for `names` (DNS names or IP
/// addresses, as rcgen reads them), common name `localhost`.
pub fn pki(ca_name: &str, names: &[&str]) -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut leaf_params = CertificateParams::new(names).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
    let p = Pki {
        ca: dir.path().join("ca.pem"),
        cert: dir.path().join("server.pem"),
        cert_pem: leaf.pem(),
        key: dir.path().join("server.key"),
        key_pem: leaf_key.serialize_pem(),
        dir,
    };
    std::fs::write(&p.ca, ca.pem()).unwrap();
    std::fs::write(&p.cert, &p.cert_pem).unwrap();
    std::fs::write(&p.key, &p.key_pem).unwrap();
    p
}
