//! Measuring what a call carries — the pitch of received audio, the address of a candidate. Used by
//! the tests of this crate and of the client core, and by the call benchmark.

/// The connection address of an ICE candidate attribute
/// (`candidate:<foundation> <component> <transport> <priority> <address> <port> typ …`).
pub fn candidate_address(candidate: &str) -> String {
    let attribute = candidate.trim_start_matches("a=");
    attribute.split_whitespace().nth(4).unwrap_or_default().to_owned()
}

/// The frequency (Hz) with the most energy between 100 Hz and 2 kHz, by Goertzel: a coarse scan,
/// then a fine one around the best.
pub fn dominant_frequency(samples: &[i16], sample_rate: f64) -> f64 {
    let power = |f: f64| {
        let coeff = 2.0 * (2.0 * std::f64::consts::PI * f / sample_rate).cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in samples {
            let s = f64::from(x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        s1 * s1 + s2 * s2 - coeff * s1 * s2
    };
    let best = |from: f64, to: f64, step: f64| {
        let mut f = from;
        let (mut best_f, mut best_p) = (from, f64::MIN);
        while f <= to {
            let p = power(f);
            if p > best_p {
                (best_f, best_p) = (f, p);
            }
            f += step;
        }
        best_f
    };
    let coarse = best(100.0, 2000.0, 5.0);
    best(coarse - 5.0, coarse + 5.0, 0.25)
}
