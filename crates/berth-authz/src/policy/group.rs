//! API groups: which part of the Docker API a request belongs to, and whether it reads or writes.

use std::fmt;

use http::Method;

/// A part of the Docker API, derived from the request path; every request is in exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// `/containers/**` (except exec) and `/commit`.
    Containers,
    /// `/containers/{id}/exec` and `/exec/**`: running commands in containers.
    Exec,
    /// `/images/**`, `/build`, `/distribution/**`, `/session` and `/grpc`.
    Images,
    /// `/volumes/**`.
    Volumes,
    /// `/networks/**`.
    Networks,
    /// `/plugins/**`.
    Plugins,
    /// `/swarm`, `/nodes`, `/services`, `/tasks`, `/secrets` and `/configs`.
    Swarm,
    /// `/_ping`, `/version`, `/info`, `/events`, `/system/**` and `/auth`.
    System,
    /// Every other path.
    Other,
}

impl Group {
    /// Every group, in the order the documentation lists them.
    pub const ALL: [Group; 9] = [
        Group::Containers,
        Group::Exec,
        Group::Images,
        Group::Volumes,
        Group::Networks,
        Group::Plugins,
        Group::Swarm,
        Group::System,
        Group::Other,
    ];

    /// The group's name in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Containers => "containers",
            Group::Exec => "exec",
            Group::Images => "images",
            Group::Volumes => "volumes",
            Group::Networks => "networks",
            Group::Plugins => "plugins",
            Group::Swarm => "swarm",
            Group::System => "system",
            Group::Other => "other",
        }
    }

    fn from_name(name: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.as_str() == name)
    }

    /// The group of a request path (without the `/vX.Y` prefix and the query). Only the first
    /// segment decides, except for exec under `/containers`, so a path the router does not know
    /// still lands in the group of the routes it resembles.
    pub fn of_path(path: &str) -> Group {
        let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
        match segments.next().unwrap_or_default() {
            "containers" => {
                // `/containers/{id}/exec`; ids and names never contain `/`.
                if segments.nth(1) == Some("exec") { Group::Exec } else { Group::Containers }
            }
            "commit" => Group::Containers,
            "exec" => Group::Exec,
            "images" | "build" | "distribution" | "session" | "grpc" => Group::Images,
            "volumes" => Group::Volumes,
            "networks" => Group::Networks,
            "plugins" => Group::Plugins,
            "swarm" | "nodes" | "services" | "tasks" | "secrets" | "configs" => Group::Swarm,
            "_ping" | "version" | "info" | "events" | "system" | "auth" => Group::System,
            _ => Group::Other,
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a request reads or changes state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// `GET` and `HEAD`, except the attach websocket.
    Read,
    /// Every other method, and `GET /containers/{id}/attach/ws`.
    Write,
}

impl Access {
    /// The access of a request: by its method, except that `GET /containers/{id}/attach/ws`
    /// opens a websocket that writes to the container's stdin and so counts as a write.
    pub fn of_request(method: &Method, path: &str) -> Access {
        if (method == Method::GET || method == Method::HEAD) && !is_attach_websocket(path) {
            Access::Read
        } else {
            Access::Write
        }
    }
}

fn is_attach_websocket(path: &str) -> bool {
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
    segments.next() == Some("containers")
        && segments.next().is_some()
        && segments.next() == Some("attach")
        && segments.next() == Some("ws")
}

/// A set of (group, access) pairs, one bit each: a rule's `groups` compiled for a cheap test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct GroupSet(u32);

impl GroupSet {
    fn bit(group: Group, access: Access) -> u32 {
        let index = group as u32 * 2 + access as u32;
        1 << index
    }

    /// The pairs a request with this method and path is in (exactly one).
    pub(crate) fn of_request(method: &Method, path: &str) -> GroupSet {
        GroupSet(Self::bit(Group::of_path(path), Access::of_request(method, path)))
    }

    /// Parses one rule spelling: `G`, `G:read`, `G:write`, `*`, `*:read` or `*:write`.
    pub(crate) fn parse(spec: &str) -> Result<GroupSet, String> {
        let (name, access) = match spec.split_once(':') {
            None => (spec, None),
            Some((name, "read")) => (name, Some(Access::Read)),
            Some((name, "write")) => (name, Some(Access::Write)),
            Some((_, other)) => {
                return Err(format!(
                    "unknown access {other:?} in group {spec:?}: expected \"read\" or \"write\""
                ));
            }
        };
        let groups: Vec<Group> = if name == "*" {
            Group::ALL.to_vec()
        } else if let Some(group) = Group::from_name(name) {
            vec![group]
        } else {
            let known: Vec<&str> = Group::ALL.iter().map(|g| g.as_str()).collect();
            return Err(format!(
                "unknown API group {name:?}: expected \"*\" or one of {}",
                known.join(", ")
            ));
        };
        let accesses = match access {
            Some(access) => vec![access],
            None => vec![Access::Read, Access::Write],
        };
        let mut set = GroupSet::default();
        for &group in &groups {
            for &access in &accesses {
                set.0 |= Self::bit(group, access);
            }
        }
        Ok(set)
    }

    /// Adds every pair of `other`.
    pub(crate) fn extend(&mut self, other: GroupSet) {
        self.0 |= other.0;
    }

    /// Whether the two sets share a pair.
    pub(crate) fn intersects(self, other: GroupSet) -> bool {
        self.0 & other.0 != 0
    }
}
