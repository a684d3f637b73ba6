//! Client-side pacing of KMS calls: a ceiling per API that adapts to throttling, fed by an SDK
//! interceptor that sees every HTTP attempt (the SDK's retries included).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::operation::describe_key::DescribeKeyError;
use aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusError;
use aws_sdk_kms::operation::list_key_rotations::ListKeyRotationsError;
use aws_sdk_kms::operation::list_resource_tags::ListResourceTagsError;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    Error as AttemptError, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::time::Instant;

/// A client-side ceiling on one KMS API's request rate that adapts to throttling (AIMD): every
/// ThrottlingException an attempt meets (the SDK's retries included) cuts the rate to 80%, at most
/// once per `Pacer::COOL_DOWN` (250 ms) (the throttles of one overload arrive together); while calls
/// succeed it climbs back by half the ceiling per second. It never exceeds the ceiling (the rule
/// parameter) and never drops below a tenth of it. A throttled attempt also takes one slot, for
/// the retry the SDK will make. Calls are spaced evenly, with a burst of at most a tenth of a
/// second's worth.
#[derive(Debug)]
pub struct Pacer {
    ceiling: f64,
    state: Mutex<PaceState>,
}

#[derive(Debug)]
struct PaceState {
    /// Calls per second allowed now.
    rate: f64,
    /// The earliest time the next call may start.
    next: Instant,
    /// When `rate` last changed.
    changed: Instant,
    last_cut: Option<Instant>,
    throttles: u64,
}

impl Pacer {
    const BURST: Duration = Duration::from_millis(100);
    const COOL_DOWN: Duration = Duration::from_millis(250);
    const CUT: f64 = 0.8;
    /// Recovery per second, as a share of the ceiling.
    const RECOVERY: f64 = 0.5;
    /// The lowest rate, as a share of the ceiling.
    const FLOOR: f64 = 0.1;

