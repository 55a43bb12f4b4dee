//! The tools a model may call in an agent step: declared by the author, described to the
//! model, and each call checked like a customer's answer before it is carried out.

use super::*;

/// A model's tool call, parsed once against what the author declared: what `carry_out`
/// does. A call that cannot be carried out is a `Refusal` instead, with what the model is
/// told (as zero-to-production parses a subscriber before it is stored).
enum Tool {
    /// `save`: each value checked like a customer's answer.
    Save(Vec<(String, Value)>),
    Tag(String),
    GotoFlow(Arc<Flow>),
    Handoff,
    SendButtons {
        text: String,
        buttons: Vec<ReplyButton>,
    },
    End,
}

/// Why a tool call was refused, in the model's terms.
struct Refusal(String);

type Parsed<T> = Result<T, Refusal>;

fn refuse<T>(why: String) -> Parsed<T> {
    Err(Refusal(why))
}

impl Interpreter<'_> {
    /// Carries out one tool call, if the author declared it and its arguments pass.
    /// Whether it ends the turn is [`ends_turn`].
    pub(super) fn agent_tool(
        &mut self,
        flow: &Arc<Flow>,
        spec: &AgentSpec,
        pc: usize,
        call: &ToolCall,
    ) -> ToolOutcome {
        match self.parse_tool(spec, call) {
            Ok(tool) => self.carry_out(flow, spec, pc, tool),
            Err(Refusal(why)) => ToolOutcome {
                result: format!("refused: {why}"),
                accepted: false,
                ends: None,
            },
        }
    }

    /// The call as a `Tool`: its arguments a JSON object, the tool one the author declared
    /// for this step, and its arguments what that tool takes.
    fn parse_tool(&self, spec: &AgentSpec, call: &ToolCall) -> Parsed<Tool> {
        let tools = &spec.tools;
        let args = match &call.arguments {
            Value::Object(o) => o.clone(),
            Value::Null => Default::default(),
            // Kept as text when the answer was read (`chat::shallow_arguments`).
            Value::String(text) if chat::json_depth(text) > chat::MAX_ARGUMENT_DEPTH => {
                return refuse(format!(
                    "the arguments are nested more than {} levels deep; write them as a flat JSON object",
                    chat::MAX_ARGUMENT_DEPTH
                ))
            }
            other => {
                return refuse(format!(
                    "the arguments must be a JSON object, not {}",
                    shorten(&other.to_string(), ECHO_MAX)
                ))
            }
        };
        let declared = declared_tools(spec);
        if !declared.contains(&call.name.as_str()) {
            return refuse(format!(
                "`{}` is not an action you can take here; you can: {}",
                shorten(&call.name, ECHO_MAX),
                if declared.is_empty() {
                    "none (answer with text)".to_string()
                } else {
                    declared.join(", ")
                }
            ));
        }
        match call.name.as_str() {
            "save" => parse_save(&tools.save, &args).map(Tool::Save),
            "tag" => {
                let Some(tag) = args.get("tag").and_then(Value::as_str) else {
                    return refuse(format!("give `tag`, one of: {}", tools.tag.join(", ")));
                };
                if !tools.tag.iter().any(|t| t == tag) {
                    return refuse(format!(
                        "`{}` is not a tag you may set; the tags are: {}",
                        shorten(tag, ECHO_MAX),
                        tools.tag.join(", ")
                    ));
                }
                Ok(Tool::Tag(tag.to_string()))
            }
            "goto_flow" => {
                let Some(id) = args.get("flow").and_then(Value::as_str) else {
                    return refuse(format!(
                        "give `flow`, one of: {}",
                        tools.goto_flow.join(", ")
                    ));
                };
                if !tools.goto_flow.iter().any(|f| f == id) {
                    return refuse(format!(
                        "`{}` is not a flow you may go to; the flows are: {}",
                        shorten(id, ECHO_MAX),
                        tools.goto_flow.join(", ")
                    ));
                }
                match self.ctx.library.flows().get(id).cloned() {
                    Some(next) => Ok(Tool::GotoFlow(next)),
                    None => refuse(format!(
                        "the flow `{}` is not loaded",
                        shorten(id, ECHO_MAX)
                    )),
                }
            }
            "handoff" => Ok(Tool::Handoff),
            "send_buttons" => parse_send_buttons(spec, &args),
            "end" => Ok(Tool::End),
            other => refuse(format!(
                "`{}` is not an action Parley knows",
                shorten(other, ECHO_MAX)
            )),
        }
    }

    /// Does what a parsed tool call asks and says what the model is told.
    fn carry_out(
        &mut self,
        flow: &Arc<Flow>,
        spec: &AgentSpec,
        pc: usize,
        tool: Tool,
    ) -> ToolOutcome {
        let (result, ends) = match tool {
            Tool::Save(values) => {
                let saved: Vec<String> = values.iter().map(|(k, _)| k.clone()).collect();
                for (name, value) in values {
                    set_var(&mut self.state, &name, value);
                }
                (format!("saved {}", saved.join(", ")), None)
            }
            Tool::Tag(tag) => {
                self.contact.patch.tag(&tag);
                self.contact.refresh_tags();
                (format!("tagged {tag}"), None)
            }
            Tool::GotoFlow(next) => {
                if let Some(run) = &mut self.state.run {
                    run.wait = None;
                    run.flow = next.id.clone();
                    run.version = next.version;
                    (run.step, run.offered) = (0, Vec::new()); // its language is chosen at 0
                }
                (format!("went to flow {}", next.id), Some(Next::Flow(next)))
            }
            Tool::Handoff => {
                let handoff = spec.tools.handoff.clone().unwrap_or_default();
                if let Some(m) = &handoff.message {
                    let body = self.render_in(flow, m);
                    self.agent_say(spec, body);
                }
                let (now, timeout) = (self.ctx.now, handoff.timeout);
                hand_off(now, &mut self.state, &mut self.output, flow, pc, timeout);
                self.pass_thread();
                ("handed to a person".into(), Some(Next::Stop))
            }
            Tool::SendButtons { text, mut buttons } => {
                self.translate_buttons(flow, &mut buttons);
                if let Some(run) = &mut self.state.run {
                    run.offered = buttons
                        .iter()
                        .map(|b| (b.id.clone(), b.title.clone()))
                        .collect();
                }
                let fallback = self.fallback_here(&spec.if_window_closed);
                self.output.reply(
                    OutboundContent::Buttons {
                        body: text.clone(),
                        header: None,
                        footer: None,
                        buttons,
                    },
                    fallback,
                );
                if let Some(round) = &mut self.ctl.round {
                    round.said.push(text);
                }
                (
                    "the buttons were sent; the customer's choice is their next message".into(),
                    Some(Next::Stop),
                )
            }
            Tool::End => {
                if let Some(run) = &mut self.state.run {
                    run.wait = None;
                }
                (
                    "the conversation with the assistant ended".into(),
                    Some(Next::To(pc + 1)),
                )
            }
        };
        ToolOutcome {
            result,
            accepted: true,
            ends,
        }
    }
}

