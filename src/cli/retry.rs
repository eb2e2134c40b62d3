//! Retries of calls that are safe to repeat, when the service could not be reached.

use std::future::Future;
use std::time::Duration;

use crate::client::ApiError;
use crate::wire::ErrorCode;

/// Three attempts, about a second of waiting in all: enough for a blip, short for a script.
pub const ATTEMPTS: u32 = 3;
const BACKOFF: [Duration; 2] = [Duration::from_millis(250), Duration::from_millis(750)];

/// What may be retried: the request may not have arrived, or (for issuance with the same
/// Idempotency-Key) the first attempt is still running on the service.
fn retryable(e: &ApiError, idempotent_post: bool) -> bool {
    (e.is_unreachable() && !e.is_tls())
        || (idempotent_post && e.code() == Some(ErrorCode::IdempotencyInProgress))
}

/// Calls `f(attempt)` until it succeeds, fails for good, or the attempts run out.
/// `attempt` counts from 0, so `f` can tell a retry from the first try.
pub async fn retry<T, F, Fut>(idempotent_post: bool, mut f: F) -> Result<T, ApiError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut attempt = 0;
    loop {
        match f(attempt).await {
            Err(e) if attempt + 1 < ATTEMPTS && retryable(&e, idempotent_post) => {
                tokio::time::sleep(BACKOFF[(attempt as usize).min(BACKOFF.len() - 1)]).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn unreachable() -> ApiError {
        ApiError::Unreachable {
            endpoint: "e".into(),
            reason: "refused".into(),
        }
    }

    #[tokio::test]
    async fn unreachable_is_retried_a_bounded_number_of_times() {
        let calls = Cell::new(0);
        let r: Result<(), _> = retry(false, |_| {
            calls.set(calls.get() + 1);
            async { Err(unreachable()) }
        })
        .await;
        assert!(r.unwrap_err().is_unreachable());
        assert_eq!(calls.get(), ATTEMPTS);
    }

    #[tokio::test]
    async fn answers_from_the_service_are_not_retried_and_success_stops() {
        let calls = Cell::new(0);
        let r: Result<(), _> = retry(false, |_| {
            calls.set(calls.get() + 1);
            async {
                Err(ApiError::Api {
                    status: 409,
                    code: ErrorCode::IdempotencyInProgress,
                    message: "m".into(),
                    retry_after: None,
                })
            }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.get(), 1);
        let r = retry(true, |attempt| async move {
            if attempt < 2 {
                Err(unreachable())
            } else {
                Ok(attempt)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 2);
    }
}
