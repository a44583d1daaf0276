//! A tiny client for Outpost's own sync and hub commands: one TCP connection, OP_MSG requests
//! built with `outpost_wire::encode`, replies read with `outpost_wire::parse_header` and
//! `decode`. Used by the edge's sync task and the `outpost hub edge ...` commands, so the binary
//! needs no MongoDB driver.
//!
//! With `tls=true` (or `ssl=true`) in the hub's URI the connection uses TLS (rustls), verifying
//! the hub's certificate against the public web roots, or against a private CA given as
//! `tlsCAFile=PATH` in the URI or the edge's `hub_tls_ca_file` setting.
//! Right after connecting it offers zstd in a `hello`; when the hub accepts, requests whose
//! compressed form is smaller go as OP_COMPRESSED (and the hub answers those compressed).
//! Bytes on the wire are counted in a [`LinkBytes`] when one is given. A URI with
//! `USER:PASSWORD@` logs in with SCRAM right after (see [`super::login`]).
//!
//! It is blocking on purpose: the sync engine runs on its own thread (it reads storage, which
//! blocks anyway) and the CLI makes one request at a time. Every read and write has a timeout,
//! so a dead hub fails a request instead of hanging the sync thread.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bson::{doc, Bson, Document};
use outpost_sync::{Error, Link, LinkBytes, Result};
use outpost_wire::{Compressor, Message, OpMsg, HEADER_LEN};

/// A connection to a hub.
pub struct HubClient {
    stream: Stream,
    next_request_id: i32,
    /// zstd, when the hub accepted it in the `hello` after connecting.
    compressor: Option<Compressor>,
    /// Where the bytes on the wire are counted.
    link_bytes: Arc<LinkBytes>,
    /// The edge the hub bound this connection to (`outpostSyncHello`).
    bound_edge: Option<String>,
}

/// `mongodb://host:port/...?...` (or a bare `host:port`) -> `host:port`; the port defaults to
/// 27017.
pub fn host_and_port(uri: &str) -> Result<String> {
    let rest = uri.strip_prefix("mongodb://").unwrap_or(uri);
    let rest = rest.split(['/', '?']).next().unwrap_or_default();
    let rest = rest.rsplit('@').next().unwrap_or_default();
    if rest.is_empty() || rest.contains(',') {
        return Err(Error::Coded {
            code: 2,
            message: format!(
                "invalid hub address '{uri}': expected mongodb://HOST:PORT (one host)"
            ),
        });
    }
    let has_port = match rest.rsplit_once(':') {
        Some((_, port)) => {
            !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) && !rest.ends_with(']')
        }
        None => false,
    };
    Ok(if has_port {
        rest.to_string()
    } else {
        format!("{rest}:27017")
    })
}

/// The connection: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(stream) => stream,
            Stream::Tls(stream) => &stream.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(stream) => stream.read(buf),
            Stream::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(stream) => stream.write(buf),
            Stream::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(stream) => stream.flush(),
            Stream::Tls(stream) => stream.flush(),
        }
    }
}

/// The TLS options of a hub URI: `tls=true` or `ssl=true` turns TLS on; `tlsCAFile=PATH`
/// names a private CA (PEM). Returns `(tls, ca_file)`.
pub fn tls_options(uri: &str) -> Result<(bool, Option<PathBuf>)> {
    let query = uri.split_once('?').map_or("", |(_, query)| query);
    let mut tls = false;
    let mut ca_file = None;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key.to_ascii_lowercase().as_str() {
            "tls" | "ssl" => {
                tls = match value.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(uri_error(uri, &format!("{key} must be true or false"))),
                }
            }
            "tlscafile" if !value.is_empty() => ca_file = Some(PathBuf::from(value)),
            _ => {}
        }
    }
    if ca_file.is_some() && !tls {
        return Err(uri_error(uri, "tlsCAFile needs tls=true"));
    }
    Ok((tls, ca_file))
}

fn uri_error(uri: &str, message: &str) -> Error {
    Error::Coded {
        code: 2,
        message: format!("invalid hub address '{uri}': {message}"),
    }
}

impl HubClient {
    /// Connects to the hub at `uri`
    /// (`mongodb://[USER:PASSWORD@]HOST:PORT[/?tls=true&tlsCAFile=PATH]`), negotiates
    /// compression and logs in when the URI names a user.
    pub fn connect(uri: &str, timeout: Duration) -> Result<HubClient> {
        HubClient::connect_with(uri, timeout, None, Arc::default())
    }

