//! A small jitter buffer keyed by RTP sequence number.
//!
//! Packets are released in sequence order as soon as they are next; a packet missing while
//! `depth` later ones wait is given up (played as Opus packet-loss concealment). Late and
//! duplicate packets are dropped. Release is driven by arrivals, not a clock: in-order audio goes
//! through with no added delay, and the sink (a device's buffer) paces playback.

use std::collections::BTreeMap;

use bytes::Bytes;

/// A sequence jump larger than this is a restarted stream, not a loss: start over.
const MAX_GAP: u64 = 100;

/// What to play next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Playout {
    /// The payload of the next packet.
    Packet(Bytes),
    /// The next packet never came: conceal one frame.
    Lost,
}

#[derive(Debug)]
pub(crate) struct JitterBuffer {
    /// How many packets may wait behind a missing one before it is given up.
    depth: usize,
    /// Extended (wrap-free) sequence number of the next packet to release; `None` before the first.
    next: Option<u64>,
    /// Highest extended sequence number seen, the reference for unwrapping the next one.
    highest: u64,
    /// Packets received ahead of `next`, by extended sequence number.
    waiting: BTreeMap<u64, Bytes>,
}

impl JitterBuffer {
    pub(crate) fn new(depth: usize) -> Self {
        JitterBuffer { depth, next: None, highest: 0, waiting: BTreeMap::new() }
    }

    /// Takes one packet and returns what can be played now, in order.
    pub(crate) fn push(&mut self, sequence: u16, payload: Bytes) -> Vec<Playout> {
        let extended = match self.next {
            None => {
                // Start high enough that packets a little before the first still unwrap.
                let first = (1u64 << 32) + u64::from(sequence);
                self.next = Some(first);
                self.highest = first;
                first
            }
            Some(_) => {
                let delta = i64::from(sequence.wrapping_sub(self.highest as u16) as i16);
                let extended = self.highest.saturating_add_signed(delta);
                self.highest = self.highest.max(extended);
                extended
            }
        };
        let next = self.next.unwrap_or(extended);
        if extended < next {
            return Vec::new(); // late or duplicate
        }
        if extended - next > MAX_GAP {
            self.waiting.clear();
            self.next = Some(extended);
        }
        self.waiting.insert(extended, payload);
        self.drain()
    }

    fn drain(&mut self) -> Vec<Playout> {
        let mut out = Vec::new();
        while let Some(next) = self.next {
            if let Some(payload) = self.waiting.remove(&next) {
                out.push(Playout::Packet(payload));
            } else if self.waiting.len() > self.depth {
                out.push(Playout::Lost);
            } else {
                break;
            }
            self.next = Some(next + 1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(jb: &mut JitterBuffer, seq: u16) -> Vec<String> {
        jb.push(seq, Bytes::from(seq.to_string()))
            .into_iter()
            .map(|p| match p {
                Playout::Packet(b) => String::from_utf8(b.to_vec()).unwrap(),
                Playout::Lost => "lost".into(),
            })
            .collect()
    }

    #[test]
    fn in_order_packets_go_straight_through() {
        let mut jb = JitterBuffer::new(3);
        assert_eq!(push(&mut jb, 10), ["10"]);
        assert_eq!(push(&mut jb, 11), ["11"]);
    }

    #[test]
    fn reordered_packets_come_out_in_order() {
        let mut jb = JitterBuffer::new(3);
        assert_eq!(push(&mut jb, 1), ["1"]);
        assert!(push(&mut jb, 3).is_empty());
        assert_eq!(push(&mut jb, 2), ["2", "3"]);
    }

    #[test]
    fn a_missing_packet_is_concealed_after_depth_more_arrive() {
        let mut jb = JitterBuffer::new(3);
        push(&mut jb, 1);
        assert!(push(&mut jb, 3).is_empty());
        assert!(push(&mut jb, 4).is_empty());
        assert!(push(&mut jb, 5).is_empty());
        assert_eq!(push(&mut jb, 6), ["lost", "3", "4", "5", "6"]);
        // The lost one arriving late is dropped.
        assert!(push(&mut jb, 2).is_empty());
    }

    #[test]
    fn duplicates_are_dropped_and_wrap_around_is_seamless() {
        let mut jb = JitterBuffer::new(3);
        assert_eq!(push(&mut jb, 65534), ["65534"]);
        assert!(push(&mut jb, 65534).is_empty());
        assert_eq!(push(&mut jb, 65535), ["65535"]);
        assert_eq!(push(&mut jb, 0), ["0"]);
        assert_eq!(push(&mut jb, 1), ["1"]);
    }

    #[test]
    fn a_big_jump_restarts_the_stream() {
        let mut jb = JitterBuffer::new(3);
        push(&mut jb, 1);
        assert_eq!(push(&mut jb, 5000), ["5000"]);
        assert_eq!(push(&mut jb, 5001), ["5001"]);
    }
}
