//! A small SMTP server for tests: it speaks enough SMTP for a real client (lettre) to deliver
//! to it over TCP, and keeps what it received.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// Recipients and the raw message.
pub type Received = (Vec<String>, String);

#[derive(Clone, Default)]
pub struct Inbox(Arc<Mutex<Vec<Received>>>);

impl Inbox {
    /// (recipients, raw message) of everything received so far.
    pub fn messages(&self) -> Vec<Received> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// Listens on `listener` until the test ends.
pub fn serve(listener: TcpListener) -> Inbox {
    let inbox = Inbox::default();
    let shared = inbox.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let inbox = shared.clone();
            thread::spawn(move || {
                let _ = session(stream, &inbox);
            });
        }
    });
    inbox
}

fn session(stream: TcpStream, inbox: &Inbox) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    out.write_all(b"220 test-sink ESMTP\r\n")?;
    let mut recipients = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") || command.starts_with("HELO") {
            out.write_all(b"250-test-sink\r\n250 8BITMIME\r\n")?;
        } else if command.starts_with("MAIL FROM") {
            recipients.clear();
            out.write_all(b"250 OK\r\n")?;
        } else if command.starts_with("RCPT TO") {
            recipients.push(line.trim_end()[8..].trim().trim_matches(|c| c == '<' || c == '>' || c == ':').to_string());
            out.write_all(b"250 OK\r\n")?;
        } else if command == "DATA" {
            out.write_all(b"354 end with .\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(&line);
            }
            if let Ok(mut messages) = inbox.0.lock() {
                messages.push((recipients.clone(), data));
            }
            out.write_all(b"250 queued\r\n")?;
        } else if command == "QUIT" {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            out.write_all(b"250 OK\r\n")?;
        }
    }
}
