//! `simgate`: the command line and the wiring of drivers, gateway and API.
//! No business rules live here.

mod bridges;
mod config;
mod emulate;
mod pdu_cli;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use api::auth::{random_password, AuthKeys};
use config::Config;
use drivers::modem::ModemConfig;
use gateway::scheduler::SchedulerConfig;
use gateway::Gateway;

#[derive(Parser)]
#[command(
    name = "simgate",
    version,
    about = "Self-hosted SMS gateway: GSM modems and cloud providers behind documented SMS APIs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a demo box: embedded SQLite and two emulated modems (+15550100001 US, +447700900002 GB).
    Demo {
        /// Address to serve on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Where the database and the JWT secret live.
        #[arg(long, default_value = "./simgate-data")]
        data_dir: PathBuf,
    },
    /// Run the box with real modems, as the configuration file describes.
    Run {
        /// The configuration file (see config/simgate.example.toml).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run one emulated modem in its own process (its SIM memory outlives a gateway),
    /// with a control API on loopback for injecting SMS.
    Emulate {
        /// The SIM's own number.
        #[arg(long, default_value = "+15550100001")]
        number: String,
        /// Create this symlink to the pseudo-terminal, for the gateway's `port`.
        #[arg(long)]
        link: Option<PathBuf>,
        /// Keep the SIM memory in this file across emulator restarts.
        #[arg(long)]
        sim_file: Option<PathBuf>,
        /// Loopback address of the control API (port 0: any free port, printed).
        #[arg(long, default_value = "127.0.0.1:0")]
        control: SocketAddr,
        /// SIM storage slots.
        #[arg(long, default_value_t = 30)]
        capacity: usize,
        /// Identify as this modem family (huawei, quectel, simcom, ...).
        #[arg(long)]
        profile: Option<String>,
    },
    /// PDU tools.
    Pdu {
        #[command(subcommand)]
        command: PduCommand,
    },
    /// Print the verification code and type found in a text, as JSON.
    Otp {
        /// The SMS text.
        text: String,
        /// The sender, which helps to name the service.
        #[arg(long)]
        sender: Option<String>,
    },
}

#[derive(Subcommand)]
enum PduCommand {
    /// Decode one PDU (hex, with the SMSC prefix as AT+CMGR gives it) and print it as
    /// JSON; `-` reads one PDU per line from standard input.
    Decode {
        hex: String,
        /// The hex is a bare TPDU with no SMSC octet.
        #[arg(long, alias = "no-smsc")]
        tpdu: bool,
    },
    /// Encode an SMS-SUBMIT (split into parts when long) and print the PDUs as JSON.
    Encode {
        #[arg(long)]
        to: String,
        #[arg(long)]
        text: String,
        /// Ask the network for a status report.
        #[arg(long)]
        status_report: bool,
    },
}

