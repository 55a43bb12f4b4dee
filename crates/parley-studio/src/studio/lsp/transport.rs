//! Messages over stdin and stdout, framed with `Content-Length` as the protocol says.
//! `lsp-server`'s own stdio transport makes room for whatever length a header announces;
//! this one refuses a message over `MAX_MESSAGE` (read through and dropped, with a line on
//! stderr), so a runaway client cannot make the server allocate without bound.

use lsp_server::{Connection, Message};
use std::io::{BufRead, Read, Write};
use std::thread::JoinHandle;

/// The largest message read: far above the loader's 1 MiB file limit, so a document over
/// that limit still arrives and is answered with its one problem.
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// The longest header line read.
const MAX_HEADER: usize = 1024;

/// The threads moving messages between the process's stdin/stdout and the connection.
pub struct Io {
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Io {
    /// Waits for the writer to send every answer (it ends once the server's connection
    /// is dropped); the reader is left to end with the process (it may be waiting on
    /// stdin, which nothing can interrupt).
    pub fn join(self) {
        let _ = self.writer.join();
        drop(self.reader);
    }
}

/// A connection over this process's stdin and stdout.
pub fn stdio() -> (Connection, Io) {
    let (server, client) = Connection::memory();
    let Connection { sender, receiver } = client;
    let reader = std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        loop {
            match read(&mut input) {
                Ok(Some(Frame::Message(msg))) => {
                    let exit = matches!(&msg, Message::Notification(n) if n.method == "exit");
                    if sender.send(msg).is_err() || exit {
                        return;
                    }
                }
                Ok(Some(Frame::Refused(why))) => eprintln!("parley lsp: {why}"),
                Ok(None) => return,
                Err(e) => {
                    eprintln!("parley lsp: cannot read the editor's messages: {e}");
                    return;
                }
            }
        }
    });
    let writer = std::thread::spawn(move || {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for msg in receiver {
            if msg.write(&mut out).and_then(|()| out.flush()).is_err() {
                return;
            }
        }
    });
    (server, Io { reader, writer })
}

/// What one frame held.
#[derive(Debug)]
pub enum Frame {
    Message(Message),
    /// A frame that was read through but not used, and why.
    Refused(String),
}

/// Reads one frame; `None` at the end of the input.
pub fn read(input: &mut impl BufRead) -> std::io::Result<Option<Frame>> {
    let mut length = None;
    loop {
        let mut line = Vec::new();
        let n = input
            .by_ref()
            .take(MAX_HEADER as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        if !line.ends_with(b"\n") {
            return Err(std::io::Error::other("a header line is too long"));
        }
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    let Some(length) = length else {
        return Err(std::io::Error::other("a message without Content-Length"));
    };
    if length > MAX_MESSAGE {
        std::io::copy(
            &mut input.by_ref().take(length as u64),
            &mut std::io::sink(),
        )?;
        return Ok(Some(Frame::Refused(format!(
            "a message of {length} bytes was dropped: the most read is {MAX_MESSAGE}"
        ))));
    }
    let mut body = vec![0; length];
    input.read_exact(&mut body)?;
    Ok(Some(match serde_json::from_slice(&body) {
        Ok(msg) => Frame::Message(msg),
        Err(e) => Frame::Refused(format!("a message that is not JSON-RPC was dropped: {e}")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[test]
    fn reads_frames_and_drops_those_too_long_or_not_json() {
        let ok = r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let text = format!(
            "{}Content-Length: {}\r\n\r\n{}{}",
            frame("not json"),
            MAX_MESSAGE + 1,
            "x".repeat(MAX_MESSAGE + 1),
            frame(ok)
        );
        let mut input = std::io::Cursor::new(text.into_bytes());
        assert!(matches!(read(&mut input).unwrap(), Some(Frame::Refused(_))));
        let Some(Frame::Refused(why)) = read(&mut input).unwrap() else {
            panic!("the long message was not refused");
        };
        assert!(why.contains("dropped"), "{why}");
        assert!(matches!(
            read(&mut input).unwrap(),
            Some(Frame::Message(Message::Notification(n))) if n.method == "initialized"
        ));
        assert!(read(&mut input).unwrap().is_none());
    }
}