    /// Connects to the hub at `uri`; with TLS, `ca_file` (when the URI names none) is the CA
    /// that signed the hub's certificate. The bytes on the wire (the `hello` included) are
    /// counted in `link_bytes`.
    pub fn connect_with(
        uri: &str,
        timeout: Duration,
        ca_file: Option<&Path>,
        link_bytes: Arc<LinkBytes>,
    ) -> Result<HubClient> {
        let address = host_and_port(uri)?;
        let (tls, uri_ca_file) = tls_options(uri)?;
        let link_error = |error: std::io::Error| Error::Link(format!("{address}: {error}"));
        let socket_address = address
            .to_socket_addrs()
            .map_err(link_error)?
            .next()
            .ok_or_else(|| Error::Link(format!("{address}: no address")))?;
        let stream = TcpStream::connect_timeout(&socket_address, timeout).map_err(link_error)?;
        stream.set_read_timeout(Some(timeout)).map_err(link_error)?;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(link_error)?;
        let _ = stream.set_nodelay(true);
        let stream = match tls {
            false => Stream::Plain(stream),
            true => {
                let ca_file = uri_ca_file.as_deref().or(ca_file);
                Stream::Tls(Box::new(tls_stream(&address, stream, ca_file)?))
            }
        };
        let mut client = HubClient {
            stream,
            next_request_id: 1,
            bound_edge: None,
            compressor: None,
            link_bytes,
        };
        client.negotiate_compression()?;
        if let Some(credentials) = super::login::credentials(uri)? {
            super::login::log_in(&credentials, |db, body| client.command_on(db, body))?;
        }
        Ok(client)
    }

    /// Offers zstd in a `hello`; a hub that does not list it in its answer (an older one, or
    /// one that does not compress) gets uncompressed requests.
    fn negotiate_compression(&mut self) -> Result<()> {
        let offered = Compressor::Zstd;
        let reply = self.command(doc! {"hello": 1, "compression": [offered.name()]})?;
        let accepted = match reply.get("compression") {
            Some(Bson::Array(names)) => names
                .iter()
                .any(|name| matches!(name, Bson::String(name) if name == offered.name())),
            _ => false,
        };
        self.compressor = accepted.then_some(offered);
        Ok(())
    }

    /// The compressor requests use, if the hub accepted one.
    pub fn compressor(&self) -> Option<Compressor> {
        self.compressor
    }

    /// Sends every further request uncompressed (the hub then answers uncompressed), to
    /// measure what compression saves.
    pub fn disable_compression(&mut self) {
        self.compressor = None;
    }

    /// Another handle to the connection's socket (shutting it down interrupts a blocked
    /// request).
    pub fn socket(&self) -> std::io::Result<TcpStream> {
        self.stream.tcp().try_clone()
    }

    /// Runs `body` (first key = command name) against the `admin` database; returns the reply
    /// body, or the hub's error (`{ok: 0}`) with its code and message.
    pub fn command(&mut self, body: Document) -> Result<Document> {
        self.command_on("admin", body)
    }

    /// Runs `body` against database `db`.
    pub fn command_on(&mut self, db: &str, body: Document) -> Result<Document> {
        self.send_on(db, body)?;
        self.receive()
    }

    /// Sends `body` (against the `admin` database) without waiting for the reply: the next
    /// [`Self::receive`] reads it. The hub answers a connection's requests in order, so a
    /// caller may do other work while one is in flight.
    pub fn send(&mut self, body: Document) -> Result<()> {
        self.send_on("admin", body)
    }

    fn send_on(&mut self, db: &str, mut body: Document) -> Result<()> {
        body.insert("$db", db);
        let request_id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1);
        let message = Message::Msg(OpMsg {
            flags: 0,
            body,
            sequences: Vec::new(),
        });
        let bytes = outpost_wire::encode(request_id, 0, &message)
            .map_err(|error| Error::protocol(format!("cannot encode the request: {error}")))?;
        let bytes = self.compress(bytes);
        let io = |error: std::io::Error| Error::Link(error.to_string());
        self.stream.write_all(&bytes).map_err(io)?;
        self.link_bytes.add_sent(bytes.len());
        Ok(())
    }

    /// The reply to the oldest request sent and not yet answered: its body, or the hub's
    /// error (`{ok: 0}`) with its code and message.
    pub fn receive(&mut self) -> Result<Document> {
        let io = |error: std::io::Error| Error::Link(error.to_string());
        let mut header = [0u8; HEADER_LEN];
        self.stream.read_exact(&mut header).map_err(io)?;
        let parsed = outpost_wire::parse_header(&header)
            .map_err(|error| Error::Link(format!("bad reply header: {error}")))?;
        let mut buffer = vec![0u8; parsed.length()];
        let (head, rest) = buffer.split_at_mut(HEADER_LEN.min(parsed.length()));
        head.copy_from_slice(header.get(..head.len()).unwrap_or_default());
        self.stream.read_exact(rest).map_err(io)?;
        self.link_bytes.add_received(buffer.len());
        // A compressed reply is decompressed by `decode`, bounded by the message size limit.
        let (_, reply) = outpost_wire::decode(&buffer)
            .map_err(|error| Error::Link(format!("bad reply: {error}")))?;
        let Message::Msg(reply) = reply else {
            return Err(Error::Link(
                "the hub answered with a non-OP_MSG reply".into(),
            ));
        };
        let reply = reply.body;
        let ok = match reply.get("ok") {
            Some(Bson::Double(ok)) => *ok == 1.0,
            Some(Bson::Int32(ok)) => *ok == 1,
            Some(Bson::Int64(ok)) => *ok == 1,
            _ => false,
        };
        if ok {
            return Ok(reply);
        }
        let code = reply.get_i32("code").unwrap_or(1);
        let message = reply
            .get_str("errmsg")
            .unwrap_or("the hub refused the request")
            .to_string();
        Err(if code == 18 {
            Error::Unauthorized(message)
        } else {
            Error::Coded { code, message }
        })
    }
}

