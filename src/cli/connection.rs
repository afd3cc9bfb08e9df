//! How every client command reaches the service: the same flags (`--server`, `--token`,
//! `--ca`, `--cert`, `--key`) and one way to open a channel with them, so that TLS and the
//! access token work alike for all of them.

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use std::error::Error as _;
use std::path::{Path, PathBuf};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use verigrade::serve::tls::{HANDSHAKE_TIMEOUT, causes, read_certificates, read_private_key};

const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// A channel to the service whose every call carries the access token, when there is one:
/// what every generated client of a command is built on.
pub type Authorized = InterceptedService<Channel, BearerToken>;

/// The flags that say which service a command talks to, and how.
#[derive(Args)]
pub struct Connection {
    /// The service: http://HOST:PORT, or https://HOST:PORT for TLS (with --ca).
    #[arg(long, default_value = DEFAULT_SERVER)]
    pub server: String,
    /// Access token, sent with every call as `authorization: Bearer TOKEN`. The environment
    /// keeps it out of the process list.
    #[arg(long, env = "VERIGRADE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// CA certificate (PEM) that signed the server's certificate; required for https://
    /// (no system roots are trusted: a line's servers have the plant's own CA).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Client certificate (PEM) for a server that requires one (mutual TLS); with --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key of --cert (PEM, unencrypted).
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
}

impl Connection {
    /// Checks the flags and reads the files, then connects.
    pub async fn connect(&self) -> Result<Authorized> {
        self.connector()?.connect().await
    }

    /// The flags checked and their files read, ready to connect as often as needed.
    pub fn connector(&self) -> Result<Connector> {
        let bearer = BearerToken::new(self.token.as_deref())?;
        let endpoint = Endpoint::from_shared(self.server.clone()).map_err(|_| {
            anyhow!(
                "--server {:?}: not a URL (expected http://HOST:PORT or https://HOST:PORT)",
                self.server
            )
        })?;
        let (endpoint, refused) = match endpoint.uri().scheme_str() {
            Some("https") => self.with_tls(endpoint)?,
            Some("http") => {
                let tls_flags = [("--ca", &self.ca), ("--cert", &self.cert)];
                if let Some((flag, _)) = tls_flags.iter().find(|(_, file)| file.is_some()) {
                    bail!(
                        "{flag} is for TLS, but {} is plain http://: use https://",
                        self.server
                    );
                }
                (endpoint, None)
            }
            _ => bail!(
                "--server {}: expected http://HOST:PORT or https://HOST:PORT",
                self.server
            ),
        };
        Ok(Connector {
            endpoint,
            bearer,
            server: self.server.clone(),
            refused,
        })
    }

    /// `endpoint` over TLS, trusting the server's CA and showing the client's certificate when
    /// given; and what a connection closed right after the handshake most likely means.
    fn with_tls(&self, endpoint: Endpoint) -> Result<(Endpoint, Option<String>)> {
        let ca = self.ca.as_deref().ok_or_else(|| {
            anyhow!(
                "{} is https://: give --ca FILE, the CA certificate (PEM) that signed the server's",
                self.server
            )
        })?;
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(
                read_certificates(ca).context("--ca")?,
            ))
            .timeout(HANDSHAKE_TIMEOUT);
        let refused = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                tls = tls.identity(Identity::from_pem(
                    read_certificates(cert).context("--cert")?,
                    read_private_key(key).context("--key")?,
                ));
                format!(
                    "it may not accept the client certificate in {}",
                    cert.display()
                )
            }
            _ => "it may require a client certificate (--cert, --key)".into(),
        };
        // Only the client's own certificate and key can be found wrong here.
        let endpoint = endpoint.tls_config(tls).map_err(|e| {
            anyhow!(
                "cannot use the certificate in {} with the key in {}: {}",
                self.cert.as_deref().unwrap_or(Path::new("")).display(),
                self.key.as_deref().unwrap_or(Path::new("")).display(),
                causes(&e)
            )
        })?;
        Ok((endpoint, Some(refused)))
    }
}

/// A service to connect to, its flags checked and files read: connecting again (a gateway
/// whose server went away) reads nothing again.
pub struct Connector {
    endpoint: Endpoint,
    bearer: BearerToken,
    server: String,
    /// Over TLS: what a connection closed right after the handshake most likely means.
    refused: Option<String>,
}

impl Connector {
    /// Connects, then makes one call (a health check) to see the connection work: TLS 1.3
    /// tells a client that the server refused its certificate only after the handshake, so
    /// without it a refusal would show as a broken call later. Any answer, even a refusal of
    /// the call, shows the connection works.
    pub async fn connect(&self) -> Result<Authorized> {
        let channel = self
            .endpoint
            .connect()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let service = InterceptedService::new(channel, self.bearer.clone());
        let answer = HealthClient::new(service.clone())
            .check(HealthCheckRequest::default())
            .await;
        // A status the server sent has no source; one made of a transport error has it.
        if let Err(status) = answer
            && let Some(cause) = status.source()
        {
            return Err(match &self.refused {
                Some(refused) => anyhow!(
                    "cannot connect to {}: the server closed the connection after the TLS handshake; {refused} ({})",
                    self.server,
                    causes(cause)
                ),
                None => self.unreachable(cause),
            });
        }
        Ok(service)
    }

    fn unreachable(&self, cause: &(dyn std::error::Error + 'static)) -> anyhow::Error {
        anyhow!("cannot connect to {}: {}", self.server, causes(cause))
    }
}

/// Puts `authorization: Bearer TOKEN` on every call; without a token, nothing.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl BearerToken {
    /// The header for `token` (none when absent or empty); an error when gRPC metadata cannot
    /// carry it: only printable ASCII, no spaces.
    pub fn new(token: Option<&str>) -> Result<BearerToken> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Ok(BearerToken(None));
        };
        // The token itself is never shown: error messages end up in logs.
        if let Some(at) = token.chars().position(|c| !c.is_ascii_graphic()) {
            bail!(
                "--token / VERIGRADE_TOKEN: character {} is not printable ASCII; a token is sent as gRPC metadata, which carries no spaces, control or non-ASCII characters",
                at + 1
            );
        }
        let mut value: MetadataValue<Ascii> = format!("Bearer {token}")
            .parse()
            .context("--token / VERIGRADE_TOKEN: not valid as gRPC metadata")?;
        // Kept out of HTTP/2 header compression tables.
        value.set_sensitive(true);
        Ok(BearerToken(Some(value)))
    }
}

impl Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}
