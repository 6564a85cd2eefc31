//! `changes` for `docker import --change` / `POST /images/create?changes=`: Dockerfile instructions
//! applied to the new image's config (as dockerd accepts them).

use berth_api::Error;
use serde_json::{Map, Value, json};

/// Instructions `changes` may hold.
const ALLOWED: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Applies each instruction to `config` (the image config's `config` object).
pub(crate) fn apply(config: &mut Map<String, Value>, changes: &[String]) -> Result<(), Error> {
    for change in changes {
        let change = change.trim();
        if change.is_empty() {
            continue;
        }
        let (instr, rest) = change.split_once(char::is_whitespace).unwrap_or((change, ""));
        let instr = instr.to_ascii_uppercase();
        let rest = rest.trim();
        if !ALLOWED.contains(&instr.as_str()) {
            return Err(Error::invalid(format!("{} is not a valid change command", instr)));
        }
        match instr.as_str() {
            "CMD" => {
                config.insert("Cmd".into(), json!(command(rest)?));
            }
            "ENTRYPOINT" => {
                config.insert("Entrypoint".into(), json!(command(rest)?));
            }
            "SHELL" => {
                let shell: Vec<String> = serde_json::from_str(rest).map_err(|_| {
                    Error::invalid("SHELL requires the arguments to be in JSON form")
                })?;
                config.insert("Shell".into(), json!(shell));
            }
            "ENV" => {
                let env = config.entry("Env").or_insert_with(|| json!([]));
                for (k, v) in pairs("ENV", rest)? {
                    if let Some(list) = env.as_array_mut() {
                        let prefix = format!("{k}=");
                        list.retain(|e| !e.as_str().is_some_and(|s| s.starts_with(&prefix)));
                        list.push(json!(format!("{k}={v}")));
                    }
                }
            }
            "LABEL" => {
                let labels = config.entry("Labels").or_insert_with(|| json!({}));
                for (k, v) in pairs("LABEL", rest)? {
                    if let Some(map) = labels.as_object_mut() {
                        map.insert(k, json!(v));
                    }
                }
            }
            "EXPOSE" => {
                let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
                for port in rest.split_whitespace() {
                    let port =
                        if port.contains('/') { port.to_owned() } else { format!("{port}/tcp") };
                    let (number, proto) = port.split_once('/').unwrap_or((&port, "tcp"));
                    let valid_number = number.split('-').all(|p| p.parse::<u16>().is_ok());
                    if !valid_number || !matches!(proto, "tcp" | "udp" | "sctp") {
                        return Err(Error::invalid(format!("invalid port in EXPOSE: {port}")));
                    }
                    if let Some(map) = ports.as_object_mut() {
                        map.insert(port, json!({}));
                    }
                }
            }
            "VOLUME" => {
                let list: Vec<String> = if rest.starts_with('[') {
                    serde_json::from_str(rest)
                        .map_err(|_| Error::invalid("VOLUME: invalid JSON array"))?
                } else {
                    rest.split_whitespace().map(str::to_owned).collect()
                };
                let volumes = config.entry("Volumes").or_insert_with(|| json!({}));
                for v in list {
                    if let Some(map) = volumes.as_object_mut() {
                        map.insert(v, json!({}));
                    }
                }
            }
            "ONBUILD" => {
                let onbuild = config.entry("OnBuild").or_insert_with(|| json!([]));
                if let Some(list) = onbuild.as_array_mut() {
                    list.push(json!(rest));
                }
            }
            "USER" => {
                config.insert("User".into(), json!(rest));
            }
            "WORKDIR" => {
                config.insert("WorkingDir".into(), json!(rest));
            }
            "STOPSIGNAL" => {
                config.insert("StopSignal".into(), json!(rest));
            }
            _ => {}
        }
        if rest.is_empty() && !matches!(instr.as_str(), "CMD" | "ENTRYPOINT") {
            return Err(Error::invalid(format!("{instr} requires at least one argument")));
        }
    }
    Ok(())
}

/// JSON form (`["sh","-c","x"]`) or shell form (`sh -c x` → `/bin/sh -c "sh -c x"`).
fn command(rest: &str) -> Result<Vec<String>, Error> {
    if rest.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Vec<String>>(rest)
    {
        return Ok(list);
    }
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
}

/// `k=v k2="v 2"` pairs, or the legacy single `k v` form.
fn pairs(instr: &str, rest: &str) -> Result<Vec<(String, String)>, Error> {
    let words = split_quoted(rest);
    if words.is_empty() {
        return Err(Error::invalid(format!("{instr} requires at least one argument")));
    }
    if !words[0].contains('=') {
        let (key, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return Ok(vec![(key.to_owned(), value.trim().to_owned())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(Error::invalid(format!("{instr} names can not be blank: {w:?}"))),
        })
        .collect()
}

/// Splits on whitespace, keeping double-quoted runs together (quotes removed).
fn split_quoted(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        match c {
            _ if escaped => {
                cur.push(c);
                escaped = false;
            }
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> Result<Value, Error> {
        let mut config = Map::new();
        let owned: Vec<String> = changes.iter().map(|s| (*s).to_owned()).collect();
        apply(&mut config, &owned)?;
        Ok(Value::Object(config))
    }

    #[test]
    fn applies_dockerfile_instructions() {
        let c = applied(&[
            r#"CMD ["sh"]"#,
            "ENTRYPOINT /init --x",
            r#"ENV A=1 B="two words""#,
            "ENV C 3",
            "EXPOSE 80 53/udp",
            "LABEL team=infra",
            "USER nobody",
            "WORKDIR /srv",
            "VOLUME /data",
            "stopsignal SIGINT",
        ])
        .expect("valid changes");
        assert_eq!(c["Cmd"], json!(["sh"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/init --x"]));
        assert_eq!(c["Env"], json!(["A=1", "B=two words", "C=3"]));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"], json!({"team": "infra"}));
        assert_eq!(c["User"], "nobody");
        assert_eq!(c["WorkingDir"], "/srv");
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["StopSignal"], "SIGINT");
    }

    #[test]
    fn rejects_what_dockerd_rejects() {
        assert_eq!(
            applied(&["RUN rm -rf /"]).expect_err("RUN").message(),
            "RUN is not a valid change command"
        );
        assert!(applied(&["EXPOSE http"]).is_err());
        assert!(applied(&["ENV"]).is_err());
        assert!(applied(&["SHELL sh"]).is_err());
    }
}
