//! A throw-away PKI for the TLS listener: a CA, a server certificate for
//! localhost and 127.0.0.1, and a client certificate, written as PEM files
//! with the names `dockerd --tlsverify` setups use.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Paths of the PEM files [`write()`] produced.
#[derive(Debug, Clone)]
pub(crate) struct Pki {
    pub(crate) ca_cert: PathBuf,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
    pub(crate) client_cert: PathBuf,
    pub(crate) client_key: PathBuf,
}

impl Pki {
    pub(crate) fn in_dir(dir: &Path) -> Pki {
        Pki {
            ca_cert: dir.join("ca.pem"),
            server_cert: dir.join("server-cert.pem"),
            server_key: dir.join("server-key.pem"),
            client_cert: dir.join("client-cert.pem"),
            client_key: dir.join("client-key.pem"),
        }
    }
}

/// Generates the CA, server and client certificates into `dir`.
pub(crate) fn write(dir: &Path) -> Result<Pki> {
    let pki = Pki::in_dir(dir);

    let mut ca_params = CertificateParams::new(Vec::new()).context("CA parameters")?;
    ca_params.distinguished_name.push(DnType::CommonName, "berth e2e CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let ca_cert = ca_params.self_signed(&ca_key).context("self-signing the CA")?;
    write_file(&pki.ca_cert, &ca_cert.pem(), 0o644)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf = |sans: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose| -> Result<_> {
        let mut params =
            CertificateParams::new(sans).with_context(|| format!("{cn} parameters"))?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.use_authority_key_identifier_extension = true;
        params.key_usages =
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().with_context(|| format!("generating the {cn} key"))?;
        let cert = params
            .signed_by(&key, &issuer)
            .with_context(|| format!("signing the {cn} certificate"))?;
        Ok((cert.pem(), key.serialize_pem()))
    };

    let (server_cert, server_key) = leaf(
        vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
        "localhost",
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    write_file(&pki.server_cert, &server_cert, 0o644)?;
    write_file(&pki.server_key, &server_key, 0o600)?;

    let (client_cert, client_key) =
        leaf(Vec::new(), "e2e-client", ExtendedKeyUsagePurpose::ClientAuth)?;
    write_file(&pki.client_cert, &client_cert, 0o644)?;
    write_file(&pki.client_key, &client_key, 0o600)?;

    Ok(pki)
}

fn write_file(path: &Path, contents: &str, mode: u32) -> Result<()> {
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::cmd;

    fn openssl(args: &[&Path]) -> Result<String> {
        cmd::stdout(Command::new("openssl").args(args))
    }

    #[test]
    fn writes_a_chain_openssl_accepts() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let pki = write(dir.path())?;
        for key in [&pki.server_key, &pki.client_key] {
            let pem = fs::read_to_string(key)?;
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
            assert_eq!(fs::metadata(key)?.permissions().mode() & 0o777, 0o600);
        }
        let verify = |purpose: &str, cert: &Path| {
            openssl(&[
                Path::new("verify"),
                Path::new("-CAfile"),
                &pki.ca_cert,
                Path::new("-purpose"),
                Path::new(purpose),
                cert,
            ])
        };
        assert!(verify("sslserver", &pki.server_cert)?.trim_end().ends_with("OK"));
        assert!(verify("sslclient", &pki.client_cert)?.trim_end().ends_with("OK"));
        // A client certificate must not pass as a server one: the usages are set.
        assert!(verify("sslserver", &pki.client_cert).is_err());
        let sans = openssl(&[
            Path::new("x509"),
            Path::new("-noout"),
            Path::new("-ext"),
            Path::new("subjectAltName"),
            Path::new("-in"),
            &pki.server_cert,
        ])?;
        assert!(sans.contains("DNS:localhost"), "{sans}");
        assert!(sans.contains("IP Address:127.0.0.1"), "{sans}");
        Ok(())
    }
}
