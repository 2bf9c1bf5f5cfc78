//! The live channels: modem drivers (real or emulated) whose PDUs feed the pipeline.
//!
//! Each modem gets one forwarding task that takes its events in order, stores each PDU
//! and only then answers the driver `Stored`, which is what allows it to delete the PDU
//! from the SIM (or acknowledge a `+CMT`). A store failure answers `Failed`: the PDU
//! stays on the SIM and the driver's next sweep offers it again.

use std::collections::HashMap;
use std::sync::Arc;

use drivers::emulator::{self, EmulatorConfig, EmulatorHandle};
use drivers::modem::{self, ModemConfig, ModemEvent, ModemHandle, ModemStatus, StoreOutcome};
use tokio::sync::{mpsc, Mutex};

use crate::inbound::{Accepted, InboundPdu};
use crate::numbers::NumberRegistration;
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
                // TODO(lead): forward to the outbound queue's status update and answer
                // `Stored` after its commit. Until then the ack is dropped, so the report
                // stays on the SIM (or unacknowledged) and is offered again: never lost.
                tracing::info!(
                    modem = %report.modem,
                    reference = report.message_reference,
                    recipient = %report.recipient,
                    status = report.status.code(),
                    "status report received; not yet handled by the gateway"
                );
                drop(report.ack);
            }
            ModemEvent::Status(status) => {
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
