//! TLS failures in words a person can act on, instead of the TLS library's variant names.

use std::error::Error as StdError;

use rustls::{CertificateError, Error as TlsError};

/// Where the reason of a TLS failure starts: lets callers tell a refused certificate (retrying
/// will not help) from a dropped connection.
pub const PREFIX: &str = "TLS: ";

/// The rustls error somewhere in `e`'s chain, also inside (nested) `io::Error`s.
pub fn find<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a TlsError> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(t) = unwrap_io(err) {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

/// An `io::Error`'s `source()` skips the error it wraps; `get_ref` does not.
fn unwrap_io<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a TlsError> {
    if let Some(t) = err.downcast_ref::<TlsError>() {
        return Some(t);
    }
    let inner = err.downcast_ref::<std::io::Error>()?.get_ref()?;
    unwrap_io(inner)
}

/// One line, starting with [`PREFIX`].
pub fn reason(e: &TlsError) -> String {
    let text = match e {
        TlsError::InvalidCertificate(c) => {
            format!("the server's certificate was refused: {}", certificate(c))
        }
        TlsError::InvalidMessage(_)
        | TlsError::InappropriateMessage { .. }
        | TlsError::InappropriateHandshakeMessage { .. } => {
            "the server did not answer in TLS (is the endpoint http:// rather than https://?)"
                .to_string()
        }
        TlsError::AlertReceived(alert) => {
            format!("the server refused the handshake (alert {alert:?})")
        }
        TlsError::PeerIncompatible(_) => {
            "the server offers no TLS version or cipher this client accepts".to_string()
        }
        other => format!("handshake failed: {other}"),
    };
    format!("{PREFIX}{text}")
}

fn certificate(c: &CertificateError) -> String {
    match c {
        CertificateError::UnknownIssuer => "it is not signed by a CA this client trusts; pass \
            --ca-cert FILE (or set ca_cert in the profile) with the CA that signed it"
            .to_string(),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "it has expired".to_string()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "it is not valid yet (check this machine's clock)".to_string()
        }
        CertificateError::NotValidForName => not_for_name("this host", &[]),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => not_for_name(&server_name(expected), presented),
        CertificateError::Revoked => "it has been revoked".to_string(),
        CertificateError::BadSignature | CertificateError::BadEncoding => {
            "it is malformed or badly signed".to_string()
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "it is not meant for a TLS server".to_string()
        }
        CertificateError::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => {
            "the server presents a CA certificate as its own; serve a certificate signed by \
             that CA, and pass the CA with --ca-cert"
                .to_string()
        }
        _ => "it could not be verified".to_string(),
    }
}

fn server_name(n: &rustls::pki_types::ServerName<'_>) -> String {
    match n {
        rustls::pki_types::ServerName::DnsName(d) => d.as_ref().to_string(),
        rustls::pki_types::ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => "this host".to_string(),
    }
}

/// A certificate that does not name the host: most often one made without a subjectAltName,
/// which clients have ignored the Common Name for since RFC 6125. Says how to reissue it.
fn not_for_name(host: &str, presented: &[String]) -> String {
    let kind = if host.parse::<std::net::IpAddr>().is_ok() {
        "IP"
    } else {
        "DNS"
    };
    let san = format!("subjectAltName={kind}:{host}");
    let what = if presented.is_empty() {
        "it has no subjectAltName (the Common Name is not used for the host name)".to_string()
    } else {
        let names: Vec<String> = presented
            .iter()
            .take(5)
            .map(|n| crate::sanitize::clean(n).into_owned())
            .collect();
        format!("it names {} but not {host}", names.join(", "))
    };
    format!(
        "{what}; reissue the certificate with a subjectAltName for the host, e.g. openssl req \
         … -addext \"{san}\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_words_not_variant_dumps() {
        let io = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            TlsError::InvalidCertificate(CertificateError::UnknownIssuer),
        ));
        let found = find(&io).unwrap();
        let r = reason(found);
        assert!(r.starts_with(PREFIX) && r.contains("--ca-cert"), "{r}");
        assert!(!r.contains("UnknownIssuer"));
        let r = reason(&TlsError::InvalidCertificate(CertificateError::Expired));
        assert!(r.ends_with("it has expired"), "{r}");
        let r = reason(&TlsError::InvalidCertificate(
            CertificateError::NotValidForNameContext {
                expected: rustls::pki_types::ServerName::try_from("keys.example")
                    .unwrap()
                    .to_owned(),
                presented: vec![],
            },
        ));
        assert!(r.contains("no subjectAltName"), "{r}");
        assert!(
            r.contains("-addext \"subjectAltName=DNS:keys.example\""),
            "{r}"
        );
    }
}
