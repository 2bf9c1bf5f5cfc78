//! The live channels: modem drivers (real or emulated) whose PDUs feed the pipeline.
//!
//! Each modem gets one forwarding task that takes its events in order, stores each PDU
//! and only then answers the driver `Stored`, which is what allows it to delete the PDU
//! from the SIM (or acknowledge a `+CMT`). A store failure answers `Failed`: the PDU
//! stays on the SIM and the driver's next sweep offers it again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use drivers::emulator::{self, EmulatorConfig, EmulatorHandle};
use drivers::modem::{
    self, ModemClient, ModemConfig, ModemEvent, ModemHandle, ModemState, ModemStatus,
    ReportOutcome, StoreOutcome,
};
use tokio::sync::{mpsc, Mutex};

use crate::inbound::{Accepted, InboundPdu};
use crate::numbers::NumberRegistration;
use crate::outbound::{BoxFuture, DeliveryStatus, SendChannel, SendFailure, Sent};
use crate::{Gateway, GatewayError, GatewayResult};

#[derive(Default)]
pub struct Channels {
    modems: Mutex<Vec<ModemHandle>>,
    /// Emulated modems by the number of their SIM (demo mode and tests).
    emulators: Mutex<HashMap<String, Arc<EmulatorHandle>>>,
}

impl Gateway {
    /// Starts the driver of one modem and the task that stores what it receives.
    /// `provider` is how its messages are labelled (`modem`, or `emulator` in the demo).
    pub async fn start_modem(&self, config: ModemConfig, provider: &str) -> GatewayResult<()> {
        if let Some(number) = &config.number {
            self.register_number(NumberRegistration {
                number: number.clone(),
                country: None,
                provider: provider.to_string(),
                channel: config.name.clone(),
            })
            .await?;
        }
        let (tx, rx) = mpsc::channel(64);
        let handle = modem::spawn(config.clone(), tx);
        self.add_send_channel(Arc::new(ModemChannel {
            name: config.name.clone(),
            provider: provider.to_string(),
            configured_number: config.number.clone(),
            client: handle.client(),
            next_reference: AtomicU16::new(rand::random::<u16>()),
        }))
        .await;
        self.channels.modems.lock().await.push(handle);
        tokio::spawn(forward_modem_events(
            self.clone(),
            config,
            provider.to_string(),
            rx,
        ));
        Ok(())
    }

    /// Starts an emulated modem holding a SIM with `number`, and its driver.
    pub async fn start_emulated_modem(&self, name: &str, number: &str) -> GatewayResult<()> {
        let emu = emulator::spawn(EmulatorConfig {
            number: number.to_string(),
            ..EmulatorConfig::default()
        })
        .await
        .map_err(|e| {
            GatewayError::Invalid(format!("cannot start the emulated modem {name}: {e}"))
        })?;
        let config = ModemConfig {
            name: name.to_string(),
            port: emu.port_path().to_string(),
            number: Some(number.to_string()),
            ..ModemConfig::default()
        };
        self.channels
            .emulators
            .lock()
            .await
            .insert(number.to_string(), Arc::new(emu));
        self.start_modem(config, "emulator").await
    }

    /// The emulated modem whose SIM has `number`, if any.
    pub async fn emulator_for(&self, number: &str) -> Option<Arc<EmulatorHandle>> {
        self.channels.emulators.lock().await.get(number).cloned()
    }

    /// Stops every modem driver, releasing its port (shutdown, or a restart in tests).
    pub async fn stop_modems(&self) {
        let modems = std::mem::take(&mut *self.channels.modems.lock().await);
        for m in modems {
            self.remove_send_channel(m.name()).await;
            m.shutdown().await;
        }
    }

    /// The state of every modem, in start order.
    pub async fn modem_statuses(&self) -> Vec<ModemStatus> {
        let modems = self.channels.modems.lock().await;
        let mut out = Vec::with_capacity(modems.len());
        for m in modems.iter() {
            out.push(m.status().await);
        }
        out
    }
}

/// A modem's SIM as a channel of the outbound queue.
struct ModemChannel {
    name: String,
    provider: String,
    configured_number: Option<String>,
    client: ModemClient,
    next_reference: AtomicU16,
}