impl Interpreter<'_> {
    /// Carries out a turn's tool calls: those that only record (save, tag) first, then the
    /// one that ends the turn, whatever order the model wrote them in (`[handoff, tag]`
    /// tags the customer too). A second ending action is ignored (the first one wins).
    /// Each result goes back to the model and into the trace. Returns where the turn
    /// ends, if it does, and how many calls were refused.
    pub(super) fn carry_out_calls(
        &mut self,
        flow: &Arc<Flow>,
        spec: &AgentSpec,
        pc: usize,
        tool_calls: &[ToolCall],
        kept_calls: &[ToolCall],
    ) -> (Option<Next>, usize) {
        let mask = spec.guardrails.mask_personal_data;
        let mut order: Vec<usize> = (0..tool_calls.len()).collect();
        order.sort_by_key(|&i| ends_turn(&tool_calls[i].name));
        let mut ends = None;
        let mut refused = 0;
        let mut outcomes: Vec<Option<ToolOutcome>> = tool_calls.iter().map(|_| None).collect();
        for i in order {
            let mut outcome = if ends.is_some() && ends_turn(&tool_calls[i].name) {
                ToolOutcome {
                    result: "ignored: the turn already ended with another action".into(),
                    accepted: false,
                    ends: None,
                }
            } else {
                let outcome = self.agent_tool(flow, spec, pc, &tool_calls[i]);
                if !outcome.accepted {
                    refused += 1;
                }
                outcome
            };
            if outcome.ends.is_some() {
                ends = outcome.ends.take();
            }
            outcomes[i] = Some(outcome);
        }
        for ((call, kept), outcome) in tool_calls.iter().zip(kept_calls).zip(outcomes) {
            let Some(outcome) = outcome else { continue };
            let verdict = if outcome.accepted {
                "accepted".to_string()
            } else {
                outcome.result.clone()
            };
            let shown_args = if mask {
                guard::mask_personal_data(&call.arguments.to_string())
            } else {
                call.arguments.to_string()
            };
            let line = shorten(
                &format!(
                    "{} {}: {verdict}",
                    shorten(&call.name, ECHO_MAX),
                    shorten(&shown_args, 300)
                ),
                trace::TEXT_MAX,
            );
            self.output.decide(|| format!("tool call {line}"));
            self.trace_outcome(|x| x.tool_calls.push(line.clone()));
            if let Some(round) = &mut self.ctl.round {
                round.messages.push(ChatMessage::tool_result(
                    kept.id.clone(),
                    shorten(&outcome.result, RESULT_MAX),
                ));
            }
        }
        (ends, refused)
    }

    /// The text of an answer that also called tools: sent, after what the calls sent,
    /// unless a call was refused, it was said already this turn, or the guardrails refuse
    /// it; otherwise the model is told why it was not sent.
    pub(super) fn send_text_with_calls(
        &mut self,
        spec: &AgentSpec,
        text: String,
        refused: usize,
        text_at: (usize, usize),
    ) {
        let withheld = if refused > 0 {
            Some("an answer with a refused action is never sent".to_string())
        } else if self.said_this_turn(&text) {
            Some("it was sent already, and a text is sent once".to_string())
        } else {
            guard::check_answer(&spec.guardrails, &text)
                .err()
                .map(|why| shorten(&why, RESULT_MAX))
        };
        match withheld {
            None => {
                self.agent_say(spec, text.clone());
                self.move_last_reply(text_at);
                if let Some(round) = &mut self.ctl.round {
                    round.said.push(text);
                }
            }
            Some(why) => {
                self.output
                    .decide(|| format!("the assistant's text was not sent: {why}"));
                if let Some(last) = self.ctl.round.as_mut().and_then(|r| r.messages.last_mut()) {
                    last.text.push_str(&format!(
                        "\n(Parley, not the customer: the text of your answer, «{}», was not sent to the customer because {why}.)",
                        shorten(&text, ECHO_MAX)
                    ));
                }
            }
        }
    }
}

