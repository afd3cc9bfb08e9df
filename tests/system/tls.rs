//! TLS between the service and its clients, on the real binary: `serve --tls-cert --tls-key
//! [--tls-client-ca]` and client commands with `--ca [--cert --key]`, with certificates made
//! here (a CA, a server and a client certificate it signed, and an unrelated CA with a client
//! certificate of its own). And the access token every client command sends.

use crate::support::authority::Authority;
use crate::support::{Process, data_dir, pack_png};
use rcgen::ExtendedKeyUsagePurpose;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// The certificates of one test, as files in its own folder.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let plant = Authority::new("plant CA");
        let other = Authority::new("other CA");
        let [server, server_key] = plant.sign(
            "verigrade",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let [client, client_key] =
            plant.sign("gateway-1", &[], ExtendedKeyUsagePurpose::ClientAuth);
        let [stranger, stranger_key] =
            other.sign("gateway-1", &[], ExtendedKeyUsagePurpose::ClientAuth);
        for (file, pem) in [
            ("ca.pem", &plant.pem),
            ("server.pem", &server),
            ("server.key", &server_key),
            ("client.pem", &client),
            ("client.key", &client_key),
            ("other-ca.pem", &other.pem),
            ("stranger.pem", &stranger),
            ("stranger.key", &stranger_key),
        ] {
            std::fs::write(dir.join(file), pem).unwrap();
        }
        Pki { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// `verigrade serve` over TLS, configured through the environment.
    fn serve(&self, name: &str, client_ca: bool) -> Process {
        let mut env = vec![
            ("VERIGRADE_TLS_CERT", self.path("server.pem")),
            ("VERIGRADE_TLS_KEY", self.path("server.key")),
        ];
        if client_ca {
            env.push(("VERIGRADE_TLS_CLIENT_CA", self.path("ca.pem")));
        }
        Process::start(&data_dir(&format!("tls-{name}")), &env)
    }

    /// A PNG of a good pack carrying `serial`, as a file.
    fn pack(&self, serial: &str) -> String {
        let path = self.dir.join(format!("{serial}.png"));
        std::fs::write(&path, pack_png(serial)).unwrap();
        path.display().to_string()
    }
}

/// Runs `verigrade ARGS`: exit code, stdout, stderr.
fn verigrade(args: &[&str]) -> (i32, String, String) {
    verigrade_with(args, &[])
}

fn verigrade_with(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_verigrade"))
        .args(args)
        .env_remove("VERIGRADE_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A line's `total` as `verigrade stats` prints it.
fn total(args: &[&str]) -> u64 {
    let mut all = vec!["stats", "--line", "L1"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = verigrade(&all);
    assert_eq!(code, 0, "{stderr}");
    let stats: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    stats["total"].as_u64().unwrap()
}

#[test]
fn a_client_trusts_a_tls_server_only_through_the_ca_that_signed_it() {
    let pki = Pki::new("server-only");
    let server = pki.serve("server-only", false);
    assert!(
        server.started.contains("TLS on (certificate ")
            && server.started.contains("no client certificate required"),
        "{}",
        server.started
    );
    let https = server.url.replace("http://", "https://");
    let ca = pki.path("ca.pem");
    let pack = pki.pack("SN0001");

    let (code, stdout, stderr) = verigrade(&[
        "stream", "--server", &https, "--ca", &ca, "--line", "L1", "--format", "json", &pack,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let verdict: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(verdict["verdict"], "pass", "{verdict}");
    assert_eq!(verdict["serial"], "SN0001", "{verdict}");
    // The certificate names localhost too.
    let by_name = https.replace("127.0.0.1", "localhost");
    assert_eq!(total(&["--server", &by_name, "--ca", &ca]), 1);

    let (code, _, stderr) = verigrade(&["stats", "--server", &https]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        format!(
            "verigrade: {https} is https://: give --ca FILE, the CA certificate (PEM) that signed the server's\n"
        )
    );
    let (code, _, stderr) = verigrade(&[
        "stats",
        "--server",
        &https,
        "--ca",
        &pki.path("other-ca.pem"),
    ]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        format!("verigrade: cannot connect to {https}: invalid peer certificate: UnknownIssuer\n")
    );
    let (code, _, stderr) = verigrade(&["stats", "--server", &server.url]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with(&format!("verigrade: cannot connect to {}: ", server.url))
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    let (code, _, stderr) = verigrade(&["stats", "--server", &server.url, "--ca", &ca]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--ca is for TLS, but"), "{stderr}");

    // Refused clients cost the server nothing: it serves on.
    assert_eq!(total(&["--server", &https, "--ca", &ca]), 1);
}

#[test]
fn with_a_client_ca_the_server_takes_only_clients_with_a_certificate_it_signed() {
    let pki = Pki::new("mutual");
    let server = pki.serve("mutual", true);
    assert!(
        server.started.contains(&format!(
            "client certificates signed by {} required",
            pki.path("ca.pem")
        )),
        "{}",
        server.started
    );
    let https = server.url.replace("http://", "https://");
    let ca = pki.path("ca.pem");
    let stream = |pack: &str, identity: &[&str]| {
        let mut args = vec!["stream", "--server", &https, "--ca", &ca, "--line", "L1"];
        args.extend_from_slice(identity);
        args.push(pack);
        verigrade(&args)
    };
    let (client, client_key) = (pki.path("client.pem"), pki.path("client.key"));
    let (stranger, stranger_key) = (pki.path("stranger.pem"), pki.path("stranger.key"));

    let (code, _, stderr) = stream(&pki.pack("SN0001"), &[]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with(&format!(
            "verigrade: cannot connect to {https}: the server closed the connection after the TLS handshake; it may require a client certificate (--cert, --key)"
        )) && stderr.lines().count() == 1,
        "{stderr}"
    );
    let (code, _, stderr) = stream(
        &pki.pack("SN0002"),
        &["--cert", &stranger, "--key", &stranger_key],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&format!(
            "cannot connect to {https}: the server closed the connection after the TLS handshake; it may not accept the client certificate in {stranger}"
        )),
        "{stderr}"
    );
    let identity = ["--cert", client.as_str(), "--key", client_key.as_str()];
    let (code, stdout, stderr) = stream(&pki.pack("SN0003"), &identity);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("SN0003"), "{stdout}");
    // Only the frame of the client with the right certificate was graded.
    let trusted = [["--server", https.as_str(), "--ca", ca.as_str()], identity].concat();
    assert_eq!(total(&trusted), 1);

    // The gateway goes through the same connection: over mutual TLS it sends and is answered.
    let pack = pki.pack("SN0004");
    let gateway = [
        &["gateway", "--line", "L1", "--status", "0"],
        &trusted[..],
        &[&pack],
    ]
    .concat();
    let (code, stdout, stderr) = verigrade(&gateway);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("SN0004"), "{stdout}");
}

/// `verigrade token create` on `dir`: the token it prints once.
fn create_token(dir: &str, role: &str, user: &str) -> String {
    let (code, stdout, stderr) = verigrade(&[
        "token",
        "create",
        "--data-dir",
        dir,
        "--role",
        role,
        "--user",
        user,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("it is shown only now"), "{stderr}");
    stdout.trim().to_string()
}

#[test]
fn over_tls_each_token_is_held_to_its_role_and_a_revoked_one_is_refused() {
    let pki = Pki::new("tokens");
    let data = data_dir("tls-tokens");
    let dir = data.display().to_string();
    // Tokens made before the service starts: it is under access control from its first call.
    let gateway = create_token(&dir, "gateway", "camera-1");
    let qa = create_token(&dir, "qa", "quinn");
    let env = [
        ("VERIGRADE_TLS_CERT", pki.path("server.pem")),
        ("VERIGRADE_TLS_KEY", pki.path("server.key")),
    ];
    let server = Process::start(&data, &env);
    let https = server.url.replace("http://", "https://");
    let ca = pki.path("ca.pem");
    let tls = ["--server", https.as_str(), "--ca", ca.as_str()];
    let pack = pki.pack("SN0001");
    let stream = |token: Option<&str>| {
        let mut args = [&["stream", "--line", "L1"][..], &tls[..]].concat();
        let with_token;
        if let Some(token) = token {
            with_token = ["--token", token];
            args.extend_from_slice(&with_token);
        }
        args.push(&pack);
        verigrade(&args)
    };

    let (code, _, stderr) = stream(None);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "verigrade: this server requires a token: send `authorization: Bearer TOKEN` (--token or VERIGRADE_TOKEN) (Unauthenticated)\n"
    );
    let (code, stdout, stderr) = stream(Some(&gateway));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("SN0001"), "{stdout}");

    let serials = pki.dir.join("serials.txt");
    std::fs::write(&serials, "SN0002\nSN0003\n").unwrap();
    let serials = serials.display().to_string();
    let commission = |token: &str| {
        let args = [
            &[
                "commission",
                "--line",
                "L1",
                "--batch",
                "B1",
                "--gtin",
                "09506000134352",
            ][..],
            &tls[..],
            &["--token", token, &serials],
        ]
        .concat();
        verigrade(&args)
    };
    let (code, _, stderr) = commission(&gateway);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "verigrade: camera-1 (gateway) may not commission serials: /verigrade.v1.Serials/Commission needs the role qa, admin (PermissionDenied)\n"
    );
    let (code, _, stderr) = commission(&qa);
    assert_eq!(code, 0, "{stderr}");

    // qa signs the batch, then reopens it with a reason; a gateway may do neither.
    let batch = |token: &str, command: &[&str]| {
        let which = ["--line", "L1", "--batch", "12AB34", "--token", token];
        verigrade(&[&["batch"][..], command, &which[..], &tls[..]].concat())
    };
    let close = ["close", "--meaning", "approved"];
    let (code, _, stderr) = batch(&gateway, &close);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("may not close or reopen batches"),
        "{stderr}"
    );
    let (code, stdout, stderr) = batch(&qa, &close);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("batch 12AB34 on line L1 closed: signed approved by quinn at "),
        "{stdout}"
    );
    let (code, stdout, stderr) = batch(&qa, &["reopen", "--reason", "label reprinted"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("batch 12AB34 on line L1 reopened: label reprinted"),
        "{stdout}"
    );

    // Revoked while the service runs: refused from the next call on.
    let (code, _, stderr) = verigrade(&[
        "token",
        "revoke",
        "--data-dir",
        &dir,
        "1",
        "--reason",
        "camera replaced",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = stream(Some(&gateway));
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "verigrade: token 1 of camera-1 was revoked (Unauthenticated)\n"
    );

    // qa reads the trail over TLS: the refusals and who did what are in it.
    let list = [
        &["audit", "list", "--format", "json"][..],
        &tls[..],
        &["--token", &qa],
    ]
    .concat();
    let (code, stdout, stderr) = verigrade(&list);
    assert_eq!(code, 0, "{stderr}");
    let entries: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let of = |action: &str| {
        entries
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| {
                format!(
                    "{} {}",
                    e["user"].as_str().unwrap(),
                    e["role"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(of("verdict.stored"), ["camera-1 gateway"]);
    assert_eq!(of("serials.commissioned"), ["quinn qa"]);
    assert_eq!(of("access.denied").len(), 4, "{entries:?}");
    assert_eq!(of("batch.closed"), ["quinn qa"]);
    assert_eq!(of("batch.reopened"), ["quinn qa"]);
    assert_eq!(of("token.created").len(), 2);
    assert_eq!(of("token.revoked").len(), 1);
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    let (code, stdout, stderr) = verigrade(&["audit", "verify", "--data-dir", &dir]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn beyond_loopback_the_service_needs_tls_and_tokens_or_insecure() {
    let pki = Pki::new("exposure");
    let data = data_dir("tls-exposure");
    let dir = data.display().to_string();
    let (code, _, stderr) = verigrade(&["serve", "--listen", "0.0.0.0:0", "--data-dir", &dir]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("verigrade: invalid configuration listen: 0.0.0.0:")
            && stderr.contains("the service has neither TLS (--tls-cert, --tls-key) nor tokens")
            && stderr.contains("give --insecure")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    // OPC UA is held to the same rule, gRPC on loopback or not.
    let (code, _, stderr) = verigrade(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--opcua-listen",
        "0.0.0.0:0",
        "--data-dir",
        &dir,
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("verigrade: invalid configuration opcua_listen: OPC UA: 0.0.0.0:")
            && stderr.contains("neither TLS")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    let tls = [
        ("VERIGRADE_TLS_CERT", pki.path("server.pem")),
        ("VERIGRADE_TLS_KEY", pki.path("server.key")),
    ];
    let (code, _, stderr) = verigrade_with(
        &["serve", "--listen", "0.0.0.0:0", "--data-dir", &dir],
        &[
            ("VERIGRADE_TLS_CERT", &tls[0].1),
            ("VERIGRADE_TLS_KEY", &tls[1].1),
        ],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no tokens (verigrade token create)"),
        "{stderr}"
    );

    // With TLS and a token it serves; plain, only when told --insecure, and it says so.
    create_token(&dir, "admin", "root");
    let opcua_too = [&tls[..], &[("VERIGRADE_OPCUA_LISTEN", "0.0.0.0:0".into())]].concat();
    let server = Process::start_on("0.0.0.0:0", &data, &opcua_too);
    let (status, stderr) = server.terminate();
    assert!(
        status.success() && stderr.contains("OPC UA on opc.tcp://0.0.0.0:"),
        "{stderr}"
    );
    let server = Process::start_on("0.0.0.0:0", &data, &[("VERIGRADE_INSECURE", "1".into())]);
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: 0.0.0.0:") && stderr.contains("no TLS"),
        "{stderr}"
    );
}

#[test]
fn bad_tls_files_are_refused_in_one_line_before_anything_listens_or_opens() {
    let pki = Pki::new("bad-files");
    let missing = pki.path("missing.pem");
    let (cert, key, ca) = (
        pki.path("server.pem"),
        pki.path("server.key"),
        pki.path("ca.pem"),
    );
    std::fs::write(
        pki.dir.join("garbled.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let garbled = pki.path("garbled.pem");
    let encrypted = pki.dir.join("encrypted.key");
    std::fs::write(
        &encrypted,
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )
    .unwrap();
    let encrypted = encrypted.display().to_string();
    let client_key = pki.path("client.key");
    for (flags, says) in [
        (
            vec!["--tls-cert", &missing, "--tls-key", &key],
            format!("invalid configuration tls_cert: cannot read {missing}: No such file"),
        ),
        (
            vec!["--tls-cert", &key, "--tls-key", &key],
            format!(
                "invalid configuration tls_cert: {key} holds no certificate (a PEM block \"-----BEGIN CERTIFICATE-----\")"
            ),
        ),
        (
            vec!["--tls-cert", &garbled, "--tls-key", &key],
            format!(
                "invalid configuration tls_cert: {garbled} is not valid PEM: a block is not valid base64"
            ),
        ),
        (
            vec!["--tls-cert", &cert, "--tls-key", &cert],
            format!("invalid configuration tls_key: {cert} holds no private key"),
        ),
        (
            vec!["--tls-cert", &cert, "--tls-key", &encrypted],
            format!("invalid configuration tls_key: {encrypted} holds an encrypted private key"),
        ),
        (
            vec!["--tls-cert", &cert, "--tls-key", &client_key],
            format!(
                "invalid configuration tls_key: cannot use the certificate in {cert} with the key in {client_key}: keys may not be consistent: KeyMismatch"
            ),
        ),
        (
            vec!["--tls-cert", &cert],
            "invalid configuration tls_cert: needs tls_key".to_string(),
        ),
        (
            vec!["--tls-client-ca", &ca],
            "invalid configuration tls_client_ca: client certificates need TLS".to_string(),
        ),
        (
            vec![
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
                "--tls-client-ca",
                &missing,
            ],
            format!("invalid configuration tls_client_ca: cannot read {missing}"),
        ),
    ] {
        let store = pki.dir.join("store");
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--data-dir"];
        let store_arg = store.display().to_string();
        args.push(&store_arg);
        args.extend(flags.iter().copied());
        let (code, _, stderr) = verigrade(&args);
        assert_eq!(code, 2, "{flags:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{flags:?}: one line: {stderr:?}");
        assert!(
            stderr.starts_with(&format!("verigrade: {says}")),
            "{flags:?}: {stderr}"
        );
        assert!(!store.exists(), "{flags:?}: the store was opened");
    }

    // A client's files are checked before it connects (nothing listens on port 9).
    let server = "https://127.0.0.1:9";
    let client = pki.path("client.pem");
    for (flags, says) in [
        (
            vec!["--ca", &key],
            format!("--ca: {key} holds no certificate"),
        ),
        (
            vec!["--ca", &ca, "--cert", &client, "--key", &key],
            format!(
                "cannot use the certificate in {client} with the key in {key}: keys may not be consistent: KeyMismatch"
            ),
        ),
        (
            vec!["--ca", &ca, "--cert", &client, "--key", &missing],
            format!("--key: cannot read {missing}"),
        ),
    ] {
        let mut args = vec!["stats", "--server", server];
        args.extend(flags.iter().copied());
        let (code, _, stderr) = verigrade(&args);
        assert_eq!(code, 2, "{flags:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("verigrade: {says}")),
            "{flags:?}: {stderr}"
        );
    }
}

/// A gRPC server on a free port that answers health checks (and nothing else) and writes down
/// the `authorization` metadata of every call it gets, answered or not.
async fn recording_server() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = {
        let seen = seen.clone();
        move |request: tonic::Request<()>| {
            let token = request
                .metadata()
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string());
            seen.lock().unwrap().push(token);
            Ok(request)
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (_, health) = tonic_health::server::health_reporter();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(tonic::service::InterceptorLayer::new(record))
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (url, seen)
}

#[tokio::test]
async fn every_call_of_a_client_command_carries_its_token() {
    let (url, seen) = recording_server().await;
    let run = |args: Vec<String>, env: Vec<(&'static str, &'static str)>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            verigrade_with(&args, &env)
        })
    };
    let stats = |token: &[&str]| {
        let mut args = vec!["stats".to_string(), "--server".into(), url.clone()];
        args.extend(token.iter().map(|t| t.to_string()));
        args
    };
    // The server knows no Verdicts service: the command fails after two calls, the connection
    // check and its own.
    let (code, _, stderr) = run(stats(&["--token", "s3cret.Token-1"]), vec![])
        .await
        .unwrap();
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not implemented"), "{stderr}");
    let bearer = Some("Bearer s3cret.Token-1".to_string());
    assert_eq!(*seen.lock().unwrap(), [bearer.clone(), bearer]);

    seen.lock().unwrap().clear();
    run(stats(&[]), vec![("VERIGRADE_TOKEN", "from-env")])
        .await
        .unwrap();
    let bearer = Some("Bearer from-env".to_string());
    assert_eq!(*seen.lock().unwrap(), [bearer.clone(), bearer]);

    seen.lock().unwrap().clear();
    run(stats(&[]), vec![]).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), [None, None]);

    // A token gRPC metadata cannot carry is refused before anything is sent, and not shown.
    seen.lock().unwrap().clear();
    for token in ["sécret", "two words", "tab\there"] {
        let (code, _, stderr) = run(stats(&["--token", token]), vec![]).await.unwrap();
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.starts_with("verigrade: --token / VERIGRADE_TOKEN: character ")
                && stderr.contains("is not printable ASCII"),
            "{stderr}"
        );
        assert!(!stderr.contains(token), "{stderr}");
    }
    assert!(seen.lock().unwrap().is_empty());

    // Help shows the variable, never its value.
    let (_, help, _) = run(
        vec!["stats".into(), "--help".into()],
        vec![("VERIGRADE_TOKEN", "hidden-value")],
    )
    .await
    .unwrap();
    assert!(
        help.contains("VERIGRADE_TOKEN") && !help.contains("hidden-value"),
        "{help}"
    );
}

/// `GET path` over HTTPS to `address`, trusting `ca` and showing the client certificate
/// `client` (certificate and key files) when given: the status code and body, or why the
/// connection failed.
fn https_get(
    address: &str,
    path: &str,
    ca: &str,
    client: Option<(&str, &str)>,
) -> Result<(u16, String), String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let request =
            format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        tls.read_to_string(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        let status = answer
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no HTTP answer: {answer:?}"))?;
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        Ok((status, body.to_string()))
    })
}

#[test]
fn with_tls_the_dashboard_and_metrics_are_https_with_the_services_certificate_and_client_ca() {
    let pki = Pki::new("https");
    let ca = pki.path("ca.pem");
    let server = pki.serve("https", false);
    let url = server.printed_url("https://");
    let address = url.trim_start_matches("https://").trim_end_matches('/');
    let (status, body) = https_get(address, "/metrics", &ca, None).unwrap();
    assert!(
        status == 200 && body.ends_with("# EOF\n"),
        "{status} {body}"
    );
    let (status, body) = https_get(address, "/", &ca, None).unwrap();
    assert!(
        status == 200 && body.contains("<h1>Lines</h1>"),
        "{status} {body}"
    );
    // Trusting another CA, the client refuses the server; plain HTTP gets no page.
    let other = pki.path("other-ca.pem");
    assert!(https_get(address, "/", &other, None).is_err());
    let mut plain = std::net::TcpStream::connect(address).unwrap();
    use std::io::{Read, Write};
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let _ = plain.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "plain HTTP was served"
    );
    drop(server);

    // With a client CA, only clients with a certificate it signed get through, as on gRPC.
    let server = pki.serve("https-mutual", true);
    let url = server.printed_url("https://");
    let address = url.trim_start_matches("https://").trim_end_matches('/');
    let client = (pki.path("client.pem"), pki.path("client.key"));
    let stranger = (pki.path("stranger.pem"), pki.path("stranger.key"));
    let (status, _) = https_get(address, "/metrics", &ca, Some((&client.0, &client.1))).unwrap();
    assert_eq!(status, 200);
    assert!(https_get(address, "/metrics", &ca, None).is_err());
    assert!(https_get(address, "/metrics", &ca, Some((&stranger.0, &stranger.1))).is_err());
}
