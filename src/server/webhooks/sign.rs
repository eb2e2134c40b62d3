//! Standard Webhooks signing (docs/api.md, Notifications): the three headers of one attempt.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::config::SigningKey;

/// `webhook-signature`: one `v1,<base64 HMAC-SHA256>` per secret, space-separated, each over
/// `{id}.{timestamp}.{body}`, so that a receiver holding any one of the secrets verifies it.
pub fn signature(keys: &[SigningKey], id: &str, timestamp: i64, body: &str) -> String {
    let signed = format!("{id}.{timestamp}.{body}");
    keys.iter()
        .map(|k| {
            // HMAC takes a key of any length.
            let mut mac = Hmac::<Sha256>::new_from_slice(k.bytes())
                .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
            mac.update(signed.as_bytes());
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::webhooks::config::parse_secrets;

    /// Computed with the reference library (standardwebhooks 1.3.0):
    /// `Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").sign("msg_p5jXN8AQM9LWM0D4loKWxJek",
    /// datetime.fromtimestamp(1614265330, timezone.utc), '{"test": 2432232314}')`.
    #[test]
    fn signs_as_the_reference_library_does() {
        let keys = parse_secrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n").unwrap();
        let sig = signature(
            &keys,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, REFERENCE);
    }

    #[test]
    fn every_secret_signs() {
        let keys =
            parse_secrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\nwhsec_c2Vjb25kIHNlY3JldA==\n")
                .unwrap();
        let sig = signature(
            &keys,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        let parts: Vec<&str> = sig.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], REFERENCE);
        assert!(parts[1].starts_with("v1,") && parts[1] != REFERENCE);
    }

    const REFERENCE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
}
