use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use userdir::config::Effective;
use userdir::startup::{self, Application, AuditFormat};
use userdir::telemetry;

/// A self-hosted user directory that speaks the AWS FinSpace Data user API.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML file overriding the built-in defaults (see config/default.toml); also read from
    /// USERDIR_CONFIG. Environment variables USERDIR__SECTION__KEY override both.
    #[arg(long, global = true, value_name = "FILE", env = "USERDIR_CONFIG")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Bring an existing database's schema up to date, then exit (refused while a server runs
    /// on it).
    Migrate {
        /// Create the database if there is none at database.path.
        #[arg(long)]
        create: bool,
    },
    /// Print the effective configuration, one setting a line, with where each value came from
    /// (default, file or environment variable); secrets are masked.
    Config,
    /// Check the database's consistency (SQLite's integrity and foreign-key checks); works beside
    /// a running server. Exits 1 if it finds a problem.
    Check,
    /// Load users in bulk from JSON lines, one user a line in the shape GetUser answers (times in
    /// epoch milliseconds; a missing userId is generated, a missing status is ENABLED). Every line
    /// is checked first; then all are written in one transaction, or none. Refused while a server
    /// runs on the database.
    Import {
        /// The file to read; `-` reads standard input.
        file: String,
        /// Create the database if there is none at database.path.
        #[arg(long)]
        create: bool,
    },
    /// Copy the whole directory (users, groups, memberships, password hashes, live idempotency
    /// tokens, the audit trail and the server's keys) from the configured database into another
    /// backend's: the way from SQLite to PostgreSQL. Safe to run again (rows already there are
    /// kept); shows progress, and checks every table's count at the end. Refused while a server
    /// runs on a SQLite source or target.
    Copy {
        /// The target: a postgres:// (or postgresql://) URL, or a SQLite file path.
        #[arg(long)]
        to: String,
        /// Rows read and written at a time.
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=50_000))]
        page: u32,
    },
    /// Ask the server at server.host:server.port whether it is ready (`GET /health/ready`);
    /// exits 0 if it is, 1 if not. For container health checks.
    Health {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
        timeout: u64,
    },
    /// Write a consistent snapshot of the SQLite database to FILE while the server keeps serving
    /// (and writing); the copy is checked before it gets its name. Never overwrites a file.
    Backup {
        /// The backup file to create.
        file: PathBuf,
    },
    /// Put a backup (from `userdir backup`) in place of the SQLite database at database.path,
    /// after checking it. Refused while a server runs on the database.
    Restore {
        /// The backup file to restore.
        file: PathBuf,
        /// Replace an existing database (it is kept beside the restored one, renamed).
        #[arg(long)]
        replace: bool,
    },
    /// Print the OpenAPI 3.1 document of every route (the one served at `GET /openapi.json`).
    Openapi,
    /// Manage the generated root key.
    RootKey {
        #[command(subcommand)]
        action: RootKeyAction,
    },
    /// Manage the bearer tokens of SCIM clients (identity providers). On SQLite, refused while a
    /// server runs on the database.
    ScimToken {
        #[command(subcommand)]
        action: ScimTokenAction,
    },
    /// Print the audit trail, oldest first (works beside a running server; never creates a
    /// database).
    Audit {
        /// `table`: tab-separated, request input escaped; `jsonl`: one JSON object per line.
        #[arg(long, value_enum, default_value_t = AuditFormat::Table)]
        format: AuditFormat,
        /// Start after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Print at most this many events.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum ScimTokenAction {
    /// Make a token and print it, once (only its hash is kept); audited.
    Create {
        /// What the token is for, e.g. `okta` (1-64 letters, digits, '.', '_', '-').
        #[arg(long)]
        name: String,
    },
    /// List the tokens: name, id, created, revoked (or `live`).
    List,
    /// Revoke the live token of that name: it is refused from then on; audited.
    Revoke {
        /// The token's name.
        name: String,
    },
}

#[derive(Subcommand)]
enum RootKeyAction {
    /// Generate a new root key into auth.root_credentials_file, replacing the old one (audited;
    /// refused while a server runs on the database).
    Rotate,
}

fn main() -> ExitCode {
    // Before the runtime starts its threads: every allocation after this uses the bound.
    userdir::memory::limit_malloc_arenas();
    run()
}

#[tokio::main]
async fn run() -> ExitCode {
    let cli = Cli::parse();
    let effective = match Effective::load(cli.config.as_deref()) {
        Ok(effective) => effective,
        Err(error) => {
            for problem in error.problems() {
                eprintln!("userdir: invalid configuration: {problem}");
            }
            return ExitCode::from(2);
        }
    };
    let settings = &effective.settings;
    if let Err(error) = telemetry::init(&settings.log) {
        eprintln!("userdir: cannot set up logging: {error:#}");
        return ExitCode::from(2);
    }
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&effective).await,
        Command::Migrate { create } => startup::migrate(settings, create).await,
        Command::Config => startup::print_lines(effective.listing()),
        Command::Check => startup::check(settings).await,
        Command::Import { file, create } => startup::import(settings, &file, create).await,
        Command::Copy { to, page } => startup::copy(settings, &to, page).await,
        Command::Health { timeout } => {
            startup::health(settings, std::time::Duration::from_secs(timeout)).await
        }
        Command::Backup { file } => startup::backup(settings, &file).await,
        Command::Restore { file, replace } => startup::restore(settings, &file, replace).await,
        Command::Openapi => {
            print!("{}", userdir::api::openapi::document_json());
            Ok(())
        }
        Command::RootKey {
            action: RootKeyAction::Rotate,
        } => startup::rotate_root_key(settings).await,
        Command::ScimToken { action } => match action {
            ScimTokenAction::Create { name } => startup::create_scim_token(settings, &name).await,
            ScimTokenAction::List => startup::list_scim_tokens(settings).await,
            ScimTokenAction::Revoke { name } => startup::revoke_scim_token(settings, &name).await,
        },
        Command::Audit {
            format,
            after,
            limit,
        } => startup::print_audit(settings, after, limit, format).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Logged for the log's readers, and said on stderr for the person at the terminal.
            let hint = hint(&error).map(|h| format!(" — {h}")).unwrap_or_default();
            tracing::error!("{error:#}{hint}");
            eprintln!("userdir: {error:#}{hint}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(effective: &Effective) -> anyhow::Result<()> {
    let settings = &effective.settings;
    let files: Vec<String> = effective
        .files()
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    tracing::info!(
        version = %env!("CARGO_PKG_VERSION"),
        database = %startup::backend(settings).describe(),
        config_files = %if files.is_empty() { "none (built-in defaults)".into() } else { files.join(", ") },
        "userdir starting"
    );
    Application::build(settings)
        .await?
        .run_until_stopped()
        .await
}

/// What to do about an error whose cause is a common operating-system refusal.
fn hint(error: &anyhow::Error) -> Option<&'static str> {
    use std::io::ErrorKind;
    let io = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<std::io::Error>())?;
    match io.kind() {
        ErrorKind::PermissionDenied => Some(
            "permission denied: the user running userdir must be allowed to use that path (the \
             database's directory must be writable by it; or set database.path / \
             USERDIR__DATABASE__PATH elsewhere)",
        ),
        ErrorKind::AddrInUse => Some(
            "another process listens on that address: stop it, or set server.port \
             (USERDIR__SERVER__PORT)",
        ),
        ErrorKind::ReadOnlyFilesystem => Some(
            "the filesystem is read-only: set database.path (USERDIR__DATABASE__PATH) to a \
             writable place",
        ),
        _ => None,
    }
}