/// `save`'s values, each one the author declared and checked like a customer's answer.
fn parse_save(
    fields: &[crate::flows::SaveField],
    args: &serde_json::Map<String, Value>,
) -> Parsed<Vec<(String, Value)>> {
    if args.is_empty() {
        return refuse("give at least one value to save".into());
    }
    let mut values = Vec::new();
    for (name, value) in args {
        let Some(field) = fields.iter().find(|f| &f.name == name) else {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            return refuse(format!(
                "there is no value `{}` to save; the values are: {}",
                shorten(name, ECHO_MAX),
                names.join(", ")
            ));
        };
        let body = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => {
                return refuse(format!(
                    "`{}` must be a text or a number, not {}",
                    field.name,
                    shorten(&other.to_string(), ECHO_MAX)
                ))
            }
        };
        if body.chars().count() > limits::INBOUND_FIELD_MAX {
            return refuse(format!(
                "`{}` may be at most {} characters",
                field.name,
                limits::INBOUND_FIELD_MAX
            ));
        }
        match answer::check(
            &field.expect,
            &InboundContent::Text { body: body.clone() },
            &[],
        ) {
            Ok(v) => values.push((name.clone(), v)),
            // The customer's wording ("Please try again") means nothing to the model: it
            // is told the rule and the value that broke it.
            Err(_) => return refuse(save_refusal(&field.name, &field.expect, &body)),
        }
    }
    Ok(values)
}

