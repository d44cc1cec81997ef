//! Payment gateways. One is built in: a sandbox with a hosted payment page that confirms a
//! payment only through an HMAC-signed callback to our webhook, as a real gateway does.

pub mod routes;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// How old a signed callback may be before it is refused as a replay.
const CALLBACK_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
}

/// What a gateway tells us about a payment.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallbackEvent {
    pub event_id: String,
    pub payment_id: String,
    pub outcome: Outcome,
    pub amount_fen: i64,
}

pub trait PaymentGateway: Send + Sync {
    fn name(&self) -> &'static str;
    /// Where the buyer goes to pay.
    fn payment_url(&self, payment_id: &str) -> String;
    /// Checks a callback's signature and freshness and reads its event.
    fn verify_callback(&self, body: &[u8], signature: Option<&str>, now_unix: i64) -> Result<CallbackEvent, AppError>;
}

pub struct SandboxGateway {
    secret: Vec<u8>,
    /// Our own webhook, which the sandbox calls back like a real gateway would.
    callback_url: String,
}

impl SandboxGateway {
    /// The signing secret is derived from the application's secret key.
    pub fn new(app_key: &[u8], callback_url: String) -> SandboxGateway {
        let mut hasher = Sha256::new();
        hasher.update(b"aidmart sandbox gateway webhook secret");
        hasher.update(app_key);
        SandboxGateway { secret: hasher.finalize().to_vec(), callback_url }
    }

    fn mac(&self, timestamp: i64, body: &[u8]) -> Result<Hmac<Sha256>, AppError> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).map_err(AppError::internal)?;
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        Ok(mac)
    }

    /// The `X-Sandbox-Signature` header value for a body.
    pub fn sign(&self, body: &[u8], timestamp: i64) -> Result<String, AppError> {
        Ok(format!("t={timestamp},v1={}", hex::encode(self.mac(timestamp, body)?.finalize().into_bytes())))
    }

    /// What the sandbox does when the buyer pays or fails on its page: it calls our webhook.
    pub async fn send_callback(&self, payment_id: &str, amount_fen: i64, outcome: Outcome) -> Result<(), AppError> {
        let event = CallbackEvent {
            event_id: format!("evt_{}", crate::orders::service::random_token(20)),
            payment_id: payment_id.to_string(),
            outcome,
            amount_fen,
        };
        let body = serde_json::to_vec(&event).map_err(AppError::internal)?;
        let signature = self.sign(&body, chrono::Utc::now().timestamp())?;
        let response = reqwest::Client::new()
            .post(&self.callback_url)
            .header("content-type", "application/json")
            .header("x-sandbox-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| AppError::internal(format!("sandbox callback: {e}")))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(AppError::internal(format!("sandbox callback answered {}", response.status())))
        }
    }
}

impl PaymentGateway for SandboxGateway {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn payment_url(&self, payment_id: &str) -> String {
        format!("/pay/sandbox/{payment_id}")
    }

    fn verify_callback(&self, body: &[u8], signature: Option<&str>, now_unix: i64) -> Result<CallbackEvent, AppError> {
        let invalid =
            || AppError::bad_request("invalid_signature", "the callback signature is missing or wrong / 回调签名无效");
        let header = signature.ok_or_else(invalid)?;
        let mut timestamp = None;
        let mut given = None;
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
                Some(("v1", v)) => given = hex::decode(v).ok(),
                _ => {}
            }
        }
        let (timestamp, given) = (timestamp.ok_or_else(invalid)?, given.ok_or_else(invalid)?);
        self.mac(timestamp, body)?.verify_slice(&given).map_err(|_| invalid())?;
        if (now_unix - timestamp).abs() > CALLBACK_TOLERANCE_SECS {
            return Err(AppError::bad_request("stale_callback", "the callback is too old / 回调已过期"));
        }
        serde_json::from_slice(body).map_err(|e| AppError::bad_request("invalid_json", format!("callback body: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_forgeries_do_not() {
        let gateway = SandboxGateway::new(b"key", "http://127.0.0.1/webhook".into());
        let event = CallbackEvent {
            event_id: "e1".into(),
            payment_id: "p1".into(),
            outcome: Outcome::Succeeded,
            amount_fen: 100,
        };
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let signature = gateway.sign(&body, 1_000).unwrap_or_default();
        assert!(gateway.verify_callback(&body, Some(&signature), 1_010).is_ok());
        let mut tampered = body.clone();
        tampered[5] ^= 1;
        assert!(gateway.verify_callback(&tampered, Some(&signature), 1_010).is_err());
        assert!(gateway.verify_callback(&body, Some("t=1000,v1=00"), 1_010).is_err());
        assert!(gateway.verify_callback(&body, None, 1_010).is_err());
        assert!(gateway.verify_callback(&body, Some(&signature), 1_000 + 301).is_err(), "stale");
        let other = SandboxGateway::new(b"other key", String::new());
        assert!(other.verify_callback(&body, Some(&signature), 1_010).is_err());
    }
}
