use rcgen::string::{BmpString, PrintableString, UniversalString};
use rcgen::{CertificateParams, DnType, DnValue, KeyPair};

use super::subject_names;

/// Organizational unit under its OID written out: rcgen keeps one value per `DnType`, and a
/// custom type with the same OID is how a test gets a second one into the subject.
fn ou_again() -> DnType {
    DnType::CustomDnType(vec![2, 5, 4, 11])
}

fn cn_again() -> DnType {
    DnType::CustomDnType(vec![2, 5, 4, 3])
}

fn self_signed(subject: &[(DnType, DnValue)]) -> Vec<u8> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("no SANs is valid");
    params.distinguished_name = rcgen::DistinguishedName::new();
    for (ty, value) in subject {
        params.distinguished_name.push(ty.clone(), value.clone());
    }
    let key = KeyPair::generate().expect("keygen");
    params.self_signed(&key).expect("self-signed").der().to_vec()
}

#[test]
fn reads_the_common_name_and_every_organizational_unit_in_order() {
    let der = self_signed(&[
        (DnType::OrganizationName, "berth".into()),
        (DnType::OrganizationalUnitName, "ops".into()),
        (
            ou_again(),
            DnValue::PrintableString(PrintableString::try_from("dev").expect("printable")),
        ),
        (DnType::CommonName, "alice".into()),
    ]);
    assert_eq!(subject_names(&der), (Some("alice".to_owned()), vec!["ops".into(), "dev".into()]));
}

#[test]
fn with_two_common_names_the_last_wins_as_in_go() {
    let der = self_signed(&[(DnType::CommonName, "first".into()), (cn_again(), "second".into())]);
    assert_eq!(subject_names(&der).0.as_deref(), Some("second"));
}

#[test]
fn bmp_strings_are_decoded_from_utf16() {
    let bmp = BmpString::try_from("Zoë").expect("in the BMP");
    let der = self_signed(&[(DnType::CommonName, DnValue::BmpString(bmp))]);
    assert_eq!(subject_names(&der).0.as_deref(), Some("Zoë"));
}

#[test]
fn string_types_go_rejects_are_ignored() {
    let universal = UniversalString::try_from("carol").expect("valid");
    let der = self_signed(&[
        (DnType::CommonName, DnValue::UniversalString(universal)),
        (DnType::OrganizationalUnitName, "ops".into()),
    ]);
    assert_eq!(subject_names(&der), (None, vec!["ops".to_owned()]));
}

#[test]
fn a_subject_without_names_leaves_both_empty() {
    let der = self_signed(&[(DnType::OrganizationName, "berth".into())]);
    assert_eq!(subject_names(&der), (None, Vec::new()));
}

#[test]
fn an_unparsable_certificate_leaves_both_empty() {
    assert_eq!(subject_names(b"not a certificate"), (None, Vec::new()));
    assert_eq!(subject_names(&[]), (None, Vec::new()));
}
