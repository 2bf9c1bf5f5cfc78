//! The emulator's I/O: reads commands from the pty master, writes answers and URCs.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_serial::SerialStream;

use super::dialect::{Later, Modem, Reply};
use crate::at::parse::tpdu_len_of;

/// What the handle tells the serving task after it changed the SIM.
#[derive(Debug)]
pub(crate) enum Notice {
    /// Raise `+CMTI: "SM",<index>` for each.
    Stored(Vec<u32>),
    /// Deliver directly with `+CMT` (`AT+CNMI=2,2,...`).
    Direct(Vec<String>),
    /// A status report PDU from the network: stored with `+CDSI`, or `+CDS`, per
    /// `<ds>` of `AT+CNMI`.
    Report(String),
    /// An unsolicited line (`+CUSD`, `+CREG`).
    Line(String),
    /// Fault: garble one byte in this many (0: off).
    Garble(u32),
    /// Fault: wait before each answer.
    Delay(Duration),
}

const CTRL_Z: u8 = 0x1A;
const ESC: u8 = 0x1B;
/// Longest command line kept; longer input is dropped like a real modem's overflow.
const MAX_INPUT: usize = 2048;

pub(crate) fn lock(shared: &Mutex<Modem>) -> MutexGuard<'_, Modem> {
    // A panic while holding the lock would be our bug; the state stays usable.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Server {
    master: SerialStream,
    shared: Arc<Mutex<Modem>>,
    notices: mpsc::UnboundedReceiver<Notice>,
    /// Someone has the slave open (bytes arrived since the last hang-up). URCs raised
    /// while nobody listens are not written: the message waits on the SIM.
    connected: bool,
    input: Vec<u8>,
    /// Inside `AT+CMGS`: the TPDU length announced.
    prompt: Option<usize>,
    /// For timers that raise output later; weak so that dropping the handle still ends
    /// the task.
    later: mpsc::WeakUnboundedSender<Notice>,
    garble_every: u32,
    garble_count: u32,
    delay: Duration,
}

pub(crate) async fn serve(
    master: SerialStream,
    shared: Arc<Mutex<Modem>>,
    notices: mpsc::UnboundedReceiver<Notice>,
    later: mpsc::WeakUnboundedSender<Notice>,
) {
    let mut server = Server {
        master,
        shared,
        notices,
        connected: false,
        input: Vec::new(),
        prompt: None,
        later,
        garble_every: 0,
        garble_count: 0,
        delay: Duration::ZERO,
    };
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            read = server.master.read(&mut buf) => match read {
                Ok(n) if n > 0 => {
                    server.connected = true;
                    if server.handle_bytes(&buf[..n]).await.is_err() {
                        server.hang_up();
                    }
                }
                // EIO (or EOF) on the master: the driver closed the slave. Wait for it
                // to open the path again.
                _ => {
                    server.hang_up();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            notice = server.notices.recv() => match notice {
                Some(notice) => {
                    if server.notify(notice).await.is_err() {
                        server.hang_up();
                    }
                }
                // The handle is gone: nothing can reach this modem any more.
                None => return,
            },
        }
    }
}

