//! Container IDs and names: random 64-digit IDs, dockerd's name rules, and generated
//! `adjective_surname` names for containers created without one.

use berth_api::Error;

/// Adjectives of generated names.
const ADJECTIVES: [&str; 40] = [
    "agile", "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "daring",
    "eager", "fervent", "gentle", "glad", "happy", "hardy", "jolly", "keen", "kind", "lively",
    "lucid", "merry", "mighty", "nimble", "noble", "patient", "placid", "proud", "quiet", "rapid",
    "serene", "sharp", "silent", "steady", "swift", "tender", "upbeat", "vivid", "witty", "zen",
];

/// Surnames of generated names: scientists, engineers and explorers.
const SURNAMES: [&str; 40] = [
    "agnesi",
    "babbage",
    "bohr",
    "boole",
    "cannon",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "faraday",
    "fermi",
    "franklin",
    "galileo",
    "gauss",
    "goodall",
    "hamilton",
    "hopper",
    "hypatia",
    "johnson",
    "kepler",
    "knuth",
    "lamarr",
    "liskov",
    "lovelace",
    "maxwell",
    "meitner",
    "mendel",
    "newton",
    "noether",
    "pascal",
    "ramanujan",
    "ritchie",
    "sagan",
    "shannon",
    "tesla",
    "thompson",
    "turing",
    "wozniak",
    "yalow",
];

/// A new container ID: 64 random hex digits whose 12-digit short form is not all decimal (so it
/// can never be taken for a number, as dockerd ensures).
pub(crate) fn generate_id() -> String {
    loop {
        let id = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

/// A generated name; `attempt` > 0 appends a digit, as dockerd does after a collision.
pub(crate) fn generate_name(attempt: u32) -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let adjective = ADJECTIVES[usize::from(bytes[0]) % ADJECTIVES.len()];
    let surname = SURNAMES[usize::from(bytes[1]) % SURNAMES.len()];
    if attempt == 0 {
        format!("{adjective}_{surname}")
    } else {
        format!("{adjective}_{surname}{}", bytes[2] % 10)
    }
}

/// Checks a requested name (`web` or `/web`) against dockerd's rule `/?[a-zA-Z0-9][a-zA-Z0-9_.-]+`
/// and returns it with its leading `/`.
/// The characters a container name may have, as dockerd's messages spell them.
pub(crate) const NAME_CHARS: &str = "[a-zA-Z0-9][a-zA-Z0-9_.-]";

pub(crate) fn validate_name(name: &str) -> Result<String, Error> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut bytes = bare.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = bare.len() >= 2
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if first_ok && rest_ok {
        Ok(format!("/{bare}"))
    } else {
        Err(Error::invalid(format!(
            "Invalid container name ({bare}), only {NAME_CHARS} are allowed"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockerd_rules() {
        assert_eq!(validate_name("web").expect("valid"), "/web");
        assert_eq!(validate_name("/a.b_c-1").expect("valid"), "/a.b_c-1");
        for bad in ["", "/", "a", "-a", "_ab", "a b", "a/b", "é1"] {
            let e = validate_name(bad).expect_err(bad);
            assert!(e.message().starts_with("Invalid container name ("), "{e}");
        }
    }

    #[test]
    fn ids_and_generated_names_have_the_right_shape() {
        let id = generate_id();
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        let name = generate_name(0);
        assert!(validate_name(&name).is_ok(), "{name}");
        assert_eq!(name.matches('_').count(), 1);
        assert!(generate_name(1).ends_with(|c: char| c.is_ascii_digit()));
    }
}