/// `send_buttons`: the question, within WhatsApp's limit and the step's guardrails, and 1
/// to 3 of the buttons the author declared, each once.
fn parse_send_buttons(spec: &AgentSpec, args: &serde_json::Map<String, Value>) -> Parsed<Tool> {
    let tools = &spec.tools;
    let text = args
        .get("text")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("");
    if text.is_empty() {
        return refuse("give `text`, the question above the buttons".into());
    }
    if text.chars().count() > limits::BODY_MAX {
        return refuse(format!(
            "`text` may be at most {} characters",
            limits::BODY_MAX
        ));
    }
    if let Err(why) = guard::check_answer(&spec.guardrails, text) {
        return refuse(format!("`text` was not sent: {why}"));
    }
    let ids: Vec<&str> = args
        .get("buttons")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let all: Vec<&str> = tools
        .send_buttons
        .iter()
        .map(|(id, _)| id.as_str())
        .collect();
    if ids.is_empty() || ids.len() > limits::REPLY_BUTTONS_MAX {
        return refuse(format!(
            "give `buttons`: 1 to {} of {}",
            limits::REPLY_BUTTONS_MAX,
            all.join(", ")
        ));
    }
    let mut buttons = Vec::new();
    for id in &ids {
        match tools.send_buttons.iter().find(|(b, _)| b == id) {
            Some((id, title)) if !buttons.iter().any(|b: &ReplyButton| &b.id == id) => buttons
                .push(ReplyButton {
                    id: id.clone(),
                    title: title.clone(),
                }),
            Some(_) => {
                return refuse(format!(
                    "the button `{}` is given twice",
                    shorten(id, ECHO_MAX)
                ))
            }
            None => {
                return refuse(format!(
                    "`{}` is not one of the buttons: {}",
                    shorten(id, ECHO_MAX),
                    all.join(", ")
                ))
            }
        }
    }
    Ok(Tool::SendButtons {
        text: text.to_string(),
        buttons,
    })
}

/// The tools whose call ends the model's turn (the flow moves on, a person takes over, or
/// the customer's tap is the next message); `save` and `tag` only record.
pub(super) fn ends_turn(tool: &str) -> bool {
    matches!(tool, "goto_flow" | "handoff" | "send_buttons" | "end")
}

/// A tool call as kept in the conversation for the model's next call: its name and id cut
/// to what a tool's can be (the id still pairs the call with its result), and arguments
/// longer than `KEPT_ARGUMENTS_MAX` as a shortened text.
pub(super) fn kept_call(call: &ToolCall) -> ToolCall {
    let cut = |s: &str| s.chars().take(KEPT_NAME_MAX).collect::<String>();
    let json = call.arguments.to_string();
    ToolCall {
        id: cut(&call.id),
        name: cut(&call.name),
        arguments: if json.chars().count() > KEPT_ARGUMENTS_MAX {
            Value::String(shorten(&json, KEPT_ARGUMENTS_MAX))
        } else {
            call.arguments.clone()
        },
    }
}

/// Why a value the model gave to `save` was refused, in the model's terms: the rule and
/// the value that broke it.
pub(super) fn save_refusal(name: &str, expect: &Expect, value: &str) -> String {
    let value = shorten(value, ECHO_MAX);
    let rule = match expect {
        Expect::Regex(re) => format!("must match the pattern `{}`", re.as_str()),
        Expect::Number => "must be a number, like 3 or 12.5".into(),
        Expect::Email => "must be an email address, like name@example.com".into(),
        Expect::Phone => {
            "must be a phone number with its country code, like +44 7911 123456".into()
        }
        Expect::Choice(choices) => format!("must be one of: {}", choices.join(", ")),
        Expect::Text => return format!("`{name}` must be a text that is not empty"),
        other => format!("must be a {}", other.name()),
    };
    format!("`{name}` {rule}; `{value}` does not")
}

