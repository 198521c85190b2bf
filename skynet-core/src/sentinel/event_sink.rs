//! The sentinel's alerts in the global event log: every alert is an
//! `alert.raised` event, and an alert about a provider is also
//! `provider.degraded` (warning or critical) or `provider.recovered`
//! (info), so consumers, webhooks and triggers can react to them.

use super::alert::{Alert, AlertSink, Severity};
use crate::Result;
use crate::events::{AlertRaised, EventPayload, NewSystemEvent, ProviderHealth};
use crate::store::SharedStore;
use async_trait::async_trait;

/// Writes alerts to the ledger's global event log.
pub struct EventLogSink {
    store: SharedStore,
}

impl EventLogSink {
    /// A sink writing to `store`.
    pub fn new(store: SharedStore) -> Self {
        EventLogSink { store }
    }
}

/// The events one alert gives.
pub fn alert_events(alert: &Alert) -> Vec<NewSystemEvent> {
    let at = |payload| NewSystemEvent {
        at: alert.at,
        ..NewSystemEvent::now("sentinel", payload)
    };
    let mut events = vec![at(EventPayload::AlertRaised(AlertRaised {
        severity: alert.severity.as_str().into(),
        subject: alert.source.clone(),
        message: alert.message.clone(),
    }))];
    if let Some(provider) = alert.source.strip_prefix("provider:") {
        let health = ProviderHealth {
            provider: provider.to_string(),
            detail: alert.message.clone(),
        };
        events.push(at(if alert.severity == Severity::Info {
            EventPayload::ProviderRecovered(health)
        } else {
            EventPayload::ProviderDegraded(health)
        }));
    }
    events
}

#[async_trait]
impl AlertSink for EventLogSink {
    fn name(&self) -> &str {
        "event-log"
    }

    async fn deliver(&self, alert: &Alert) -> Result<()> {
        for event in alert_events(alert) {
            self.store.record_event(&event).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventType;

    fn types(severity: Severity, source: &str) -> Vec<EventType> {
        let alert = Alert {
            severity,
            source: source.into(),
            message: "m".into(),
            at: chrono::Utc::now(),
        };
        alert_events(&alert)
            .iter()
            .map(NewSystemEvent::event_type)
            .collect()
    }

    #[test]
    fn provider_alerts_also_report_the_providers_health() {
        assert_eq!(
            types(Severity::Warning, "provider:local"),
            [EventType::AlertRaised, EventType::ProviderDegraded]
        );
        assert_eq!(
            types(Severity::Info, "provider:local"),
            [EventType::AlertRaised, EventType::ProviderRecovered]
        );
        assert_eq!(types(Severity::Critical, "queue"), [EventType::AlertRaised]);
    }
}
