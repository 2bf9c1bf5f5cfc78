//! The box's outward bridges, started beside the HTTP server: the webhook dispatcher
//! (always) and MQTT (when configured: `[mqtt]` in the `run` configuration, or
//! `SIMGATE_MQTT_URL` for `simgate demo`).

use gateway::mqtt::{MqttConfig, MqttHandle};
use gateway::webhooks::{WebhookConfig, WebhooksHandle};
use gateway::Gateway;

pub struct Bridges {
    _webhooks: WebhooksHandle,
    mqtt: Option<MqttHandle>,
}

pub async fn start(gateway: &Gateway, mqtt: Option<MqttConfig>) -> Result<Bridges, String> {
    let webhooks = gateway
        .start_webhooks(WebhookConfig::default())
        .await
        .map_err(|e| format!("cannot start the webhook dispatcher: {e}"))?;
    let mqtt = match mqtt {
        Some(config) => {
            println!(
                "  MQTT:        {}:{} topics {}/#",
                config.host,
                config.port,
                config.prefix()
            );
            Some(
                gateway
                    .start_mqtt(config)
                    .await
                    .map_err(|e| format!("cannot start MQTT: {e}"))?,
            )
        }
        None => None,
    };
    Ok(Bridges {
        _webhooks: webhooks,
        mqtt,
    })
}

impl Bridges {
    /// Says `offline` on MQTT and disconnects; pending webhook deliveries stay queued.
    pub async fn stop(self) {
        if let Some(mqtt) = self.mqtt {
            mqtt.shutdown().await;
        }
    }
}
