//! The one place that changes KMS: `EnableKeyRotation` under a client-side rate limit within its
//! quota, each change read back with `GetKeyRotationStatus`. What to change, and in what order,
//! is planned in [`crate::remediate`].

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::explain_kms;
use crate::aws_error::{code, describe};
use crate::decision::RotationStatus;
use crate::kms::KmsError;
use crate::kms::KmsRegion;
use crate::remediate::{Target, MAX_RATE_CEILING};

/// GetKeyRotationStatus reads after a change before it counts as not taken.
const VERIFY_ATTEMPTS: u32 = 3;

/// Why a change failed.
#[derive(Debug, Clone)]
pub(super) enum Failure {
    /// A KMS call failed (after the SDK's retries with backoff).
    Kms { region: String, error: KmsError },
    /// The call succeeded but the rotation status does not show it.
    Verify(String),
}

/// In words that say what to do.
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Kms { region, error } => f.write_str(&explain_kms(region, error)),
            Self::Verify(why) => f.write_str(why),
        }
    }
}

/// Applies actions: EnableKeyRotation under a client-side rate limit, then GetKeyRotationStatus.
pub(super) struct Applier<'a> {
    regions: &'a BTreeMap<(String, String), KmsRegion>,
    limiter: DefaultDirectRateLimiter,
    period_days: i32,
}

impl<'a> Applier<'a> {
    /// `regions` must hold every target's (account, Region).
    pub(super) fn new(
        regions: &'a BTreeMap<(String, String), KmsRegion>,
        per_second: u32,
        period_days: i32,
    ) -> Self {
        let rate =
            NonZeroU32::new(per_second.clamp(1, MAX_RATE_CEILING)).unwrap_or(NonZeroU32::MIN);
        Self {
            regions,
            // No burst: calls are spread evenly over each second.
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(NonZeroU32::MIN)),
            period_days,
        }
    }

    /// Enable rotation on the target, then read it back. `Ok` says what was verified. With
    /// `verify_only` (an earlier run may have sent the call already: `--resume`), EnableKeyRotation
    /// is not sent again; the rotation status is only read.
    #[tracing::instrument(skip(self), fields(key = %target.key, region = %target.region))]
    pub(super) async fn apply(
        &self,
        target: &Target,
        verify_only: bool,
    ) -> Result<String, Failure> {
        let Some(kms) = self
            .regions
            .get(&(target.account.clone(), target.region.clone()))
        else {
            return Err(Failure::Verify(format!(
                "no KMS client for Region {} of account {} (a bug: report it)",
                target.region, target.account
            )));
        };
        let fail = |error: KmsError| Failure::Kms {
            region: target.region.clone(),
            error,
        };
        if verify_only {
            return match kms.reader.rotation_status(&target.key).await.map_err(fail)? {
                RotationStatus::Enabled { period_days, .. } => Ok(format!(
                    "rotation on{} (verified; EnableKeyRotation was sent by the interrupted run, not again)",
                    period_days.map(|d| format!(", every {d} days")).unwrap_or_default()
                )),
                other => Err(Failure::Verify(format!(
                    "the interrupted run was about to send EnableKeyRotation, and rotation is still not on ({other:?}): it is not sent twice; run remediate again without --resume to retry"
                ))),
            };
        }
        self.limiter.until_ready().await;
        kms.client
            .enable_key_rotation()
            .key_id(&target.key)
            .rotation_period_in_days(self.period_days)
            .send()
            .await
            .map_err(|e| {
                fail(KmsError {
                    operation: "EnableKeyRotation",
                    key_id: target.key.clone(),
                    message: describe(&e),
                    code: code(&e),
                })
            })?;
        let want = self.period_days;
        for attempt in 0..VERIFY_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
            match kms.reader.rotation_status(&target.key).await.map_err(fail)? {
                RotationStatus::Enabled {
                    period_days: Some(days),
                    ..
                } if days == want => return Ok(format!("rotation on, every {days} days (verified)")),
                RotationStatus::Enabled {
                    period_days: Some(days),
                    ..
                } => {
                    return Err(Failure::Verify(format!(
                        "EnableKeyRotation succeeded, but GetKeyRotationStatus reports every {days} days, not {want}"
                    )))
                }
                RotationStatus::Enabled {
                    period_days: None, ..
                } => {
                    return Ok(format!(
                        "rotation on (verified; KMS did not report the period, {want} days were asked for)"
                    ))
                }
                RotationStatus::Disabled => continue,
                RotationStatus::AccessDenied(msg) => {
                    return Err(Failure::Verify(format!(
                        "EnableKeyRotation succeeded, but the change cannot be verified: access denied on kms:GetKeyRotationStatus ({msg})"
                    )))
                }
                RotationStatus::Unsupported(msg) => {
                    return Err(Failure::Verify(format!(
                        "GetKeyRotationStatus after the change: {msg}"
                    )))
                }
                RotationStatus::KeyNotFound => {
                    return Err(Failure::Verify("the key no longer exists".into()))
                }
            }
        }
        Err(Failure::Verify(format!(
            "EnableKeyRotation succeeded, but GetKeyRotationStatus still reports rotation off after {VERIFY_ATTEMPTS} reads: run again to check"
        )))
    }
}