impl HubClient {
    /// The request as OP_COMPRESSED when compression was negotiated and it comes out
    /// smaller (a tiny request is not worth the 9 bytes of OP_COMPRESSED fields).
    fn compress(&self, request: Vec<u8>) -> Vec<u8> {
        let Some(compressor) = self.compressor else {
            return request;
        };
        match outpost_wire::compress(&request, compressor) {
            Ok(Some(compressed)) if compressed.len() < request.len() => compressed,
            Ok(_) => request,
            Err(error) => {
                tracing::warn!(error = %error, "cannot compress a request to the hub; sending it uncompressed");
                request
            }
        }
    }
}

/// A TLS client over `stream` for the hub at `address` (`host:port`); the handshake runs with
/// the first request.
fn tls_stream(
    address: &str,
    stream: TcpStream,
    ca_file: Option<&Path>,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let host = address
        .rsplit_once(':')
        .map_or(address, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = rustls_pki_types::ServerName::try_from(host.to_string())
        .map_err(|error| Error::Link(format!("{address}: not a TLS server name: {error}")))?;
    let config = crate::tls::client_config(ca_file).map_err(|message| Error::Coded {
        code: 2,
        message: format!("cannot set up TLS to the hub: {message}"),
    })?;
    let connection = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|error| Error::Link(format!("{address}: TLS: {error}")))?;
    Ok(rustls::StreamOwned::new(connection, stream))
}

impl Link for HubClient {
    fn call(&mut self, command: Document) -> Result<Document> {
        self.command(command)
    }

    fn bound_edge(&self) -> Option<&str> {
        self.bound_edge.as_deref()
    }

    fn set_bound_edge(&mut self, edge_id: String) {
        self.bound_edge = Some(edge_id);
    }

    fn pipelines(&self) -> bool {
        true
    }

    fn send(&mut self, command: Document) -> Result<()> {
        HubClient::send(self, command)
    }

    fn receive(&mut self) -> Result<Document> {
        HubClient::receive(self)
    }
}

#[cfg(test)]
mod tests {
    use super::host_and_port;

    #[test]
    fn hub_addresses() {
        let cases = [
            ("mongodb://127.0.0.1:27017", Some("127.0.0.1:27017")),
            ("mongodb://hub.example.com", Some("hub.example.com:27017")),
            ("mongodb://hub:9000/?tls=false", Some("hub:9000")),
            ("mongodb://user:pw@hub:9000/admin", Some("hub:9000")),
            ("hub:1", Some("hub:1")),
            ("mongodb://", None),
            ("mongodb://a:1,b:2", None),
        ];
        for (uri, expected) in cases {
            assert_eq!(host_and_port(uri).ok().as_deref(), expected, "{uri}");
        }
    }

    #[test]
    fn tls_options_of_hub_addresses() {
        let ca = Some(std::path::PathBuf::from("/etc/ca.pem"));
        let cases = [
            ("mongodb://hub:1", Some((false, None))),
            ("mongodb://hub:1/?tls=true", Some((true, None))),
            ("mongodb://hub:1/?SSL=TRUE", Some((true, None))),
            ("mongodb://hub:1/?tls=false&appName=x", Some((false, None))),
            (
                "mongodb://hub:1/?tls=true&tlsCAFile=/etc/ca.pem",
                Some((true, ca.clone())),
            ),
            ("mongodb://hub:1/?tlsCAFile=/etc/ca.pem", None),
            ("mongodb://hub:1/?tls=yes", None),
        ];
        for (uri, expected) in cases {
            assert_eq!(super::tls_options(uri).ok(), expected, "{uri}");
        }
    }
}