    pub fn new(per_second: u32) -> Self {
        let ceiling = f64::from(per_second.max(1));
        let now = Instant::now();
        Self {
            ceiling,
            state: Mutex::new(PaceState {
                rate: ceiling,
                // The burst is there from the start.
                next: now.checked_sub(Self::BURST).unwrap_or(now),
                changed: now,
                last_cut: None,
                throttles: 0,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PaceState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait for this call's turn.
    pub async fn ready(&self) {
        let slot = self.reserve(Instant::now());
        tokio::time::sleep_until(slot).await;
    }

    fn reserve(&self, now: Instant) -> Instant {
        let mut s = self.state();
        let slot = s.next.max(now.checked_sub(Self::BURST).unwrap_or(now));
        s.next = slot + Duration::from_secs_f64(1.0 / s.rate);
        slot
    }

    /// An attempt was throttled.
    pub fn throttled(&self) {
        self.throttled_at(Instant::now());
    }

    fn throttled_at(&self, now: Instant) {
        let mut s = self.state();
        s.throttles += 1;
        // The SDK will retry this call without asking the pacer: charge the retry to the budget
        // now, so that new calls and retries together stay within the rate.
        let slot = s.next.max(now.checked_sub(Self::BURST).unwrap_or(now));
        s.next = slot + Duration::from_secs_f64(1.0 / s.rate);
        if s.last_cut.is_some_and(|t| now < t + Self::COOL_DOWN) {
            return;
        }
        s.rate = (s.rate * Self::CUT).max(self.ceiling * Self::FLOOR);
        s.last_cut = Some(now);
        s.changed = now;
    }

    /// An attempt succeeded (or failed for a reason other than throttling).
    pub fn answered(&self) {
        self.answered_at(Instant::now());
    }

    fn answered_at(&self, now: Instant) {
        let mut s = self.state();
        if s.rate < self.ceiling {
            let elapsed = now.saturating_duration_since(s.changed).as_secs_f64();
            s.rate = (s.rate + self.ceiling * Self::RECOVERY * elapsed).min(self.ceiling);
            s.changed = now;
        }
    }

    /// Calls per second allowed now.
    pub fn rate(&self) -> f64 {
        self.state().rate
    }

    /// Throttled attempts seen so far.
    pub fn throttles(&self) -> u64 {
        self.state().throttles
    }
}

/// The paced APIs, one [`Pacer`] each.
#[derive(Debug)]
pub(crate) struct Pacers {
    pub(crate) describe_key: Pacer,
    pub(crate) rotation_status: Pacer,
    pub(crate) list_tags: Pacer,
    pub(crate) list_rotations: Pacer,
}

/// Tells the pacers how each HTTP attempt went, the SDK's retries included, so a throttled
/// API slows down before its retries run out.
#[derive(Debug, Clone)]
pub(crate) struct ThrottleSignal(pub(crate) Arc<Pacers>);

impl Intercept for ThrottleSignal {
    fn name(&self) -> &'static str {
        "KmsThrottleSignal"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let pacer = match cfg.load::<Metadata>().map(Metadata::name) {
            Some("DescribeKey") => &self.0.describe_key,
            Some("GetKeyRotationStatus") => &self.0.rotation_status,
            Some("ListResourceTags") => &self.0.list_tags,
            Some("ListKeyRotations") => &self.0.list_rotations,
            _ => return Ok(()),
        };
        let throttled = match context.output_or_error() {
            Some(Err(e)) => e.as_operation_error().is_some_and(is_throttling),
            _ => false,
        };
        if throttled {
            pacer.throttled();
        } else {
            pacer.answered();
        }
        Ok(())
    }
}

fn is_throttling(e: &AttemptError) -> bool {
    let code = e
        .downcast_ref::<GetKeyRotationStatusError>()
        .and_then(|e| e.code())
        .or_else(|| e.downcast_ref::<DescribeKeyError>().and_then(|e| e.code()))
        .or_else(|| {
            e.downcast_ref::<ListResourceTagsError>()
                .and_then(|e| e.code())
        })
        .or_else(|| {
            e.downcast_ref::<ListKeyRotationsError>()
                .and_then(|e| e.code())
        });
    matches!(
        code,
        Some("ThrottlingException" | "Throttling" | "TooManyRequestsException")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_spaced_at_the_ceiling_after_a_short_burst() {
        let pacer = Pacer::new(100);
        let t0 = Instant::now();
        // A tenth of a second's worth starts at once, then one call every 10 ms.
        let slots: Vec<Duration> = (0..12)
            .map(|_| pacer.reserve(t0).saturating_duration_since(t0))
            .collect();
        assert!(slots[..10].iter().all(|d| d.is_zero()), "{slots:?}");
        assert!(slots[10] <= Duration::from_millis(1), "{slots:?}");
        assert!((slots[11].as_secs_f64() - 0.010).abs() < 1e-3, "{slots:?}");
    }

    #[test]
    fn throttling_cuts_once_per_cool_down_then_the_rate_recovers_to_the_ceiling() {
        let pacer = Pacer::new(500);
        let t0 = Instant::now();
        pacer.throttled_at(t0);
        pacer.throttled_at(t0 + Duration::from_millis(10));
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert!(close(pacer.rate(), 400.0));
        assert_eq!(pacer.throttles(), 2);
        pacer.throttled_at(t0 + Pacer::COOL_DOWN);
        assert!(close(pacer.rate(), 320.0));
        // Never below a tenth of the ceiling.
        for i in 2..40 {
            pacer.throttled_at(t0 + Pacer::COOL_DOWN * i);
        }
        assert!(close(pacer.rate(), 50.0));
        // Half the ceiling back per second of answers, up to the ceiling and no further.
        let t1 = t0 + Pacer::COOL_DOWN * 39;
        pacer.answered_at(t1 + Duration::from_millis(500));
        assert!(close(pacer.rate(), 175.0));
        pacer.answered_at(t1 + Duration::from_secs(5));
        assert!(close(pacer.rate(), 500.0));
    }
}
