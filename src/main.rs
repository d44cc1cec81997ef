//! The `aidmart` command: serve, migrate, seed, ledger verify.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;

use aidmart::config::Config;
use aidmart::error::AppError;
use aidmart::startup::Application;
use aidmart::{credits, db, seed};

#[derive(Parser)]
#[command(name = "aidmart", version, about = "Aidmart: a marketplace for consumer assistance (消费帮扶)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the store (migrates the database and loads demo data into an empty one first).
    Serve {
        /// Listen address, e.g. 0.0.0.0:8080 (overrides AIDMART_BIND).
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Load the data in seed/ (rows that exist already are left as they are).
    Seed,
    /// The credit ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Walk the hash chain and the signed checkpoints; exit 1 naming the first entry that
    /// does not verify.
    Verify,
}

/// Large blocks (argon2id takes 19 MiB per hash) go straight to `mmap` and back to the system
/// when freed. With glibc's default the threshold grows after the first such block is freed,
/// so later ones came from the malloc arenas, and every arena that ever hashed kept 19 MiB:
/// a burst of 200 logins left the server at 490 MB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_blocks_to_the_system() {
    // SAFETY: mallopt only sets a parameter of the allocator, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_blocks_to_the_system() {}

fn main() -> ExitCode {
    return_large_blocks_to_the_system();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,actix_server=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let mut config = match Config::load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut ledger_ok = true;
    let result = match cli.command {
        Command::Serve { bind } => {
            if let Some(bind) = bind {
                config.bind = bind;
                config.public_url = format!("http://{bind}");
            }
            serve(config)
        }
        Command::Migrate => {
            with_connection(&config, |conn| db::migrate(conn).map(|n| format!("{n} migrations applied")))
        }
        Command::Seed => with_connection(&config, |conn| {
            db::migrate(conn)?;
            let report = seed::load(conn, &config.seed_dir)?;
            let photos = seed::load_images(conn, &config.seed_dir, &config.data_dir.join("images"))?;
            Ok(if report.is_nothing() && photos == 0 {
                "seed data already loaded: nothing to add".to_string()
            } else {
                report.to_string()
            })
        }),
        Command::Ledger { command: LedgerCommand::Verify } => with_connection(&config, |conn| {
            let key = ed25519_dalek::SigningKey::from_bytes(&config.ledger_seed().map_err(AppError::internal)?);
            let started = std::time::Instant::now();
            let v = credits::service::verify(conn, &key.verifying_key())?;
            let secs = started.elapsed().as_secs_f64();
            let speed = format!(
                "{} entries, {:.1} MB of canonical text in {secs:.3} s ({:.0} entries/s, {:.1} MB/s; \
                 reading rows {:.3} s, checked alongside)",
                v.entries,
                v.bytes as f64 / 1e6,
                v.entries as f64 / secs.max(1e-9),
                v.bytes as f64 / 1e6 / secs.max(1e-9),
                v.read_time.as_secs_f64(),
            );
            if v.ok {
                Ok(format!("ledger verifies: {speed}, head {}", v.head))
            } else {
                ledger_ok = false;
                Ok(format!(
                    "ledger does NOT verify at entry {}: {} (the {} entries before it verify)",
                    v.first_bad.unwrap_or_default(),
                    v.reason.unwrap_or_default(),
                    v.entries
                ))
            }
        }),
    };
    match result {
        Ok(()) if ledger_ok => ExitCode::SUCCESS,
        Ok(()) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {}", e.public_message_for_cli());
            ExitCode::FAILURE
        }
    }
}

fn with_connection(
    config: &Config,
    f: impl FnOnce(&mut db::AnyConnection) -> Result<String, AppError>,
) -> Result<(), AppError> {
    let pool = db::connect(&config.database_url, 1)?;
    let mut conn = db::checkout(&pool)?;
    println!("{}", f(&mut conn)?);
    Ok(())
}

fn serve(config: Config) -> Result<(), AppError> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(config.clone()).await?;
        tracing::info!("Aidmart is listening on http://{}:{}", config.bind.ip(), app.port());
        app.run_until_stopped().await.map_err(AppError::internal)
    })
}
