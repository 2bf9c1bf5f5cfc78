//! The serial port and the AT engine together: one command at a time, URCs kept aside.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_serial::SerialStream;

use crate::at::{AtEngine, AtEvent, Command, FinalResult, Response, Urc};

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    #[error("cannot open {port}: {source}")]
    Open {
        port: String,
        source: tokio_serial::Error,
    },
    #[error("port I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("port closed")]
    Closed,
    #[error("modem stopped answering ({0} commands in a row timed out)")]
    Unresponsive(u32),
    #[error("{0}")]
    Modem(String),
}

/// Timeouts in a row after which the modem counts as gone.
const MAX_TIMEOUTS_IN_A_ROW: u32 = 3;

pub(crate) struct Link {
    name: String,
    port: SerialStream,
    engine: AtEngine,
    /// URCs that arrived while a command was in flight, handled after it.
    pub(crate) urcs: VecDeque<Urc>,
    timeouts_in_a_row: u32,
    buf: Box<[u8; 1024]>,
}

impl Link {
    pub(crate) fn open(name: &str, path: &str, baud: u32) -> Result<Link, LinkError> {
        let builder = tokio_serial::new(path, baud);
        let port = SerialStream::open(&builder).map_err(|source| LinkError::Open {
            port: path.to_string(),
            source,
        })?;
        Ok(Link {
            name: name.to_string(),
            port,
            engine: AtEngine::new(),
            urcs: VecDeque::new(),
            timeouts_in_a_row: 0,
            buf: Box::new([0; 1024]),
        })
    }

    /// Writes raw bytes outside the engine (ESC to leave a prompt left over by a crash).
    pub(crate) async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.port.write_all(bytes).await?;
        self.port.flush().await?;
        Ok(())
    }

    /// Reads until the modem has been quiet for `quiet` (at most `max`), with no command
    /// in flight, so that whatever it still had to say (the answer to a stray ESC, a
    /// late answer to an earlier `AT`) is not taken for the next command's response.
    /// URCs are kept; stray result codes are logged and dropped.
    pub(crate) async fn settle(&mut self, quiet: Duration, max: Duration) -> Result<(), LinkError> {
        let give_up = Instant::now() + max;
        loop {
            let until = (Instant::now() + quiet).min(give_up);
            tokio::select! {
                read = self.read_once() => read?,
                _ = tokio::time::sleep_until(until) => break,
            }
            if Instant::now() >= give_up {
                break;
            }
        }
        if let Some(r) = self.drain_events() {
            tracing::debug!(modem = %self.name, result = %r.result, "stray response dropped");
        }
        Ok(())
    }

    async fn transmit(&mut self) -> Result<(), LinkError> {
        while let Some(bytes) = self.engine.poll_transmit() {
            tracing::trace!(modem = %self.name, "> {:?}", String::from_utf8_lossy(&bytes));
            self.port.write_all(&bytes).await?;
        }
        self.port.flush().await?;
        Ok(())
    }

    /// Reads once and feeds the engine.
    async fn read_once(&mut self) -> Result<(), LinkError> {
        let n = self.port.read(&mut self.buf[..]).await?;
        if n == 0 {
            return Err(LinkError::Closed);
        }
        tracing::trace!(modem = %self.name, "< {:?}", String::from_utf8_lossy(&self.buf[..n]));
        self.engine.handle_input(&self.buf[..n]);
        Ok(())
    }

    /// Takes the engine's events: URCs to the queue, a response returned.
    fn drain_events(&mut self) -> Option<Response> {
        let mut response = None;
        while let Some(event) = self.engine.poll_event() {
            match event {
                AtEvent::Response(r) => response = Some(r),
                AtEvent::Urc(u) => self.urcs.push_back(u),
                AtEvent::Unexpected { line, reason } => {
                    tracing::debug!(modem = %self.name, line = %line, "{reason}")
                }
            }
        }
        response
    }

    /// Sends a command and waits for its response, keeping URCs aside. A timeout is a
    /// response ([`FinalResult::Timeout`]); several in a row end the connection.
    pub(crate) async fn command(&mut self, command: Command) -> Result<Response, LinkError> {
        let text = command.text.clone();
        if let Err(busy) = self.engine.send(command, Instant::now().into_std()) {
            // One command at a time is this module's own discipline.
            return Err(LinkError::Modem(format!("internal: {busy}")));
        }
        self.transmit().await?;
        loop {
            if let Some(response) = self.drain_events() {
                self.transmit().await?;
                if response.result == FinalResult::Timeout {
                    self.timeouts_in_a_row += 1;
                    tracing::warn!(modem = %self.name, command = %text, "command timed out");
                    if self.timeouts_in_a_row >= MAX_TIMEOUTS_IN_A_ROW {
                        return Err(LinkError::Unresponsive(self.timeouts_in_a_row));
                    }
                } else {
                    self.timeouts_in_a_row = 0;
                }
                return Ok(response);
            }
            let deadline = self
                .engine
                .poll_timeout()
                .map(Instant::from_std)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            tokio::select! {
                read = self.read_once() => {
                    read?;
                    // The prompt's payload is queued by the engine as soon as `> ` is seen.
                    self.transmit().await?;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.engine.handle_timeout(Instant::now().into_std());
                }
            }
        }
    }

    /// Waits for input while idle; URCs land in [`Link::urcs`]. Cancel-safe.
    pub(crate) async fn idle_read(&mut self) -> Result<(), LinkError> {
        self.read_once().await?;
        let _ = self.drain_events();
        Ok(())
    }
}
