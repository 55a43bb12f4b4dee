//! The simulator's own commands: a line typed at `parley simulate` (or given as its TEXT)
//! read as a message from the customer or as one of [`COMMANDS`], and the list `/help`
//! prints.

/// The simulator's own commands, as `/help` lists them. A line starting with `/` is one of
/// these and never reaches the bot; `//` sends a message that starts with `/`.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "/advance 2h",
        "move the clock forward; timers and schedules on the way fire",
    ),
    (
        "/explain",
        "show or hide how every trigger judged each message",
    ),
    (
        "/release",
        "a person hands the conversation back to the bot",
    ),
    ("/form a=1", "fill in and submit the last form the bot sent"),
    (
        "/address a=1",
        "submit WhatsApp's address form (city=… in_pin_code=…)",
    ),
    ("/help", "list these commands"),
    ("/quit", "end (also /exit, or Ctrl-D)"),
];

/// A line typed at the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// A message from the customer (a number taps a choice).
    Say(&'a str),
    Advance(&'a str),
    Explain,
    Release,
    /// `name=value` pairs submitting the last form.
    Form(&'a str),
    /// `name=value` pairs submitting an address form.
    Address(&'a str),
    Help,
    Quit,
    /// `/something` the simulator does not know.
    Unknown(&'a str),
}

impl<'a> Line<'a> {
    /// Reads a trimmed, non-empty line.
    pub fn parse(line: &'a str) -> Self {
        if line.starts_with("//") {
            return Line::Say(&line[1..]);
        }
        let Some(command) = line.strip_prefix('/') else {
            return Line::Say(line);
        };
        let (name, rest) = command
            .split_once(char::is_whitespace)
            .unwrap_or((command, ""));
        match name {
            "advance" => Line::Advance(rest.trim()),
            "explain" => Line::Explain,
            "release" => Line::Release,
            "form" => Line::Form(rest.trim()),
            "address" => Line::Address(rest.trim()),
            "help" | "?" => Line::Help,
            "quit" | "exit" => Line::Quit,
            _ => Line::Unknown(name),
        }
    }
}

/// The command list, for `/help` and after an unknown command.
pub fn help() -> String {
    let mut text = String::from("Commands:\n");
    for (command, what) in COMMANDS {
        text.push_str(&format!("  {command:<13} {what}\n"));
    }
    text.push_str("Anything else is a message from the customer; a number taps that choice;\nstart with // to send a message that begins with /.\n");
    text
}