/// The tools a step declared, by name.
pub(super) fn declared_tools(spec: &AgentSpec) -> Vec<&'static str> {
    let t = &spec.tools;
    let mut out = Vec::new();
    if !t.save.is_empty() {
        out.push("save");
    }
    if !t.tag.is_empty() {
        out.push("tag");
    }
    if !t.goto_flow.is_empty() {
        out.push("goto_flow");
    }
    if t.handoff.is_some() {
        out.push("handoff");
    }
    if !t.send_buttons.is_empty() {
        out.push("send_buttons");
    }
    if t.end {
        out.push("end");
    }
    out
}

/// What a `save` field takes, told to the model in words (the check is `save_refusal`'s).
pub(super) fn save_rule(expect: &crate::flows::Expect) -> String {
    use crate::flows::Expect;
    match expect {
        Expect::Text => "text".into(),
        Expect::Number => "a number".into(),
        Expect::Email => "an email address".into(),
        Expect::Phone => "a phone number with its country code, like +44 7911 123456".into(),
        Expect::Choice(options) => format!("one of: {}", options.join(", ")),
        Expect::Button => "the title of one of the buttons offered".into(),
        Expect::Regex(re) => format!("text matching the regular expression {}", re.as_str()),
        Expect::Media(_) => "a file the customer sent".into(),
        Expect::Address => "a postal address".into(),
    }
}

/// The declared tools as the model sees them.
pub(super) fn tool_specs(spec: &AgentSpec) -> Vec<ToolSpec> {
    let t = &spec.tools;
    let mut out = Vec::new();
    if !t.save.is_empty() {
        let mut properties = serde_json::Map::new();
        for f in &t.save {
            let rule = save_rule(&f.expect);
            let what = match &f.description {
                Some(d) => format!("{d}: {rule}"),
                None => rule,
            };
            let mut p = json!({ "type": "string", "description": what });
            match &f.expect {
                crate::flows::Expect::Choice(options) => p["enum"] = json!(options),
                crate::flows::Expect::Regex(re) => p["pattern"] = json!(re.as_str()),
                _ => {}
            }
            properties.insert(f.name.clone(), p);
        }
        out.push(ToolSpec {
            name: "save".into(),
            description: "Save values the customer gave. Each is checked; a refusal says why.".into(),
            parameters: json!({ "type": "object", "properties": properties, "additionalProperties": false }),
        });
    }
    if !t.tag.is_empty() {
        out.push(ToolSpec {
            name: "tag".into(),
            description: "Tag the customer.".into(),
            parameters: json!({ "type": "object", "properties": { "tag": { "type": "string", "enum": t.tag } }, "required": ["tag"], "additionalProperties": false }),
        });
    }
    if !t.goto_flow.is_empty() {
        out.push(ToolSpec {
            name: "goto_flow".into(),
            description: "Hand the conversation to another scripted flow; you stop answering.".into(),
            parameters: json!({ "type": "object", "properties": { "flow": { "type": "string", "enum": t.goto_flow } }, "required": ["flow"], "additionalProperties": false }),
        });
    }
    if t.handoff.is_some() {
        out.push(ToolSpec {
            name: "handoff".into(),
            description: "Hand the conversation to a person when you cannot help or the customer asks for one.".into(),
            parameters: json!({ "type": "object", "properties": { "reason": { "type": "string" } }, "additionalProperties": false }),
        });
    }
    if !t.send_buttons.is_empty() {
        let ids: Vec<&str> = t.send_buttons.iter().map(|(id, _)| id.as_str()).collect();
        let described: Vec<String> = t
            .send_buttons
            .iter()
            .map(|(id, title)| format!("{id} («{title}»)"))
            .collect();
        out.push(ToolSpec {
            name: "send_buttons".into(),
            description: format!("Ask a question with reply buttons, chosen among: {}.", described.join(", ")),
            parameters: json!({ "type": "object", "properties": {
                "text": { "type": "string" },
                "buttons": { "type": "array", "items": { "type": "string", "enum": ids }, "minItems": 1, "maxItems": limits::REPLY_BUTTONS_MAX }
            }, "required": ["text", "buttons"], "additionalProperties": false }),
        });
    }
    if t.end {
        out.push(ToolSpec {
            name: "end".into(),
            description: "End your part of the conversation when the customer's request is done.".into(),
            parameters: json!({ "type": "object", "properties": {}, "additionalProperties": false }),
        });
    }
    out
}
