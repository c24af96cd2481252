//! Devices changed during a call. A call's tracks stay as negotiated; only what feeds them (a
//! microphone, a camera) or what they play into (a speaker) is replaced, so a change needs no
//! renegotiation with the other side.
//!
//! - A capture thread reads its source through a [`SourceSlot`]: the call hands it a replacement
//!   (or `None`: no device) over a channel, taken before the next frame is read. A source that
//!   fails is dropped, and the thread waits for the next one instead of ending: plugging a
//!   microphone back in (or choosing another) resumes sending.
//! - A receive path plays into a [`SinkSlot`], a shared cell the call can refill at any time.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a capture thread with no source checks whether its call is gone.
const IDLE_CHECK: Duration = Duration::from_millis(200);

/// The source a capture thread reads, replaceable through [`SourceSwitch`].
pub(crate) struct SourceSlot<T> {
    /// The source being read; `None` while there is none.
    current: Option<T>,
    /// Replacements from the call, newest last.
    replacements: std_mpsc::Receiver<Option<T>>,
    /// Set when the source was replaced or dropped, until [`take_replaced`](Self::take_replaced).
    replaced: bool,
}

/// The call's end of a [`SourceSlot`].
pub(crate) type SourceSwitch<T> = std_mpsc::Sender<Option<T>>;

impl<T> SourceSlot<T> {
    pub(crate) fn new(initial: Option<T>) -> (Self, SourceSwitch<T>) {
        let (switch, replacements) = std_mpsc::channel();
        (SourceSlot { current: initial, replacements, replaced: false }, switch)
    }

    /// The source to read now, after any replacement sent meanwhile. Waits while there is none;
    /// `None` when the call is gone (its switch dropped, or `gone()` says so).
    pub(crate) fn current(&mut self, gone: impl Fn() -> bool) -> Option<&mut T> {
        loop {
            loop {
                match self.replacements.try_recv() {
                    Ok(replacement) => {
                        self.current = replacement;
                        self.replaced = true;
                    }
                    Err(std_mpsc::TryRecvError::Empty) => break,
                    Err(std_mpsc::TryRecvError::Disconnected) => return None,
                }
            }
            if gone() {
                return None;
            }
            if self.current.is_some() {
                return self.current.as_mut();
            }
            match self.replacements.recv_timeout(IDLE_CHECK) {
                Ok(replacement) => {
                    self.current = replacement;
                    self.replaced = true;
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// The source [`current`](Self::current) returned, again.
    pub(crate) fn source(&mut self) -> Option<&mut T> {
        self.current.as_mut()
    }

    /// The current source stopped working: drop it (closing its device) and wait for another.
    pub(crate) fn failed(&mut self) {
        self.current = None;
        self.replaced = true;
    }

    /// Whether the source changed (or went) since the last call: the time until its first frame
    /// is a switch, not a stall.
    pub(crate) fn take_replaced(&mut self) -> bool {
        std::mem::take(&mut self.replaced)
    }
}

/// Where a receive path plays, refillable by the call at any time (`None`: discard).
pub(crate) type SinkSlot<T> = Arc<Mutex<Option<T>>>;

/// Puts `sink` in `slot`; the one it replaces is dropped outside the lock (closing a device
/// may take a moment, and the receive path must not wait for it).
pub(crate) fn replace_sink<T>(slot: &SinkSlot<T>, sink: Option<T>) {
    let old = std::mem::replace(&mut *slot.lock().unwrap_or_else(|e| e.into_inner()), sink);
    drop(old);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_takes_the_newest_replacement_and_ends_with_the_call() {
        let (mut slot, switch) = SourceSlot::new(Some(1));
        assert_eq!(slot.current(|| false).copied(), Some(1));
        switch.send(Some(2)).unwrap();
        switch.send(Some(3)).unwrap();
        assert_eq!(slot.current(|| false).copied(), Some(3));
        // A failed source is dropped; the thread waits for the next one.
        slot.failed();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            switch.send(Some(4)).unwrap();
            switch
        });
        assert_eq!(slot.current(|| false).copied(), Some(4));
        drop(sender.join().unwrap());
        assert_eq!(slot.current(|| false), None, "the switch is gone: so is the call");
    }

    #[test]
    fn a_waiting_slot_notices_the_call_is_gone() {
        let (mut slot, _switch) = SourceSlot::<u8>::new(None);
        assert_eq!(slot.current(|| true), None);
    }
}
