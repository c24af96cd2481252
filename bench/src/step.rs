//! One measured step at a fixed message rate: the schedule, what happened to every message, and the
//! summary.
//!
//! Open loop: message `k` of a step is due at `start + k / rate`, whatever happened to the ones
//! before it. Latencies are measured from that scheduled time, not from when the generator got round
//! to sending, so a stall (in the server or here) shows up in the numbers instead of silently
//! slowing the schedule down (coordinated omission). The send lag (actual send − scheduled) is
//! recorded separately to show whether the generator itself kept up.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Ack state of a message.
pub const ACK_PENDING: u8 = 0;
pub const ACK_OK: u8 = 1;
pub const ACK_ERROR: u8 = 2;

pub struct Step {
    /// Carried in every message's content, so a late delivery is counted against its own step.
    pub id: u32,
    pub rate: f64,
    /// Messages scheduled: warmup ones first, then the measured ones.
    pub total: u64,
    /// The first measured message; earlier ones are warmup and are not counted.
    pub measure_from: u64,
    /// When message 0 is due, in µs since the run's origin.
    pub start_us: u64,
    /// Deliveries each message should cause (the other members' connections).
    pub expected: u32,
    pub deliveries: Vec<AtomicU32>,
    pub acks: Vec<AtomicU8>,
    /// Set while the measured window is open (by wall clock): counts deliveries for throughput and
    /// CPU per message.
    pub in_window: AtomicBool,
    pub delivered_in_window: AtomicU64,
    pub hists: Mutex<Hists>,
    pub ack_errors: Mutex<BTreeMap<String, u64>>,
}

pub struct Hists {
    /// Scheduled send → `messageReceived` at a recipient, µs.
    pub delivery: Histogram<u64>,
    /// Scheduled send → ack at the sender, µs.
    pub ack: Histogram<u64>,
    /// Scheduled send → frame handed to the socket, µs.
    pub send_lag: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 1 hour, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

impl Step {
    pub fn new(id: u32, rate: f64, warmup_s: f64, duration_s: f64, start_us: u64, expected: u32) -> Step {
        let measure_from = (rate * warmup_s).ceil() as u64;
        let total = measure_from + (rate * duration_s).ceil() as u64;
        Step {
            id,
            rate,
            total,
            measure_from,
            start_us,
            expected,
            deliveries: (0..total).map(|_| AtomicU32::new(0)).collect(),
            acks: (0..total).map(|_| AtomicU8::new(ACK_PENDING)).collect(),
            in_window: AtomicBool::new(false),
            delivered_in_window: AtomicU64::new(0),
            hists: Mutex::new(Hists { delivery: histogram(), ack: histogram(), send_lag: histogram() }),
            ack_errors: Mutex::new(BTreeMap::new()),
        }
    }

    /// When message `k` is due, in µs since the origin.
    pub fn scheduled_us(&self, k: u64) -> u64 {
        self.start_us + (k as f64 * 1_000_000.0 / self.rate) as u64
    }

    fn measured(&self, k: u64) -> bool {
        k >= self.measure_from && k < self.total
    }

    pub fn record_sent(&self, k: u64, sched_us: u64, now_us: u64) {
        if self.measured(k) {
            self.hists
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .send_lag
                .saturating_record(now_us.saturating_sub(sched_us).max(1));
        }
    }

    pub fn record_ack(&self, k: u64, sched_us: u64, now_us: u64, error: Option<String>) {
        if k >= self.total {
            return;
        }
        match error {
            None => {
                self.acks[k as usize].store(ACK_OK, Ordering::Relaxed);
                if self.measured(k) {
                    self.hists
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .ack
                        .saturating_record(now_us.saturating_sub(sched_us).max(1));
                }
            }
            Some(code) => {
                self.acks[k as usize].store(ACK_ERROR, Ordering::Relaxed);
                if self.measured(k) {
                    *self.ack_errors.lock().unwrap_or_else(|p| p.into_inner()).entry(code).or_default() += 1;
                }
            }
        }
    }

    pub fn record_delivery(&self, k: u64, sched_us: u64, now_us: u64) {
        if k >= self.total {
            return;
        }
        self.deliveries[k as usize].fetch_add(1, Ordering::Relaxed);
        if self.in_window.load(Ordering::Relaxed) {
            self.delivered_in_window.fetch_add(1, Ordering::Relaxed);
        }
        if self.measured(k) {
            self.hists
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .delivery
                .saturating_record(now_us.saturating_sub(sched_us).max(1));
        }
    }

