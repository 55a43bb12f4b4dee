//! Languages in the interpreter (issue 58): the contact's language for a flow (the contact
//! field, a guess from the first message, the flow's base language) and the texts in it.
