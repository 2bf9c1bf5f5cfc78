//! Work that happens on time rather than on input: leases expire, concatenated
//! messages whose parts stopped coming are delivered incomplete.

use std::time::Duration;

use crate::Gateway;

#[derive(Debug, Clone, Copy)]
pub struct SchedulerConfig {
    /// How long the parts of a concatenated message are awaited before the message is
    /// delivered incomplete (a late part still completes it afterwards).
    pub incomplete_after: Duration,
    pub tick: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            incomplete_after: Duration::from_secs(120),
            tick: Duration::from_secs(1),
        }
    }
}

impl Gateway {
    /// Starts the scheduler task; each step is one cheap query when nothing is due.
    pub fn start_scheduler(&self, config: SchedulerConfig) {
        let gateway = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(config.tick);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = gateway.expire_due_assignments().await {
                    tracing::error!("cannot expire due assignments: {e}");
                }
                match gateway.flush_incomplete(config.incomplete_after).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::warn!("delivered {n} concatenated message(s) with parts missing")
                    }
                    Err(e) => tracing::error!("cannot deliver incomplete messages: {e}"),
                }
            }
        });
    }
}