    /// True when every measured message has its ack and all its deliveries.
    pub fn complete(&self) -> bool {
        (self.measure_from..self.total).all(|k| {
            self.acks[k as usize].load(Ordering::Relaxed) != ACK_PENDING
                && self.deliveries[k as usize].load(Ordering::Relaxed) >= self.expected
        })
    }

    /// Messages sent in this step (warmup included) whose ack has not arrived.
    pub fn acks_pending(&self) -> u64 {
        self.acks.iter().filter(|a| a.load(Ordering::Relaxed) == ACK_PENDING).count() as u64
    }

    pub fn summary(&self, window_s: f64) -> StepSummary {
        let mut s =
            StepSummary { rate: self.rate, window_s, expected_per_message: self.expected, ..Default::default() };
        for k in self.measure_from..self.total {
            let ack = self.acks[k as usize].load(Ordering::Relaxed);
            let got = self.deliveries[k as usize].load(Ordering::Relaxed);
            s.sent += 1;
            match ack {
                ACK_OK => s.acked_ok += 1,
                ACK_ERROR => s.ack_errors += 1,
                _ => s.ack_missing += 1,
            }
            let unique = got.min(self.expected) as u64;
            s.delivered += unique;
            s.duplicates += got.saturating_sub(self.expected) as u64;
            if ack == ACK_OK {
                s.lost += self.expected as u64 - unique;
            }
        }
        let wanted = s.sent * self.expected as u64;
        s.delivery_ratio = if wanted == 0 { 0.0 } else { s.delivered as f64 / wanted as f64 };
        s.delivered_in_window = self.delivered_in_window.load(Ordering::Relaxed);
        s.delivered_per_s = if window_s > 0.0 { s.delivered_in_window as f64 / window_s } else { 0.0 };
        s.ack_error_codes = self.ack_errors.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let hists = self.hists.lock().unwrap_or_else(|p| p.into_inner());
        s.delivery_ms = Percentiles::of(&hists.delivery);
        s.ack_ms = Percentiles::of(&hists.ack);
        s.send_lag_ms = Percentiles::of(&hists.send_lag);
        s
    }
}

/// Milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StepSummary {
    /// Offered rate, messages/s.
    pub rate: f64,
    /// Length of the measured window, seconds.
    pub window_s: f64,
    pub expected_per_message: u32,
    /// Measured messages (warmup excluded).
    pub sent: u64,
    pub acked_ok: u64,
    pub ack_errors: u64,
    pub ack_error_codes: BTreeMap<String, u64>,
    /// No ack by the end of the grace period.
    pub ack_missing: u64,
    /// Distinct deliveries (at most `expected_per_message` per message).
    pub delivered: u64,
    /// Deliveries missing for messages the server acknowledged as sent.
    pub lost: u64,
    pub duplicates: u64,
    /// delivered / (sent × expected_per_message).
    pub delivery_ratio: f64,
    /// Deliveries received while the window was open (any message of this step).
    pub delivered_in_window: u64,
    pub delivered_per_s: f64,
    pub delivery_ms: Percentiles,
    pub ack_ms: Percentiles,
    pub send_lag_ms: Percentiles,
    /// Server CPU time during the window, summed over `--server-pid`s, seconds.
    pub server_cpu_s: Option<f64>,
    pub server_cpu_us_per_delivery: Option<f64>,
    /// The same, less the servers' idle CPU (measured while settling) over the window.
    pub server_cpu_us_per_delivery_net: Option<f64>,
    /// This generator's CPU use during the window, in % of one core.
    pub generator_cpu_pct: f64,
    /// The generator used ≥ 90% of a core during the window: latencies include its own queueing and a
    /// failure may be the generator's, not the server's.
    pub generator_bound: bool,
    /// The counts again once the drain is over: late acks (and their errors) and late deliveries.
    pub after_drain: Option<Counts>,
    /// How long the server took, after the grace period, to acknowledge the rest (not counted above).
    pub drain_s: f64,
    /// Messages still without an ack after `--drain`.
    pub unacked_after_drain: u64,
    /// Did the step meet `--max-p99-ms` and `--min-delivery`?
    pub pass: bool,
}

/// What became of the measured messages, counted after the drain.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub acked_ok: u64,
    pub ack_errors: u64,
    pub ack_error_codes: BTreeMap<String, u64>,
    pub ack_missing: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
}

impl From<&StepSummary> for Counts {
    fn from(s: &StepSummary) -> Counts {
        Counts {
            acked_ok: s.acked_ok,
            ack_errors: s.ack_errors,
            ack_error_codes: s.ack_error_codes.clone(),
            ack_missing: s.ack_missing,
            delivered: s.delivered,
            lost: s.lost,
            duplicates: s.duplicates,
        }
    }
}