impl Server {
    fn hang_up(&mut self) {
        if !self.connected {
            return;
        }
        self.connected = false;
        self.input.clear();
        self.prompt = None;
        // A `+CMT` the host never acknowledged is delivered again by the network; here
        // it lands in SIM storage so that nothing is lost.
        let mut modem = lock(&self.shared);
        let pending = std::mem::take(&mut modem.unacknowledged);
        if !pending.is_empty() {
            let _ = modem.store(&pending);
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.garble_every == 0 {
            self.master.write_all(bytes).await?;
        } else {
            let mut noisy = bytes.to_vec();
            for b in noisy.iter_mut() {
                self.garble_count = self.garble_count.wrapping_add(1);
                if self.garble_count.is_multiple_of(self.garble_every) {
                    *b = 0x80 | (self.garble_count.wrapping_mul(37) as u8);
                }
            }
            self.master.write_all(&noisy).await?;
        }
        self.master.flush().await
    }

    /// Starts timers for the output a command scheduled (`+CUSD`, status reports).
    fn schedule_later(&mut self) {
        let due = std::mem::take(&mut lock(&self.shared).later);
        for (after, what) in due {
            let Some(tx) = self.later.upgrade() else {
                return;
            };
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = tx.send(match what {
                    Later::Line(line) => Notice::Line(line),
                    Later::Report(hex) => Notice::Report(hex),
                });
            });
        }
    }

    async fn handle_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        for &b in bytes {
            if let Some(length) = self.prompt {
                match b {
                    CTRL_Z => {
                        self.prompt = None;
                        let pdu = String::from_utf8_lossy(&self.input).trim().to_string();
                        self.input.clear();
                        let (echo, reply) = {
                            let mut modem = lock(&self.shared);
                            (modem.echo, modem.submit(length, &pdu))
                        };
                        if echo {
                            let mut e = pdu.into_bytes();
                            e.push(CTRL_Z);
                            self.write(&e).await?;
                        }
                        self.write_reply(reply).await?;
                    }
                    ESC => {
                        self.prompt = None;
                        self.input.clear();
                    }
                    b'\r' | b'\n' => {}
                    _ if self.input.len() < MAX_INPUT => self.input.push(b),
                    _ => {}
                }
                continue;
            }
            match b {
                b'\r' => {
                    let line = String::from_utf8_lossy(&self.input).to_string();
                    self.input.clear();
                    let (echo, reply) = {
                        let mut modem = lock(&self.shared);
                        // A hung modem echoes nothing either.
                        (modem.echo && !modem.silent, modem.command(&line))
                    };
                    if echo {
                        let mut e = line.into_bytes();
                        e.push(b'\r');
                        self.write(&e).await?;
                    }
                    self.write_reply(reply).await?;
                }
                b'\n' => {}
                _ if self.input.len() < MAX_INPUT => self.input.push(b),
                _ => self.input.clear(),
            }
        }
        Ok(())
    }

    async fn write_reply(&mut self, reply: Reply) -> std::io::Result<()> {
        self.schedule_later();
        if !self.delay.is_zero() && reply != Reply::Nothing {
            tokio::time::sleep(self.delay).await;
        }
        match reply {
            Reply::Nothing => Ok(()),
            Reply::Prompt { length } => {
                self.prompt = Some(length);
                self.write(b"\r\n> ").await
            }
            Reply::Lines { parts, result } => {
                for part in parts {
                    let mut out = Vec::new();
                    for line in part {
                        out.extend_from_slice(b"\r\n");
                        out.extend_from_slice(line.as_bytes());
                    }
                    out.extend_from_slice(b"\r\n");
                    self.write(&out).await?;
                    // Real modems slip URCs between the lines of a long response.
                    while let Ok(notice) = self.notices.try_recv() {
                        self.notify(notice).await?;
                    }
                }
                self.write(format!("\r\n{result}\r\n").as_bytes()).await
            }
        }
    }

    async fn notify(&mut self, notice: Notice) -> std::io::Result<()> {
        match notice {
            Notice::Stored(indices) => {
                if !self.connected || lock(&self.shared).silent {
                    return Ok(());
                }
                for index in indices {
                    self.write(format!("\r\n+CMTI: \"SM\",{index}\r\n").as_bytes())
                        .await?;
                }
            }
            Notice::Garble(every) => {
                self.garble_every = every;
                self.garble_count = 0;
            }
            Notice::Delay(delay) => self.delay = delay,
            Notice::Line(line) => {
                if self.connected && !lock(&self.shared).silent {
                    self.write(format!("\r\n{line}\r\n").as_bytes()).await?;
                }
            }
            Notice::Report(hex) => {
                let (ds, csms) = {
                    let modem = lock(&self.shared);
                    (modem.cnmi_ds, modem.csms)
                };
                match ds {
                    2 => {
                        let stored = lock(&self.shared).store(std::slice::from_ref(&hex));
                        match stored {
                            Some(indices) if self.connected => {
                                for index in indices {
                                    self.write(format!("\r\n+CDSI: \"SM\",{index}\r\n").as_bytes())
                                        .await?;
                                }
                            }
                            Some(_) => {}
                            None => tracing::debug!("emulated SIM full: status report dropped"),
                        }
                    }
                    1 if self.connected => {
                        let length = tpdu_len_of(&hex).unwrap_or(0);
                        if csms == 1 {
                            lock(&self.shared).unacknowledged.push(hex.clone());
                        }
                        self.write(format!("\r\n+CDS: {length}\r\n{hex}\r\n").as_bytes())
                            .await?;
                    }
                    _ => {}
                }
            }
            Notice::Direct(pdus) => {
                if !self.connected {
                    let _ = lock(&self.shared).store(&pdus);
                    return Ok(());
                }
                for hex in pdus {
                    let length = tpdu_len_of(&hex).unwrap_or(0);
                    {
                        let mut modem = lock(&self.shared);
                        if modem.csms == 1 {
                            modem.unacknowledged.push(hex.clone());
                        }
                    }
                    self.write(format!("\r\n+CMT: ,{length}\r\n{hex}\r\n").as_bytes())
                        .await?;
                }
            }
        }
        Ok(())
    }
}