impl SendChannel for ModemChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn provider(&self) -> &str {
        &self.provider
    }

    fn number(&self) -> Option<String> {
        self.configured_number
            .clone()
            .or_else(|| self.client.status().number)
    }

    fn is_ready(&self) -> bool {
        self.client.status().state == ModemState::Ready
    }

    fn send<'a>(
        &'a self,
        to: &'a str,
        text: &'a str,
        status_report: bool,
    ) -> BoxFuture<'a, Result<Sent, SendFailure>> {
        Box::pin(async move {
            let request = modem::SendRequest {
                to: to.to_string(),
                text: text.to_string(),
                status_report,
                validity: None,
                // Wraps within the 8-bit concatenation IE; a receiver keys on sender too.
                reference: self.next_reference.fetch_add(1, Ordering::Relaxed) % 256,
            };
            match self.client.send(request).await {
                Ok(receipt) => Ok(Sent {
                    references: receipt
                        .message_references
                        .iter()
                        .map(|mr| mr.to_string())
                        .collect(),
                }),
                Err(e) => Err(SendFailure {
                    retryable: e.is_retryable(),
                    message: e.to_string(),
                }),
            }
        })
    }
}

async fn forward_modem_events(
    gateway: Gateway,
    config: ModemConfig,
    provider: String,
    mut rx: mpsc::Receiver<ModemEvent>,
) {
    let mut registered = config.number.clone();
    while let Some(event) = rx.recv().await {
        match event {
            ModemEvent::Received(received) => {
                let to_number = received.own_number.clone().or_else(|| registered.clone());
                let outcome = gateway
                    .accept_pdu(InboundPdu {
                        channel: received.modem.clone(),
                        to_number,
                        provider: provider.clone(),
                        hex: received.hex.clone(),
                    })
                    .await;
                let answer = match outcome {
                    Ok(accepted) => {
                        match &accepted {
                            Accepted::Undecodable(why) => tracing::warn!(
                                modem = %received.modem,
                                pdu = %received.hex,
                                "stored a PDU that does not decode: {why}"
                            ),
                            Accepted::Duplicate => tracing::info!(
                                modem = %received.modem,
                                "dropped a PDU already stored (read twice)"
                            ),
                            _ => {}
                        }
                        StoreOutcome::Stored
                    }
                    Err(e) => {
                        tracing::error!(modem = %received.modem, "could not store a received PDU, it stays on the SIM: {e}");
                        StoreOutcome::Failed(e.to_string())
                    }
                };
                // A driver that went away will re-read the PDU at its next sweep.
                let _ = received.ack.send(answer);
            }
            ModemEvent::StatusReport(report) => {
                let status = match report.outcome {
                    ReportOutcome::Delivered => DeliveryStatus::Delivered,
                    ReportOutcome::Failed => DeliveryStatus::Undelivered,
                    ReportOutcome::Pending => DeliveryStatus::Pending,
                };
                let reference = report.message_reference.to_string();
                let answer = match gateway
                    .record_delivery_status(&report.modem, &reference, status)
                    .await
                {
                    Ok(matched) => {
                        if matched.is_none() && status != DeliveryStatus::Pending {
                            tracing::info!(
                                modem = %report.modem,
                                reference,
                                recipient = %report.recipient,
                                "status report for a message this box did not send (or no longer knows)"
                            );
                        }
                        StoreOutcome::Stored
                    }
                    Err(e) => {
                        tracing::error!(modem = %report.modem, "cannot record a status report, it stays on the SIM: {e}");
                        StoreOutcome::Failed(e.to_string())
                    }
                };
                let _ = report.ack.send(answer);
            }
            ModemEvent::Status(status) => {
                if status.state == ModemState::Ready {
                    // Jobs deferred while no channel was ready can go out now.
                    gateway.wake_dispatcher();
                }
                if registered.is_none() {
                    if let Some(number) = status.number.clone() {
                        let reg = NumberRegistration {
                            number: number.clone(),
                            country: None,
                            provider: provider.clone(),
                            channel: config.name.clone(),
                        };
                        match gateway.register_number(reg).await {
                            Ok(_) => registered = Some(number),
                            Err(e) => {
                                tracing::error!(modem = %config.name, "cannot register the SIM's number {number}: {e}")
                            }
                        }
                    }
                }
            }
        }
    }
}
