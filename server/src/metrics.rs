//! Prometheus metrics for `GET /metrics`.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabel {
    pub event: &'static str,
}

pub struct Metrics {
    registry: Registry,
    /// Sockets connected to this node.
    pub connected_sockets: Gauge,
    /// Messages written (not counting repeated `clientMsgId`s).
    pub messages_stored: Counter,
    /// Events dropped for sockets that could not take them (send buffer full: a client not reading).
    pub events_dropped: Counter,
    /// Socket event handling time, from payload parsed to ack sent.
    pub event_duration: Family<EventLabel, Histogram>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("confab");
        let connected_sockets = Gauge::default();
        let messages_stored = Counter::default();
        let events_dropped = Counter::default();
        let event_duration = Family::<EventLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        registry.register("connected_sockets", "Sockets connected to this node", connected_sockets.clone());
        registry.register("messages_stored", "Messages stored", messages_stored.clone());
        registry.register("events_dropped", "Events dropped for sockets not reading", events_dropped.clone());
        registry.register("event_duration_seconds", "Socket event handling time", event_duration.clone());
        Metrics { registry, connected_sockets, messages_stored, events_dropped, event_duration }
    }

    pub fn observe_event(&self, event: &'static str, took: Duration) {
        self.event_duration.get_or_create(&EventLabel { event }).observe(took.as_secs_f64());
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
