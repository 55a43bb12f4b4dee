//! Issue 59: see the README's "Evaluating agents".
