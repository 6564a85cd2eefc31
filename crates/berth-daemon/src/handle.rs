//! `RouterHandle`: the current HTTP stack behind an `ArcSwap`.
//!
//! Each request loads the stack once, so a request in flight finishes on the stack it started
//! with while SIGHUP swaps in a new one; nothing is locked on the request path.

use arc_swap::ArcSwap;

use crate::stack::Stack;

/// The swappable stack shared by every connection.
pub(crate) struct RouterHandle {
    current: ArcSwap<Stack>,
}

impl RouterHandle {
    pub(crate) fn new(stack: Stack) -> Self {
        Self { current: ArcSwap::from_pointee(stack) }
    }

    /// The stack to serve one request with.
    pub(crate) fn service(&self) -> Stack {
        Stack::clone(&self.current.load())
    }

    /// Makes `stack` serve every request from now on.
    pub(crate) fn swap(&self, stack: Stack) {
        self.current.store(std::sync::Arc::new(stack));
    }
}
