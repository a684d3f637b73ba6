//! The one place that changes KMS: `EnableKeyRotation`, each account-Region under its own
//! client-side ceiling within its quota (adaptive: it comes down when KMS throttles), each change
//! read back with `GetKeyRotationStatus` (paced with the readers). What to change, and in what
//! order, is planned in [`crate::plan`]; [`crate::commands::remediate`] runs a batch's account-Regions
//! concurrently.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::explain_kms;
use crate::plan::{Target, MAX_RATE_CEILING};
use kms_rotation_core::aws_error::{code, describe, throttled};
use kms_rotation_core::decision::RotationStatus;
use kms_rotation_core::kms::KmsError;
use kms_rotation_core::kms::KmsRegion;
use kms_rotation_core::pace::{OperationSignal, Pacer};

/// EnableKeyRotation calls (each with the SDK's retries) before a key throttled to the end fails.
const ENABLE_ROUNDS: u32 = 3;

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

/// One account-Region's EnableKeyRotation: a client whose every attempt (the SDK's retries
/// included) tells the account-Region's own pacer whether it was throttled.
struct Place {
    kms: KmsRegion,
    enable: aws_sdk_kms::Client,
    pacer: Arc<Pacer>,
}

/// Applies actions: EnableKeyRotation under each account-Region's own ceiling (KMS's quota is per
/// account and Region), then GetKeyRotationStatus.
pub(super) struct Applier {
    places: BTreeMap<(String, String), Place>,
    period_days: i32,
}

impl Applier {
    /// `regions` must hold every target's (account, Region). `per_second` is the ceiling of each
    /// account-Region (`--max-rate`), at most the default quota.
    pub(super) fn new(
        regions: &BTreeMap<(String, String), KmsRegion>,
        per_second: u32,
        period_days: i32,
    ) -> Self {
        let rate = per_second.clamp(1, MAX_RATE_CEILING);
        let places = regions
            .iter()
            .map(|(place, kms)| {
                let pacer = Arc::new(Pacer::new(rate));
                let enable = aws_sdk_kms::Client::from_conf(
                    kms.client
                        .config()
                        .to_builder()
                        .interceptor(OperationSignal {
                            operation: "EnableKeyRotation",
                            pacer: pacer.clone(),
                        })
                        // Throttling is the pacer's; a throttled retry costs no retry quota.
                        .retry_partition(kms_rotation_core::kms::retry_partition())
                        .build(),
                );
                let place_kms = kms.clone();
                (
                    place.clone(),
                    Place {
                        kms: place_kms,
                        enable,
                        pacer,
                    },
                )
            })
            .collect();
        Self {
            places,
            period_days,
        }
    }

    /// Wait for the target account-Region's next EnableKeyRotation slot.
    pub(super) async fn turn(&self, target: &Target) {
        if let Some(place) = self.place(target) {
            place.pacer.ready().await;
        }
    }

    /// Throttled EnableKeyRotation attempts seen so far, in every account-Region.
    pub(super) fn throttles(&self) -> u64 {
        self.places.values().map(|p| p.pacer.throttles()).sum()
    }

    fn place(&self, target: &Target) -> Option<&Place> {
        self.places
            .get(&(target.account.clone(), target.region.clone()))
    }

    /// Enable rotation on the target, then read it back. `Ok` says what was verified. With
    /// `verify_only` (an earlier run may have sent the call already: `--resume`), EnableKeyRotation
    /// is not sent again; the rotation status is only read. The caller waits for its
    /// [`Applier::turn`] first.
    #[tracing::instrument(skip(self), fields(key = %target.key, region = %target.region))]
    pub(super) async fn apply(
        &self,
        target: &Target,
        verify_only: bool,
    ) -> Result<String, Failure> {
        let Some(place) = self.place(target) else {
            return Err(Failure::Verify(format!(
                "no KMS client for Region {} of account {} (a bug: report it)",
                target.region, target.account
            )));
        };
        let kms = &place.kms;
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
        // A call throttled on every attempt was not carried out (ThrottlingException: KMS refused
        // the request), so it is sent again at the account-Region's next turn, by then slowed down.
        let mut rounds = 1;
        loop {
            let sent = place
                .enable
                .enable_key_rotation()
                .key_id(&target.key)
                .rotation_period_in_days(self.period_days)
                .send()
                .await;
            match sent {
                Ok(_) => break,
                Err(e) if throttled(&e) && rounds < ENABLE_ROUNDS => {
                    rounds += 1;
                    place.pacer.ready().await;
                }
                Err(e) => {
                    return Err(fail(KmsError {
                        operation: "EnableKeyRotation",
                        key_id: target.key.clone(),
                        message: describe(&e),
                        code: code(&e),
                    }))
                }
            }
        }
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
