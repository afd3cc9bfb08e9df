//! `verigrade serve`: the gRPC service, until SIGINT or SIGTERM.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use verigrade::serve::config::Config;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:50051].
    #[arg(long)]
    listen: Option<String>,
    /// Address of the OPC UA server for PLCs and SCADA (e.g. 0.0.0.0:4840) [default: off].
    #[arg(long)]
    opcua_listen: Option<String>,
    /// Address of the HTTP server, Prometheus metrics at /metrics (`off`: none) [default:
    /// 127.0.0.1:8080].
    #[arg(long)]
    http_listen: Option<String>,
    /// Serve over TLS with this certificate (PEM; intermediates after it) [default: plain
    /// HTTP/2].
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM, unencrypted).
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Mutual TLS: serve only clients with a certificate this CA (PEM) signed.
    #[arg(long, value_name = "FILE")]
    tls_client_ca: Option<PathBuf>,
    /// Serve gRPC, OPC UA or HTTP on an address other machines reach without TLS and tokens
    /// anyway.
    #[arg(long)]
    insecure: bool,
    /// Store and evidence folder [default: ./verigrade-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where verdicts, serials and the audit trail are kept: `sqlite` (embedded, in the data
    /// folder) or a PostgreSQL URL that several nodes share, e.g.
    /// postgres://verigrade@db.plant/verigrade [default: sqlite].
    #[arg(long, value_name = "sqlite|postgres://…")]
    store: Option<String>,
    /// Configuration file (TOML); VERIGRADE_* environment variables override it, flags override both.
    #[arg(long, env = "VERIGRADE_CONFIG")]
    config: Option<PathBuf>,
}

pub fn run(args: &ServeArgs) -> Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(listen) = &args.listen {
        config.listen.clone_from(listen);
    }
    if let Some(opcua) = &args.opcua_listen {
        config.opcua_listen.clone_from(opcua);
    }
    if let Some(http) = &args.http_listen {
        config.http_listen.clone_from(http);
    }
    for (flag, setting) in [
        (&args.tls_cert, &mut config.tls_cert),
        (&args.tls_key, &mut config.tls_key),
        (&args.tls_client_ca, &mut config.tls_client_ca),
    ] {
        if flag.is_some() {
            setting.clone_from(flag);
        }
    }
    config.insecure |= args.insecure;
    if let Some(dir) = &args.data_dir {
        config.data_dir.clone_from(dir);
    }
    if let Some(store) = &args.store {
        config.store.clone_from(store);
    }
    verigrade::serve::tls::check(&config)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let stopped = verigrade::serve::run(config, listener, shutdown_signal()).await?;
        eprintln!("verigrade: stopped; {stopped}");
        Ok(())
    })
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM. The SIGTERM handler is in place once this returns,
/// before the service says it serves: a service manager that stops it at once still gets a
/// clean stop.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        let interrupt = tokio::signal::ctrl_c();
        #[cfg(unix)]
        if let Ok(mut terminate) = terminate {
            tokio::select! {
                _ = interrupt => {},
                _ = terminate.recv() => {},
            }
            return;
        }
        let _ = interrupt.await;
    }
}
