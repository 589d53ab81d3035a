//! A tiny HTTP/1.1 client over `std::net::TcpStream` and a handle on a running
//! `sightline serve`, shared by the server's tests and `examples/serve_load.rs`.
//! Responses are read by `Content-Length` (the server always sends one, or none for
//! 204/304), so one connection carries many requests (keep-alive).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A keep-alive connection.
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        // A bound on every wait, so a broken server fails a test instead of hanging it.
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Conn {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    /// Sends a request (`extra` header lines without CRLF) and reads its response.
    pub fn send(
        &mut self,
        method: &str,
        target: &[u8],
        extra: &[&str],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let mut req = Vec::with_capacity(target.len() + body.len() + 256);
        req.extend_from_slice(method.as_bytes());
        req.push(b' ');
        req.extend_from_slice(target);
        req.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for h in extra {
            req.extend_from_slice(h.as_bytes());
            req.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() || method == "POST" {
            req.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(body);
        self.writer.write_all(&req)?;
        self.read_response(method == "HEAD")
    }

    pub fn get(&mut self, target: &str) -> std::io::Result<Response> {
        self.send("GET", target.as_bytes(), &[], b"")
    }

    fn read_response(&mut self, head_only: bool) -> std::io::Result<Response> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(&format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').ok_or_else(|| bad("bad header line"))?;
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let len = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; if head_only { 0 } else { len }];
        self.reader.read_exact(&mut body)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// One request on a fresh connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &[u8],
    extra: &[&str],
    body: &[u8],
) -> std::io::Result<Response> {
    Conn::open(addr)?.send(method, target, extra, body)
}

pub fn get(addr: SocketAddr, target: &str) -> Response {
    request(addr, "GET", target.as_bytes(), &[], b"").expect("GET")
}

pub fn post(addr: SocketAddr, target: &str, content_type: &str, body: &[u8]) -> Response {
    let ct = format!("Content-Type: {content_type}");
    request(addr, "POST", target.as_bytes(), &[&ct], body).expect("POST")
}

/// A running `sightline serve` (killed when dropped, unless stopped before).
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `bin serve --db DB --listen 127.0.0.1:0 ARGS…` and waits for its
    /// `listening on ADDR` line.
    pub fn start(bin: &Path, db: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--db")
            .arg(db)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sightline serve");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("read the listening line");
        let addr = match line.trim().strip_prefix("listening on ") {
            Some(a) => a.parse().expect("an address"),
            None => {
                let _ = child.kill();
                let mut err = String::new();
                let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
                panic!("sightline serve did not start: stdout {line:?}, stderr {err}");
            }
        };
        Server { child, addr }
    }

    /// Sends `signal` (e.g. 15) and waits for the exit: (exit code, stderr).
    pub fn stop(mut self, signal: i32) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([format!("-{signal}").as_str(), pid.as_str()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {pid}");
        let status = self.child.wait().expect("wait for the server");
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status.code(), err)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
