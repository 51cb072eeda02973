//! The `meshkv` command: the server (`serve`), thin clients of its HTTP API (`get`, `put`,
//! `del`, `ls`, `status`, `watch`, `members`, `decommission`, `verify --peer`), and local tools
//! (`demo`, `example`, `verify`, `renew-id`).
//!
//! Exit codes: 0 success; 1 a failure (server unreachable, key not found, verify found a
//! problem); 2 bad usage or a bad configuration (the message names the field).

mod local;
mod remote;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use meshkv::server::{ServeArgs, Server, ServerConfig};

#[derive(Parser)]
#[command(
    name = "meshkv",
    version,
    about = "Embedded multi-master replicated key-value store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The server a client command talks to.
#[derive(Args, Clone)]
struct Addr {
    /// The server's HTTP address.
    #[arg(long, env = "MESHKV_ADDR", default_value = "http://127.0.0.1:8080")]
    addr: String,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node: database, replication and HTTP API. Every option can also be set in the
    /// config file and as a MESHKV_* environment variable (flag > environment > file >
    /// default). Cluster keys come only from --cluster-key-file or MESHKV_CLUSTER_KEY (hex,
    /// comma-separated). Prints `listening http=ADDR replication=ADDR` on stdout once ready;
    /// SIGINT/SIGTERM shut it down cleanly (exit 0). Logs go to stderr, filtered by RUST_LOG
    /// (default info).
    Serve(Box<ServeArgs>),
    /// Print a key's value (raw bytes) to stdout.
    Get {
        /// The key (raw text; the client percent-encodes it).
        key: String,
        #[command(flatten)]
        addr: Addr,
    },
    /// Store a value at a key.
    Put {
        /// The key.
        key: String,
        /// The value; `-` reads it from standard input.
        value: String,
        /// Expire the key this many seconds from now (without it, a deadline the key had is
        /// cleared, as Redis SET does).
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        ttl: Option<u64>,
        #[command(flatten)]
        addr: Addr,
    },
    /// Delete a key (a tombstone that replicates).
    Del {
        /// The key.
        key: String,
        #[command(flatten)]
        addr: Addr,
    },
    /// List live keys and values under a prefix, in key order.
    Ls {
        /// The prefix (all keys when omitted).
        prefix: Option<String>,
        /// Keys fetched per request.
        #[arg(long, default_value_t = 100)]
        page: usize,
        #[command(flatten)]
        addr: Addr,
    },
    /// Show the node, its peers (state, how found, cursor, lag, last error) and a progress bar
    /// for each peer still catching up.
    Status {
        #[command(flatten)]
        addr: Addr,
    },
    /// Follow changes under a prefix (server-sent events), one line per change.
    Watch {
        /// The prefix (all keys when omitted).
        prefix: Option<String>,
        /// Resume above this sequence (replays what the log holds above it first).
        #[arg(long)]
        from: Option<u64>,
        #[command(flatten)]
        addr: Addr,
    },
    /// Three replicating nodes in one process on loopback: writes, convergence, a table.
    Demo {
        /// Find each other by UDP multicast kept on this host instead of peer lists.
        #[arg(long)]
        discovery: bool,
    },
    /// Open a database (a temporary one unless DIR is given) and walk through the API.
    Example {
        /// The database folder.
        dir: Option<PathBuf>,
    },
    /// Check a database's storage invariants (DIR), or, with --peer, ask the running server
    /// to compare its digests with that peer's now and repair what differs; prints what
    /// differed. Exit 1 when a problem or a difference is found.
    Verify {
        /// The database folder (of a stopped node).
        #[arg(required_unless_present = "peer", conflicts_with = "peer")]
        dir: Option<PathBuf>,
        /// A peer of the server (its replication address, host:port, as in `meshkv status`).
        #[arg(long, value_name = "HOST:PORT")]
        peer: Option<String>,
        #[command(flatten)]
        addr: Addr,
    },
    /// List the cluster's members as the server knows them: id, state (active, gone,
    /// decommissioned), address, when last heard, and how far the server holds each one's
    /// writes.
    Members {
        #[command(flatten)]
        addr: Addr,
    },
    /// Remove a member for good (stop it first): checks that every other member holds its
    /// writes (or skips that with --force, losing the ones they lack); its id is refused from
    /// then on, everywhere.
    Decommission {
        /// The member's node id (32 hex digits, as `meshkv members` prints it).
        node_id: String,
        /// Skip the check that every other member holds its writes.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        addr: Addr,
    },
    /// Give a stopped node's folder a new node id (the repair for a folder restored from an old
    /// copy, which replication refuses to start): its data stays, its peer cursors are cleared,
    /// peers pull everything from the new id. Remove any `node_id` setting from its config.
    RenewId {
        /// The database folder.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => return serve(&args),
        Command::Demo { discovery } => local::demo(discovery),
        Command::Example { dir } => local::example(dir.as_deref().and_then(|d| d.to_str())),
        Command::Verify {
            peer: Some(peer),
            addr,
            ..
        } => remote::run(&addr.addr, remote::Op::VerifyPeer(peer)),
        Command::Verify { dir, .. } => match dir.as_deref().and_then(|d| d.to_str()) {
            Some(d) => local::verify(d),
            None => Err("the folder name is not UTF-8".into()),
        },
        Command::RenewId { dir } => match dir.to_str() {
            Some(d) => local::renew_id(d),
            None => Err("the folder name is not UTF-8".into()),
        },
        Command::Get { key, addr } => remote::run(&addr.addr, remote::Op::Get(key)),
        Command::Put {
            key,
            value,
            ttl,
            addr,
        } => remote::run(&addr.addr, remote::Op::Put(key, value, ttl)),
        Command::Del { key, addr } => remote::run(&addr.addr, remote::Op::Del(key)),
        Command::Ls { prefix, page, addr } => {
            remote::run(&addr.addr, remote::Op::Ls(prefix.unwrap_or_default(), page))
        }
        Command::Status { addr } => remote::run(&addr.addr, remote::Op::Status),
        Command::Members { addr } => remote::run(&addr.addr, remote::Op::Members),
        Command::Decommission {
            node_id,
            force,
            addr,
        } => remote::run(&addr.addr, remote::Op::Decommission(node_id, force)),
        Command::Watch { prefix, from, addr } => remote::run(
            &addr.addr,
            remote::Op::Watch(prefix.unwrap_or_default(), from),
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("meshkv: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `meshkv serve`: exit 2 on a bad config, 1 on a failure, 0 after a clean shutdown.
fn serve(args: &ServeArgs) -> ExitCode {
    let config = match ServerConfig::load(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("meshkv: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("meshkv: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        tracing::info!(data_dir = %config.data_dir.display(), options = ?config.options, node = ?config.node, "starting");
        let server = Server::start(config).await?;
        let resp = server
            .resp_addr()
            .map(|a| format!(" resp={a}"))
            .unwrap_or_default();
        println!(
            "listening http={} replication={}{resp}",
            server.http_addr(),
            server.replication_addr()
        );
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        tracing::info!(http = %server.http_addr(), replication = %server.replication_addr(), "meshkv serving");
        server
            .run_until(meshkv::server::run::termination_signal())
            .await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ meshkv::Error::InvalidOptions { .. }) => {
            eprintln!("meshkv: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("meshkv: {e}");
            ExitCode::FAILURE
        }
    }
}
