//! Reconnect delays: 0.5–1 s at first, doubling up to a 5 s cap, each with random jitter so that
//! clients of a restarted server do not all come back at the same instant. Never gives up.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Default)]
pub struct Backoff {
    /// Failed attempts since the last successful connection.
    attempts: u32,
}

const BASE_MS: u64 = 1000;
const CAP_MS: u64 = 5000;

impl Backoff {
    /// The delay before the next attempt: `min(cap, base·2ⁿ)` scaled by a random factor in [0.5, 1].
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = (BASE_MS << self.attempts.min(8)).min(CAP_MS);
        self.attempts = self.attempts.saturating_add(1);
        let factor = rand::rng().random_range(0.5..=1.0);
        Duration::from_millis((ceiling as f64 * factor) as u64)
    }

    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_jitter_to_the_cap_and_resets() {
        let mut backoff = Backoff::default();
        let first = backoff.next_delay();
        assert!((500..=1000).contains(&(first.as_millis() as u64)), "{first:?}");
        let delays: Vec<u64> = (0..20).map(|_| backoff.next_delay().as_millis() as u64).collect();
        assert!(delays.iter().all(|&d| (500..=CAP_MS).contains(&d)), "{delays:?}");
        assert!(delays[10..].iter().all(|&d| d >= CAP_MS / 2), "capped region stays near the cap: {delays:?}");
        backoff.reset();
        assert!(backoff.next_delay().as_millis() <= 1000);
    }
}