/// The demo's emulated modems: (name, SIM number).
const DEMO_MODEMS: [(&str, &str); 2] = [("emu-us", "+15550100001"), ("emu-gb", "+447700900002")];

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Pdu {
            command: PduCommand::Decode { hex, tpdu },
        } if hex == "-" => {
            if pdu_cli::decode_lines(std::io::stdin().lock(), !tpdu) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Pdu {
            command: PduCommand::Decode { hex, tpdu },
        } => match pdu_cli::decode_json(&hex, !tpdu) {
            Ok(v) => print_json(&v),
            Err(e) => {
                eprintln!("error: cannot decode the PDU: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Pdu {
            command:
                PduCommand::Encode {
                    to,
                    text,
                    status_report,
                },
        } => match pdu_cli::encode_json(&to, &text, status_report) {
            Ok(v) => print_json(&v),
            Err(e) => {
                eprintln!("error: cannot encode the SMS: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Otp { text, sender } => {
            let found = gateway::otp::extract(&text, sender.as_deref());
            print_json(&serde_json::json!({
                "code": found.code,
                "type": found.kind,
                "service": found.service,
            }))
        }
        Command::Demo { listen, data_dir } => {
            serve(Box::new(move |rt| rt.block_on(demo(listen, data_dir))))
        }
        Command::Run { config } => serve(Box::new(move |rt| rt.block_on(run(&config)))),
        Command::Emulate {
            number,
            link,
            sim_file,
            control,
            capacity,
            profile,
        } => serve(Box::new(move |rt| {
            rt.block_on(emulate::run(emulate::EmulateArgs {
                number,
                link,
                sim_file,
                control,
                capacity,
                profile,
            }))
        })),
    }
}

fn print_json(value: &impl serde::Serialize) -> ExitCode {
    match serde_json::to_string(value) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Server = Box<dyn FnOnce(&tokio::runtime::Runtime) -> Result<(), String>>;

fn serve(server: Server) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match server(&rt) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn demo(listen: SocketAddr, data_dir: PathBuf) -> Result<(), String> {
    let (gateway, auth, admin) = open_box(&data_dir).await?;
    for (name, number) in DEMO_MODEMS {
        gateway
            .start_emulated_modem(name, number)
            .await
            .map_err(|e| e.to_string())?;
    }
    let listener = bind(listen).await?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    println!("simgate demo is running at {url}");
    println!("  API:         {url}/api   (health: {url}/api/health)");
    println!("  Socket.IO:   {url}/socket.io/");
    println!(
        "  emulated modems: {}",
        DEMO_MODEMS
            .iter()
            .map(|(name, number)| format!("{name} {number}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  admin:       {}", admin.describe());
    println!("  inject an SMS: POST {url}/api/admin/emulator/sms {{\"to\": \"+15550100001\", \"from\": \"WhatsApp\", \"text\": \"Your code is 123456\"}}");
    let mqtt = match std::env::var("SIMGATE_MQTT_URL") {
        Ok(u) if !u.trim().is_empty() => {
            Some(gateway::mqtt::MqttConfig::from_url(u.trim(), "demo")?)
        }
        _ => None,
    };
    let bridges = bridges::start(&gateway, mqtt).await?;
    let served = run_server(listener, gateway, auth, api::ApiConfig::default()).await;
    bridges.stop().await;
    served
}

async fn run(config_path: &Path) -> Result<(), String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let (gateway, auth, admin) = open_box(&config.storage.data_dir).await?;
    for m in &config.modems {
        gateway
            .start_modem(
                ModemConfig {
                    name: m.name.clone(),
                    port: m.port.clone(),
                    baud: m.baud,
                    number: m.number.clone(),
                    pin: m.pin.clone(),
                    ..ModemConfig::default()
                },
                "modem",
            )
            .await
            .map_err(|e| format!("modem {}: {e}", m.name))?;
    }
    for p in &config.providers {
        let channel = p
            .channel()
            .map_err(|e| format!("[[provider]] {}: {e}", p.name()))?;
        gateway.add_send_channel(channel).await;
    }
    let listener = bind(config.server.listen).await?;
    tracing::info!(
        "simgate serving on http://{} with {} modem(s); admin: {}",
        config.server.listen,
        config.modems.len(),
        admin.describe()
    );
    let mqtt = config.mqtt.as_ref().map(|m| m.to_gateway()).transpose()?;
    let bridges = bridges::start(&gateway, mqtt).await?;
    let api_config = api::ApiConfig {
        sms_auth: config.sms_auth.clone(),
        sms_router: config.sms_router.clone(),
        ..config.api.clone()
    };
    let served = run_server(listener, gateway, auth, api_config).await;
    bridges.stop().await;
    served
}

/// How the admin account was set up, for the start-up message.
enum AdminAccount {
    FromEnvironment(String),
    Generated { email: String, password: String },
    Existing(String),
}

impl AdminAccount {
    fn describe(&self) -> String {
        match self {
            AdminAccount::FromEnvironment(email) => {
                format!("{email} (password from SIMGATE_ADMIN_PASSWORD)")
            }
            AdminAccount::Generated { email, password } => format!(
                "{email} / {password}  (generated now and shown only once; set SIMGATE_ADMIN_PASSWORD to choose one)"
            ),
            AdminAccount::Existing(email) => {
                format!("{email} (password as set at first start)")
            }
        }
    }
}

/// Opens the data directory: database, JWT secret, admin account, lease scheduler.
async fn open_box(data_dir: &Path) -> Result<(Gateway, Arc<AuthKeys>, AdminAccount), String> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        format!(
            "cannot create the data directory {}: {e}",
            data_dir.display()
        )
    })?;
    let gateway = Gateway::open(&data_dir.join("simgate.db")).map_err(|e| e.to_string())?;
    let auth = AuthKeys::load_or_create(data_dir)
        .map_err(|e| format!("cannot load the JWT secret: {e}"))?;

    let email = std::env::var("SIMGATE_ADMIN_EMAIL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "admin@simgate.local".into());
    let env_password = std::env::var("SIMGATE_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let exists = gateway
        .user_by_email(&email)
        .await
        .map_err(|e| e.to_string())?
        .is_some();
    let (password, generated) = match (env_password, exists) {
        (Some(p), _) => (Some(p), false),
        (None, false) => (Some(random_password()), true),
        (None, true) => (None, false),
    };
    let hash = match &password {
        Some(p) => Some(auth.hash_password(p.clone()).await?),
        None => None,
    };
    gateway
        .ensure_admin(&email, hash)
        .await
        .map_err(|e| format!("cannot set up the admin account: {e}"))?;
    let admin = match (password, generated) {
        (Some(password), true) => AdminAccount::Generated { email, password },
        (Some(_), false) => AdminAccount::FromEnvironment(email),
        (None, _) => AdminAccount::Existing(email),
    };

    gateway.start_scheduler(SchedulerConfig::default());
    gateway
        .start_dispatcher()
        .await
        .map_err(|e| format!("cannot start the outbound dispatcher: {e}"))?;
    Ok((gateway, auth, admin))
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Hands the allocator's free pages back to the system now and every few minutes: start-up
/// (schema, admin password hash) and bursts of requests leave the heap full of free
/// pages that glibc otherwise keeps, and a Raspberry Pi has little memory to spare.
fn trim_memory_periodically() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
        loop {
            tick.tick().await;
            // SAFETY: malloc_trim only returns free memory to the OS; it is thread-safe
            // in glibc and has no other effect on the process's allocations.
            let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
        }
    });
}

async fn run_server(
    listener: tokio::net::TcpListener,
    gateway: Gateway,
    auth: Arc<AuthKeys>,
    base: api::ApiConfig,
) -> Result<(), String> {
    // `SIMGATE_*` variables apply on top; an invalid one stops the start.
    let mut config = base.with_env()?;
    // Twilio signs the URL it calls: by default, the address we listen on.
    if config.sms_router.public_base_url.is_none() {
        if let Ok(addr) = listener.local_addr() {
            config.sms_router.public_base_url = Some(format!("http://{addr}"));
        }
    }
    let app = api::router_with(gateway, auth, config);
    trim_memory_periodically();
    // The peer address keys the rate limits of anonymous callers.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| format!("server error: {e}"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
